"""Judging in imagination: an obviously better policy gets the higher imagined success; Kendall tau."""

from __future__ import annotations

import numpy as np
import pytest
from wm_toy import make_toy_dataset

from physai.worldmodel import WorldModelConfig, load_world_model, train_world_model
from physai.worldmodel.judge import imagine_policy, kendall_tau, spread_limit


class _Policy:
    def __init__(self, sign: float) -> None:
        self.sign = sign

    def reset(self) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        s = obs["state"]
        return np.clip([self.sign * (s[1] - s[0]) * 10], -1, 1).astype(np.float32)


def test_judge_ranks_two_obviously_different_policies(tmp_path):
    ds = make_toy_dataset(tmp_path / "toy")
    cfg = WorldModelConfig(ensemble=3, hidden=32, horizon=3, steps=400, batch_size=64, lr=3e-3)
    train_world_model([ds], tmp_path / "run", cfg)
    wm = load_world_model(tmp_path / "run")
    starts = np.random.default_rng(1).uniform(-1, 1, (8, 2)).astype(np.float32)
    starts = starts[np.abs(starts[:, 0] - starts[:, 1]) > 0.2]
    good = imagine_policy(wm, _Policy(1.0), starts, 40)["success"]
    bad = imagine_policy(wm, _Policy(-1.0), starts, 40)["success"]
    assert good > 0.5 and good > bad + 0.3, (good, bad)
    # where the members disagree more than allowed the imagined episode ends without success
    limit = spread_limit(wm, starts, np.zeros((len(starts), 1), np.float32))
    assert limit > 0
    stopped = imagine_policy(wm, _Policy(1.0), starts, 40, max_spread=0.0)
    assert stopped["stopped_uncertain"] == len(starts) and stopped["success"] == 0.0


def test_kendall_tau():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert np.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
