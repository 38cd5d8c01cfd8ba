"""bimanual: two prefixed arm7s facing each other; each half of the action drives its own arm only, and
the shared-kinematics ee_delta path gives the same commands as driving each arm on its own."""

import mujoco
import numpy as np

from physai.embodiments.bimanual import Bimanual
from physai.sim.scene import SceneConfig, new_scene

DT = 0.05


def _robot():
    r = Bimanual()
    spec = new_scene(SceneConfig(timestep=0.002))
    r.build(spec)
    m = spec.compile()
    d = mujoco.MjData(m)
    r.bind(m, d)
    r.reset_pose(d)
    mujoco.mj_forward(m, d)
    return r, m, d


def test_layout_is_left_then_right_with_prefixes():
    r, m, _ = _robot()
    names = r.state_names()
    assert len(names) == 56 and all(n.startswith("left/") for n in names[:28])
    assert all(n.startswith("right/") for n in names[28:])
    for mode, n in (("ee_delta", 7), ("joint_pos", 8)):
        spec = r.action_spec(mode)
        assert spec.shape == (2 * n,)
        assert spec.names[:n] == r.left.action_spec(mode).names
        assert spec.names[n:] == r.right.action_spec(mode).names
    assert r.cameras() == ["scene", "left/wrist", "right/wrist"]
    # the arms face each other across the table: mirrored in y
    lp, rp = r.left.tcp_pose()[0], r.right.tcp_pose()[0]
    assert lp[1] < 0 < rp[1] and abs(lp[1] + rp[1]) < 1e-6


def test_each_half_of_the_action_drives_its_own_arm():
    r, m, d = _robot()
    l0, r0 = r.left.tcp_pose()[0], r.right.tcp_pose()[0]
    act = np.zeros(14, np.float32)
    act[2] = 0.01  # left arm up 1 cm per step, right arm told to hold
    for _ in range(10):
        r.apply_action(act, "ee_delta", DT)
        mujoco.mj_step(m, d, nstep=25)
    l1, r1 = r.left.tcp_pose()[0], r.right.tcp_pose()[0]
    assert l1[2] - l0[2] > 0.07
    assert np.linalg.norm(r1 - r0) < 0.005


def test_shared_kinematics_path_equals_driving_each_arm_alone():
    rng = np.random.default_rng(0)
    r, m, d = _robot()
    r2, m2, d2 = _robot()
    spec = r.action_spec("ee_delta")
    for _ in range(5):
        a = rng.uniform(spec.low, spec.high).astype(np.float32)
        r.apply_action(a, "ee_delta", DT)
        r2.left.apply_action(a[:7], "ee_delta", DT)
        r2.right.apply_action(a[7:], "ee_delta", DT)
        np.testing.assert_allclose(d.ctrl, d2.ctrl, atol=1e-9)
        mujoco.mj_step(m, d, nstep=25)
        mujoco.mj_step(m2, d2, nstep=25)
