"""Deployment queries: which package a robot should run (promoted or canary membership) and which
packages it has ever been assigned."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from physai.fleet import db as dbm


def in_canary(deployment_id: int, robot_id: int, percent: int) -> bool:
    """Stable membership: the same robot stays in (or out of) a deployment's canary group."""
    h = int(hashlib.sha256(f"{deployment_id}:{robot_id}".encode()).hexdigest()[:8], 16) % 100
    return h < percent


def assignment_for(db: Session, robot: dbm.Robot | None) -> dict | None:
    """The package a robot should run: the newest deployment of its site and group that is promoted, or a
    canary it is part of; rolled-back deployments are skipped (so the previous one applies again)."""
    if robot is None:
        return None
    q = (
        select(dbm.Deployment)
        .where(dbm.Deployment.site_id == robot.site_id, dbm.Deployment.group == robot.group)
        .order_by(dbm.Deployment.id.desc())
    )
    for d in db.execute(q).scalars():
        if d.state in ("rolled_back",):
            continue
        if d.state == "canary" and not in_canary(d.id, robot.id, d.canary_percent):
            continue
        k = db.get(dbm.Package, d.package_id)
        if k is None:  # the package row is gone (the foreign key forbids it): nothing to run from here
            continue
        return {
            "deployment_id": d.id,
            "package_id": k.id,
            "name": k.name,
            "version": k.version,
            "sha256": k.sha256,
            "state": d.state,
        }
    return None


def packages_assigned(db: Session, robot: dbm.Robot) -> set[int]:
    """Every package this robot has been assigned at some time: deployments of its site and group that
    were promoted, or canaries it was part of (rolled back later or not)."""
    q = select(dbm.Deployment).where(
        dbm.Deployment.site_id == robot.site_id, dbm.Deployment.group == robot.group
    )
    out = set()
    for d in db.execute(q).scalars():
        hist = d.history or []
        pct = max([int(h.get("canary_percent", 0)) for h in hist] + [d.canary_percent])
        if any(h.get("state") == "promoted" for h in hist) or in_canary(d.id, robot.id, pct):
            out.add(d.package_id)
    return out
