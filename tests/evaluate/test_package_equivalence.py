"""Evaluated = deployed: for each registered policy with its default execution mode (act, flow, vla:
temporal ensembling; mlp: a chunk queue), `physai eval --policy CHECKPOINT` and `physai eval --policy
PACKAGE` (the runtime's executor over the signed ONNX package) act the same on the same seeds: the same
actions step by step, and the same per-episode outcomes."""

from __future__ import annotations

import numpy as np
import pytest

from physai.data.collect import CollectConfig, collect
from physai.deploy import signing
from physai.deploy.package import ExportConfig, export_checkpoint, load_package
from physai.evaluate import EvalConfig, run_eval
from physai.evaluate.policy_source import PackagePolicy
from physai.policies import POLICIES, load_policy
from physai.train.trainer import TrainConfig, train

TASK = "tabletop/pick-place"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("eq-data") / "pp"
    collect(CollectConfig(task=TASK, episodes=1, out=str(out), cameras=(), max_steps=16, keep_failures=True))
    return out


@pytest.mark.parametrize("name", POLICIES.names())
def test_checkpoint_and_package_give_the_same_actions_and_outcomes(name, dataset, small, tmp_path):
    run = tmp_path / "run"
    train([dataset], run, TrainConfig(policy=name, steps=3, batch_size=4, warmup_steps=1, save_every=0,
                                      policy_overrides=small[name]))  # default execution
    priv, pub = signing.generate_keys(tmp_path / "keys")
    export_checkpoint(run / "checkpoint", tmp_path / "pkg", sign_key=priv, config=ExportConfig(batched=False))
    ckpt = load_policy(run / "checkpoint")
    pkg = load_package(tmp_path / "pkg", signing.trusted_keys(pub))
    assert pkg.contract == ckpt.contract()
    assert pkg.contract.execution.mode == ("ensemble" if ckpt.config.temporal_ensemble else "queue")

    # step by step on the checkpoint's own observations: the same actions
    import physai

    env = physai.make(TASK, render_mode=None, **ckpt.env_kwargs())
    deployed = PackagePolicy(pkg)
    obs, _ = env.reset(seed=7)
    ckpt.reset()
    deployed.reset()
    for _ in range(12):
        a, b = ckpt.act(obs), deployed.act(obs)
        np.testing.assert_allclose(b, a, atol=1e-4)
        obs, *_ = env.step(a)
    env.close()

    # the same seeds through `physai eval`: the same per-episode outcomes
    docs = [
        run_eval(EvalConfig(policy=str(p), out=tmp_path / f"ev{i}", tasks=TASK, episodes=2, workers=0,
                            max_steps=25, report=False, trusted_keys=(str(pub),)))
        for i, p in enumerate((run / "checkpoint", tmp_path / "pkg"))
    ]
    assert docs[1]["policy"]["kind"] == "package"
    outcomes = [[(e["seed"], e["success"], e["length"]) for e in d["episodes"]] for d in docs]
    assert outcomes[0] == outcomes[1]
