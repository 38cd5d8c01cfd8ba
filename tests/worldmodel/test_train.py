"""World-model training on a toy dataset: it learns a trivially predictable signal; bad input refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from wm_toy import make_toy_dataset

from physai.core.errors import ConfigError
from physai.worldmodel import WorldModelConfig, load_world_model, train_world_model
from physai.worldmodel.data import load_episodes
from physai.worldmodel.train import progress_targets

SMALL = WorldModelConfig(ensemble=3, hidden=32, layers=2, horizon=3, steps=400, batch_size=64, lr=3e-3)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("wm")
    ds = make_toy_dataset(root / "toy")
    res = train_world_model([ds], root / "run", SMALL)
    return {"root": root, "ds": ds, "run": root / "run", "res": res}


def test_learns_the_toy_dynamics(toy):
    wm = load_world_model(toy["run"])
    s0 = torch.tensor([[0.2, 0.9], [-0.5, -0.4]])
    out = wm.model.rollout(s0, torch.tensor([[[1.0]] * 3, [[-1.0]] * 3]))
    x = out["states"].mean(0)[:, -1, 0]
    assert abs(float(x[0]) - 0.5) < 0.05 and abs(float(x[1]) + 0.8) < 0.05
    # untrained the error is ~1 std: the held-out 1-step error is far below
    assert toy["res"]["open_loop_rmse"]["all"][0] < 0.1
    assert toy["res"]["val_episodes"] >= 1


def test_checkpoint_records_what_it_was_trained_on(toy):
    doc = json.loads((toy["run"] / "config.json").read_text())
    assert doc["format"] == "physai-worldmodel"
    assert doc["state_names"] == ["toy.x", "goal.x"] and doc["action_names"] == ["toy.u"]
    assert doc["embodiment"] == "toy" and doc["fps"] == 10
    assert len(doc["datasets"][0]["sha256"]) == 64
    assert doc["config"]["horizon"] == 3
    assert (toy["run"] / "model.safetensors").stat().st_size > 0


def test_progress_target_counts_down_to_success(toy):
    eps = load_episodes([toy["ds"]])
    v = progress_targets(eps, 0.9)
    for a, b in zip(eps.starts, eps.ends, strict=True):
        if eps.success[b - 1] > 0:
            assert v[b - 1] == pytest.approx(1.0) and v[a] == pytest.approx(0.9 ** (b - 1 - a))
        else:
            assert (v[a:b] == 0).all()


def test_dataset_without_actions_is_refused(tmp_path):
    ds = make_toy_dataset(tmp_path / "noact", episodes=2, with_action=False)
    with pytest.raises(ConfigError, match="no 'action' feature"):
        train_world_model([ds], tmp_path / "run", SMALL)


def test_datasets_of_two_robots_are_refused(tmp_path):
    a = make_toy_dataset(tmp_path / "a", episodes=2)
    b = make_toy_dataset(tmp_path / "b", episodes=2, robot="other")
    with pytest.raises(ConfigError, match="embodiment .*other.* differs"):
        train_world_model([a, b], tmp_path / "run", SMALL)
    assert not (tmp_path / "run").exists()


def test_corrupt_checkpoint_is_refused(toy, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text((toy["run"] / "config.json").read_text())
    (bad / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConfigError, match="does not load"):
        load_world_model(bad)
    with pytest.raises(ConfigError, match="not a world model"):
        load_world_model(tmp_path)


def test_ensemble_members_differ(toy):
    wm = load_world_model(toy["run"])
    w = wm.model.dynamics[0].weight
    assert not torch.allclose(w[0], w[1])
    assert np.isfinite(toy["res"]["final_loss"])
