"""The fleet HTTP API (FastAPI): app factory, body-size limits, error mapping, and the admin resources
(orgs, sites, keys, enrollment, robots, audit). Robot traffic and deployments live in `api_robot` and
`api_deploy`; the dashboard in `dashboard`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from physai.core.errors import PhysaiError
from physai.core.jsonsafe import json_safe
from physai.fleet import audit
from physai.fleet import db as dbm
from physai.fleet.auth import Principal, hash_key, install_log_redaction, new_key
from physai.fleet.service import (
    MAX_ID,
    Fleet,
    FleetConfig,
    Id,
    check_site,
    get_db,
    iso,
    principal,
    require,
    robot_visible,
    too_many,
)
from physai.fleet.storage import InsufficientStorage

router = APIRouter(prefix="/api/v1")
Name = Field(min_length=1, max_length=120, pattern=r"^[\w .:/@+-]+$")
TEXT = r"^[^\x00-\x1f\x7f]*$"
"""Free text: no control characters (PostgreSQL refuses NUL; logs and the dashboard need none)."""


class BodyLimit:
    """ASGI middleware: 413 for bodies over their route's limit (by Content-Length and while streaming)."""

    def __init__(self, app, cfg: FleetConfig) -> None:
        self.app, self.cfg = app, cfg

    def limit(self, path: str) -> int:
        if path.startswith("/api/v1/packages"):
            return self.cfg.max_package_bytes
        if "/chunks/" in path:
            return self.cfg.max_chunk_bytes
        return self.cfg.max_json_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > limit:
            return await JSONResponse(
                {
                    "detail": f"request body of {declared} bytes exceeds the limit of "
                    f"{limit} bytes for this route"
                },
                413,
            )(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body exceeds the limit of {limit} bytes")
            return msg

        return await self.app(scope, limited, send)


def create_app(cfg: FleetConfig | None = None, fleet: Fleet | None = None) -> FastAPI:
    """The fleet service app (API under /api/v1, dashboard at /, OpenAPI at /openapi.json)."""
    from physai.fleet import api_deploy, api_robot, dashboard

    install_log_redaction()
    fleet = fleet or Fleet(cfg or FleetConfig())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # graceful shutdown (SIGTERM/SIGINT through uvicorn): sign the audit head
        if hasattr(fleet, "checkpoint"):
            r = fleet.checkpoint()
            if not r["ok"]:
                logging.getLogger("physai.fleet").error("audit checkpoint at shutdown: %s", r["reason"])

    app = FastAPI(
        title="physai fleet",
        version="1",
        description="Fleet operations: robots, telemetry, episodes, signed packages, deployments, audit.",
        lifespan=lifespan,
    )
    app.state.fleet = fleet
    app.include_router(router)
    app.include_router(api_robot.router)
    app.include_router(api_deploy.router)
    app.include_router(dashboard.router)
    app.add_middleware(BodyLimit, cfg=fleet.cfg)

    @app.exception_handler(PhysaiError)
    async def _physai_error(_req: Request, exc: PhysaiError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 507 if isinstance(exc, InsufficientStorage) else 422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, which fails to encode for NaN or undecodable bytes (500)
        return JSONResponse({"detail": json_safe(list(exc.errors()))}, 422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_req: Request, exc: IntegrityError) -> JSONResponse:
        return JSONResponse({"detail": "conflicts with an existing record (name or id already used)"}, 409)

    return app


# ------------------------------------------------------------------------ orgs and sites
class OrgIn(BaseModel):
    name: str = Name


class SiteIn(BaseModel):
    org_id: int = Field(ge=1, le=2**31 - 1)
    name: str = Name
    carbon_g_per_kwh: float = Field(400.0, ge=0, le=5000, allow_inf_nan=False)


@router.get("/healthz")
def healthz() -> dict:
    return {"ok": True}


@router.post("/orgs", status_code=201)
def create_org(body: OrgIn, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    require(p, "admin")
    o = dbm.Org(name=body.name)
    db.add(o)
    db.commit()
    audit.append(db, p.label, "org.create", f"org:{o.id}", {"name": o.name})
    return {"id": o.id, "name": o.name}


@router.get("/orgs")
def list_orgs(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    require(p, "admin", "operator")
    return [{"id": o.id, "name": o.name} for o in db.execute(select(dbm.Org).order_by(dbm.Org.id)).scalars()]


@router.post("/sites", status_code=201)
def create_site(body: SiteIn, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    require(p, "admin")
    if db.get(dbm.Org, body.org_id) is None:
        raise HTTPException(404, f"org {body.org_id} not found")
    s = dbm.Site(org_id=body.org_id, name=body.name, carbon_g_per_kwh=body.carbon_g_per_kwh)
    db.add(s)
    db.commit()
    audit.append(db, p.label, "site.create", f"site:{s.id}", {"name": s.name, "org_id": s.org_id})
    return site_json(s)


def site_json(s: dbm.Site) -> dict:
    return {"id": s.id, "org_id": s.org_id, "name": s.name, "carbon_g_per_kwh": s.carbon_g_per_kwh}


@router.get("/sites")
def list_sites(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    require(p, "admin", "operator")
    return [
        site_json(s) for s in db.execute(select(dbm.Site).order_by(dbm.Site.id)).scalars() if p.can_site(s.id)
    ]


# ------------------------------------------------------------------------ keys
class KeyIn(BaseModel):
    role: str = Field(pattern="^(admin|operator)$")
    name: str = Name
    site_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=1000)
    expires_days: float | None = Field(None, gt=0, le=3650, allow_inf_nan=False)


def key_json(k: dbm.ApiKey) -> dict:
    return {
        "id": k.id,
        "role": k.role,
        "name": k.name,
        "prefix": k.prefix,
        "robot_id": k.robot_id,
        "site_ids": k.site_ids,
        "created_at": iso(k.created_at),
        "expires_at": iso(k.expires_at),
        "revoked_at": iso(k.revoked_at),
    }


@router.post("/keys", status_code=201)
def create_key(body: KeyIn, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Issue an admin or operator key; the secret is in this response only."""
    require(p, "admin")
    for sid in body.site_ids:
        if db.get(dbm.Site, sid) is None:
            raise HTTPException(404, f"site {sid} not found")
    key = new_key(body.role)
    exp = dbm.utcnow() + dt.timedelta(days=body.expires_days) if body.expires_days else None
    k = dbm.ApiKey(
        role=body.role,
        name=body.name,
        key_hash=hash_key(key),
        prefix=key[:16],
        site_ids=list(body.site_ids),
        expires_at=exp,
    )
    db.add(k)
    db.commit()
    audit.append(
        db, p.label, "key.create", f"key:{k.id}", {"role": k.role, "name": k.name, "sites": k.site_ids}
    )
    return {**key_json(k), "key": key}


@router.get("/keys")
def list_keys(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    require(p, "admin")
    return [key_json(k) for k in db.execute(select(dbm.ApiKey).order_by(dbm.ApiKey.id)).scalars()]


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Admins revoke any key; operators revoke robot keys of their sites."""
    require(p, "admin", "operator")
    k = db.get(dbm.ApiKey, key_id)
    if k is None:
        raise HTTPException(404, f"key {key_id} not found")
    if p.role == "operator":
        robot = db.get(dbm.Robot, k.robot_id) if k.robot_id else None
        if robot is None or not p.can_site(robot.site_id):
            raise HTTPException(404, f"key {key_id} not found")
    if k.revoked_at is None:
        if k.role == "admin" and not _revoke_admin(db, k.id):
            raise HTTPException(
                409,
                f"key {key_id} is the last active admin key; create another admin key first "
                f"(or, locked out, run `physai fleet admin --recover` on the server)",
            )
        if k.role != "admin":
            k.revoked_at = dbm.utcnow()
            db.commit()
        db.refresh(k)
        audit.append(db, p.label, "key.revoke", f"key:{k.id}", {"role": k.role})
    return key_json(k)


def _revoke_admin(db: Session, key_id: int) -> bool:
    """Revoke admin key `key_id` only if another active admin key remains, as one atomic step: the
    admin rows are locked first (PostgreSQL) and the UPDATE carries the count (SQLite serializes writes),
    so two admins revoking each other at once cannot leave none."""
    now = dbm.utcnow()
    active = (
        (dbm.ApiKey.role == "admin")
        & dbm.ApiKey.revoked_at.is_(None)
        & (dbm.ApiKey.expires_at.is_(None) | (dbm.ApiKey.expires_at > now))
    )
    db.execute(select(dbm.ApiKey.id).where(active).with_for_update()).all()
    others = select(func.count()).select_from(dbm.ApiKey).where(active).scalar_subquery()
    n = db.execute(
        update(dbm.ApiKey)
        .where(dbm.ApiKey.id == key_id, dbm.ApiKey.revoked_at.is_(None), others > 1)
        .values(revoked_at=now)
    ).rowcount
    db.commit()
    return n == 1


# ------------------------------------------------------------------------ enrollment
class TokenIn(BaseModel):
    site_id: int = Field(ge=1, le=2**31 - 1)
    group: str = Field("default", min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    ttl_s: float = Field(3600.0, gt=0, le=30 * 86400, allow_inf_nan=False)


class EnrollIn(BaseModel):
    token: str = Field(min_length=10, max_length=200)
    name: str = Name
    embodiment: str = Field("", max_length=64, pattern=TEXT)
    hardware: str = Field("", max_length=120, pattern=TEXT)
    software_version: str = Field("", max_length=64, pattern=TEXT)


@router.post("/enrollment-tokens", status_code=201)
def create_enroll_token(
    body: TokenIn, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    """A one-time token a robot exchanges for its own key (admin, or operator of the site)."""
    require(p, "admin", "operator")
    if db.get(dbm.Site, body.site_id) is None:
        raise HTTPException(404, f"site {body.site_id} not found")
    check_site(p, body.site_id)
    token = new_key("enroll")
    exp = dbm.utcnow() + dt.timedelta(seconds=body.ttl_s)
    t = dbm.EnrollToken(
        token_hash=hash_key(token),
        site_id=body.site_id,
        group=body.group,
        created_by=p.key_id,
        expires_at=exp,
    )
    db.add(t)
    db.commit()
    audit.append(db, p.label, "enroll.token", f"site:{body.site_id}", {"token_id": t.id, "group": body.group})
    return {"id": t.id, "token": token, "site_id": t.site_id, "group": t.group, "expires_at": iso(exp)}


def token_json(t: dbm.EnrollToken) -> dict:
    now = dbm.utcnow()
    state = "used" if t.used_at is not None else ("expired" if t.expires_at < now else "active")
    return {"id": t.id, "site_id": t.site_id, "group": t.group, "state": state,
            "expires_at": iso(t.expires_at), "used_at": iso(t.used_at), "robot_id": t.robot_id}


@router.get("/enrollment-tokens")
def list_enroll_tokens(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    """Enrollment tokens of the caller's sites (never the secret: only its hash is stored)."""
    require(p, "admin", "operator")
    q = select(dbm.EnrollToken).order_by(dbm.EnrollToken.id)
    return [token_json(t) for t in db.execute(q).scalars() if p.can_site(t.site_id)]


@router.post("/enrollment-tokens/{token_id}/revoke")
def revoke_enroll_token(
    token_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    """Withdraw an unused token (it expires now); a used token is left as it is (revoke the robot's key)."""
    require(p, "admin", "operator")
    t = db.get(dbm.EnrollToken, token_id)
    if t is None or not p.can_site(t.site_id):
        raise HTTPException(404, f"enrollment token {token_id} not found")
    if t.used_at is not None:
        raise HTTPException(409, f"enrollment token {token_id} was already used by robot {t.robot_id}; "
                                 "revoke that robot's key instead")
    if t.expires_at > dbm.utcnow():
        t.expires_at = dbm.utcnow()
        db.commit()
        audit.append(db, p.label, "enroll.token.revoke", f"site:{t.site_id}", {"token_id": t.id})
    return token_json(t)


@router.post("/enroll", status_code=201)
def enroll(body: EnrollIn, request: Request, db: Session = Depends(get_db)) -> dict:
    """Exchange a one-time enrollment token for a robot key. A used or expired token is refused (401)."""
    fleet: Fleet = request.app.state.fleet
    wait = fleet.anon_limiter.check(f"ip:{request.client.host if request.client else '?'}")
    if wait:
        raise too_many(wait)
    t = db.execute(
        select(dbm.EnrollToken).where(dbm.EnrollToken.token_hash == hash_key(body.token))
    ).scalar_one_or_none()
    if t is None or t.used_at is not None or t.expires_at < dbm.utcnow():
        if t is not None:
            audit.append(
                db,
                "anonymous",
                "enroll.refused",
                f"token:{t.id}",
                {"reason": "replayed" if t.used_at else "expired"},
            )
        raise HTTPException(401, "enrollment token unknown, already used or expired; ask for a new one")
    # claim the token atomically: only one request can flip used_at from NULL
    claimed = (
        db.query(dbm.EnrollToken)
        .filter(dbm.EnrollToken.id == t.id, dbm.EnrollToken.used_at.is_(None))
        .update({"used_at": dbm.utcnow()})
    )
    if claimed != 1:
        db.rollback()
        raise HTTPException(401, "enrollment token already used")
    r = dbm.Robot(
        site_id=t.site_id,
        name=body.name,
        group=t.group,
        embodiment=body.embodiment,
        hardware=body.hardware,
        software_version=body.software_version,
    )
    db.add(r)
    db.flush()
    key = new_key("robot")
    exp = dbm.utcnow() + dt.timedelta(days=fleet.cfg.robot_key_days)
    k = dbm.ApiKey(
        role="robot",
        name=body.name,
        key_hash=hash_key(key),
        prefix=key[:16],
        robot_id=r.id,
        site_ids=[t.site_id],
        expires_at=exp,
    )
    t.robot_id = r.id
    db.add(k)
    db.commit()
    audit.append(
        db, f"robot:{body.name}", "robot.enroll", f"robot:{r.id}", {"token_id": t.id, "site_id": t.site_id}
    )
    return {
        "robot_id": r.id,
        "key": key,
        "key_id": k.id,
        "site_id": r.site_id,
        "group": r.group,
        "expires_at": iso(exp),
    }


# ------------------------------------------------------------------------ robots and audit
def robot_json(r: dbm.Robot, online_s: float = 30.0) -> dict:
    now = dbm.utcnow()
    online = r.last_seen is not None and (now - r.last_seen).total_seconds() < online_s
    return {
        "id": r.id,
        "name": r.name,
        "site_id": r.site_id,
        "group": r.group,
        "embodiment": r.embodiment,
        "hardware": r.hardware,
        "software_version": r.software_version,
        "state": r.state,
        "online": online,
        "last_seen": iso(r.last_seen),
        "package_id": r.package_id,
    }


@router.get("/robots")
def list_robots(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    q = select(dbm.Robot).order_by(dbm.Robot.id)
    if p.role == "robot":
        q = q.where(dbm.Robot.id == p.robot_id)
    elif p.role == "operator":
        q = q.where(dbm.Robot.site_id.in_(p.site_ids or [-1]))
    return [robot_json(r) for r in db.execute(q).scalars()]


@router.get("/robots/me")
def robot_me(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    require(p, "robot")
    return robot_json(robot_visible(p, db.get(dbm.Robot, p.robot_id)))


@router.get("/robots/{robot_id}")
def get_robot(robot_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    return robot_json(robot_visible(p, db.get(dbm.Robot, robot_id)))


@router.get("/audit")
def list_audit(
    limit: int = 200, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> list[dict]:
    require(p, "admin")
    limit = max(1, min(limit, 5000))
    rows = db.execute(select(dbm.AuditEntry).order_by(dbm.AuditEntry.id.desc()).limit(limit)).scalars()
    return [
        {
            "id": e.id,
            "t": e.t,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
            "hash": e.hash,
            "prev_hash": e.prev_hash,
        }
        for e in rows
    ]


@router.get("/audit/verify")
def verify_audit(request: Request, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Recompute the hash chain and check it still holds the head of the signed checkpoint kept outside
    the database (truncation and rewrite-and-rehash are reported)."""
    require(p, "admin")
    return audit.verify_chain(db, request.app.state.fleet.anchor)
