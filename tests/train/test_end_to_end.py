"""Smoke: expert demos -> train -> closed-loop eval beats a random policy (easy setting: demo seeds)."""

import numpy as np

from physai.envs import RandomPolicy, make, run_episode
from physai.policies import load_policy
from physai.train import TrainConfig, evaluate_policy, train
from physai.train.memory import collect_expert


def test_train_then_evaluate_beats_random(tmp_path):
    task, seeds = "tabletop/pick-place", 4
    ds, stats = collect_expert(task, seeds, seed=0)
    assert stats["expert_success_rate"] > 0.5 and ds.meta.info["physai"]["task"] == task
    cfg = TrainConfig(
        policy="mlp",
        steps=500,
        batch_size=64,
        lr=1e-3,
        warmup_steps=20,
        save_every=0,
        eval_at_end=True,
        eval_episodes=seeds,
        eval_seed=0,
        num_threads=1,
    )
    res = train([ds], tmp_path / "run", cfg)
    env = make(task)
    random = np.mean([run_episode(env, RandomPolicy(env, seed=s), seed=s).success for s in range(seeds)])
    env.close()
    assert res["success_rate"] is not None and res["success_rate"] > random
    assert res["success_rate"] >= 0.5, res
    again = evaluate_policy(load_policy(tmp_path / "run"), task, seeds, seed=0)
    assert again["success_rate"] == res["success_rate"]  # the saved EMA weights are what was evaluated
