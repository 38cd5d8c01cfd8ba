"""Fleet service fault injection: bounded clients and a fuzz over every endpoint (issue 18, fleet numbers).

The service runs in its own process (uvicorn on 127.0.0.1) so its memory is measured alone:

1. **Large upload**: a 2 GiB episode archive (a small LeRobot episode plus a sparse 2 GiB member, so the
   client's file costs no disk) uploaded in 8 MiB chunks and completed; the server's peak RSS growth during
   upload + completion (VmHWM after resetting it through /proc/PID/clear_refs, minus VmRSS before). The
   same-run baseline is a 64 MiB upload measured the same way: the ratio shows memory does not grow with
   the archive.
2. **Concurrent chunks**: 64 threads PUT the 64 chunks of one upload at once (a barrier releases them),
   three rounds; recorded chunks counted and the upload completed.
3. **Fuzz**: Schemathesis (`st run`, examples + coverage + fuzzing phases, positive and negative data) over
   the service's OpenAPI with a robot, an operator and an admin key in turn, on a database holding one of
   every object; the service counts every 5xx it sends (a middleware), and the audit log is verified
   afterwards.

    PYTHONPATH=src .venv/bin/python bench/fleet_faults.py [--size-gib 2] [--examples 40]

Writes bench/results/fleet_faults.json. Loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 8 << 20


# ------------------------------------------------------------------ the server process
def serve(cfg_json: str) -> None:
    """Child mode: run the service and count the status codes it answers; written to `status_file`."""
    import uvicorn

    from physai.fleet.api import create_app
    from physai.fleet.service import Fleet, FleetConfig

    c = json.loads(cfg_json)
    fleet = Fleet(
        FleetConfig(
            db_url=c["db_url"],
            data_dir=Path(c["data_dir"]),
            trusted_keys=[Path(p) for p in c["trusted_keys"]],
            rate=0,  # the fuzzer sends hundreds of requests a second with one key
            anon_rate=0,
            max_upload_bytes=c["max_upload_bytes"],
        )
    )
    Path(c["admin_key_file"]).write_text(fleet.bootstrap_admin() or "")
    app = create_app(fleet=fleet)
    counts: dict[str, int] = {}

    async def counting(scope, receive, send) -> None:
        async def send2(msg) -> None:
            if msg["type"] == "http.response.start":
                k = str(msg["status"])
                counts[k] = counts.get(k, 0) + 1
            await send(msg)

        await app(scope, receive, send2)

    # uvicorn re-raises the SIGTERM it handled to the handler installed before it: make that an exit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(counting, host="127.0.0.1", port=c["port"], log_level="warning", access_log=False)
    finally:
        fleet.close()
        Path(c["status_file"]).write_text(json.dumps(counts))


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) * 1024
    return out


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# ------------------------------------------------------------------ archives
def episode_dir(root: Path) -> Path:
    import numpy as np

    from physai.data.writer import DatasetWriter

    feats = {
        "observation.state": {"dtype": "float32", "shape": [3], "names": None},
        "action": {"dtype": "float32", "shape": [2], "names": None},
    }
    with DatasetWriter(root / "ep", fps=10, features=feats) as w:
        for i in range(20):
            w.add_frame({"observation.state": np.full(3, i, np.float32), "action": np.zeros(2, np.float32)})
        w.save_episode("fault-injection")
    return root / "ep"


def sparse_archive(ep: Path, out: Path, total: int) -> Path:
    """A tar of `ep` plus `pad.bin`, exactly `total` bytes; the pad is a hole (sparse on disk)."""
    import tarfile

    from physai.fleet.storage import tar_stream

    with open(out, "wb") as f:
        body = b"".join(list(tar_stream(ep))[:-1])  # the members, without the end-of-archive blocks
        f.write(body)
        pad = total - len(body) - 512 - 1024
        info = tarfile.TarInfo("pad.bin")
        info.size, info.mode, info.mtime = pad, 0o644, 0
        head = info.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape")
        assert len(head) == 512
        f.write(head)
        f.seek(pad, os.SEEK_CUR)
        f.write(b"\0" * 1024)
    assert out.stat().st_size == total, out.stat().st_size
    return out


def sha_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while b := f.read(CHUNK):
            h.update(b)
    return h.hexdigest()


def upload_file(c: httpx.Client, R: dict, path: Path) -> dict:
    size = path.stat().st_size
    up = c.post(
        "/api/v1/uploads", json={"sha256": sha_file(path), "size": size, "chunk_size": CHUNK}, headers=R
    )
    up.raise_for_status()
    up = up.json()
    with open(path, "rb") as f:
        for i in range(up["chunks"]):
            part = f.read(CHUNK)
            h = {
                **R,
                "X-Chunk-Sha256": hashlib.sha256(part).hexdigest(),
                "Content-Type": "application/octet-stream",
            }
            c.put(f"/api/v1/uploads/{up['id']}/chunks/{i}", content=part, headers=h).raise_for_status()
    r = c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R, timeout=600)
    r.raise_for_status()
    return r.json()


def measured_upload(c: httpx.Client, R: dict, pid: int, path: Path) -> dict:
    rss0 = proc_status(pid)["VmRSS"]
    reset_peak(pid)
    t0 = time.perf_counter()
    done = upload_file(c, R, path)
    st = proc_status(pid)
    return {
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - t0, 2),
        "rss_before_mb": round(rss0 / 2**20, 1),
        "peak_rss_growth_mb": round((st["VmHWM"] - rss0) / 2**20, 1),
        "episode_id": done["episode_id"],
    }


# ------------------------------------------------------------------ concurrent chunks
def concurrent_chunks(url: str, R: dict, ep: Path, tmp: Path, round_: int) -> dict:
    from physai.fleet.storage import tar_stream

    data = b"".join(tar_stream(ep))
    data += b"\0" * (-len(data) % (64 << 16))  # 64 chunks of >= 64 KiB; zero blocks end a tar anyway
    data = data[:-1] + bytes([round_])  # a different archive each round (the last byte is padding)
    cs = len(data) // 64
    with httpx.Client(base_url=url, timeout=60) as c:
        up = c.post(
            "/api/v1/uploads",
            json={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "chunk_size": cs},
            headers=R,
        ).json()
    assert up["chunks"] == 64, up
    gate = threading.Barrier(64)
    codes: list[int] = []

    def put(i: int) -> None:
        part = data[i * cs : (i + 1) * cs]
        h = {**R, "X-Chunk-Sha256": hashlib.sha256(part).hexdigest()}
        with httpx.Client(base_url=url, timeout=120) as cl:
            gate.wait(timeout=60)
            codes.append(
                cl.put(f"/api/v1/uploads/{up['id']}/chunks/{i}", content=part, headers=h).status_code
            )

    threads = [threading.Thread(target=put, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    with httpx.Client(base_url=url, timeout=60) as c:
        received = c.get(f"/api/v1/uploads/{up['id']}", headers=R).json()["received"]
        done = c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R)
    return {
        "puts": 64,
        "ok": codes.count(200),
        "recorded": len(received),
        "completed": done.status_code == 200,
    }


# ------------------------------------------------------------------ fuzz
REVOKE = "/api/v1/keys/{key_id}/revoke"


def fuzz(
    url: str, who: str, key: str, examples: int, report_dir: Path, only: str | None = None, seed_: int = 18
) -> dict:
    """One `st run`; `cases`/`passed` are Schemathesis's counts (a failed case is a 5xx here, the only
    check), `tool_error` is true when Schemathesis itself crashed while generating data."""
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "run",
        f"{url}/openapi.json",
        "-H",
        f"Authorization: Bearer {key}",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "-n",
        str(examples),
        "--seed",
        str(seed_),
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--output-sanitize",
        "true",
        "--report",
        "json",
        "--report-json-path",
        str(report_dir / f"schemathesis-{who}.json"),
        *(["--include-path", only] if only else ["--exclude-path", REVOKE] if who == "admin" else []),
    ]
    t0 = time.perf_counter()
    # cwd: Schemathesis keeps a crash cache in ./.schemathesis
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, cwd=report_dir)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    m = re.search(r"(\d+) generated, (\d+) passed", r.stdout)
    errors = [ln.strip() for ln in lines if "Error:" in ln and ("Runtime" in ln or "SystemError" in ln)]
    return {
        "key": who,
        "only": only,
        "seed": seed_,
        "exit_code": r.returncode,
        "seconds": round(time.perf_counter() - t0, 1),
        "cases": int(m.group(1)) if m else 0,
        "passed": int(m.group(2)) if m else 0,
        "tool_error": bool(errors),
        "tool_error_lines": errors[:4],
        "summary": lines[-6 if r.returncode == 0 else -40 :],
    }


# ------------------------------------------------------------------ main
def seed(url: str, admin_key: str, pkg: dict) -> dict:
    from physai.fleet.storage import tar_dir

    A = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=url, timeout=60) as c:
        c.post("/api/v1/orgs", json={"name": "bench"}, headers=A).raise_for_status()
        site = c.post("/api/v1/sites", json={"org_id": 1, "name": "north"}, headers=A).json()["id"]
        tok = c.post("/api/v1/enrollment-tokens", json={"site_id": site}, headers=A).json()["token"]
        robot = c.post("/api/v1/enroll", json={"token": tok, "name": "r1"}).json()
        op = c.post(
            "/api/v1/keys", json={"role": "operator", "name": "op", "site_ids": [site]}, headers=A
        ).json()
        pk = c.post(
            "/api/v1/packages?name=pick&version=1.0.0",
            content=tar_dir(pkg["path"]),
            headers={**A, "Content-Type": "application/octet-stream"},
        ).json()
        c.post(
            "/api/v1/deployments", json={"package_id": pk["id"], "site_id": site}, headers=A
        ).raise_for_status()
    return {"admin": admin_key, "robot": robot["key"], "operator": op["key"]}


def signed_package(root: Path) -> dict:
    from physai.deploy import signing
    from physai.deploy.package import ExportConfig, export_package
    from physai.deploy.reference import PickPlaceController, contract

    priv, pub = signing.generate_keys(root / "keys")
    export_package(
        PickPlaceController(), contract(), root / "pkg", sign_key=priv, config=ExportConfig(batched=False)
    )
    return {"path": root / "pkg", "pub": pub}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-gib", type=float, default=2.0)
    ap.add_argument("--examples", type=int, default=40, help="Schemathesis examples per operation and key.")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fleet_faults.json")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        return serve(a.serve)
    from physai.fleet.server import free_port

    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fleet-faults-") as td:
        tmp = Path(td)
        pkg = signed_package(tmp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cfg = {
            "db_url": f"sqlite:///{tmp}/fleet.db",
            "data_dir": str(tmp / "data"),
            "trusted_keys": [str(pkg["pub"])],
            "max_upload_bytes": int(a.size_gib * 2**30) + (1 << 30),
            "admin_key_file": str(tmp / "admin.key"),
            "status_file": str(tmp / "status.json"),
            "port": port,
        }
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps(cfg)], env=env)
        try:
            for _ in range(600):  # bounded: 60 s
                try:
                    if httpx.get(url + "/api/v1/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    raise SystemExit("the fleet service exited during start-up")
                time.sleep(0.1)
            keys = seed(url, Path(cfg["admin_key_file"]).read_text().strip(), pkg)
            R = {"Authorization": f"Bearer {keys['robot']}"}
            ep = episode_dir(tmp)
            res: dict = {
                "command": "PYTHONPATH=src .venv/bin/python bench/fleet_faults.py " + " ".join(sys.argv[1:])
            }

            # 1. memory of large uploads (baseline: 64 MiB in the same run)
            with httpx.Client(base_url=url, timeout=120) as c:
                # warm-up (not measured): the first completion imports the dataset reader (pyarrow)
                upload_file(c, R, sparse_archive(ep, tmp / "warm.tar", 1 << 20))
                small = measured_upload(c, R, proc.pid, sparse_archive(ep, tmp / "small.tar", 64 << 20))
                (tmp / "small.tar").unlink()
                big = measured_upload(
                    c, R, proc.pid, sparse_archive(ep, tmp / "big.tar", int(a.size_gib * 2**30))
                )
                (tmp / "big.tar").unlink()
            res["upload"] = {
                "baseline_64mib": small,
                "large": big,
                "growth_ratio_large_vs_baseline": round(
                    big["peak_rss_growth_mb"] / max(small["peak_rss_growth_mb"], 1.0), 2
                ),
                "limit_mb": 64,
                "pass": big["peak_rss_growth_mb"] < 64,
            }
            print(json.dumps(res["upload"], indent=1), flush=True)

            # 2. concurrent chunk PUTs
            rounds = [concurrent_chunks(url, R, ep, tmp, k) for k in range(3)]
            res["concurrent_chunks"] = {
                "rounds": rounds,
                "pass": all(r["recorded"] == 64 and r["ok"] == 64 and r["completed"] for r in rounds),
            }
            print(json.dumps(res["concurrent_chunks"], indent=1), flush=True)

            # 3. fuzz with each role (the admin last: it may revoke the others' keys)
            runs = []
            for who in ("robot", "operator", "admin"):
                runs.append(fuzz(url, who, keys[who], a.examples, tmp))
                if runs[-1]["tool_error"]:  # Schemathesis crashed generating data: once more, another seed
                    runs.append(fuzz(url, who, keys[who], a.examples, tmp, seed_=19))
            # key revocation last, on its own: the fuzzer may revoke its own admin key once it made another
            runs.append(fuzz(url, "admin", keys["admin"], a.examples, tmp, only=REVOKE))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        counts = json.loads(Path(cfg["status_file"]).read_text()) if Path(cfg["status_file"]).exists() else {}
        # the audit log after all that, checked from the shell against its signed checkpoint
        v = subprocess.run(
            [sys.executable, "-m", "physai.cli.main", "fleet", "audit", "verify", "--db", cfg["db_url"]]
            + ["--data-dir", cfg["data_dir"], "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        verify = json.loads(v.stdout) if v.stdout.strip() else {"ok": False, "reason": v.stderr[-300:]}
        five = sum(v for k, v in counts.items() if k.startswith("5"))
        res["fuzz"] = {
            "tool": "schemathesis "
            + __import__("schemathesis").__version__
            + " (st run, not_a_server_error)",
            "examples_per_operation": a.examples,
            "runs": runs,
            "responses_by_status": dict(sorted(counts.items())),
            "server_5xx": five,
            "audit_verify_after": {k: verify.get(k) for k in ("ok", "entries", "reason")},
            "schemathesis_cases": sum(r["cases"] for r in runs),
            "schemathesis_failed_cases": sum(r["cases"] - r["passed"] for r in runs),
            "schemathesis_tool_errors": sum(r["tool_error"] for r in runs),
            "pass": five == 0 and all(r["cases"] == r["passed"] > 0 for r in runs) and bool(verify.get("ok")),
        }
        print(json.dumps(res["fuzz"], indent=1), flush=True)
    res["total_seconds"] = round(time.perf_counter() - t_start, 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
