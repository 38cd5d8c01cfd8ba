"""Learning benchmark: expert demos -> train each policy -> closed-loop success over seeded episodes.

For each task: record `--demos` successful expert episodes into a LeRobot v3 dataset (physai.data
Recorder), train every policy on it for `--minutes` of wall clock (or `--steps`), evaluate `--episodes`
seeded episodes (seeds disjoint from the demo seeds), and measure training throughput and batch-1
inference latency. The baseline measured in the same run is the scripted expert's success on the same
evaluation seeds; the JSON reports each policy's success and its ratio to the expert's.

    .venv/bin/python bench/learning.py --tasks tabletop/pick-place --policies mlp,act,flow --minutes 6
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")


def record(task: str, root: Path, demos: int, seed: int = 0, **make_kw: object) -> dict:
    """Record `demos` successful expert episodes of `task` (env made with `make_kw`; default: state and
    instruction observations) into `root`."""
    import physai
    from physai.data import Recorder

    env = physai.make(task, **(make_kw or {"obs": ("state", "instruction")}))
    rec = Recorder(env, root)
    kept = attempts = 0
    t0 = time.perf_counter()
    while kept < demos and attempts < demos * 4:
        r = rec.record(env.expert(), seed=seed + attempts)
        attempts += 1
        kept += r.kept
    rec.close()
    env.close()
    return {
        "demos": kept,
        "attempts": attempts,
        "expert_demo_success": kept / attempts,
        "record_seconds": time.perf_counter() - t0,
    }


def expert_success(task: str, episodes: int, seed: int) -> float:
    import physai
    from physai.envs import run_episode

    env = physai.make(task)
    s = [run_episode(env, env.expert(), seed=seed + i).success for i in range(episodes)]
    env.close()
    return float(np.mean(s))


def train_config(args: argparse.Namespace, policy: str, minutes: float, **extra: object):
    """The benchmark's TrainConfig: `args.steps`/`batch_size`/`threads`, no intermediate checkpoints."""
    from physai.train import TrainConfig

    return TrainConfig(
        policy=policy,
        steps=args.steps,
        batch_size=args.batch_size,
        save_every=0,
        log_every=50,
        num_threads=args.threads,
        max_minutes=minutes,
        **extra,
    )


def latency(policy, task: str, n: int = 200) -> dict:
    import torch

    import physai

    env = physai.make(task, **policy.env_kwargs())
    obs, _ = env.reset(seed=0)
    batch = policy.obs_to_batch(obs)
    ts = []
    with torch.inference_mode():
        for _ in range(10):
            policy.predict_chunk(batch)
        for _ in range(n):
            t0 = time.perf_counter()
            policy.predict_chunk(batch)
            ts.append(time.perf_counter() - t0)
    env.close()
    ms = np.array(ts) * 1e3
    return {"chunk_p50_ms": float(np.percentile(ms, 50)), "chunk_p99_ms": float(np.percentile(ms, 99))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="tabletop/pick-place")
    ap.add_argument("--policies", default="mlp,act,flow")
    ap.add_argument("--demos", type=int, default=50)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100_000, help="upper bound of steps (time budget rules)")
    ap.add_argument("--minutes", type=float, default=20.0, help="training wall-clock budget per policy")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--overrides", default=None, help='policy config changes as JSON, e.g. {"act": {"d_model": 128}}'
    )
    ap.add_argument("--out", default="bench/results/learning.json")
    ap.add_argument("--runs", default=None, help="keep run folders here (default: a temp dir)")
    args = ap.parse_args()

    from physai.policies import load_policy
    from physai.tasks import TASKS
    from physai.train import evaluate_policy, train

    runs = Path(args.runs or tempfile.mkdtemp(prefix="physai-learning-"))
    results: dict = {
        "command": "python bench/learning.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if v is not None and k not in ("out", "runs")
        ),
        "tasks": {},
    }
    for task in [t for t in args.tasks.split(",") if t in TASKS]:
        ds_root = runs / task.replace("/", "__") / "data"
        rec = record(task, ds_root, args.demos)
        eval_seed = 100_000
        rec["expert_eval_success"] = expert_success(task, args.episodes, eval_seed)
        row: dict = {"data": rec, "policies": {}}
        for pol in args.policies.split(","):
            out = runs / task.replace("/", "__") / pol
            cfg = train_config(
                args,
                pol,
                args.minutes,
                eval_task=task,
                policy_overrides=json.loads(args.overrides or "{}").get(pol, {}),
            )
            r = train([ds_root], out, cfg)
            policy = load_policy(out / "checkpoint")
            t1 = time.perf_counter()
            ev = evaluate_policy(policy, task, args.episodes, eval_seed)
            res = {
                "success_rate": ev["success_rate"],
                "steps": r["steps"],
                "train_minutes": r["wall_seconds"] / 60,
                "samples_per_s": r["samples_per_s"],
                "final_loss": r["final_loss"],
                "eval_seconds": time.perf_counter() - t1,
                "parameters": r["num_parameters"],
                "ratio_to_expert": ev["success_rate"] / max(rec["expert_eval_success"], 1e-9),
                **latency(policy, task),
            }
            if pol in ("act", "flow"):  # the other execution mode on the same checkpoint
                te = policy.config.temporal_ensemble
                policy.set_execution(None if te is not None else 0.01)
                key = "success_rate_chunk_queue" if te is not None else "success_rate_temporal_ensemble"
                res[key] = evaluate_policy(policy, task, args.episodes, eval_seed)["success_rate"]
                policy.set_execution(te)
            row["policies"][pol] = res
            print(task, pol, json.dumps(res), flush=True)
            results["tasks"][task] = row
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
