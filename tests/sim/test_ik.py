import mujoco
import numpy as np

from physai.embodiments.arm7 import JOINT_LOWER, JOINT_UPPER, Arm7
from physai.sim.scene import new_scene


def _arm():
    spec = new_scene()
    arm = Arm7()
    arm.build(spec)
    model = spec.compile()
    data = mujoco.MjData(model)
    arm.bind(model, data)
    arm.reset_pose(data)
    mujoco.mj_forward(model, data)
    return arm, model, data


def test_ik_reaches_targets_within_tolerance():
    arm, model, data = _arm()
    rng = np.random.default_rng(0)
    for _ in range(5):
        start, quat = arm.tcp_pose()
        target = start + rng.uniform(-0.12, 0.12, 3)
        for _ in range(200):  # iterate the kinematic solver (no dynamics)
            q = arm.ik.solve(data, arm.twist_to(target, quat), max_step=0.05)
            data.qpos[arm.qpos_ids] = q
            mujoco.mj_kinematics(model, data)
        pos, q_now = arm.tcp_pose()
        assert np.linalg.norm(pos - target) < 2e-3
        rot_err = np.linalg.norm(arm.twist_to(pos, quat)[3:])
        assert rot_err < 1e-2


def test_ik_respects_joint_limits():
    arm, model, data = _arm()
    far = np.array([2.0, 2.0, 3.0])  # unreachable: the solver must saturate at the limits, not pass them
    for _ in range(300):
        q = arm.ik.solve(data, arm.twist_to(far), max_step=0.1)
        data.qpos[arm.qpos_ids] = q
        mujoco.mj_kinematics(model, data)
        assert np.all(q >= JOINT_LOWER) and np.all(q <= JOINT_UPPER)


def test_ee_delta_moves_arm_in_simulation():
    arm, model, data = _arm()
    start = arm.tcp_pose()[0]
    action = np.array([0.03, 0, -0.03, 0, 0, 0, 0], np.float32)
    for _ in range(10):
        arm.apply_action(action, "ee_delta", 0.05)
        mujoco.mj_step(model, data, nstep=25)
    hold = np.zeros(7, np.float32)
    for _ in range(10):  # zero deltas: the arm settles where the commands added up to, and stays
        arm.apply_action(hold, "ee_delta", 0.05)
        mujoco.mj_step(model, data, nstep=25)
    moved = arm.tcp_pose()[0] - start
    assert np.allclose(moved, [0.3, 0.0, -0.3], atol=0.03), moved


def test_ee_delta_blocked_arm_does_not_wind_up():
    """Commanding the TCP deep into the floor: the command stays leashed to the measured pose."""
    from physai.embodiments.arm7 import POS_LEASH, Q_LEASH

    arm, model, data = _arm()
    down = np.array([0, 0, -0.05, 0, 0, 0, 1], np.float32)
    for _ in range(60):  # 3 m of commanded motion; the floor is ~0.8 m below the TCP
        q = data.qpos[arm.qpos_ids].copy()
        measured = arm.tcp_pose()[0]
        arm.apply_action(down, "ee_delta", 0.05)
        assert np.all(np.abs(arm.q_cmd - q) <= Q_LEASH + 1e-9)
        assert np.linalg.norm(arm.commanded_tcp()[0] - measured) <= POS_LEASH + 1e-9
        mujoco.mj_step(model, data, nstep=25)
    pressed_z = arm.tcp_pose()[0][2]
    assert pressed_z > -0.01  # blocked by the floor, not through it
    up = np.array([0, 0, 0.04, 0, 0, 0, 1], np.float32)
    for _ in range(5):  # the stored-up push is at most POS_LEASH: 20 cm up unwinds it and lifts the arm
        arm.apply_action(up, "ee_delta", 0.05)
        mujoco.mj_step(model, data, nstep=25)
    assert arm.tcp_pose()[0][2] > pressed_z + 0.03
