"""Every client is bounded (issue 18, item 5): declared upload size and per-robot quota, cleanup of failed
and abandoned parts, atomic chunk bookkeeping under 64 concurrent PUTs, rate limits for unknown keys,
and a 4xx (never a 500) for every malformed tar."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from physai.fleet.api import create_app
from physai.fleet.service import Fleet, FleetConfig


def _episode_tar(tmp_path: Path, frames: int = 20) -> bytes:
    import numpy as np

    from physai.data.writer import DatasetWriter
    from physai.fleet.storage import tar_dir

    feats = {
        "observation.state": {"dtype": "float32", "shape": [3], "names": None},
        "action": {"dtype": "float32", "shape": [2], "names": None},
    }
    with DatasetWriter(tmp_path / "ep", fps=10, features=feats) as w:
        for i in range(frames):
            w.add_frame({"observation.state": np.full(3, i, np.float32), "action": np.zeros(2, np.float32)})
        w.save_episode("t")
    return tar_dir(tmp_path / "ep")


def _start(c, R, data: bytes, chunk: int = 1024):
    body = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "chunk_size": chunk}
    return c.post("/api/v1/uploads", json=body, headers=R)


def _put_all(c, R, up: dict, data: bytes) -> None:
    cs = up["chunk_size"]
    for i in range(up["chunks"]):
        part = data[i * cs : (i + 1) * cs]
        h = {**R, "X-Chunk-Sha256": hashlib.sha256(part).hexdigest()}
        assert c.put(f"/api/v1/uploads/{up['id']}/chunks/{i}", content=part, headers=h).status_code == 200


def _upload(env, R, data: bytes):
    up = _start(env.c, R, data).json()
    _put_all(env.c, R, up, data)
    return up, env.c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R)


def _parts(env) -> list[str]:
    d = env.fleet.data_dir / "uploads"
    return sorted(p.name for p in d.glob("*")) if d.exists() else []


# ------------------------------------------------------------------ sizes and quotas
def test_oversize_declared_upload_is_413(env) -> None:
    _, R = env.enroll(env.site1, "r1")
    body = {"sha256": "1" * 64, "size": env.fleet.cfg.max_upload_bytes + 1, "chunk_size": 8 << 20}
    r = env.c.post("/api/v1/uploads", json=body, headers=R)
    assert r.status_code == 413 and "exceeds the limit" in r.json()["detail"]
    assert _parts(env) == []


def test_robot_storage_quota_is_413(env, tmp_path) -> None:
    env.fleet.cfg.robot_quota_bytes = 100_000
    _, R = env.enroll(env.site1, "r1")
    _, R2 = env.enroll(env.site1, "r2")
    big = {"sha256": "2" * 64, "size": 60_000, "chunk_size": 4096}
    assert env.c.post("/api/v1/uploads", json=big, headers=R).status_code == 201
    r = env.c.post("/api/v1/uploads", json={**big, "sha256": "3" * 64}, headers=R)
    assert r.status_code == 413 and "quota" in r.json()["detail"]
    # the quota is per robot
    assert env.c.post("/api/v1/uploads", json={**big, "sha256": "3" * 64}, headers=R2).status_code == 201
    # stored episodes count too
    data = _episode_tar(tmp_path)
    env.fleet.cfg.robot_quota_bytes = 60_000 + 2 * len(data)
    _, done = _upload(env, R2, data)
    assert done.status_code == 200
    assert _start(env.c, R2, b"\1" + data[1:]).status_code == 201  # exactly at the quota
    assert _start(env.c, R2, b"\2" + data[1:]).status_code == 413


# ------------------------------------------------------------------ cleanup
def test_failed_parts_are_removed(env, tmp_path) -> None:
    _, R = env.enroll(env.site1, "r1")
    data = _episode_tar(tmp_path)
    up = _start(env.c, R, data).json()
    wrong = b"\x01" + data[1:]  # every chunk matches its own header, the archive not its sha256
    _put_all(env.c, R, up, wrong)
    assert _parts(env) == [f"{up['id']}.part"]
    r = env.c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R)
    assert r.status_code == 422 and "re-sent" in r.json()["detail"]
    assert _parts(env) == [] and env.c.get(f"/api/v1/uploads/{up['id']}", headers=R).json()["received"] == []
    # a well-hashed archive that is not an episode: the upload and its part go
    junk = b"x" * 5000
    up2, r = _upload(env, R, junk)
    assert r.status_code == 422
    assert _parts(env) == [] and env.c.get(f"/api/v1/uploads/{up2['id']}", headers=R).status_code == 404
    # the robot can still send the right bytes afterwards
    _put_all(env.c, R, up, data)
    assert env.c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R).status_code == 200
    assert _parts(env) == []


def test_abandoned_uploads_are_reaped(tmp_path, make_env) -> None:
    now = [dt.datetime(2026, 1, 1)]
    f = Fleet(
        FleetConfig(db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "d", rate=0, anon_rate=0),
        clock=lambda: now[0],
    )
    env = make_env(f)
    _, R = env.enroll(env.site1, "r1")
    data = _episode_tar(tmp_path)
    up = _start(env.c, R, data).json()
    part = data[:1024]
    h = {**R, "X-Chunk-Sha256": hashlib.sha256(part).hexdigest()}
    assert env.c.put(f"/api/v1/uploads/{up['id']}/chunks/0", content=part, headers=h).status_code == 200
    (f.data_dir / "uploads" / "999.part").write_bytes(b"orphan")
    now[0] += dt.timedelta(seconds=f.cfg.upload_ttl_s - 1)
    assert f.reap_uploads() == 0 and _parts(env) == [f"{up['id']}.part"]  # orphans go, live parts stay
    now[0] += dt.timedelta(seconds=2)
    assert f.reap_uploads() == 1 and _parts(env) == []
    assert env.c.get(f"/api/v1/uploads/{up['id']}", headers=R).status_code == 404
    f.close()


# ------------------------------------------------------------------ concurrency
def test_64_concurrent_chunk_puts_are_all_recorded(sqlite_fleet, tmp_path) -> None:
    """A live service on 127.0.0.1: 64 threads PUT the 64 chunks of one upload at once (read-modify-write
    of a JSON list recorded 49)."""
    from physai.fleet.server import BackgroundServer

    with BackgroundServer(sqlite_fleet.cfg) as srv:
        A = {"Authorization": f"Bearer {srv.admin_key}"}
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            c.post("/api/v1/orgs", json={"name": "o"}, headers=A)
            site = c.post("/api/v1/sites", json={"org_id": 1, "name": "s"}, headers=A).json()["id"]
            tok = c.post("/api/v1/enrollment-tokens", json={"site_id": site}, headers=A).json()["token"]
            key = c.post("/api/v1/enroll", json={"token": tok, "name": "r"}).json()["key"]
            R = {"Authorization": f"Bearer {key}"}
            data = _episode_tar(tmp_path)
            data += b"\0" * (-len(data) % (64 << 10))  # zero blocks after the end of a tar are allowed
            cs = len(data) // 64
            up = _start(c, R, data, chunk=cs).json()
            assert up["chunks"] == 64
        gate = threading.Barrier(64)
        codes: list[int] = []

        def put(i: int) -> None:
            part = data[i * cs : (i + 1) * cs]
            h = {**R, "X-Chunk-Sha256": hashlib.sha256(part).hexdigest()}
            with httpx.Client(base_url=srv.url, timeout=60) as cl:
                gate.wait(timeout=30)
                r = cl.put(f"/api/v1/uploads/{up['id']}/chunks/{i}", content=part, headers=h)
                codes.append(r.status_code)

        threads = [threading.Thread(target=put, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert codes == [200] * 64
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert c.get(f"/api/v1/uploads/{up['id']}", headers=R).json()["received"] == list(range(64))
            r = c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R)
            assert r.status_code == 200, r.text


# ------------------------------------------------------------------ rate limits
def test_unknown_keys_are_rate_limited_per_address(tmp_path) -> None:
    f = Fleet(
        FleetConfig(
            db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path / "d", bad_key_rate=1.0, bad_key_burst=3
        )
    )
    t = [0.0]
    f.bad_key_limiter.clock = lambda: t[0]
    c = TestClient(create_app(fleet=f))
    codes = [
        c.get("/api/v1/robots", headers={"Authorization": f"Bearer nope{i}"}).status_code for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    r = c.get("/api/v1/robots")  # no key at all: same address, same bucket
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    t[0] += 1.0  # one token back
    assert c.get("/api/v1/robots").status_code == 401
    assert c.get("/api/v1/robots").status_code == 429
    f.close()


def test_rate_limiter_table_is_bounded() -> None:
    from physai.fleet.auth import RateLimiter

    t = [0.0]
    rl = RateLimiter(1.0, 2, clock=lambda: t[0], max_callers=100)
    for i in range(1000):
        rl.check(f"ip:{i}")
    assert len(rl._buckets) <= 100


# ------------------------------------------------------------------ malformed archives
def _tar(*members: tuple[str, str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = {
                "file": tarfile.REGTYPE,
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "link": tarfile.LNKTYPE,
                "chr": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]
            if kind in ("sym", "link"):
                info.linkname = "meta/info.json"
            if kind == "file":
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if kind == "file" else None)
    return buf.getvalue()


MALFORMED = {
    "file-then-dir": _tar(("meta", "file", b"x"), ("meta", "dir", b"")),
    "dir-then-file": _tar(("meta", "dir", b""), ("meta", "file", b"x")),
    "file-then-child": _tar(("meta", "file", b"x"), ("meta/info.json", "file", b"{}")),
    "file-twice": _tar(("a", "file", b"x"), ("./a", "file", b"y")),
    "absolute": _tar(("/etc/x", "file", b"x")),
    "dotdot": _tar(("a/../../x", "file", b"x")),
    "symlink": _tar(("s", "sym", b"")),
    "hardlink": _tar(("h", "link", b"")),
    "device": _tar(("d", "chr", b"")),
    "fifo": _tar(("p", "fifo", b"")),
    "root-as-file": _tar((".", "file", b"x")),
    "truncated": _tar(("a", "file", b"x" * 5000))[:1500],
    "not-a-tar": b"\x89PNG" + b"\0" * 3000,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_tar_is_4xx(env, case) -> None:
    _, R = env.enroll(env.site1, "r1")
    client = TestClient(env.c.app, raise_server_exceptions=False)
    env.c = client
    up, r = _upload(env, R, MALFORMED[case])
    assert r.status_code == 422, (case, r.status_code, r.text)
    assert _parts(env) == [] and not list((env.fleet.data_dir / "episodes").glob("*"))
    # the same archive as a package
    r = client.post("/api/v1/packages?name=p&version=1", content=MALFORMED[case], headers=env.A)
    assert r.status_code == 422, (case, r.status_code, r.text)


@pytest.mark.slow
def test_fault_injection_bench_small(tmp_path) -> None:
    """bench/fleet_faults.py end to end on a small budget (64 MiB upload, 3 examples per operation)."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "ff.json"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    cmd = [sys.executable, str(root / "bench" / "fleet_faults.py"), "--size-gib", "0.0625", "--examples", "3"]
    subprocess.run([*cmd, "--out", str(out)], env=env, check=True, timeout=900, capture_output=True)
    r = json.loads(out.read_text())
    assert r["upload"]["pass"] and r["concurrent_chunks"]["pass"]
    assert r["fuzz"]["server_5xx"] == 0 and r["fuzz"]["audit_verify_after"]["ok"]
