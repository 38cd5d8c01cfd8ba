"""Policy server throughput and latency: 1, 8 and 32 concurrent clients, batching vs no batching at 32.

    .venv/bin/python bench/server.py [--requests 400] [--json]

An MLP policy (`physai.policies` mlp, untrained) is exported with its batched variant and served by
`physai.deploy.server.PolicyServer` in a separate process on loopback; clients are threads using the
openpi-compatible `PolicyClient`, each sending a bounded number of requests back to back. Baseline in the
same run: the same 32 clients against the server with batching off (max_batch=1); the figure of merit is
the throughput ratio batching / no batching (must be > 1). Writes bench/results/server.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "server.json"
TASK = "tabletop/pick-place"
TOKEN = "bench-token"


def make_package(out: Path) -> None:
    from physai.deploy.package import ExportConfig, export_package
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
    export_package(pol.export_module(), pol.contract(), out, config=ExportConfig(batched=True, max_batch=64))


def serve(pkg_dir: str, max_batch: int, port_q, stop_ev) -> None:
    from physai.deploy.package import load_package
    from physai.deploy.server import PolicyServer, ServerConfig, ServerThread

    pkg = load_package(Path(pkg_dir), allow_unsigned=True, threads=1)
    srv = ServerThread(
        PolicyServer(
            pkg, ServerConfig(port=0, token=TOKEN, max_batch=max_batch, max_wait_ms=2.0, rate_limit_hz=1e6)
        )
    ).start()
    port_q.put(srv.port)
    stop_ev.wait()
    srv.stop()


def load(port: int, clients: int, per_client: int, state_dim: int) -> dict:
    from physai.deploy.client import PolicyClient

    lat: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    errors: list[str] = []

    def run(i: int) -> None:
        rng = np.random.default_rng(i)
        c = PolicyClient(f"ws://127.0.0.1:{port}", api_key=TOKEN)
        mine = []
        barrier.wait()
        try:
            for _ in range(per_client):
                obs = {"state": rng.normal(size=state_dim).astype(np.float32)}
                t0 = time.perf_counter()
                c.infer(obs)
                mine.append(time.perf_counter() - t0)
        except Exception as exc:
            errors.append(repr(exc))
        c.close()
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    a = np.asarray(lat) * 1e3
    return {
        "clients": clients,
        "requests": len(lat),
        "wall_s": wall,
        "inferences_per_s": len(lat) / wall,
        "latency_p50_ms": float(np.percentile(a, 50)),
        "latency_p99_ms": float(np.percentile(a, 99)),
        "errors": errors[:3],
    }


def with_server(pkg_dir: Path, max_batch: int, runs: list[tuple[int, int]], state_dim: int) -> list[dict]:
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=serve, args=(str(pkg_dir), max_batch, q, stop), daemon=True)
    p.start()
    try:
        port = q.get(timeout=120)
        return [load(port, c, n, state_dim) | {"max_batch": max_batch} for c, n in runs]
    finally:
        stop.set()
        p.join(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--requests", type=int, default=400, help="Requests per configuration (split over clients)."
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pkg_dir = Path(tempfile.mkdtemp()) / "pkg"
    make_package(pkg_dir)
    state_dim = json.loads((pkg_dir / "policy.json").read_text())["inputs"][0]["shape"][0]
    n = args.requests
    batched = with_server(pkg_dir, 32, [(1, n), (8, n // 8), (32, max(1, n // 32))], state_dim)
    unbatched = with_server(pkg_dir, 1, [(32, max(1, n // 32))], state_dim)
    ratio = batched[-1]["inferences_per_s"] / unbatched[0]["inferences_per_s"]
    doc = {
        "bench": "server",
        "policy": "mlp (physai.policies, untrained)",
        "cpus": os.cpu_count(),
        "load1": os.getloadavg()[0],
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "batched": batched,
        "unbatched_32": unbatched[0],
        "batching_speedup_at_32": ratio,
        "batching_beats_no_batching": ratio > 1.0,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2))
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    for r in batched + unbatched:
        print(
            f"clients {r['clients']:>2} max_batch {r['max_batch']:>2}: {r['inferences_per_s']:8.0f} inf/s  "
            f"p50 {r['latency_p50_ms']:.2f} ms  p99 {r['latency_p99_ms']:.2f} ms",
            file=sys.stderr,
        )
    print(f"batching speed-up at 32 clients: {ratio:.2f}x", file=sys.stderr)


if __name__ == "__main__":
    main()
