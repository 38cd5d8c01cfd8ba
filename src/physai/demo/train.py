"""Demo stage `train`: collect a small expert dataset, train a policy for a few minutes on CPU, and show
its closed-loop success next to the expert's on the same held-out seeds."""

from __future__ import annotations

from pathlib import Path

from physai.core.progress import Progress
from physai.demo.registry import stage


@stage("train", order=20)
def train_stage(
    out: Path,
    progress: Progress,
    task: str = "tabletop/pick-place",
    demos: int = 50,
    minutes: float = 4.0,
    episodes: int = 20,
    policy: str = "mlp",
    steps: int = 40_000,
) -> dict:
    """Expert demos -> `policy` trained for `minutes` -> success vs the expert on `episodes` new seeds."""
    import numpy as np

    import physai
    from physai.envs import run_episode
    from physai.train import TrainConfig, evaluate_policy, train
    from physai.train.memory import collect_expert

    ds, coll = collect_expert(task, demos, seed=0, progress=progress)
    run = out / "train" / policy
    if (run / "checkpoint").exists():
        import shutil

        shutil.rmtree(run)
    cfg = TrainConfig(
        policy=policy,
        steps=steps,
        batch_size=64,
        lr=1e-3,
        warmup_steps=100,
        save_every=0,
        max_minutes=minutes,
        num_threads=1,
    )
    res = train([ds], run, cfg, progress=progress)
    from physai.policies import load_policy

    seed = 100_000
    ev = evaluate_policy(load_policy(run), task, episodes, seed, progress=progress)
    env = physai.make(task)
    expert = float(np.mean([run_episode(env, env.expert(), seed=seed + i).success for i in range(episodes)]))
    env.close()
    return {
        "task": task,
        "policy": policy,
        "demos": demos,
        "train_steps": res["steps"],
        "train_minutes": round(res["wall_seconds"] / 60, 2),
        "samples_per_s": round(res["samples_per_s"]),
        "policy_success_rate": ev["success_rate"],
        "expert_success_rate": expert,
        "episodes": episodes,
        "checkpoint": str(Path(res["checkpoint"]).relative_to(out)),
        "curve": str((run / "curve.png").relative_to(out)),
        "expert_demo_success": coll["expert_success_rate"],
    }
