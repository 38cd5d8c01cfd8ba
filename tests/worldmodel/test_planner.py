"""The MPPI planner beats random actions on the toy; horizons past the trained one warn."""

from __future__ import annotations

import numpy as np
import pytest
from wm_toy import HIGH, LOW, make_toy_dataset, toy_reset, toy_step

from physai.core.errors import ConfigError
from physai.worldmodel import WorldModelConfig, load_world_model, train_world_model
from physai.worldmodel.planner import PlannerConfig, WorldModelPlanner, parse_spec


@pytest.fixture(scope="module")
def wm(tmp_path_factory):
    root = tmp_path_factory.mktemp("wmp")
    ds = make_toy_dataset(root / "toy")
    cfg = WorldModelConfig(ensemble=3, hidden=32, horizon=3, steps=400, batch_size=64, lr=3e-3)
    train_world_model([ds], root / "run", cfg)
    return load_world_model(root / "run")


def _success(act, episodes: int = 12, seed: int = 5) -> float:
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(episodes):
        s = toy_reset(rng)
        for _ in range(40):
            s, ok = toy_step(s, act(s))
            if ok:
                wins += 1
                break
    return wins / episodes


def test_planner_beats_random(wm):
    rng = np.random.default_rng(0)
    random_rate = _success(lambda s: rng.uniform(-1, 1, 1))
    rates = {}
    for prior in (0.0, 0.5):  # learned scores alone, and with the behaviour prior's proposals
        pl = WorldModelPlanner(wm, LOW, HIGH, PlannerConfig(samples=64, iterations=2, prior=prior))
        rates[prior] = _success(lambda s, pl=pl: pl.act({"state": s}))
        assert len(pl.step_ms) > 0 and all(t > 0 for t in pl.step_ms)
    assert rates[0.0] > random_rate + 0.15, (rates, random_rate)
    assert rates[0.5] >= 0.7 and rates[0.5] > random_rate + 0.4, (rates, random_rate)


def test_horizon_past_training_warns_with_measured_error(wm):
    with pytest.warns(RuntimeWarning, match=r"trained for 3 .*RMSE at 3 steps: \d"):
        WorldModelPlanner(wm, LOW, HIGH, PlannerConfig(horizon=6))


def test_task_cost_needs_a_registered_task(wm):
    with pytest.raises(ConfigError, match="no goal-structure cost"):
        WorldModelPlanner(wm, LOW, HIGH, PlannerConfig(task_cost=True), task="toy/none")


def test_spec_options():
    spec = parse_spec("wm-plan:runs/wm?samples=32&task_cost=1")
    assert spec == ("runs/wm", {"samples": 32, "task_cost": True})
    with pytest.raises(ConfigError, match="unknown planner option 'foo'"):
        parse_spec("wm-plan:runs/wm?foo=1")
