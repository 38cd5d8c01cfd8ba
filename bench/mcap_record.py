"""MCAP bench: recording overhead on a 50 Hz control loop with two 128x128 cameras, and bag -> dataset speed.

Overhead: a fixed-rate 50 Hz loop does the same per-cycle work in alternating 1 s blocks — alone
(baseline) and handing every cycle (28-element state, two 128x128 RGB images, 7-element action and
command) to an
`McapRecorder` — and compares the control thread's per-cycle time. The recorder's cost on the loop is
its `cycle()` call plus whatever its writer thread steals from the loop (the GIL, the CPU); the blocks
alternate so that the load of a shared machine falls on both arms alike. Reported as
a share of the 20 ms cycle budget (target < 5 %), with the writer's queue drops (target 0).

Conversion: the recording is converted to a LeRobot v3 dataset (`physai dataset convert --from mcap`,
resampled at 50 Hz, both cameras to video); frames/s.

Writes bench/results/mcap_record.json.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/mcap_record.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from physai.deploy.drivers.base import DriverInfo
from physai.deploy.runtime import CycleRecord
from physai.embodiments import make_embodiment
from physai.field.bag_convert import bag_to_dataset, session_map
from physai.field.mcap_record import McapRecorder

HZ = 50.0
CAMS = ("scene", "wrist")


def work(rng: np.random.Generator, state: np.ndarray) -> np.ndarray:
    """Stand-in for a cycle's own work (observation packing, supervisor math): ~1 ms of numpy."""
    x = state
    for _ in range(40):
        x = np.tanh(x * 0.99 + rng.standard_normal(x.shape).astype(np.float32) * 1e-3)
    return x


def loop(seconds: float, recorder: McapRecorder, seed: int) -> tuple[dict, dict]:
    """(baseline, recording) per-cycle times over alternating 1 s blocks of `seconds` in all per arm."""
    rng = np.random.default_rng(seed)
    period = 1.0 / HZ
    block = int(HZ)
    n = 2 * int(seconds * HZ)
    state = rng.standard_normal(28).astype(np.float32)
    times: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    t_next = time.monotonic()
    cycle = 0
    for i in range(n):
        rec_on = (i // block) % 2 == 1
        t_cycle, t_obs = times[rec_on]
        now = time.monotonic()
        if t_next > now:
            time.sleep(t_next - now)
        t0 = time.monotonic()
        # a camera frame arrives (fresh array each cycle, as from a driver) and the cycle's work runs
        obs = {
            "state": state.copy(),
            **{f"images/{c}": rng.integers(0, 255, (128, 128, 3), np.uint8) for c in CAMS},
        }
        state = work(rng, state)
        cmd = np.clip(state[:7], -1, 1)
        t1 = time.monotonic()
        if rec_on:
            recorder.cycle(
                CycleRecord(
                    cycle, t0, obs, SimpleNamespace(joint_pos=state[:7]), cmd.copy(), cmd, "policy", t1 - t0
                )
            )
            cycle += 1
        t2 = time.monotonic()
        t_cycle.append(t2 - t0)
        t_obs.append(t2 - t1)
        t_next += period
    return _stats(*times[False]), _stats(*times[True])


def _stats(t_cycle: list, t_obs: list) -> dict:
    c, o = np.array(t_cycle) * 1e3, np.array(t_obs) * 1e3
    return {
        "cycles": len(c),
        "cycle_p50_ms": float(np.median(c)),
        "cycle_mean_ms": float(c.mean()),
        "cycle_p99_ms": float(np.percentile(c, 99)),
        "observer_p50_ms": float(np.median(o)),
        "observer_p99_ms": float(np.percentile(o, 99)),
    }


def info() -> DriverInfo:
    emb = make_embodiment("arm7")
    spec = emb.action_spec("ee_delta")
    return DriverInfo(
        "arm7",
        "ee_delta",
        HZ,
        emb.state_names(),
        list(spec.names),
        spec.low,
        spec.high,
        emb.safety_limits(),
        cameras=list(CAMS),
        image_size=(128, 128),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--seconds", type=float, default=30.0, help="Seconds of 50 Hz loop per arm (in 1 s blocks)."
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results/mcap_record.json"))
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="mcap_bench_"))
    rec = McapRecorder(d / "s.mcap")
    rec.start(
        info(), SimpleNamespace(path="bench", contract=SimpleNamespace(to_dict=lambda: {"tasks": ["bench"]}))
    )
    base, withrec = loop(a.seconds, rec, 0)
    t0 = time.monotonic()
    rec.end({"cycles": withrec["cycles"]})
    summary = rec.close()
    drain_s = time.monotonic() - t0
    budget = 1e3 / HZ
    overhead_ms = withrec["cycle_mean_ms"] - base["cycle_mean_ms"]
    t0 = time.perf_counter()
    conv = bag_to_dataset(d / "s.mcap", d / "ds", session_map(d / "s.mcap", "mcap"))
    conv_s = time.perf_counter() - t0
    doc = {
        "bench": "mcap_record",
        "hz": HZ,
        "cameras": list(CAMS),
        "image": [128, 128, 3],
        "seconds": a.seconds,
        "baseline": base,
        "recording": withrec,
        "recorder": summary,
        "overhead_mean_ms": overhead_ms,
        "overhead_p50_ms": withrec["cycle_p50_ms"] - base["cycle_p50_ms"],
        "overhead_share_of_budget": overhead_ms / budget,
        "overhead_p99_ms": withrec["cycle_p99_ms"] - base["cycle_p99_ms"],
        "observer_call_share_of_budget_p99": withrec["observer_p99_ms"] / budget,
        "close_s": drain_s,
        "file_mb": (d / "s.mcap").stat().st_size / 1e6,
        "convert": {"frames": conv["frames"], "seconds": conv_s, "frames_per_s": conv["frames"] / conv_s},
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
    print(json.dumps(doc, indent=2))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
