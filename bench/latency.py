"""Latency benchmark: execution modes under injected inference delay (issue #21).

For each task's package (or trained run, exported here unsigned), for each execution mode (sync,
queue, ensemble, rtc) and each injected delay (control periods; 'D~J' = D +- J uniform per request),
run `--episodes` seeded episodes through the real `physai.deploy.runtime.Runtime` on the task's sim
driver, with the safety supervisor in the loop, `realtime=False` (the delay is simulated exactly:
a chunk requested at cycle c is handed to the executor at cycle c + d, on the runtime's one code path).
Reported per cell: success with a 95% Wilson interval, idle frames (cycles with no action: sync's
waits, a queue that ran dry) per episode, and the action jerk at chunk boundaries: the mean norm of the
third difference of the commanded motion (for ee_delta commands, which are per-cycle displacements,
the second difference of the commands) over the cycles where the executor switched to a newer chunk,
gripper elements left out. The baseline, measured in the same run, is each mode's zero-delay figure.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/latency.py \\
        --policy tabletop/pick-place=runs/flow-pp --episodes 30 --out bench/results/latency.json

Writes JSON (`--out`); `--json` prints it too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

MODES = ("sync", "queue", "ensemble", "rtc")
DELAYS = ("0", "1", "2", "4", "8", "4~2")


def load(src: str, workdir: Path):
    """A package folder, a training run/checkpoint exported here (unsigned), or 'reference' (the
    hand-written pick-place planner of `physai.deploy.reference`, 16-step chunks; no sampler, so its
    rtc is the executor's blend) -> Package."""
    from physai.deploy.package import ExportConfig, export_checkpoint, export_package, load_package

    if src == "reference":
        from physai.deploy.reference import contract, make_controller

        out = workdir / "reference-pkg"
        c = contract(chunk=16, horizon=8).replace(rtc="blend")
        cfg = ExportConfig(batched=False, parity_samples=4)
        export_package(make_controller(chunk=16), c, out, config=cfg)
        return load_package(out, allow_unsigned=True)
    p = Path(src)
    if not (p / "policy.json").exists():
        out = workdir / (p.name + "-pkg")
        if not (out / "policy.json").exists():
            export_checkpoint(p, out, config=ExportConfig(batched=False, parity_samples=4))
        p = out
    return load_package(p, allow_unsigned=True)


class Commands:
    """Runtime observer keeping the commands written."""

    def __init__(self) -> None:
        self.cmds: list[np.ndarray] = []

    def start(self, info, pkg) -> None:
        pass

    def cycle(self, record) -> None:
        self.cmds.append(np.asarray(record.command, np.float64))

    def end(self, report) -> None:
        pass


def boundary_jerk(cmds: np.ndarray, boundaries: list[int], keep: np.ndarray, delta: bool) -> list[float]:
    """Jerk norms at the chunk boundaries (see the module docstring)."""
    if len(cmds) < 4:
        return []
    c = cmds[:, keep]
    k = 2 if delta else 3
    d = np.diff(c, n=k, axis=0)  # d[i] ends at cycle i + k
    return [float(np.linalg.norm(d[b - k])) for b in boundaries if k <= b < len(c)]


def episode(pkg, task: str, mode: str, delay: str, seed: int, max_cycles: int | None) -> dict:
    from physai.core.execution import InjectedDelay
    from physai.deploy.drivers.sim import sim_driver_for
    from physai.deploy.runtime import Runtime, RuntimeConfig

    c = pkg.contract
    drv = sim_driver_for(c, task, seed=seed, realtime=False)
    obs = Commands()
    cfg = RuntimeConfig(
        realtime=False, execution=mode, delay=InjectedDelay.parse(delay, seed=seed), max_cycles=max_cycles
    )
    rep = Runtime(pkg, drv, cfg, observers=[obs]).run()
    keep = np.array(["grip" not in n for n in c.action_names])
    jerk = boundary_jerk(np.array(obs.cmds), rep["inference"]["chunk_boundaries"], keep,
                         c.control.endswith("delta"))
    return {
        "success": bool(rep["success"]),
        "cycles": rep["cycles"],
        "idle": rep["inference"]["late_cycles"],
        "jerk": jerk,
        "stop": rep["safety"]["stop_reason"],
        "execution": rep["execution"],
    }


def cell(pkg, task: str, mode: str, delay: str, seeds: list[int], max_cycles: int | None) -> dict:
    from physai.evaluate.metrics import wilson_interval

    eps = [episode(pkg, task, mode, delay, s, max_cycles) for s in seeds]
    k, n = sum(e["success"] for e in eps), len(eps)
    lo, hi = wilson_interval(k, n)
    jerk = [j for e in eps for j in e["jerk"]]
    return {
        "mode": mode,
        "delay": delay,
        "episodes": n,
        "success": k / n,
        "wilson95": [lo, hi],
        "idle_frames_per_episode": float(np.mean([e["idle"] for e in eps])),
        "idle_fraction": float(sum(e["idle"] for e in eps) / max(1, sum(e["cycles"] for e in eps))),
        "boundary_jerk": float(np.mean(jerk)) if jerk else 0.0,
        "boundaries_per_episode": len(jerk) / n,
        "cycles_per_episode": float(np.mean([e["cycles"] for e in eps])),
        "supervisor_stops": sum(e["stop"] is not None for e in eps),
        "execution": eps[0]["execution"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", action="append", required=True,
                    help="TASK=PACKAGE_OR_RUN (repeat), e.g. tabletop/pick-place=runs/flow-pp")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--delays", default=",".join(DELAYS), help="control periods; D~J = D +- J (uniform)")
    ap.add_argument("--horizon", type=int, default=None, help="executed actions per chunk (default: half)")
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="first evaluation seed (demos used 1000+)")
    ap.add_argument("--max-cycles", type=int, default=None)
    ap.add_argument("--out", default="bench/results/latency.json")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="physai-latency-"))
    seeds = list(range(args.seed, args.seed + args.episodes))
    rows = []
    t0 = time.perf_counter()
    for item in args.policy:
        task, _, src = item.partition("=")
        pkg = load(src, work)
        h = args.horizon or max(1, pkg.contract.chunk_size // 2)
        for mode in args.modes.split(","):
            for delay in args.delays.split(","):
                spec = mode if mode == "ensemble" else f"{mode}:{h}"
                r = cell(pkg, task, spec, delay, seeds, args.max_cycles)
                r.update(task=task, policy=src, mode=mode)
                rows.append(r)
                print(
                    f"{task} {mode:8s} delay {delay:>4s}: success {r['success']:.2f} "
                    f"[{r['wilson95'][0]:.2f}, {r['wilson95'][1]:.2f}] "
                    f"idle/ep {r['idle_frames_per_episode']:.1f} "
                    f"jerk {r['boundary_jerk']:.4f} ({time.perf_counter() - t0:.0f} s)",
                    file=sys.stderr, flush=True,
                )
    doc = {
        "bench": "latency",
        "episodes": args.episodes,
        "seeds": [seeds[0], seeds[-1]],
        "cpus": os.cpu_count(),
        "load1": os.getloadavg()[0],
        "seconds": time.perf_counter() - t0,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc))


if __name__ == "__main__":
    main()
