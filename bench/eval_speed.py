"""Evaluation harness speed: 2 workers vs 1 worker (episodes/min) and harness overhead vs a bare loop.

All figures are ratios against baselines measured in this same run (the machine is shared and noisy);
each configuration is measured `--repeats` times interleaved and the fastest run is kept.

    .venv/bin/python bench/eval_speed.py [--episodes 40] [--repeats 2]

Writes bench/results/eval_speed.json. Targets: speedup_2v1 >= 1.8, overhead_1worker <= 0.10.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

TASKS = ["tabletop/pick-place", "tabletop/push"]


def bare_loop(tasks: list[str], episodes: int, seed: int) -> float:
    """env.reset + policy.act + env.step on the same episodes (same seeds), nothing else."""
    from physai.envs import make
    from physai.evaluate.seeding import episode_seed

    t0 = time.perf_counter()
    for task in tasks:
        env = make(task)
        policy = env.expert()
        for i in range(episodes):
            obs, _ = env.reset(seed=episode_seed(seed, task, i))
            policy.reset()
            while True:
                obs, _, term, trunc, _ = env.step(policy.act(obs))
                if term or trunc:
                    break
        env.close()
    return time.perf_counter() - t0


def harness(tasks: list[str], episodes: int, seed: int, workers: int) -> tuple[float, dict]:
    from physai.evaluate import EvalConfig, run_eval

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        doc = run_eval(EvalConfig(policy="expert", out=Path(tmp), tasks=",".join(tasks), episodes=episodes,
                                  seed=seed, workers=workers, report=False))
        return time.perf_counter() - t0, doc


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (workers are joined before a run returns)."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=40, help="episodes per task")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = args.episodes * len(TASKS)
    times: dict[str, list[float]] = {"bare": [], "inline": [], "w1": [], "w2": []}
    cpu: dict[str, list[float]] = {k: [] for k in times}
    outcomes = {}
    for _ in range(args.repeats):
        c0 = cpu_seconds()
        times["bare"].append(bare_loop(TASKS, args.episodes, args.seed))
        cpu["bare"].append(cpu_seconds() - c0)
        for key, w in (("inline", 0), ("w1", 1), ("w2", 2)):
            c0 = cpu_seconds()
            t, doc = harness(TASKS, args.episodes, args.seed, w)
            cpu[key].append(cpu_seconds() - c0)
            times[key].append(t)
            outcomes[key] = [(e["seed"], e["success"], e["length"]) for e in doc["episodes"]]
    best = {k: min(v) for k, v in times.items()}
    epm = {k: 60.0 * n / v for k, v in best.items()}
    res = {
        "tasks": TASKS, "episodes": n, "policy": "expert", "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0], "seconds": times, "best_seconds": best,
        "episodes_per_min": {k: round(v, 1) for k, v in epm.items()},
        "speedup_2v1": round(best["w1"] / best["w2"], 3),
        "overhead_1worker": round(best["w1"] / best["bare"] - 1, 4),
        "overhead_inline": round(best["inline"] / best["bare"] - 1, 4),
        "cpu_seconds": cpu,
        "cpu_overhead_1worker": round(min(cpu["w1"]) / min(cpu["bare"]) - 1, 4),
        "cpu_overhead_2workers": round(min(cpu["w2"]) / min(cpu["bare"]) - 1, 4),
        "identical_outcomes_across_worker_counts": outcomes["w1"] == outcomes["w2"] == outcomes["inline"],
        "targets": {"speedup_2v1": ">= 1.8", "overhead_1worker": "<= 0.10"},
    }
    out = Path(__file__).parent / "results" / "eval_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
