"""Fleet service load: N simulated robots x 10 Hz telemetry, batched once per second, for S seconds.

Checks that no message is lost or stored twice, reports API latency (p50/p99) of the telemetry batches
and, as the same-run baseline, of /healthz (no database), and checks that an episode upload survives a
dropped connection and resumes without re-sending finished chunks. Loopback only; bounded loops.

    .venv/bin/python bench/fleet_load.py [--robots 200] [--seconds 60] [--pg-url postgresql://...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from physai.fleet.client import FleetClient, FleetUnreachable
from physai.fleet.server import BackgroundServer
from physai.fleet.service import FleetConfig

HZ = 10


def load(url: str, admin_key: str, robots: int, seconds: int, workers: int) -> dict:
    admin = FleetClient(url, admin_key)
    org = admin.post("/orgs", {"name": f"load-{time.time_ns()}"})["id"]
    site = admin.post("/sites", {"org_id": org, "name": "load"})["id"]
    keys = []
    for i in range(robots):
        tok = admin.post("/enrollment-tokens", {"site_id": site})["token"]
        r = admin.post("/enroll", {"token": tok, "name": f"load-{i}"})
        keys.append((r["robot_id"], r["key"]))
    local = threading.local()
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "c"):
            local.c = httpx.Client(base_url=url + "/api/v1", timeout=30)
        return local.c

    def send(rid_key: tuple[int, str], second: int) -> None:
        _, key = rid_key
        t = datetime.now(UTC).isoformat()
        msgs = [
            {
                "seq": second * HZ + k,
                "t": t,
                "state": "running",
                "energy_j": 4.0,
                "outcome": ("success" if k == HZ - 1 else None),
            }
            for k in range(HZ)
        ]
        t0 = time.perf_counter()
        r = client().post("/telemetry", json={"messages": msgs}, headers={"Authorization": f"Bearer {key}"})
        dt = time.perf_counter() - t0
        with lock:
            lat.append(dt)
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:100]}")

    behind = 0
    with ThreadPoolExecutor(workers) as pool:
        t_start = time.monotonic()
        for s in range(seconds):
            futs = [pool.submit(send, k, s) for k in keys]
            for f in futs:
                f.result()
            nxt = t_start + s + 1
            now = time.monotonic()
            if now < nxt:
                time.sleep(nxt - now)
            else:
                behind += 1
        wall = time.monotonic() - t_start
    hl = []
    c = httpx.Client(base_url=url + "/api/v1")
    for _ in range(300):
        t0 = time.perf_counter()
        c.get("/healthz")
        hl.append(time.perf_counter() - t0)
    lost = dup = 0
    for rid, _ in keys:
        tel = admin.get(f"/robots/{rid}/telemetry", params={"limit": 100000})
        seqs = [m["seq"] for m in tel["messages"]]
        lost += seconds * HZ - len(set(seqs))
        dup += len(seqs) - len(set(seqs))
    a, h = np.asarray(lat) * 1e3, np.asarray(hl) * 1e3
    return {
        "robots": robots,
        "seconds": seconds,
        "messages": robots * seconds * HZ,
        "requests": len(lat),
        "errors": len(errors),
        "first_errors": errors[:3],
        "lost": lost,
        "duplicated": dup,
        "wall_s": round(wall, 2),
        "seconds_behind_schedule": behind,
        "telemetry_p50_ms": float(np.percentile(a, 50)),
        "telemetry_p99_ms": float(np.percentile(a, 99)),
        "healthz_p50_ms": float(np.percentile(h, 50)),
        "healthz_p99_ms": float(np.percentile(h, 99)),
        "p99_ratio_vs_healthz": float(np.percentile(a, 99) / max(np.percentile(h, 99), 1e-9)),
    }


class _DropAfter(httpx.HTTPTransport):
    """Transport that fails every chunk PUT after the first `n` (a dropped connection)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.puts = n, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            self.puts += 1
            if self.puts > self.n:
                raise httpx.ConnectError("connection dropped (simulated)", request=request)
        return super().handle_request(request)


def upload_resume(url: str, admin_key: str, tmp: Path) -> dict:
    from physai.data.writer import DatasetWriter
    from physai.fleet.storage import tar_dir

    admin = FleetClient(url, admin_key)
    org = admin.post("/orgs", {"name": f"up-{time.time_ns()}"})["id"]
    site = admin.post("/sites", {"org_id": org, "name": "up"})["id"]
    tok = admin.post("/enrollment-tokens", {"site_id": site})["token"]
    key = admin.post("/enroll", {"token": tok, "name": "uploader"})["key"]
    feats = {
        "observation.state": {"dtype": "float32", "shape": [64], "names": None},
        "action": {"dtype": "float32", "shape": [8], "names": None},
    }
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp / "ep", fps=20, features=feats) as w:
        for _ in range(4000):
            w.add_frame(
                {
                    "observation.state": rng.standard_normal(64).astype(np.float32),
                    "action": rng.standard_normal(8).astype(np.float32),
                }
            )
        w.save_episode("bench")
    data = tar_dir(tmp / "ep")
    chunk = 64 * 1024
    n = -(-len(data) // chunk)
    drop = FleetClient(url, key, transport=_DropAfter(n // 2))
    try:
        drop.upload_episode(data, {"task": "bench"}, chunk_size=chunk)
        dropped = False
    except FleetUnreachable:
        dropped = True
    counter = _DropAfter(10**9)
    ep = FleetClient(url, key, transport=counter).upload_episode(data, {"task": "bench"}, chunk_size=chunk)
    got = FleetClient(url, key).download(f"/episodes/{ep}/archive")
    return {
        "archive_bytes": len(data),
        "chunks": n,
        "sent_before_drop": n // 2,
        "dropped": dropped,
        "chunks_resent_after_resume": counter.puts,
        "resumed_without_resending": counter.puts == n - n // 2,
        "stored_sha256_matches": hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--robots", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--pg-url", default=None, help="also run on this PostgreSQL database")
    ap.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL run")
    ap.add_argument("--out", default="bench/results/fleet_load.json")
    a = ap.parse_args()
    res: dict = {"command": "bench/fleet_load.py " + f"--robots {a.robots} --seconds {a.seconds}"}
    dbs = ([] if a.skip_sqlite else [("sqlite", None)]) + ([("postgresql", a.pg_url)] if a.pg_url else [])
    for name, url in dbs:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = FleetConfig(
                db_url=url or f"sqlite:///{tmp}/fleet.db",
                data_dir=Path(tmp) / "data",
                anon_rate=0,
                rate=100,
                burst=200,
            )
            with BackgroundServer(cfg) as srv:
                key = srv.admin_key
                if key is None:  # existing PostgreSQL database: make a new admin key directly
                    from physai.fleet import db as dbm
                    from physai.fleet.auth import hash_key, new_key

                    key = new_key("admin")
                    with srv.fleet.sessions() as s:
                        s.add(
                            dbm.ApiKey(
                                role="admin",
                                name="bench",
                                key_hash=hash_key(key),
                                prefix=key[:16],
                                site_ids=[],
                            )
                        )
                        s.commit()
                res[name] = load(srv.url, key, a.robots, a.seconds, a.workers)
                res[name]["upload_resume"] = upload_resume(srv.url, key, Path(tmp))
            print(json.dumps({name: res[name]}, indent=1), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
