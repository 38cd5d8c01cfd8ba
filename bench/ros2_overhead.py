"""ROS 2 bridge overhead: joint-state message -> the command it causes, vs the direct sim driver.

    PYTHONPATH=src python bench/ros2_overhead.py [--cycles 300] [--rates 50,500] [--seeds 10] [--json]

Part 1, latency. The same policy (the scripted pick-place reference controller exported as a package,
ONNX Runtime, one inference per cycle) and the same safety supervisor run a reactive loop at R Hz:
read the robot, infer, filter, write. Through ROS 2 the robot is `physai ros2 sim --lockstep` in the same
process (its own rclpy context and executor thread): the latency of a cycle is the time from the node
publishing a state (joint_states, poses, wrench, episode; after its MuJoCo step) to the node receiving
the twist + gripper command computed from it — two DDS hops, the driver's conversions and the policy.
Direct: `sim:` driver, from the end of the `write` that produced the state to the next `write` call —
the policy and supervisor alone. Both sims are paced at R Hz (they never run ahead of the wall clock).
Ratio = ROS 2 / direct. Also reported: the number of DDS-side milliseconds (ROS 2 minus direct).

Part 2, success (`--seeds N`): the package runs the full `Runtime` on held-out seeds 100..100+N-1 of
tabletop/pick-place (300 steps) on the direct sim driver and through ROS 2, twice: against
`physai ros2 sim --lockstep` with `realtime=False` (reproducible whatever the load), and in real time
against the free-running node (the robot ticks at 20 Hz on its own clock, like hardware); success with
Wilson 95% intervals. Writes bench/results/ros2_overhead.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "ros2_overhead.json"
TASK = "tabletop/pick-place"


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x), q)) if x else float("nan")


def _policy_step(pkg, sup, reading):
    chunk = pkg.infer(reading.obs)
    return sup.filter(np.asarray(chunk[0], np.float32), reading.robot)


def _supervisor(info, hz):
    from physai.deploy.runtime import make_supervisor
    from physai.deploy.safety import SupervisorConfig

    return make_supervisor(info, 1.0 / hz, SupervisorConfig())


def direct_latency(pkg, hz: float, cycles: int) -> list[float]:
    from physai.deploy.drivers.sim import SimDriver

    d = SimDriver(TASK, hz=hz, seed=0, max_steps=10**6)
    info = d.connect()
    sup = _supervisor(info, hz)
    r = d.read()
    sup.start(r.robot)
    sup.enable()
    lat: list[float] = []
    t_state = time.perf_counter()
    for _ in range(cycles):
        r = d.read()
        cmd = _policy_step(pkg, sup, r)
        lat.append(time.perf_counter() - t_state)
        d.write(cmd)
        t_state = time.perf_counter()
    d.disconnect()
    return lat[5:]


def ros2_latency(pkg, hz: float, cycles: int, domain: int) -> list[float]:
    from physai.ros2.driver import Ros2Driver
    from physai.ros2.sim_node import SimRobotNode

    node = SimRobotNode(TASK, hz=hz, seed=0, domain_id=domain, lockstep=True, max_steps=10**6).start()
    try:
        contract = dataclasses.replace(pkg.contract, control_hz=hz)
        drv = Ros2Driver(node.driver_config(stale_after=max(10.0, hz)), contract)
        info = drv.connect()
        sup = _supervisor(info, hz)
        r = drv.read()
        sup.start(r.robot)
        sup.enable()
        node.trace = trace = []
        for _ in range(cycles):
            r = drv.read()
            drv.write(_policy_step(pkg, sup, r))
        drv.read()
        drv.disconnect()
        assert not drv.faults, drv.faults
    finally:
        node.close()
    lat, t_state = [], None
    for kind, t in trace:
        if kind == "state":
            t_state = t
        elif t_state is not None:  # the command computed from that state
            lat.append(t - t_state)
            t_state = None
    return lat[5:]


def success_runs(pkg, seeds: int, domain: int, lockstep: bool) -> dict:
    """Success on seeds 100.. (held out) on the direct driver and through ROS 2. Lockstep: runtime with
    realtime=False against `physai ros2 sim --lockstep` (load-independent). Free: realtime runtime against
    the free-running node (like hardware; sensitive to the machine's load)."""
    from physai.deploy.drivers.sim import sim_driver_for
    from physai.deploy.runtime import Runtime, RuntimeConfig
    from physai.evaluate.metrics import wilson_interval
    from physai.ros2.driver import Ros2Driver
    from physai.ros2.sim_node import SimRobotNode

    cfg = RuntimeConfig(realtime=False, read_deadline_s=5.0) if lockstep else RuntimeConfig()
    out: dict = {"mode": "lockstep" if lockstep else "free", "direct": [], "ros2": [], "ros2_stops": []}
    for seed in range(100, 100 + seeds):
        d = sim_driver_for(pkg.contract, TASK, seed=seed, max_steps=300, realtime=not lockstep)
        out["direct"].append(bool(Runtime(pkg, d, cfg).run()["success"]))
        node = SimRobotNode(TASK, seed=seed, domain_id=domain, max_steps=300, lockstep=lockstep).start()
        node.sim.realtime = not lockstep
        try:
            drv = Ros2Driver(node.driver_config(stale_after=40 if lockstep else 3), pkg.contract)
            rep = Runtime(pkg, drv, cfg).run()
        finally:
            node.close()
        out["ros2"].append(bool(rep["success"]))
        out["ros2_stops"].append(rep["safety"]["stop_reason"])
        print(
            f"  {out['mode']} seed {seed}: direct {out['direct'][-1]}, ros2 {out['ros2'][-1]} "
            f"({rep['safety']['stop_reason'] or 'no stop'})",
            file=sys.stderr,
        )
    for k in ("direct", "ros2"):
        n = sum(out[k])
        out[f"{k}_successes"] = n
        out[f"{k}_wilson95"] = list(wilson_interval(n, seeds))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--rates", default="50,500")
    ap.add_argument("--seeds", type=int, default=0, help="Also compare task success on this many seeds.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from physai.deploy.package import ExportConfig, export_package, load_package
    from physai.deploy.reference import contract, make_controller

    domain = 1 + os.getpid() % 200
    with tempfile.TemporaryDirectory() as tmp:
        export_package(make_controller(), contract(), Path(tmp) / "pkg", config=ExportConfig(batched=False))
        pkg = load_package(Path(tmp) / "pkg", allow_unsigned=True)
        doc: dict = {
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
            "cycles": args.cycles,
            "rates": {},
        }
        for hz in (float(x) for x in args.rates.split(",")):
            d = direct_latency(pkg, hz, args.cycles)
            r = ros2_latency(pkg, hz, args.cycles, domain)
            row = {
                "direct_p50_ms": _pct(d, 50) * 1e3,
                "direct_p99_ms": _pct(d, 99) * 1e3,
                "ros2_p50_ms": _pct(r, 50) * 1e3,
                "ros2_p99_ms": _pct(r, 99) * 1e3,
                "n": len(r),
            }
            row["ratio_p50"] = row["ros2_p50_ms"] / row["direct_p50_ms"]
            row["ratio_p99"] = row["ros2_p99_ms"] / row["direct_p99_ms"]
            row["bridge_p50_ms"] = row["ros2_p50_ms"] - row["direct_p50_ms"]
            doc["rates"][f"{hz:g}"] = row
            print(
                f"{hz:g} Hz: direct p50 {row['direct_p50_ms']:.2f} p99 {row['direct_p99_ms']:.2f} ms | "
                f"ros2 p50 {row['ros2_p50_ms']:.2f} p99 {row['ros2_p99_ms']:.2f} ms | "
                f"ratio p50 {row['ratio_p50']:.2f} p99 {row['ratio_p99']:.2f}",
                file=sys.stderr,
            )
        if args.seeds:
            doc["success_lockstep"] = success_runs(pkg, args.seeds, domain, lockstep=True)
            doc["success_free"] = success_runs(pkg, args.seeds, domain, lockstep=False)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
