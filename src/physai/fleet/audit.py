"""The append-only, hash-chained audit log: each entry's hash covers its content and the previous hash,
so changing, removing or reordering any entry breaks the chain from there on."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from physai.fleet.db import AuditEntry

GENESIS = "0" * 64
_LOCK = threading.Lock()


def entry_hash(prev_hash: str, t: str, actor: str, action: str, target: str, detail: dict) -> str:
    body = json.dumps(
        {"prev": prev_hash, "t": t, "actor": actor, "action": action, "target": target, "detail": detail},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(db: Session, actor: str, action: str, target: str, detail: dict | None = None) -> AuditEntry:
    """Add an entry after the current last one and commit (serialized within the process)."""
    detail = json.loads(json.dumps(detail or {}, default=str))
    with _LOCK:
        last = db.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
        prev = last.hash if last else GENESIS
        t = dt.datetime.now(dt.UTC).isoformat()
        e = AuditEntry(
            t=t,
            actor=actor,
            action=action,
            target=target,
            detail=detail,
            prev_hash=prev,
            hash=entry_hash(prev, t, actor, action, target, detail),
        )
        db.add(e)
        db.commit()
    return e


def verify_chain(db: Session) -> dict:
    """Recompute the chain; returns {"ok", "entries", "first_bad" (id or None), "reason"}."""
    prev = GENESIS
    n = 0
    for e in db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        n += 1
        if e.prev_hash != prev:
            return {
                "ok": False,
                "entries": n,
                "first_bad": e.id,
                "reason": f"entry {e.id} does not follow the previous entry (removed or reordered)",
            }
        if entry_hash(prev, e.t, e.actor, e.action, e.target, e.detail) != e.hash:
            return {"ok": False, "entries": n, "first_bad": e.id, "reason": f"entry {e.id} was modified"}
        prev = e.hash
    return {"ok": True, "entries": n, "first_bad": None, "reason": ""}
