"""Closed-loop evaluation of a policy in simulation (success rate over seeded episodes)."""

from __future__ import annotations

import numpy as np
import torch

from physai.core.progress import NullProgress, Progress
from physai.policies.base import Policy


def evaluate_policy(
    policy: Policy,
    task: str,
    episodes: int,
    seed: int = 100_000,
    progress: Progress | None = None,
    max_steps: int | None = None,
) -> dict:
    """Run `episodes` episodes with seeds seed, seed+1, ... and return success rate and per-episode rows."""
    import physai
    from physai.envs import run_episode

    progress = progress or NullProgress()
    select_task = getattr(policy, "select_task", None)
    if select_task is not None and any(s.env_task == task for s in policy.specs):
        select_task(task)
    policy.eval()
    env = physai.make(task, max_steps=max_steps, **policy.env_kwargs())
    rows = []
    progress.start(episodes, f"eval {task}")
    try:
        with torch.inference_mode():
            for i in range(episodes):
                r = run_episode(env, policy, seed=seed + i)
                rows.append(r.to_dict())
                progress.advance(1, success=float(np.mean([x["success"] for x in rows])))
    finally:
        progress.close()
        env.close()
    return {"task": task, "episodes": rows, "success_rate": float(np.mean([r["success"] for r in rows]))}
