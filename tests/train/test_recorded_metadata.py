"""A dataset recorded by physai.data.Recorder tells the trainer its task, control mode and state kind."""

import json

from physai.data import Recorder
from physai.envs import RandomPolicy, make
from physai.policies import load_policy
from physai.policies.base import PolicyConfig
from physai.train import TrainConfig, train
from physai.train.data import open_dataset, spec_from_dataset


def _record(root, privileged: bool) -> None:
    env = make("tabletop/push", obs=("state",), privileged=privileged, max_steps=8)
    with Recorder(env, root, keep_failures=True) as rec:
        for s in range(2):
            rec.record(RandomPolicy(env, seed=s), seed=s)
    env.close()


def test_spec_reads_recorder_metadata(tmp_path):
    _record(tmp_path / "ds", privileged=False)
    spec = spec_from_dataset(open_dataset(tmp_path / "ds"), PolicyConfig())
    assert (spec.env_task, spec.control, spec.privileged) == ("tabletop/push", "ee_delta", False)


def test_eval_every_without_eval_task_on_recorded_data(tmp_path):
    _record(tmp_path / "ds", privileged=False)
    cfg = TrainConfig(policy="mlp", steps=4, batch_size=8, save_every=0, eval_every=4, eval_episodes=1,
                      num_threads=1)
    res = train([tmp_path / "ds"], tmp_path / "run", cfg)  # no eval_task: taken from the dataset
    assert res["evals"] and res["evals"][-1]["task"] == "tabletop/push"
    kw = load_policy(tmp_path / "run" / "checkpoint").env_kwargs()
    assert kw["privileged"] is False and kw["control"] == "ee_delta"  # proprio-only state, like the data
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("eval_success_rate" in r for r in rows)
