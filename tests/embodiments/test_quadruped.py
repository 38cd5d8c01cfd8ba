"""The quadruped and its trot gait: leg IK round trip, walking forward upright, action layout."""

import mujoco
import numpy as np

from physai.embodiments.quadruped import Quadruped, QuadrupedConfig
from physai.sim.gait import leg_fk, leg_ik
from physai.sim.scene import SceneConfig, new_scene


def _robot(**kw):
    r = Quadruped(QuadrupedConfig(**kw))
    spec = new_scene(SceneConfig(timestep=0.002))
    r.build(spec)
    m = spec.compile()
    d = mujoco.MjData(m)
    r.bind(m, d)
    r.reset_pose(d)
    mujoco.mj_forward(m, d)
    return r, m, d


def test_leg_ik_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        foot = np.array([rng.uniform(-0.12, 0.12), rng.uniform(-0.08, 0.08), rng.uniform(-0.38, -0.2)])
        assert np.allclose(leg_fk(leg_ik(foot, 0.22, 0.22), 0.22, 0.22), foot, atol=1e-6)


def test_walks_forward_upright_at_commanded_speed():
    r, m, d = _robot()
    start, _ = r.base_pose()
    speeds = []
    for k in range(200):  # 4 s at 50 Hz
        r.apply_action(np.array([0.5, 0.0, 0.0], np.float32), "base_velocity", 0.02)
        mujoco.mj_step(m, d, nstep=10)
        assert r.upright() > 0.9 and not r.fallen()
        if k >= 100:
            speeds.append(r.base_velocity()[0])
    end, yaw = r.base_pose()
    assert end[0] - start[0] > 1.0
    assert abs(end[1] - start[1]) < 0.3 and abs(yaw) < 0.3
    assert abs(np.mean(speeds) - 0.5) < 0.075  # within 15%


def test_stands_still_on_zero_command():
    r, m, d = _robot()
    for _ in range(100):
        r.apply_action(np.zeros(3, np.float32), "base_velocity", 0.02)
        mujoco.mj_step(m, d, nstep=10)
    pos, _ = r.base_pose()
    assert np.linalg.norm(pos[:2]) < 0.1 and 0.25 < pos[2] < 0.36


def test_report_bit_is_an_extra_action_element():
    plain, _, _ = _robot()
    r, m, d = _robot(report_action=True)
    for mode, n in (("base_velocity", 3), ("joint_pos", 12)):
        assert plain.action_spec(mode).shape == (n,)
        spec = r.action_spec(mode)
        assert spec.shape == (n + 1,) and spec.names[-1] == "report"
    r.apply_action(np.array([0, 0, 0, 1.0], np.float32), "base_velocity", 0.02)
    assert r.report_raised()
    r.apply_action(np.array([0, 0, 0, 0.0], np.float32), "base_velocity", 0.02)
    assert not r.report_raised()
    assert len(r.state()) == len(r.state_names())


def test_gait_step_same_for_list_and_array_commands():
    from physai.sim.gait import TrotGait

    a, b = TrotGait(), TrotGait()
    for i in range(40):
        cmd = [0.4, 0.1 * (i % 3), -0.3]
        qa = a.step(cmd, 0.02, (0.2, 0.0), 0.01, -0.02, yaw_rate=0.1)
        qb = b.step(np.array(cmd), 0.02, np.array([0.2, 0.0]), 0.01, -0.02, 0.1)
        assert np.array_equal(qa, qb)
