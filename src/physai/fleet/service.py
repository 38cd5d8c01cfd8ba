"""The fleet service object: configuration, database, storage, trusted keys, limits; and the FastAPI
dependencies (database session, authenticated principal) every route uses."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Request
from fastapi import Path as PathParam
from fastapi import Query as QueryParam
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from physai.fleet import audit
from physai.fleet import db as dbm
from physai.fleet.auth import Principal, RateLimiter, hash_key

MAX_ID = 2**31 - 1
"""Largest object id (the id columns are 32-bit INTEGER on PostgreSQL)."""
Id = Annotated[int, PathParam(ge=1, le=MAX_ID, description="object id")]
"""An object id in a route path; out-of-range ids get 422 instead of reaching the database."""
OptionalId = Annotated[int | None, QueryParam(ge=1, le=MAX_ID)]
"""An optional object id filter in a query string."""
ChunkIndex = Annotated[int, PathParam(ge=0, le=MAX_ID, description="0-based chunk index")]
"""A chunk index in an upload route."""
log = logging.getLogger("physai.fleet")


@dataclass
class FleetConfig:
    """Settings of one fleet service."""

    db_url: str = "sqlite:///fleet/fleet.db"
    """SQLAlchemy URL: sqlite:///FILE (default) or postgresql://user@host/db."""
    data_dir: Path = Path("fleet")
    """Folder for uploaded episodes, packages and upload parts."""
    trusted_keys: list[Path] = field(default_factory=list)
    """Public keys (.pub) packages must be signed with (plus $PHYSAI_TRUSTED_KEYS)."""
    rate: float = 50.0
    """Requests per second allowed per key (token bucket); 0 disables."""
    burst: int = 200
    """Burst size of the per-key bucket."""
    anon_rate: float = 2.0
    """Requests per second per client address without a key (enrollment)."""
    max_json_bytes: int = 1 << 20
    """Largest JSON request body (bytes); larger ones get 413."""
    max_chunk_bytes: int = 8 << 20
    """Largest upload chunk (bytes)."""
    max_package_bytes: int = 256 << 20
    """Largest package archive (bytes)."""
    max_upload_bytes: int = 4 << 30
    """Largest episode archive a robot may declare when it starts an upload (bytes); larger: 413. Also the
    most an archive may expand to when extracted."""
    robot_quota_bytes: int = 32 << 30
    """Storage per robot: its stored episodes plus its unfinished uploads (bytes); past it: 413."""
    upload_ttl_s: float = 86400.0
    """An upload that received no chunk for this long is abandoned: its part file and rows are removed."""
    bad_key_rate: float = 1.0
    """Requests per second per client address presenting a missing, unknown, revoked or expired key;
    past the burst they get 429 before any database lookup. 0 disables."""
    bad_key_burst: int = 20
    """Burst size of the per-address bucket for bad keys."""
    audit_key: Path | None = None
    """Ed25519 private key signing audit checkpoints (None: `data_dir/audit/audit.key`, created at first
    start). Keep it where database users cannot read it."""
    audit_anchor: Path | None = None
    """File holding the signed audit checkpoint (None: `data_dir/audit/checkpoint.json`)."""
    audit_checkpoint_every: int = 1
    """Sign a checkpoint every this many audit entries (and on shutdown); entries after the last
    checkpoint are not anchored, so 1 (each entry) is the safe setting."""
    enroll_ttl_s: float = 3600.0
    """Default lifetime of an enrollment token (seconds)."""
    robot_key_days: float = 365.0
    """Lifetime of a robot key (days); expired keys are refused."""


def audit_anchor(cfg: FleetConfig, create: bool = True) -> audit.Anchor:
    """The signed-checkpoint anchor of the audit log of the service configured by `cfg`."""
    d = Path(cfg.data_dir) / "audit"
    return audit.Anchor.open(
        cfg.audit_anchor or d / "checkpoint.json",
        cfg.audit_key or d / "audit.key",
        every=cfg.audit_checkpoint_every,
        create=create,
    )


