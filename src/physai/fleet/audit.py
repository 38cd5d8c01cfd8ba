"""The append-only, hash-chained audit log, anchored outside the database.

Each entry's hash covers its content and the previous hash, so changing, removing or reordering an entry
breaks the chain from there on. A chain alone cannot see its own end cut off, nor a row rewritten with
every later hash recomputed, so the head is anchored: a *checkpoint* (the id and hash of the newest entry,
signed with the server's Ed25519 key) is written to a file outside the database every `every` entries and
on shutdown. `verify` checks the chain and that it still holds the signed head: deleting the last rows, or
rewriting a row and re-hashing the chain, is reported. A unique index on `prev_hash` keeps the chain from
forking when two processes (the service and `physai fleet admin --recover`) append at once.

The anchor is only as strong as the key: someone who can read the checkpoint key can sign a new head.
Keep it where the database's users cannot read it (`FleetConfig.audit_key`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from physai.fleet.db import AuditEntry

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
CHECKPOINT_FORMAT = "physai-audit-checkpoint/1"
_LOCK = threading.Lock()
log = logging.getLogger("physai.fleet")


def entry_hash(prev_hash: str, t: str, actor: str, action: str, target: str, detail: dict) -> str:
    body = json.dumps(
        {"prev": prev_hash, "t": t, "actor": actor, "action": action, "target": target, "detail": detail},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


# ------------------------------------------------------------------------ the anchor
def _canonical(c: dict) -> bytes:
    body = {k: c[k] for k in ("format", "last_id", "head", "t")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Anchor:
    """Signed checkpoints of the chain head in `path` (JSON, replaced atomically), written every
    `every` appended entries (1: every entry) and on `checkpoint()`."""

    path: Path
    key: Ed25519PrivateKey | None
    """Ed25519PrivateKey signing the checkpoints (None: verify only)."""
    public: Ed25519PublicKey
    """Ed25519PublicKey that checks them."""
    every: int = 1
    _pending: int = 0

    @classmethod
    def open(cls, path: Path, key_path: Path, every: int = 1, create: bool = True) -> Anchor:
        """The anchor at `path` signed with the key at `key_path` (generated with its `.pub` when absent and
        `create`); without the private key (verification on another machine) `key_path`'s `.pub` is used."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from physai.deploy import signing

        key_path, path = Path(key_path), Path(path)
        pub_path = key_path.with_suffix(".pub")
        if not key_path.exists() and create:
            key_path.parent.mkdir(parents=True, exist_ok=True)
            k = Ed25519PrivateKey.generate()
            pem = k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            pub_path.write_bytes(
                k.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        key = signing.load_private_key(key_path) if key_path.exists() else None
        public = key.public_key() if key is not None else signing.load_public_key(pub_path)
        return cls(path=path, key=key, public=public, every=max(1, int(every)))

    def read(self) -> dict | None:
        """The current checkpoint (None if there is none); raises ValueError if it is not readable JSON."""
        if not self.path.exists():
            return None
        return json.loads(self.path.read_text())

    def signature_ok(self, c: dict) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            if c.get("format") != CHECKPOINT_FORMAT:
                return False
            self.public.verify(base64.b64decode(c["sig"]), _canonical(c))
            return True
        except (InvalidSignature, KeyError, TypeError, ValueError):
            return False

    def write(self, last_id: int, head: str) -> dict:
        """Sign and store (last_id, head) as the current checkpoint."""
        from physai.deploy.signing import key_id

        if self.key is None:
            raise ValueError("this anchor has no private key; it can only verify")
        c = {
            "format": CHECKPOINT_FORMAT,
            "last_id": int(last_id),
            "head": head,
            "t": dt.datetime.now(dt.UTC).isoformat(),
        }
        c["key_id"] = key_id(self.public)
        c["sig"] = base64.b64encode(self.key.sign(_canonical(c))).decode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(c, indent=1) + "\n")
        os.replace(tmp, self.path)
        return c

    def checkpoint(self, db: Session) -> dict:
        """Anchor the current head. The previous checkpoint must still hold (its entry unchanged), or
        nothing is written: tampering stays visible instead of being signed over."""
        with _LOCK:
            return self._checkpoint(db)

    def _checkpoint(self, db: Session) -> dict:
        last = db.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
        try:
            prev = self.read()
        except ValueError:
            return {"ok": False, "reason": f"checkpoint {self.path} is not readable; not overwriting it"}
        if prev is not None:
            if not self.signature_ok(prev):
                return {"ok": False, "reason": f"checkpoint {self.path} has a bad signature; not overwriting"}
            row = db.get(AuditEntry, int(prev["last_id"]))
            if row is None or row.hash != prev["head"]:
                return {
                    "ok": False,
                    "reason": f"audit entry {prev['last_id']} no longer matches the signed checkpoint; "
                    f"not overwriting it",
                }
            if last is not None and last.id < int(prev["last_id"]):
                return {"ok": False, "reason": "the log is shorter than the signed checkpoint"}
        if last is None:
            return {"ok": True, "checkpoint": prev}
        self._pending = 0
        return {"ok": True, "checkpoint": self.write(last.id, last.hash)}

    def appended(self, db: Session) -> None:
        """Count one appended entry; checkpoint when `every` have accumulated (called under the lock)."""
        self._pending += 1
        if self._pending >= self.every:
            r = self._checkpoint(db)
            if not r["ok"]:
                log.error("audit checkpoint not written: %s", r["reason"])


