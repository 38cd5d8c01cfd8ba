"""Trainer: run layout, resume continues the same curve, Ctrl-C checkpoint, NaN stop, mismatches, CLI."""

import json

import numpy as np
import pytest
import torch

from physai.core.errors import ConfigError, DatasetError
from physai.policies import POLICIES, load_policy
from physai.policies.mlp import MLPPolicy
from physai.train import TrainConfig, TrainingDiverged, train
from physai.train.memory import InMemoryDataset, synthetic_episodes


def _rows(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]


class StopAfter:
    """A Progress that presses Ctrl-C after `n` steps."""

    def __init__(self, n):
        self.n = n

    def start(self, total, description):
        self.seen = 0

    def advance(self, n=1, **fields):
        self.seen += n
        if self.seen == self.n:
            raise KeyboardInterrupt

    def close(self):
        pass


def test_run_layout_checkpoints_and_metrics(tiny_ds, small, tmp_path):
    cfg = TrainConfig(
        policy="mlp", steps=20, batch_size=16, save_every=10, log_every=5, policy_overrides=small["mlp"]
    )
    res = train([tiny_ds], tmp_path / "run", cfg)
    run = tmp_path / "run"
    assert res["steps"] == 20 and not res["interrupted"] and np.isfinite(res["final_loss"])
    assert (run / "checkpoint" / "model.safetensors").exists() and (run / "curve.png").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000010", "step_0000020"]
    assert [r["step"] for r in _rows(run)] == [5, 10, 15, 20]
    pol = load_policy(run)  # a run folder resolves to its checkpoint/
    assert pol.act({"state": tiny_ds.state[0]}).shape == (3,)
    with pytest.raises(ConfigError, match="already holds a run; resume it"):
        train([tiny_ds], run, cfg)


@pytest.mark.parametrize("name", ["flow", "act"])
def test_interrupt_then_resume_continues_the_same_curve(name, tiny_ds, small, tmp_path):
    over = {**small[name], "dropout": 0.1} if name == "act" else small[name]
    cfg = TrainConfig(policy=name, steps=16, batch_size=16, save_every=0, log_every=1, policy_overrides=over)
    full = train([tiny_ds], tmp_path / "full", cfg)
    part = train([tiny_ds], tmp_path / "part", cfg, progress=StopAfter(7))
    assert part["interrupted"] and part["steps"] == 7
    assert (tmp_path / "part" / "checkpoint" / "trainer.safetensors").exists()
    resumed = train([tiny_ds], tmp_path / "part", cfg, resume=True)
    assert resumed["start_step"] == 7 and resumed["steps"] == 16
    a = {r["step"]: r["loss"] for r in _rows(tmp_path / "full")}
    b = {r["step"]: r["loss"] for r in _rows(tmp_path / "part")}
    assert sorted(b) == list(range(1, 17))
    np.testing.assert_allclose([b[s] for s in range(1, 17)], [a[s] for s in range(1, 17)], rtol=1e-5)
    assert full["final_loss"] == pytest.approx(resumed["final_loss"], rel=1e-5)


class _NanPolicy(MLPPolicy):
    name = "test-nan-after-12"
    calls = 0

    def loss(self, nb):
        loss, m = super().loss(nb)
        type(self).calls += 1
        return (loss * float("nan") if type(self).calls > 12 else loss), m


@pytest.fixture
def nan_policy(monkeypatch):
    """`_NanPolicy` in the policy registry for one test only (monkeypatch removes it afterwards)."""
    monkeypatch.setitem(POLICIES._items, _NanPolicy.name, _NanPolicy)
    _NanPolicy.calls = 0
    return _NanPolicy.name


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(nan_policy, tiny_ds, small, tmp_path):
    cfg = TrainConfig(
        policy=nan_policy, steps=40, batch_size=16, save_every=10, policy_overrides=small["mlp"]
    )
    with pytest.raises(TrainingDiverged, match="loss is nan at step 12"):
        train([tiny_ds], tmp_path / "run", cfg)
    doc = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert doc["extra"]["step"] == 10
    assert torch.isfinite(
        load_policy(tmp_path / "run").predict_chunk({"observation.state": torch.as_tensor(tiny_ds.state[:2])})
    ).all()


def test_dataset_policy_mismatch_fails_before_training_naming_the_feature(tiny_ds, small, tmp_path):
    no_cam = TrainConfig(
        policy="mlp", steps=5, batch_size=8, policy_overrides={**small["mlp"], "cameras": ["wrist"]}
    )
    with pytest.raises(DatasetError, match="observation.images.wrist"):
        train([tiny_ds], tmp_path / "a", no_cam)
    cfg = TrainConfig(policy="mlp", steps=4, batch_size=8, policy_overrides=small["mlp"])
    train([tiny_ds], tmp_path / "b", cfg)
    other = InMemoryDataset(synthetic_episodes(a=4), robot_type="toy")
    with pytest.raises(DatasetError, match="'action' has 4 dims"):
        train([other], tmp_path / "b", TrainConfig(policy="mlp", steps=8, batch_size=8), resume=True)
    two = [tiny_ds, InMemoryDataset(synthetic_episodes(a=4), robot_type="toy")]
    with pytest.raises(DatasetError, match="'action' has 4 dims"):
        train(two, tmp_path / "c", cfg)
    broken = InMemoryDataset(synthetic_episodes(), robot_type="toy")
    del broken.meta.info["features"]["action"]
    with pytest.raises(DatasetError, match="no 'action' feature"):
        train([broken], tmp_path / "d", cfg)


def test_cli_trains_on_a_recorded_lerobot_dataset(tmp_path):
    from typer.testing import CliRunner

    import physai
    from physai.cli.main import app
    from physai.data import Recorder

    env = physai.make("tabletop/pick-place", obs=("state", "instruction"))
    rec = Recorder(env, tmp_path / "data")
    for seed in range(2):
        rec.record(env.expert(), seed=seed)
    rec.close()
    env.close()
    args = [
        "train",
        "--policy",
        "mlp",
        "--dataset",
        str(tmp_path / "data"),
        "--steps",
        "6",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "run"),
        "--set",
        "hidden_dim=32",
        "--threads",
        "1",
        "--json",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["steps"] == 6 and doc["policy"] == "mlp"
    pol = load_policy(tmp_path / "run" / "checkpoint")
    assert pol.spec.embodiment == "arm7" and pol.spec.state_names == list(env.state_names)
    r = CliRunner().invoke(
        app, ["train", "--policy", "nope", "--dataset", str(tmp_path / "data"), "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2 and "unknown policy 'nope'" in r.output
