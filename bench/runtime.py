"""Runtime loop timing: cycle-period jitter and deadline-miss rate at 50 Hz and 500 Hz.

    .venv/bin/python bench/runtime.py [--seconds 10] [--rates 50,500] [--json]

An MLP policy (`physai.policies` mlp, random hidden weights, zeroed output layer so the arm holds
still instead of tripping protective stops; the compute per inference is the MLP's) is exported to a
package and run by `physai.deploy.runtime.Runtime` on the `sim:tabletop/pick-place` driver (MuJoCo stepped
one control period per cycle) with the safety supervisor in the loop. Baseline, measured in the same run right
before each rate: a bare fixed-rate loop (same sleep/spin pacing, no work), so the figures separate the
runtime's own cost from the machine's scheduling noise. Goal: < 0.5% deadline misses at 500 Hz.
Writes bench/results/runtime.json (runtime_rt.json with --rt-priority).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "runtime.json"
TASK = "tabletop/pick-place"


def bare_loop(hz: float, seconds: float, spin: float, rt_priority: int | None = None) -> dict:
    """Fixed-rate loop with the runtime's pacing and no work: the machine's own jitter."""
    from physai.deploy.runtime import _set_rt_priority, _sleep_until

    previous = _set_rt_priority(rt_priority) if rt_priority else None
    period, n = 1.0 / hz, int(hz * seconds)
    starts, misses, t_next = [], 0, time.monotonic()
    for _ in range(n):
        _sleep_until(t_next, spin)
        t0 = time.monotonic()
        starts.append(t0)
        t1 = time.monotonic()
        if t1 > t_next + period:
            misses += 1
        t_next += period
    if previous is not None:
        os.sched_setscheduler(0, *previous)
    jit = np.abs(np.diff(starts) - period) * 1e3
    return {
        "cycles": n,
        "jitter_p50_ms": float(np.percentile(jit, 50)),
        "jitter_p99_ms": float(np.percentile(jit, 99)),
        "deadline_miss_rate": misses / n,
    }


def make_package(out: Path):
    from physai.deploy.package import ExportConfig, export_package, load_package
    from physai.envs import make
    from physai.policies import IOSpec, make_policy

    env = make(TASK, render_mode=None)
    spec = IOSpec(
        embodiment="arm7",
        state_names=list(env.state_names),
        action_names=list(env.action_spec.names),
        control="ee_delta",
        env_task=TASK,
    )
    env.close()
    pol = make_policy("mlp", [spec])
    last = [m for m in pol.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # untrained weights would drive the arm into protective stops; hold still instead
        last.weight.zero_()
        last.bias.zero_()
    export_package(pol.export_module(), pol.contract(), out, config=ExportConfig(batched=False))
    return load_package(out, allow_unsigned=True), pol.config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rates", default="50,500")
    ap.add_argument(
        "--rt-priority", type=int, default=None, help="SCHED_FIFO priority of the control thread."
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from physai.deploy.drivers import SimDriver
    from physai.deploy.runtime import Runtime, RuntimeConfig

    pkg, pcfg = make_package(Path(tempfile.mkdtemp()) / "pkg")
    rows = []
    for hz in (float(r) for r in args.rates.split(",")):
        cfg = RuntimeConfig(hz=hz, duration=args.seconds, stop_on_done=False, rt_priority=args.rt_priority)
        base = bare_loop(hz, min(args.seconds, 5.0), cfg.spin_s, args.rt_priority)
        drv = SimDriver(TASK, hz=hz, seed=0, max_steps=10**9)
        rep = Runtime(pkg, drv, cfg).run()
        t = rep["timing"]
        rows.append(
            {
                "hz": hz,
                "cycles": rep["cycles"],
                "jitter_p50_ms": t["jitter_p50_ms"],
                "jitter_p99_ms": t["jitter_p99_ms"],
                "jitter_max_ms": t["jitter_max_ms"],
                "work_p50_ms": t["work_p50_ms"],
                "work_p99_ms": t["work_p99_ms"],
                "deadline_miss_rate": t["deadline_miss_rate"],
                "inference_p50_ms": rep["inference"]["latency_p50_ms"],
                "inference_p99_ms": rep["inference"]["latency_p99_ms"],
                "late_cycles": rep["inference"]["late_cycles"],
                "safety_state": rep["safety"]["state"],
                "baseline": base,
                "goal_miss_rate": 0.005 if hz >= 500 else None,
            }
        )
        if not args.json:
            print(
                f"{hz:6.0f} Hz: jitter p99 {t['jitter_p99_ms']:.3f} ms "
                f"(bare loop {base['jitter_p99_ms']:.3f}), misses {t['deadline_miss_rate']:.2%} "
                f"(bare {base['deadline_miss_rate']:.2%}), work p99 {t['work_p99_ms']:.3f} ms, "
                f"inference p99 {rep['inference']['latency_p99_ms']:.3f} ms",
                file=sys.stderr,
            )
    doc = {
        "bench": "runtime",
        "task": TASK,
        "policy": f"mlp chunk={pcfg.chunk_size}",
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "load1": os.getloadavg()[0],
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "rates": rows,
    }
    path = RESULTS.with_name("runtime_rt.json") if args.rt_priority else RESULTS
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
