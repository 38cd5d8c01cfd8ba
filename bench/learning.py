"""Learning benchmark: expert demos -> train each policy -> closed-loop success over seeded episodes.

For each task: record `--demos` successful expert episodes into a LeRobot v3 dataset (physai.data
Recorder), train every policy on it exactly as `physai train --policy P` does (the policy's preset;
`--steps`, `--minutes`, `--set` as on that command), evaluate it exactly as `physai eval --seed
EVAL_SEED` does (`evaluate.run_eval`, per-episode seeds derived from the block), and report success with
a Wilson interval, training throughput and batch-1 inference latency. Each result carries the two plain
CLI commands that reproduce it. The default evaluation block (300000) played no part in choosing any
preset (they were tuned on seeds 100000-100099).

    .venv/bin/python bench/learning.py --tasks tabletop/pick-place --policies act --episodes 100
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


def cli_commands(policy: str, ds: Path, out: Path, args: argparse.Namespace, eval_dir: Path) -> list[str]:
    """The `physai train` and `physai eval` commands this benchmark runs through the library."""
    train = f"physai train --policy {policy} --dataset {ds} --out {out}"
    for flag in ("steps", "minutes", "threads"):
        if getattr(args, flag) is not None:
            train += f" --{flag} {getattr(args, flag)}"
    for item in args.set or []:
        train += f" --set '{item}'"
    ev = (f"physai eval --policy {out} --episodes {args.episodes} --seed {args.eval_seed} "
          f"--out {eval_dir}")
    return [train, ev]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="tabletop/pick-place")
    ap.add_argument("--policies", default="mlp,act,flow")
    ap.add_argument("--demos", type=int, default=50)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--steps", type=int, default=None, help="as physai train --steps (default: the preset's)")
    ap.add_argument("--minutes", type=float, default=None, help="as physai train --minutes (default: none)")
    ap.add_argument("--threads", type=int, default=1, help="as physai train --threads")
    ap.add_argument("--set", action="append", default=None, help="as physai train --set KEY=VALUE")
    ap.add_argument("--eval-seed", type=int, default=300_000,
                    help="as physai eval --seed: a block no setting was chosen on (the presets were tuned on "
                    "seeds 100000-100099)")
    ap.add_argument("--workers", default="auto", help="as physai eval --workers")
    ap.add_argument("--out", default="bench/results/learning.json")
    ap.add_argument("--runs", default=None, help="keep run folders here (default: a temp dir)")
    args = ap.parse_args()

    from physai.cli.train import _overrides
    from physai.evaluate import EvalConfig, run_eval
    from physai.evaluate.metrics import wilson_interval
    from physai.policies import load_policy
    from physai.tasks import TASKS
    from physai.train import train, train_config

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
        row: dict = {"data": rec, "policies": {}}
        for pol in args.policies.split(","):
            out = runs / task.replace("/", "__") / pol
            given = {k: v for k, v in (("steps", args.steps), ("max_minutes", args.minutes),
                                       ("num_threads", args.threads)) if v is not None}
            cfg = train_config(pol, train={**given, "save_every": 0, "log_every": 50},
                               config=_overrides(args.set))  # what `physai train` builds
            r = train([ds_root], out, cfg)
            eval_dir = runs / task.replace("/", "__") / f"eval-{pol}"
            t1 = time.perf_counter()
            ev = run_eval(EvalConfig(policy=str(out), out=eval_dir, tasks=task, episodes=args.episodes,
                                     seed=args.eval_seed, workers=args.workers))  # what `physai eval` runs
            k = sum(e["success"] for e in ev["tasks"][task]["episodes"])
            lo, hi = wilson_interval(k, args.episodes)
            res = {
                "success_rate": k / args.episodes,
                "wilson95": [lo, hi],
                "episodes": args.episodes,
                "eval_seed": args.eval_seed,
                "steps": r["steps"],
                "train_minutes": r["wall_seconds"] / 60,
                "samples_per_s": r["samples_per_s"],
                "final_loss": r["final_loss"],
                "eval_seconds": time.perf_counter() - t1,
                "parameters": r["num_parameters"],
                "commands": cli_commands(pol, ds_root, out, args, eval_dir),
                **latency(load_policy(out / "checkpoint"), task),
            }
            row["policies"][pol] = res
            print(task, pol, json.dumps(res), flush=True)
            results["tasks"][task] = row
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
