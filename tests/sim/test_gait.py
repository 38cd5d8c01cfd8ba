"""The trot gait on its own (no simulator): leg IK/FK, phases of the diagonal pairs, standing still when
commanded zero, command ramps at the configured acceleration, stride direction follows the command."""

import numpy as np
import pytest

from physai.sim.gait import LEGS, GaitConfig, TrotGait, leg_fk, leg_ik

DT = 0.02


def test_leg_ik_fk_round_trip_over_the_workspace():
    cfg = GaitConfig()
    rng = np.random.default_rng(0)
    for _ in range(100):
        foot = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.06, 0.06), rng.uniform(-0.4, -0.2)])
        q = leg_ik(foot, cfg.l1, cfg.l2)
        np.testing.assert_allclose(leg_fk(q, cfg.l1, cfg.l2), foot, atol=1e-6)


def test_diagonal_pairs_are_half_a_cycle_apart():
    g = TrotGait()
    g.reset()
    for _ in range(7):
        g.step(np.zeros(3), DT, np.zeros(2), 0.0, 0.0)
        ph = dict(zip(LEGS, g.phases(), strict=True))
        assert ph["FL"] == pytest.approx(ph["RR"]) and ph["FR"] == pytest.approx(ph["RL"])
        assert (ph["FR"] - ph["FL"]) % 1.0 == pytest.approx(0.5)
        assert all(0.0 <= p < 1.0 for p in ph.values())


def test_zero_command_keeps_the_feet_under_the_hips():
    """Standing: joint targets stay finite and each foot stays near its nominal stance point."""
    g = TrotGait()
    g.reset()
    cfg = g.cfg
    for _ in range(60):
        q = g.step(np.zeros(3), DT, np.zeros(2), 0.0, 0.0)
        assert q.shape == (12,) and np.all(np.isfinite(q))
        for leg in range(4):
            foot = leg_fk(q[3 * leg : 3 * leg + 3], cfg.l1, cfg.l2)
            assert abs(foot[0]) < 0.02 and foot[2] == pytest.approx(-cfg.height, abs=cfg.step_height + 0.01)


def test_command_ramps_at_the_configured_acceleration():
    g = TrotGait(GaitConfig(accel=1.0, speed_ki=0.0))
    g.reset()
    speeds = []
    for _ in range(10):
        g.step(np.array([0.8, 0.0, 0.0]), DT, np.zeros(2), 0.0, 0.0)
        speeds.append(float(g.cmd[0]))
    steps = np.diff([0.0, *speeds])
    assert np.all(steps <= 1.0 * DT + 1e-9) and speeds[-1] == pytest.approx(10 * DT)


@pytest.mark.parametrize("vx", [0.4, -0.4])
def test_stance_feet_sweep_against_the_commanded_direction(vx):
    """Feet on the ground move backwards under the body when walking forwards (and vice versa)."""
    g = TrotGait(GaitConfig(speed_ki=0.0))
    g.reset()
    cfg = g.cfg
    for _ in range(100):  # past the command ramp
        g.step(np.array([vx, 0.0, 0.0]), DT, np.array([vx, 0.0]), 0.0, 0.0)
    moved = []
    for _ in range(5):
        stance = [i for i, p in enumerate(g.phases()) if p < 0.4]
        before = {i: leg_fk(g.step(np.array([vx, 0, 0]), DT, np.array([vx, 0.0]), 0.0, 0.0)[3 * i: 3 * i + 3],
                            cfg.l1, cfg.l2)[0] for i in stance}
        q = g.step(np.array([vx, 0.0, 0.0]), DT, np.array([vx, 0.0]), 0.0, 0.0)
        moved += [leg_fk(q[3 * i: 3 * i + 3], cfg.l1, cfg.l2)[0] - x for i, x in before.items()]
    assert moved and np.sign(np.mean(moved)) == -np.sign(vx)
