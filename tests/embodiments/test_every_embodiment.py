"""One parameterized test over every registered embodiment: build/bind/reset, state and action layouts,
cameras and sensors compiled into the model, a zero action holds the robot, kinematics and safety
limits; reading the model before bind() is a clear error."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from physai.embodiments import EMBODIMENTS, make_embodiment
from physai.sim.binding import NotBoundError
from physai.sim.scene import SceneConfig, new_scene


def _bound(name: str):
    robot = make_embodiment(name)
    spec = new_scene(SceneConfig(timestep=0.002))
    robot.build(spec)
    model = spec.compile()
    data = mujoco.MjData(model)
    robot.bind(model, data)
    robot.reset_pose(data)
    mujoco.mj_forward(model, data)
    return robot, model, data


def _hold_action(robot, mode: str) -> np.ndarray:
    """The action that asks for no motion: zero deltas/velocities, or the joints' home pose as targets."""
    spec = robot.action_spec(mode)
    a = np.zeros(spec.shape, np.float32)
    if mode == "joint_pos":
        names = list(spec.names)
        model, data = robot.model, robot.data
        for i, n in enumerate(names):
            try:
                j = model.joint(n)
            except KeyError:
                continue  # a gripper/hand channel: leave it at its reset value (0)
            a[i] = data.qpos[model.jnt_qposadr[j.id]]
    return np.clip(a, spec.low, spec.high)


@pytest.mark.parametrize("name", EMBODIMENTS.names())
def test_embodiment_contract(name):
    robot, model, data = _bound(name)
    assert robot.bound and robot.model is model and robot.data is data
    names = robot.state_names()
    state = robot.state()
    assert state.dtype == np.float32 and state.shape == (len(names),) and len(set(names)) == len(names)
    assert np.all(np.isfinite(state))
    for cam in robot.cameras():
        assert model.camera(cam).id >= 0  # every declared camera is in the compiled model
    for sensor, kind in robot.sensors().items():
        if kind == "tactile":  # computed from contacts, read through tactile()
            tactile = robot.tactile()
            assert tactile is not None and np.all(np.isfinite(tactile))
        else:
            assert model.sensor(sensor).id >= 0
    assert robot.control_modes, name
    for mode in robot.control_modes:
        spec = robot.action_spec(mode)
        assert spec.shape == (len(spec.names),) and np.all(spec.low <= spec.high)
    with pytest.raises(Exception, match="torque"):
        robot.action_spec("torque")
    limits = robot.safety_limits()
    assert limits.to_dict()  # serializable, as the runtime's DriverInfo carries it


@pytest.mark.parametrize("name", EMBODIMENTS.names())
@pytest.mark.parametrize("mode", ["first", "last"])
def test_a_hold_action_keeps_the_robot_still(name, mode):
    robot, model, data = _bound(name)
    mode = robot.control_modes[0 if mode == "first" else -1]
    moving = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    hinge = [model.jnt_qposadr[j] for j in range(model.njnt) if int(model.jnt_type[j]) in moving]
    dt = 0.05
    qs = []
    hold = _hold_action(robot, mode)  # the home pose, held (re-targeting the measured joints would sag)
    for _ in range(20):  # 1 s: a robot dropped onto the floor (quadruped) settles in the first half
        robot.apply_action(hold, mode, dt)
        mujoco.mj_step(model, data, nstep=25)
        qs.append(data.qpos[hinge].copy())
    assert np.all(np.isfinite(data.qpos))
    moved = np.abs(qs[-1] - qs[9]).max()
    assert moved < 0.02, f"{name} in {mode}: under a hold action a joint still moved {moved:.3f} rad in 0.5 s"


@pytest.mark.parametrize("name", EMBODIMENTS.names())
def test_kinematics_agree_with_the_simulator(name):
    robot, model, data = _bound(name)
    kin = robot.kinematics()
    if kin is None:
        pytest.skip(f"{name} has no tool frames (base_velocity robot)")
    q = np.array([data.qpos[model.jnt_qposadr[model.joint(j).id]] for j in kin.joint_names])
    fk_tcp = kin.points(q)[:, 0]  # (tools, 3): the TCP of each tool frame
    sim_tcp = np.asarray(robot.ee_positions()).reshape(-1, 3)[: len(fk_tcp)]
    # the runtime refuses a robot whose FK TCP is more than 2 cm from the reported one
    assert np.abs(fk_tcp - sim_tcp).max() < 0.02, (fk_tcp, sim_tcp)


@pytest.mark.parametrize("name", EMBODIMENTS.names())
def test_reading_the_model_before_bind_names_the_fix(name):
    robot = make_embodiment(name)
    assert not robot.bound
    with pytest.raises(NotBoundError, match=r"bind\(model, data\)"):
        robot.data  # noqa: B018
