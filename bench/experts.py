"""Scripted-expert success rate per registered task, over N seeded episodes, with a Wilson 95% interval.

    .venv/bin/python bench/experts.py [--tasks all|suite:NAME|a,b] [--episodes 100] [--seed 0] [--json]

Episode i uses seed `seed + i`. Target: >= 95% on every task. Writes bench/results/experts.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import physai
from physai.envs import run_episode
from physai.evaluate.metrics import wilson_interval
from physai.tasks import tasks_in

RESULTS = Path(__file__).resolve().parent / "results" / "experts.json"
TARGET = 0.95


def measure_task(name: str, episodes: int, seed: int) -> dict:
    env = physai.make(name)
    expert = env.expert()
    t0 = time.perf_counter()
    results = [run_episode(env, expert, seed=seed + i) for i in range(episodes)]
    wall = time.perf_counter() - t0
    env.close()
    wins = sum(r.success for r in results)
    lo, hi = wilson_interval(wins, episodes)
    return {
        "task": name, "episodes": episodes, "successes": wins, "success_rate": wins / episodes,
        "wilson95": [lo, hi], "target": TARGET, "ok": wins / episodes >= TARGET,
        "failed_seeds": [r.seed for r in results if not r.success],
        "mean_length": sum(r.length for r in results) / episodes, "max_steps": env.task.max_steps,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="all", help="all, suite:NAME, or a comma-separated list")
    ap.add_argument("--episodes", type=int, default=100, help="seeded episodes per task")
    ap.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args(argv)
    rows = []
    for name in tasks_in(args.tasks):
        row = measure_task(name, args.episodes, args.seed)
        rows.append(row)
        if not args.json:
            lo, hi = row["wilson95"]
            print(f"{name:28s} {row['successes']:4d}/{row['episodes']:<4d} = {row['success_rate']:.1%} "
                  f"(95% CI {lo:.1%}-{hi:.1%}) mean length {row['mean_length']:.0f}/{row['max_steps']} "
                  f"{'ok' if row['ok'] else 'BELOW TARGET'}", file=sys.stderr)
    doc = {"bench": "experts", "machine": platform.machine(), "python": platform.python_version(),
           "command": "bench/experts.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "tasks": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
