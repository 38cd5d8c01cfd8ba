"""The audit log is anchored outside the database: truncation and rewrite+rehash are detected by
`/audit/verify` and `physai fleet audit verify` (issue 18, item 4)."""

from __future__ import annotations

import json

from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from physai.fleet import audit
from physai.fleet import db as dbm


def _grow(env, n: int = 6, prefix: str = "org") -> None:
    for i in range(n):
        r = env.c.post("/api/v1/orgs", json={"name": f"{prefix}{i}"}, headers=env.A)
        assert r.status_code == 201


def _verify(env) -> dict:
    r = env.c.get("/api/v1/audit/verify", headers=env.A)
    assert r.status_code == 200
    return r.json()


def _cli_verify(fleet) -> tuple[int, dict]:
    from physai.cli.main import app

    args = ["fleet", "audit", "verify", "--db", fleet.cfg.db_url, "--data-dir", str(fleet.data_dir), "--json"]
    res = CliRunner().invoke(app, args)
    return res.exit_code, json.loads(res.stdout)


def test_intact_log_verifies_with_its_signed_head(env) -> None:
    _grow(env)
    v = _verify(env)
    assert v["ok"] and v["checkpoint"]["last_id"] == v["entries"]
    code, cli = _cli_verify(env.fleet)
    assert code == 0 and cli["ok"]


def test_deleting_the_last_rows_is_detected(env) -> None:
    _grow(env)
    with env.fleet.sessions() as s:
        last = s.execute(select(dbm.AuditEntry.id).order_by(dbm.AuditEntry.id.desc())).scalars().first()
        s.execute(delete(dbm.AuditEntry).where(dbm.AuditEntry.id > last - 3))
        s.commit()
    v = _verify(env)
    assert not v["ok"] and "deleted" in v["reason"] and v["first_bad"] == last
    code, cli = _cli_verify(env.fleet)
    assert code == 1 and not cli["ok"]
    # the service does not sign over the cut: later appends leave the old checkpoint in place
    _grow(env, 4, prefix="later")
    v = _verify(env)
    assert not v["ok"] and v["checkpoint"]["last_id"] == last


def test_rewrite_and_rehash_is_detected(env) -> None:
    _grow(env)
    with env.fleet.sessions() as s:
        rows = s.execute(select(dbm.AuditEntry).order_by(dbm.AuditEntry.id)).scalars().all()
        # rewrite entry 2 (who created what) and recompute every later hash: the chain is valid again
        rows[1].actor = "admin:someone-else#9"
        prev = rows[0].hash
        new = []
        for e in rows[1:]:
            h = audit.entry_hash(prev, e.t, e.actor, e.action, e.target, e.detail)
            new.append((e.id, prev, h))
            prev = h
        # prev_hash is unique: move every row to a placeholder first
        for i, _, _ in new:
            s.execute(
                update(dbm.AuditEntry).where(dbm.AuditEntry.id == i).values(prev_hash=f"x{i}", hash=f"y{i}")
            )
        for i, p, h in new:
            s.execute(update(dbm.AuditEntry).where(dbm.AuditEntry.id == i).values(prev_hash=p, hash=h))
        s.commit()
        assert audit.verify_chain(s)["ok"]  # the chain alone cannot see it
    v = _verify(env)
    assert not v["ok"] and "rewritten" in v["reason"]
    assert _cli_verify(env.fleet)[0] == 1


def test_forged_checkpoint_is_refused(env) -> None:
    _grow(env, 2)
    path = env.fleet.anchor.path
    c = json.loads(path.read_text())
    c["last_id"] = 1
    path.write_text(json.dumps(c))
    v = _verify(env)
    assert not v["ok"] and "not signed" in v["reason"]


def test_existing_log_is_anchored_at_start_and_checkpointed_on_close(sqlite_fleet) -> None:
    f = sqlite_fleet
    f.cfg.audit_checkpoint_every = 1000
    f.anchor.every = 1000
    f.bootstrap_admin()
    with f.sessions() as s:
        for i in range(3):
            audit.append(s, "t", "x", f"n{i}")
    assert f.anchor.read() is None  # not yet: every 1000
    f.close()
    c = f.anchor.read()
    assert c["last_id"] == 4
    # a pre-anchoring database (no checkpoint file) is anchored once at start
    f.anchor.path.unlink()
    from physai.fleet.service import Fleet

    g = Fleet(f.cfg)
    assert g.anchor.read()["last_id"] == 4
    with g.sessions() as s:
        assert audit.verify_chain(s, g.anchor)["ok"]
    g.close()
