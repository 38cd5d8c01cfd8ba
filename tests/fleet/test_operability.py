"""Operability (issue 18, item 6): the last admin key stays, `physai fleet admin --recover`, telemetry of
a re-installed agent, telemetry naming a package the robot was not assigned; and the schema upgrade."""

from __future__ import annotations

import json

from typer.testing import CliRunner

T = "2026-01-01T00:00:00Z"


def _admin_keys(env) -> list[dict]:
    return [k for k in env.c.get("/api/v1/keys", headers=env.A).json() if k["role"] == "admin"]


def test_last_admin_key_cannot_be_revoked(env) -> None:
    (only,) = _admin_keys(env)
    r = env.c.post(f"/api/v1/keys/{only['id']}/revoke", headers=env.A)
    assert r.status_code == 409 and "last active admin" in r.json()["detail"]
    assert env.c.get("/api/v1/robots", headers=env.A).status_code == 200
    second = env.c.post("/api/v1/keys", json={"role": "admin", "name": "a2"}, headers=env.A).json()
    A2 = env.h(second["key"])
    assert env.c.post(f"/api/v1/keys/{only['id']}/revoke", headers=A2).status_code == 200
    r = env.c.post(f"/api/v1/keys/{second['id']}/revoke", headers=A2)
    assert r.status_code == 409
    assert env.c.get("/api/v1/robots", headers=A2).status_code == 200