class Fleet:
    """Everything a request handler needs; one per app. `clock` (naive UTC now) is injectable for tests."""

    def __init__(self, cfg: FleetConfig, clock: Callable[[], dt.datetime] = dbm.utcnow) -> None:
        from physai.deploy import signing

        self.cfg = cfg
        self.clock = clock
        self.data_dir = Path(cfg.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if cfg.db_url.startswith("sqlite:///"):
            Path(cfg.db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = dbm.make_engine(cfg.db_url)
        dbm.upgrade(self.engine)
        self.anchor = audit_anchor(cfg)
        self.sessions = dbm.session_factory(self.engine, anchor=self.anchor)
        trust = os.environ.get(signing.TRUST_ENV)
        self.keys = signing.trusted_keys(list(cfg.trusted_keys), Path(trust) if trust else None)
        self.limiter = RateLimiter(cfg.rate, cfg.burst)
        self.anon_limiter = RateLimiter(cfg.anon_rate, max(int(cfg.anon_rate * 5), 5))
        self.bad_key_limiter = RateLimiter(cfg.bad_key_rate, cfg.bad_key_burst)
        with self.sessions() as s:
            if self.anchor.read() is None and s.execute(select(dbm.AuditEntry.id).limit(1)).first():
                # a database from before anchoring: its current head is trusted once, and said so
                if audit.verify_chain(s)["ok"]:
                    log.warning("audit log had no signed checkpoint; anchoring its current head")
                    self.anchor.checkpoint(s)
        self.reap_uploads()

    def bootstrap_admin(self, name: str = "admin") -> str | None:
        """Create the first admin key if there is no admin yet; returns it (shown once) or None."""
        from physai.fleet.auth import new_key

        with self.sessions() as s:
            if s.execute(select(dbm.ApiKey).where(dbm.ApiKey.role == "admin")).first():
                return None
            key = new_key("admin")
            k = dbm.ApiKey(role="admin", name=name, key_hash=hash_key(key), prefix=key[:16], site_ids=[])
            s.add(k)
            s.commit()
            audit.append(s, "system", "key.create", f"key:{k.id}", {"role": "admin", "name": name})
        return key

    def recover_admin(self, name: str = "recovered-admin") -> str:
        """Issue a new admin key from the server's own shell (no API key needed: whoever runs this can
        already read the database); the key is returned once and the recovery is audited."""
        import getpass

        from physai.fleet.auth import new_key

        key = new_key("admin")
        with self.sessions() as s:
            k = dbm.ApiKey(role="admin", name=name, key_hash=hash_key(key), prefix=key[:16], site_ids=[])
            s.add(k)
            s.commit()
            try:
                user = getpass.getuser()
            except (KeyError, OSError):
                user = "?"
            audit.append(
                s, f"system:shell({user})", "key.recover", f"key:{k.id}", {"role": "admin", "name": name}
            )
        return key

    def reap_uploads(self, orphans: bool = True) -> int:
        """Remove abandoned uploads (no chunk for `upload_ttl_s`; or a completion that died) and, with
        `orphans`, part files no upload owns; returns how many uploads went."""
        try:
            cutoff = self.clock() - dt.timedelta(seconds=self.cfg.upload_ttl_s)
        except OverflowError:  # a ttl beyond the calendar: nothing is ever abandoned
            cutoff = dt.datetime.min
        parts = self.data_dir / "uploads"
        gone = 0
        with self.sessions() as s:
            stale = s.execute(
                select(dbm.Upload).where(
                    dbm.Upload.state != "done",
                    func.coalesce(dbm.Upload.updated_at, dbm.Upload.created_at) < cutoff,
                )
            ).scalars()
            for u in list(stale):
                drop_upload(s, u, parts)
                gone += 1
            s.commit()
            live = {f"{i}.part" for i in s.execute(select(dbm.Upload.id)).scalars()}
        if orphans and parts.is_dir():
            for p in parts.glob("*.part"):
                if p.name not in live:
                    p.unlink(missing_ok=True)
        return gone

    def checkpoint(self) -> dict:
        """Sign the audit head now (also done on `close`)."""
        with self.sessions() as s:
            return self.anchor.checkpoint(s)

    def close(self) -> None:
        r = self.checkpoint()
        if not r["ok"]:
            log.error("audit checkpoint at shutdown not written: %s", r["reason"])
        self.engine.dispose()


def drop_upload(s: Session, u: dbm.Upload, parts: Path) -> None:
    """Delete an unfinished upload: its chunk rows, its row and its part file (the caller commits)."""
    s.execute(delete(dbm.UploadChunk).where(dbm.UploadChunk.upload_id == u.id))
    s.delete(u)
    (parts / f"{u.id}.part").unlink(missing_ok=True)


def fleet_of(request: Request) -> Fleet:
    return request.app.state.fleet


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A database session for one request. An async dependency on purpose: its teardown (returning the
    connection to the pool) then runs on the event loop; as a sync one it needs a worker thread, and with
    every worker busy waiting for a connection, the connections waiting for their teardown are never
    returned (64 concurrent chunk PUTs hit the pool timeout)."""
    s = fleet_of(request).sessions()
    try:
        yield s
    finally:
        s.close()


def too_many(wait: float) -> HTTPException:
    return HTTPException(
        429, "rate limit exceeded; retry later", headers={"Retry-After": str(max(1, round(wait + 0.5)))}
    )


def client_of(request: Request) -> str:
    """The rate-limit identity of a caller without a valid key: its address."""
    return f"ip:{request.client.host if request.client else '?'}"


def unauthorized(request: Request, message: str) -> HTTPException:
    """A 401, charged to the caller's address (its bucket empty: the next ones get 429 unlooked-up)."""
    fleet_of(request).bad_key_limiter.check(client_of(request))
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def principal(request: Request) -> Principal:
    """The caller behind `Authorization: Bearer KEY`; 401 for a missing/unknown/revoked/expired key."""
    fleet = fleet_of(request)
    wait = fleet.bad_key_limiter.blocked(client_of(request))
    if wait:
        raise too_many(wait)
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise unauthorized(request, "missing API key: send 'Authorization: Bearer <key>'")
    h = hash_key(auth[7:].strip())
    with fleet.sessions() as s:
        k = s.execute(select(dbm.ApiKey).where(dbm.ApiKey.key_hash == h)).scalar_one_or_none()
        if k is None or k.revoked_at is not None:
            raise unauthorized(request, "unknown or revoked API key")
        if k.expires_at is not None and k.expires_at < dbm.utcnow():
            raise unauthorized(request, "API key expired; ask an admin for a new one")
        p = Principal(
            role=k.role, key_id=k.id, name=k.name, robot_id=k.robot_id, site_ids=list(k.site_ids or [])
        )
    wait = fleet.limiter.check(f"key:{p.key_id}")
    if wait:
        raise too_many(wait)
    return p


def require(p: Principal, *roles: str) -> None:
    if p.role not in roles:
        raise HTTPException(403, f"role {p.role!r} may not do this (needs {' or '.join(roles)})")


def check_site(p: Principal, site_id: int) -> None:
    if not p.can_site(site_id):
        raise HTTPException(404, f"site {site_id} not found")


def robot_visible(p: Principal, robot: dbm.Robot | None) -> dbm.Robot:
    """The robot if the caller may see it; 404 otherwise (not 403, so ids of others do not leak)."""
    if robot is None:
        raise HTTPException(404, "robot not found")
    if p.role == "robot" and p.robot_id == robot.id:
        return robot
    if p.role in ("admin", "operator") and p.can_site(robot.site_id):
        return robot
    raise HTTPException(404, "robot not found")


def iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.replace(tzinfo=dt.UTC).isoformat()