# ------------------------------------------------------------------------ appending and verifying
def append(
    db: Session,
    actor: str,
    action: str,
    target: str,
    detail: dict | None = None,
    anchor: Anchor | None = None,
) -> AuditEntry:
    """Add an entry after the current last one and commit; with `anchor`, count it towards the next
    checkpoint. Serialized within the process; across processes the unique `prev_hash` makes a racing
    append fail, and it is retried on the new head."""
    detail = json.loads(json.dumps(detail or {}, default=str))
    anchor = anchor if anchor is not None else _default_anchor(db)
    with _LOCK:
        for attempt in range(5):
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
            try:
                db.commit()
                break
            except IntegrityError:
                db.rollback()
                if attempt == 4:
                    raise
        if anchor is not None:
            anchor.appended(db)
    return e


def _default_anchor(db: Session) -> Anchor | None:
    """The anchor of the service that made the session (`db.session_factory(..., anchor=)`), if any."""
    return db.info.get("audit_anchor")


def verify_chain(db: Session, anchor: Anchor | None = None) -> dict:
    """Recompute the chain and, with `anchor`, check it still holds the signed head.

    Returns {"ok", "entries", "first_bad" (id or None), "reason", "checkpoint" (id/time/key of the
    signed head, or None)}."""
    prev = GENESIS
    n = 0
    by_id: dict[int, str] = {}
    c = None
    if anchor is not None:
        try:
            c = anchor.read()
        except ValueError:
            return _bad(0, None, f"checkpoint {anchor.path} is not readable", None)
        if c is None:
            total = db.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            if total:
                return _bad(total, None, f"no signed checkpoint at {anchor.path} for {total} entries", None)
        elif not anchor.signature_ok(c):
            return _bad(0, None, f"checkpoint {anchor.path} is not signed by the audit key", None)
    want = int(c["last_id"]) if c else None
    for e in db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        n += 1
        if e.prev_hash != prev:
            return _bad(n, e.id, f"entry {e.id} does not follow the previous entry (removed or reordered)", c)
        if entry_hash(prev, e.t, e.actor, e.action, e.target, e.detail) != e.hash:
            return _bad(n, e.id, f"entry {e.id} was modified", c)
        if want is not None and e.id == want:
            by_id[e.id] = e.hash
        prev = e.hash
    if c is not None:
        if want not in by_id:
            return _bad(
                n,
                want,
                f"the log ends before entry {want}, which the signed checkpoint of {c['t']} holds "
                f"(entries were deleted)",
                c,
            )
        if by_id[want] != c["head"]:
            return _bad(
                n,
                want,
                f"entry {want} differs from the signed checkpoint of {c['t']} (rewritten and re-hashed)",
                c,
            )
    return {"ok": True, "entries": n, "first_bad": None, "reason": "", "checkpoint": _public(c)}


def _public(c: dict | None) -> dict | None:
    return None if c is None else {k: c.get(k) for k in ("last_id", "head", "t", "key_id")}


def _bad(n: int, first_bad: int | None, reason: str, c: dict | None) -> dict:
    return {"ok": False, "entries": n, "first_bad": first_bad, "reason": reason, "checkpoint": _public(c)}