def test_admin_recover_cli(sqlite_fleet) -> None:
    from fastapi.testclient import TestClient

    from physai.cli.main import app
    from physai.fleet.api import create_app

    f = sqlite_fleet
    f.bootstrap_admin()
    args = ["fleet", "admin", "--recover", "--db", f.cfg.db_url, "--data-dir", str(f.data_dir), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    key = json.loads(res.stdout)["key"]
    assert key.startswith("physai_admin_")
    c = TestClient(create_app(fleet=f))
    H = {"Authorization": f"Bearer {key}"}
    log = c.get("/api/v1/audit", headers=H).json()
    assert log[0]["action"] == "key.recover" and log[0]["actor"].startswith("system:shell")
    assert key not in json.dumps(log)
    assert c.get("/api/v1/audit/verify", headers=H).json()["ok"]
    assert CliRunner().invoke(app, ["fleet", "admin", "--db", f.cfg.db_url]).exit_code == 2


def _msgs(agent: str, epoch: int, n: int, package_id: int | None = None) -> list[dict]:
    return [
        {"agent_id": agent, "epoch": epoch, "seq": i, "t": T, "state": "running", "package_id": package_id}
        for i in range(n)
    ]


def test_telemetry_after_reinstall_is_accepted(env) -> None:
    rid, R = env.enroll(env.site1, "r1")
    post = lambda m: env.c.post("/api/v1/telemetry", json={"messages": m}, headers=R).json()  # noqa: E731
    assert post(_msgs("a1", 0, 10)) == {"accepted": 10, "duplicates": 0}
    assert post(_msgs("a1", 0, 10)) == {"accepted": 0, "duplicates": 10}  # dedup within an epoch
    assert post(_msgs("a2", 0, 10)) == {"accepted": 10, "duplicates": 0}  # re-installed: new agent_id
    assert post(_msgs("a2", 1, 5)) == {"accepted": 5, "duplicates": 0}  # new epoch
    got = env.c.get(f"/api/v1/robots/{rid}/telemetry?limit=100", headers=env.A).json()
    assert got["count"] == 25


def test_agent_numbers_telemetry_with_its_identity(tmp_path) -> None:
    from physai.fleet.agent import Agent, AgentConfig

    (tmp_path / "k").write_text("physai_robot_x\n")

    def agent(d: str) -> Agent:
        return Agent(AgentConfig(server="http://127.0.0.1:9", key_file=tmp_path / "k", work_dir=tmp_path / d))

    a = agent("one")
    a.emit("idle")
    a.emit("idle")
    first = [json.loads(x) for x in a.spool.read_text().splitlines()]
    assert [m["seq"] for m in first] == [0, 1] and {m["epoch"] for m in first} == {0}
    assert agent("one").state["agent_id"] == a.state["agent_id"]  # survives a restart
    b = agent("two")  # a re-install: fresh work dir
    b.emit("idle")
    m = json.loads(b.spool.read_text())
    assert m["seq"] == 0 and m["agent_id"] != a.state["agent_id"]
    b.state["next_seq"] = 2**31
    b.emit("idle")
    last = json.loads(b.spool.read_text().splitlines()[-1])
    assert (last["epoch"], last["seq"]) == (1, 0)


def test_telemetry_naming_a_foreign_package_is_refused(env, signed_package) -> None:
    from physai.fleet.storage import tar_dir

    _, R = env.enroll(env.site1, "r1")
    _, R2 = env.enroll(env.site2, "r2")
    pk = env.c.post(
        "/api/v1/packages?name=pp&version=1", content=tar_dir(signed_package["path"]), headers=env.A
    ).json()["id"]
    r = env.c.post("/api/v1/telemetry", json={"messages": _msgs("a", 0, 2, pk)}, headers=R)
    assert r.status_code == 422 and "never assigned" in r.json()["detail"]
    assert env.c.post("/api/v1/heartbeat", json={"package_id": pk}, headers=R).status_code == 422
    env.c.post("/api/v1/deployments", json={"package_id": pk, "site_id": env.site1}, headers=env.A)
    r = env.c.post("/api/v1/telemetry", json={"messages": _msgs("a", 0, 2, pk)}, headers=R)
    assert r.status_code == 200 and r.json()["accepted"] == 2
    # robot 2 is at the other site: still refused
    r = env.c.post("/api/v1/telemetry", json={"messages": _msgs("a", 0, 2, pk)}, headers=R2)
    assert r.status_code == 422
    body = {"sha256": "1" * 64, "size": 4096, "chunk_size": 1024, "package_id": pk}
    assert env.c.post("/api/v1/uploads", json=body, headers=R2).status_code == 422


def test_existing_database_is_upgraded(tmp_path) -> None:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from physai.fleet import db as dbm
    from physai.fleet.service import Fleet, FleetConfig

    url = f"sqlite:///{tmp_path}/old.db"
    eng = dbm.make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(dbm.MIGRATIONS))
    with eng.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0001")
        c.execute(sa.text("INSERT INTO orgs (id, name) VALUES (1, 'o')"))
        c.execute(sa.text("INSERT INTO sites (id, org_id, name, carbon_g_per_kwh) VALUES (1, 1, 's', 1)"))
        c.execute(
            sa.text(
                'INSERT INTO robots (id, site_id, name, "group", embodiment, hardware, software_version,'
                " created_at, state) VALUES (1, 1, 'r', 'default', '', '', '', '2026-01-01', 'x')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO uploads (id, robot_id, sha256, size, chunk_size, received, meta, created_at)"
                " VALUES (1, 1, 'a', 3000, 1024, '[0, 2]', '{}', '2026-01-01')"
            )
        )
        c.execute(
            sa.text(
                "INSERT INTO telemetry (robot_id, seq, t, state, interventions, energy_j)"
                " VALUES (1, 5, '2026-01-01', '', 0, 0)"
            )
        )
    eng.dispose()
    import datetime as dt

    f = Fleet(FleetConfig(db_url=url, data_dir=tmp_path / "d"), clock=lambda: dt.datetime(2026, 1, 1, 1))
    with f.sessions() as s:
        assert [c.idx for c in s.query(dbm.UploadChunk).order_by(dbm.UploadChunk.idx)] == [0, 2]
        t = s.query(dbm.Telemetry).one()
        assert (t.agent_id, t.epoch, t.seq) == ("", 0, 5)
        assert s.get(dbm.Upload, 1).state == "open"
    f.close()
