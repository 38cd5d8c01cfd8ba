"""arm7: home pose, ee_delta moves the TCP by the commanded twist (position and rotation), joint_pos
tracks targets within the per-step velocity bound, the gripper opens and closes, the wrist F/T reads."""

import mujoco
import numpy as np
import pytest

from physai.embodiments.arm7 import HOME, Arm7
from physai.sim.scene import SceneConfig, new_scene

DT = 0.05  # 20 Hz control
SUB = 25  # physics steps per control step at 2 ms


def _arm(**kw):
    arm = Arm7(**kw)
    spec = new_scene(SceneConfig(timestep=0.002))
    arm.build(spec)
    m = spec.compile()
    d = mujoco.MjData(m)
    arm.bind(m, d)
    arm.reset_pose(d)
    mujoco.mj_forward(m, d)
    return arm, m, d


def _run(arm, m, d, action, mode, steps):
    for _ in range(steps):
        arm.apply_action(np.asarray(action, np.float32), mode, DT)
        mujoco.mj_step(m, d, nstep=SUB)


def test_home_pose_and_state_layout():
    arm, m, d = _arm()
    np.testing.assert_allclose(d.qpos[arm.qpos_ids], HOME, atol=1e-9)
    s = arm.state()
    names = arm.state_names()
    assert s.shape == (len(names),) == (28,)
    np.testing.assert_allclose(s[:7], HOME, atol=1e-5)


def test_ee_delta_moves_the_tcp_by_the_commanded_translation():
    arm, m, d = _arm()
    p0, q0 = arm.tcp_pose()
    _run(arm, m, d, [0.01, 0.0, -0.01, 0, 0, 0, 0.0], "ee_delta", 10)  # 10 x 1 cm along +x and -z
    _run(arm, m, d, [0, 0, 0, 0, 0, 0, 0.0], "ee_delta", 20)  # let the servos settle
    p1, q1 = arm.tcp_pose()
    np.testing.assert_allclose(p1 - p0, [0.1, 0.0, -0.1], atol=0.01)
    assert abs(float(np.dot(q0, q1))) > 0.999  # orientation held


def test_ee_delta_rotation_turns_the_tcp_about_world_z():
    arm, m, d = _arm()
    p0, q0 = arm.tcp_pose()
    _run(arm, m, d, [0, 0, 0, 0, 0, 0.05, 0.0], "ee_delta", 10)  # 0.5 rad about z
    _run(arm, m, d, [0, 0, 0, 0, 0, 0, 0.0], "ee_delta", 20)
    p1, q1 = arm.tcp_pose()
    angle = 2 * np.arccos(min(1.0, abs(float(np.dot(q0, q1)))))
    assert angle == pytest.approx(0.5, abs=0.05)
    np.testing.assert_allclose(p1, p0, atol=0.01)  # rotation about the TCP, not the flange


def test_joint_pos_tracks_targets_within_the_velocity_bound():
    arm, m, d = _arm()
    target = HOME + np.array([0.3, -0.2, 0.0, 0.2, 0.0, 0.0, -0.3])
    cmds = []
    for _ in range(30):
        arm.apply_action(np.append(target, 0.0).astype(np.float32), "joint_pos", DT)
        cmds.append(arm.q_cmd.copy())
        mujoco.mj_step(m, d, nstep=SUB)
    steps = np.abs(np.diff(np.array(cmds), axis=0))
    assert steps.max() <= arm.safety_limits().joint_vel_max.max() * DT + 1e-6
    np.testing.assert_allclose(d.qpos[arm.qpos_ids], target, atol=0.02)


def test_gripper_closes_and_opens():
    arm, m, d = _arm()
    _run(arm, m, d, [0, 0, 0, 0, 0, 0, 1.0], "ee_delta", 20)
    closed = arm.gripper_width()
    _run(arm, m, d, [0, 0, 0, 0, 0, 0, 0.0], "ee_delta", 20)
    opened = arm.gripper_width()
    assert closed < 0.01 < 0.06 < opened


def test_wrist_wrench_reads_the_hand_weight_at_rest():
    arm, m, d = _arm()
    _run(arm, m, d, [0, 0, 0, 0, 0, 0, 0.0], "ee_delta", 10)
    w = arm.wrist_wrench()
    assert w.shape == (6,) and np.all(np.isfinite(w))
    assert 0.1 < np.linalg.norm(w[:3]) < 50  # the hand's weight, not zero and not a blow-up


def test_prefix_names_everything():
    arm, m, _ = _arm(prefix="left/", scene_camera=False)
    assert all(n.startswith("left/") for n in arm.state_names())
    assert all(n.startswith("left/") for n in arm.action_spec("ee_delta").names)
    assert arm.cameras() == ["left/wrist"]
    assert m.camera("left/wrist").id >= 0
