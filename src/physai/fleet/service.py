"""The fleet service object: configuration, database, storage, trusted keys, limits; and the FastAPI
dependencies (database session, authenticated principal) every route uses."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException, Request
from fastapi import Path as PathParam
from fastapi import Query as QueryParam
from sqlalchemy import select
from sqlalchemy.orm import Session

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
    enroll_ttl_s: float = 3600.0
    """Default lifetime of an enrollment token (seconds)."""
    robot_key_days: float = 365.0
    """Lifetime of a robot key (days); expired keys are refused."""


class Fleet:
    """Everything a request handler needs; one per app."""

    def __init__(self, cfg: FleetConfig) -> None:
        from physai.deploy import signing

        self.cfg = cfg
        self.data_dir = Path(cfg.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if cfg.db_url.startswith("sqlite:///"):
            Path(cfg.db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = dbm.make_engine(cfg.db_url)
        dbm.upgrade(self.engine)
        self.sessions = dbm.session_factory(self.engine)
        trust = os.environ.get(signing.TRUST_ENV)
        self.keys = signing.trusted_keys(list(cfg.trusted_keys), Path(trust) if trust else None)
        self.limiter = RateLimiter(cfg.rate, cfg.burst)
        self.anon_limiter = RateLimiter(cfg.anon_rate, max(int(cfg.anon_rate * 5), 5))

    def bootstrap_admin(self, name: str = "admin") -> str | None:
        """Create the first admin key if there is no admin yet; returns it (shown once) or None."""
        from physai.fleet import audit
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

    def close(self) -> None:
        self.engine.dispose()


def fleet_of(request: Request) -> Fleet:
    return request.app.state.fleet


def get_db(request: Request) -> Iterator[Session]:
    with fleet_of(request).sessions() as s:
        yield s


def too_many(wait: float) -> HTTPException:
    return HTTPException(
        429, "rate limit exceeded; retry later", headers={"Retry-After": str(max(1, round(wait + 0.5)))}
    )


def principal(request: Request) -> Principal:
    """The caller behind `Authorization: Bearer KEY`; 401 for a missing/unknown/revoked/expired key."""
    fleet = fleet_of(request)
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise HTTPException(
            401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
        )
    h = hash_key(auth[7:].strip())
    with fleet.sessions() as s:
        k = s.execute(select(dbm.ApiKey).where(dbm.ApiKey.key_hash == h)).scalar_one_or_none()
        if k is None or k.revoked_at is not None:
            raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if k.expires_at is not None and k.expires_at < dbm.utcnow():
            raise HTTPException(
                401, "API key expired; ask an admin for a new one", headers={"WWW-Authenticate": "Bearer"}
            )
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
