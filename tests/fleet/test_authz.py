"""Authorization matrix: admin / operator (own sites only) / robot (only itself), and the audit chain."""

from __future__ import annotations

import pytest


@pytest.fixture
def world(sqlite_fleet, make_env):
    e = make_env(sqlite_fleet)
    e.r1, e.R1 = e.enroll(e.site1, "north-1")
    e.r2, e.R2 = e.enroll(e.site2, "south-1")
    e.OP1 = e.operator([e.site1])
    return e


def test_matrix(world) -> None:
    e = world
    c, A, OP1, R1 = e.c, e.A, e.OP1, e.R1
    cases = [  # (who, method, path, body, expected status)
        (A, "get", f"/api/v1/robots/{e.r2}", None, 200),
        (OP1, "get", f"/api/v1/robots/{e.r1}", None, 200),
        (OP1, "get", f"/api/v1/robots/{e.r2}", None, 404),  # cross-tenant
        (R1, "get", f"/api/v1/robots/{e.r1}", None, 200),
        (R1, "get", f"/api/v1/robots/{e.r2}", None, 404),  # another robot
        (R1, "get", f"/api/v1/robots/{e.r2}/telemetry", None, 404),
        (OP1, "get", f"/api/v1/robots/{e.r2}/telemetry", None, 404),
        (R1, "get", "/api/v1/keys", None, 403),
        (OP1, "get", "/api/v1/keys", None, 403),
        (OP1, "post", "/api/v1/orgs", {"name": "x"}, 403),
        (R1, "post", "/api/v1/sites", {"org_id": 1, "name": "x"}, 403),
        (OP1, "post", "/api/v1/enrollment-tokens", {"site_id": e.site2}, 404),
        (OP1, "post", "/api/v1/enrollment-tokens", {"site_id": e.site1}, 201),
        (R1, "post", "/api/v1/enrollment-tokens", {"site_id": e.site1}, 403),
        (OP1, "get", "/api/v1/audit", None, 403),
        (A, "get", "/api/v1/audit", None, 200),
        (R1, "get", "/api/v1/deployments", None, 403),
        (A, "post", "/api/v1/heartbeat", {}, 403),
        (R1, "post", "/api/v1/heartbeat", {}, 200),
        (OP1, "post", "/api/v1/deployments", {"package_id": 1, "site_id": e.site2}, 404),
    ]
    for who, method, path, body, want in cases:
        r = getattr(c, method)(path, headers=who, **({"json": body} if body is not None else {}))
        assert r.status_code == want, (method, path, who is A, who is OP1, r.status_code, r.text)
    assert [r["id"] for r in c.get("/api/v1/robots", headers=OP1).json()] == [e.r1]
    assert [r["id"] for r in c.get("/api/v1/robots", headers=R1).json()] == [e.r1]
    assert len(c.get("/api/v1/robots", headers=A).json()) == 2
    assert [s["id"] for s in c.get("/api/v1/sites", headers=OP1).json()] == [e.site1]


def test_operator_revokes_only_own_site_robot_keys(world) -> None:
    e = world
    keys = {k["robot_id"]: k["id"] for k in e.c.get("/api/v1/keys", headers=e.A).json() if k["robot_id"]}
    assert e.c.post(f"/api/v1/keys/{keys[e.r2]}/revoke", headers=e.OP1).status_code == 404
    assert e.c.post(f"/api/v1/keys/{keys[e.r1]}/revoke", headers=e.OP1).status_code == 200
    assert e.c.get("/api/v1/robots/me", headers=e.R1).status_code == 401
    assert e.c.get("/api/v1/robots/me", headers=e.R2).status_code == 200


def test_audit_chain_verifies_and_detects_tampering(world) -> None:
    from physai.fleet import audit
    from physai.fleet import db as dbm

    e = world
    v = e.c.get("/api/v1/audit/verify", headers=e.A).json()
    assert v["ok"] and v["entries"] >= 8
    actions = [x["action"] for x in e.c.get("/api/v1/audit", headers=e.A).json()]
    assert "robot.enroll" in actions and "key.create" in actions
    with e.fleet.sessions() as s:
        ent = s.get(dbm.AuditEntry, 3)
        ent.detail = {**ent.detail, "sneaky": True}
        s.commit()
        bad = audit.verify_chain(s)
        assert not bad["ok"] and bad["first_bad"] == 3
        ent.detail = {k: v for k, v in ent.detail.items() if k != "sneaky"}
        s.commit()
        assert audit.verify_chain(s)["ok"]
        s.delete(s.get(dbm.AuditEntry, 4))
        s.commit()
        gone = audit.verify_chain(s)
        assert not gone["ok"] and gone["first_bad"] == 5
