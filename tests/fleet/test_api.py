"""The fleet API on SQLite (and PostgreSQL when PHYSAI_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import hashlib

from physai.fleet.storage import tar_dir


def test_enrollment_token_is_one_time(env) -> None:
    t = env.c.post("/api/v1/enrollment-tokens", json={"site_id": env.site1}, headers=env.A).json()
    first = env.c.post("/api/v1/enroll", json={"token": t["token"], "name": "r1"})
    assert first.status_code == 201 and first.json()["key"].startswith("physai_robot_")
    replay = env.c.post("/api/v1/enroll", json={"token": t["token"], "name": "r2"})
    assert replay.status_code == 401
    assert [r["name"] for r in env.c.get("/api/v1/robots", headers=env.A).json()] == ["r1"]


def test_keys_are_stored_hashed_and_revocable(env) -> None:
    from physai.fleet import db as dbm

    rid, R = env.enroll(env.site1, "r1")
    key = R["Authorization"].split()[1]
    with env.fleet.sessions() as s:
        stored = [k.key_hash for k in s.query(dbm.ApiKey).all()]
    assert key not in stored and hashlib.sha256(key.encode()).hexdigest() in stored
    assert env.c.get("/api/v1/robots/me", headers=R).status_code == 200
    kid = [k for k in env.c.get("/api/v1/keys", headers=env.A).json() if k["robot_id"] == rid][0]["id"]
    assert env.c.post(f"/api/v1/keys/{kid}/revoke", headers=env.A).status_code == 200
    assert env.c.get("/api/v1/robots/me", headers=R).status_code == 401


def test_expired_key_refused(env) -> None:
    import datetime as dt

    from physai.fleet import db as dbm

    rid, R = env.enroll(env.site1, "r1")
    with env.fleet.sessions() as s:
        k = s.query(dbm.ApiKey).filter(dbm.ApiKey.robot_id == rid).one()
        k.expires_at = dbm.utcnow() - dt.timedelta(seconds=1)
        s.commit()
    r = env.c.get("/api/v1/robots/me", headers=R)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_telemetry_deduplicated(env) -> None:
    rid, R = env.enroll(env.site1, "r1")
    msgs = [{"seq": i, "t": "2026-01-01T00:00:00Z", "state": "running", "energy_j": 1.0} for i in range(50)]
    assert env.c.post("/api/v1/telemetry", json={"messages": msgs}, headers=R).json() == {
        "accepted": 50,
        "duplicates": 0,
    }
    again = env.c.post("/api/v1/telemetry", json={"messages": msgs[40:] + msgs[:5]}, headers=R).json()
    assert again == {"accepted": 0, "duplicates": 15}
    got = env.c.get(f"/api/v1/robots/{rid}/telemetry?limit=1000", headers=env.A).json()
    assert got["count"] == 50 and [m["seq"] for m in got["messages"]] == list(range(50))


def _episode_tar(tmp_path) -> bytes:
    import numpy as np

    from physai.data.writer import DatasetWriter

    feats = {
        "observation.state": {"dtype": "float32", "shape": [3], "names": None},
        "action": {"dtype": "float32", "shape": [2], "names": None},
    }
    with DatasetWriter(tmp_path / "ep", fps=10, features=feats) as w:
        for i in range(20):
            w.add_frame({"observation.state": np.full(3, i, np.float32), "action": np.zeros(2, np.float32)})
        w.save_episode("t")
    return tar_dir(tmp_path / "ep")


def test_chunked_upload_resumes_and_verifies(env, tmp_path) -> None:
    from physai.data.meta import DatasetMeta

    rid, R = env.enroll(env.site1, "r1")
    data = _episode_tar(tmp_path)
    sha = hashlib.sha256(data).hexdigest()
    body = {"sha256": sha, "size": len(data), "chunk_size": 4096, "task": "t", "success": False}
    up = env.c.post("/api/v1/uploads", json=body, headers=R).json()
    n = up["chunks"]
    assert n >= 3

    def put(i: int, payload: bytes | None = None):
        part = data[i * 4096 : (i + 1) * 4096] if payload is None else payload
        return env.c.put(
            f"/api/v1/uploads/{up['id']}/chunks/{i}",
            content=part,
            headers={**R, "X-Chunk-Sha256": hashlib.sha256(data[i * 4096 : (i + 1) * 4096]).hexdigest()},
        )

    assert put(0).status_code == 200
    bad = put(1, b"x" * 4096)  # corrupted in transit
    assert bad.status_code == 422
    assert env.c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R).status_code == 409
    # "connection dropped": the robot starts again and is told which chunks the server already has
    again = env.c.post("/api/v1/uploads", json=body, headers=R).json()
    assert again["id"] == up["id"] and again["received"] == [0]
    for i in range(1, n):
        assert put(i).status_code == 200
    done = env.c.post(f"/api/v1/uploads/{up['id']}/complete", headers=R).json()
    ep = env.c.get(f"/api/v1/episodes/{done['episode_id']}", headers=env.A).json()
    assert ep["frames"] == 20 and ep["sha256"] == sha
    from physai.fleet import db as dbm

    with env.fleet.sessions() as s:
        path = s.get(dbm.Episode, done["episode_id"]).path
    assert len(DatasetMeta(path).episodes) == 1


def test_package_verified_on_upload_and_deployment_flow(env, signed_package) -> None:
    A = env.A
    bad = env.c.post(
        "/api/v1/packages?name=pp&version=0.9",
        content=tar_dir(signed_package["tampered"]),
        headers={**A, "Content-Type": "application/octet-stream"},
    )
    assert bad.status_code == 422 and "sha256" in bad.json()["detail"]
    assert (
        env.c.post("/api/v1/packages?name=pp&version=0.9", content=b"not a tar", headers=A).status_code == 422
    )
    ok = env.c.post(
        "/api/v1/packages?name=pp&version=1.0", content=tar_dir(signed_package["path"]), headers=A
    )
    assert ok.status_code == 201, ok.text
    pid = ok.json()["id"]
    ok2 = env.c.post(
        "/api/v1/packages?name=pp&version=1.1", content=tar_dir(signed_package["path"]), headers=A
    )
    pid2 = ok2.json()["id"]
    robots = [env.enroll(env.site1, f"r{i}") for i in range(20)]
    base = env.c.post("/api/v1/deployments", json={"package_id": pid, "site_id": env.site1}, headers=A).json()
    assert base["state"] == "promoted"
    can = env.c.post(
        "/api/v1/deployments",
        json={"package_id": pid2, "site_id": env.site1, "canary_percent": 30},
        headers=A,
    ).json()
    assert can["state"] == "canary"

    def assigned() -> list[int]:
        return [
            env.c.get("/api/v1/assignment", headers=R).json()["assignment"]["package_id"] for _, R in robots
        ]

    a = assigned()
    assert 0 < a.count(pid2) < 20 and set(a) == {pid, pid2}
    assert assigned() == a  # canary membership is stable
    # a robot may download only its own assigned package
    _, R0 = robots[a.index(pid)]
    assert env.c.get(f"/api/v1/packages/{pid}/archive", headers=R0).status_code == 200
    assert env.c.get(f"/api/v1/packages/{pid2}/archive", headers=R0).status_code == 404
    assert env.c.post(f"/api/v1/deployments/{can['id']}/promote", headers=A).json()["state"] == "promoted"
    assert set(assigned()) == {pid2}
    rb = env.c.post(f"/api/v1/deployments/{can['id']}/rollback", headers=A).json()
    assert rb["state"] == "rolled_back" and [h["state"] for h in rb["history"]] == [
        "canary",
        "promoted",
        "rolled_back",
    ]
    assert set(assigned()) == {pid}
    assert env.c.post(f"/api/v1/deployments/{can['id']}/promote", headers=A).status_code == 409


def test_bad_input_gets_4xx(env) -> None:
    _, R = env.enroll(env.site1, "r1")
    assert (
        env.c.post(
            "/api/v1/telemetry", content=b"{not json", headers={**R, "Content-Type": "application/json"}
        ).status_code
        == 422
    )
    assert (
        env.c.post("/api/v1/telemetry", json={"messages": [{"seq": -1, "t": "x"}]}, headers=R).status_code
        == 422
    )
    big = {"messages": [{"seq": i, "t": "2026-01-01T00:00:00Z", "state": "x" * 30} for i in range(2000)]}
    assert env.c.post("/api/v1/telemetry", json=big, headers=R).status_code == 413
    assert env.c.get("/api/v1/robots", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert env.c.get("/api/v1/robots").status_code == 401
    assert env.c.get("/openapi.json").json()["openapi"].startswith("3.")


def test_rate_limit_429_with_retry_after(tmp_path, signed_package) -> None:
    from fastapi.testclient import TestClient

    from physai.fleet.api import create_app
    from physai.fleet.service import Fleet, FleetConfig

    f = Fleet(FleetConfig(db_url=f"sqlite:///{tmp_path}/f.db", data_dir=tmp_path, rate=1.0, burst=3))
    c = TestClient(create_app(fleet=f))
    H = {"Authorization": f"Bearer {f.bootstrap_admin()}"}
    codes = [c.get("/api/v1/robots", headers=H) for _ in range(6)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1
    f.close()


def test_no_secrets_in_logs(env, caplog) -> None:
    import logging

    from physai.fleet.auth import redact

    key = env.admin
    assert key not in redact(f"GET /x Authorization: Bearer {key}") and "***" in redact(key)
    with caplog.at_level(logging.INFO):
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /?k=%s HTTP/1.1" 200', key)
    assert key not in caplog.text
