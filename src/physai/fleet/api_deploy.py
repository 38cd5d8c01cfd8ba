"""Signed packages (verified on upload), deployments (site + group, canary percentage, promote, roll
back), each robot's assignment, and the fleet statistics the dashboard draws."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from physai.core.errors import PackageError
from physai.fleet import audit
from physai.fleet import db as dbm
from physai.fleet.auth import Principal
from physai.fleet.deployments import assignment_for
from physai.fleet.http import OCTET, raw_body
from physai.fleet.service import Id, check_site, get_db, iso, principal, require

router = APIRouter(prefix="/api/v1")


def package_json(k: dbm.Package) -> dict:
    return {
        "id": k.id,
        "name": k.name,
        "version": k.version,
        "sha256": k.sha256,
        "signed_by": k.signed_by,
        "embodiment": k.embodiment,
        "created_at": iso(k.created_at),
    }


@router.post("/packages", status_code=201, openapi_extra=OCTET)
def upload_package(
    request: Request,
    name: str = Query(min_length=1, max_length=120, pattern=r"^[\w.-]+$"),
    version: str = Query(min_length=1, max_length=64, pattern=r"^[\w.+-]+$"),
    body: bytes = Depends(raw_body),
    p: Principal = Depends(principal),
    db: Session = Depends(get_db),
) -> dict:
    """Upload a package folder as a tar archive; its signature and every hash are verified first."""
    from physai.fleet.storage import store_package

    require(p, "admin")
    if db.execute(
        select(dbm.Package).where(dbm.Package.name == name, dbm.Package.version == version)
    ).first():
        raise HTTPException(
            409, f"package {name} {version} already exists; packages are immutable, bump the version"
        )
    fleet = request.app.state.fleet
    root = fleet.data_dir / "packages" / f"{name}-{version}"
    try:
        facts = store_package(body, root, fleet.keys)
    except PackageError as exc:
        audit.append(db, p.label, "package.refused", f"package:{name}@{version}", {"reason": str(exc)[:300]})
        raise HTTPException(422, f"package refused: {exc}") from None
    k = dbm.Package(
        name=name,
        version=version,
        sha256=facts["sha256"],
        signed_by=facts["signed_by"] or "",
        embodiment=facts["embodiment"],
        path=str(root),
    )
    db.add(k)
    db.commit()
    audit.append(db, p.label, "package.upload", f"package:{k.id}", package_json(k))
    return package_json(k)


@router.get("/packages")
def list_packages(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    require(p, "admin", "operator")
    return [package_json(k) for k in db.execute(select(dbm.Package).order_by(dbm.Package.id)).scalars()]


@router.get("/packages/{package_id}/archive")
def package_archive(
    package_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> StreamingResponse:
    """The package folder as tar (streamed); a robot may fetch only the package it is assigned."""
    from physai.fleet.storage import tar_stream

    k = db.get(dbm.Package, package_id)
    if k is None:
        raise HTTPException(404, f"package {package_id} not found")
    if p.role == "robot":
        a = assignment_for(db, db.get(dbm.Robot, p.robot_id))
        if not a or a["package_id"] != package_id:
            raise HTTPException(404, f"package {package_id} not found")
    return StreamingResponse(tar_stream(Path(k.path)), media_type="application/x-tar")


# ------------------------------------------------------------------------ deployments
class DeploymentIn(BaseModel):
    package_id: int = Field(ge=1, le=2**31 - 1)
    site_id: int = Field(ge=1, le=2**31 - 1)
    group: str = Field("default", min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    canary_percent: int = Field(100, ge=0, le=100)


def deployment_json(d: dbm.Deployment) -> dict:
    return {
        "id": d.id,
        "package_id": d.package_id,
        "site_id": d.site_id,
        "group": d.group,
        "canary_percent": d.canary_percent,
        "state": d.state,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "history": d.history,
    }


def _deployment(p: Principal, db: Session, deployment_id: int) -> dbm.Deployment:
    require(p, "admin", "operator")
    d = db.get(dbm.Deployment, deployment_id)
    if d is None or not p.can_site(d.site_id):
        raise HTTPException(404, f"deployment {deployment_id} not found")
    return d


@router.post("/deployments", status_code=201)
def create_deployment(
    body: DeploymentIn, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    require(p, "admin", "operator")
    if db.get(dbm.Site, body.site_id) is None:
        raise HTTPException(404, f"site {body.site_id} not found")
    check_site(p, body.site_id)
    if db.get(dbm.Package, body.package_id) is None:
        raise HTTPException(404, f"package {body.package_id} not found")
    state = "promoted" if body.canary_percent >= 100 else "canary"
    d = dbm.Deployment(
        package_id=body.package_id,
        site_id=body.site_id,
        group=body.group,
        canary_percent=body.canary_percent,
        state=state,
        history=[
            {"t": iso(dbm.utcnow()), "state": state, "by": p.label, "canary_percent": body.canary_percent}
        ],
    )
    db.add(d)
    db.commit()
    audit.append(db, p.label, "deployment.create", f"deployment:{d.id}", deployment_json(d))
    return deployment_json(d)


@router.get("/deployments")
def list_deployments(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> list[dict]:
    require(p, "admin", "operator")
    return [
        deployment_json(d)
        for d in db.execute(select(dbm.Deployment).order_by(dbm.Deployment.id.desc())).scalars()
        if p.can_site(d.site_id)
    ]


def _transition(p: Principal, db: Session, deployment_id: int, state: str, allowed: tuple[str, ...]) -> dict:
    d = _deployment(p, db, deployment_id)
    if d.state not in allowed:
        raise HTTPException(409, f"deployment {d.id} is {d.state}; cannot move it to {state}")
    d.state, d.updated_at = state, dbm.utcnow()
    if state == "promoted":
        d.canary_percent = 100
    d.history = [
        *d.history,
        {"t": iso(d.updated_at), "state": state, "by": p.label, "canary_percent": d.canary_percent},
    ]
    db.commit()
    audit.append(db, p.label, f"deployment.{state}", f"deployment:{d.id}", {"package_id": d.package_id})
    return deployment_json(d)


@router.post("/deployments/{deployment_id}/promote")
def promote(deployment_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Canary -> every robot of the group."""
    return _transition(p, db, deployment_id, "promoted", ("canary",))


@router.post("/deployments/{deployment_id}/rollback")
def rollback(deployment_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Withdraw a deployment; robots fall back to the previous one of their group."""
    return _transition(p, db, deployment_id, "rolled_back", ("canary", "promoted"))


@router.get("/assignment")
def my_assignment(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    require(p, "robot")
    return {"assignment": assignment_for(db, db.get(dbm.Robot, p.robot_id))}


# ------------------------------------------------------------------------ statistics for the dashboard
@router.get("/stats")
def stats(p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Per robot: episode outcomes over time (success rate, interventions), energy and carbon; per package."""
    require(p, "admin", "operator")
    robots = {r.id: r for r in db.execute(select(dbm.Robot)).scalars() if p.can_site(r.site_id)}
    sites = {s.id: s for s in db.execute(select(dbm.Site)).scalars()}
    out_robots = []
    for rid, r in robots.items():
        rows = db.execute(
            select(dbm.Telemetry.outcome, dbm.Telemetry.interventions, dbm.Telemetry.package_id)
            .where(dbm.Telemetry.robot_id == rid, dbm.Telemetry.outcome.is_not(None))
            .order_by(dbm.Telemetry.seq)
        ).all()
        energy = db.execute(
            select(func.coalesce(func.sum(dbm.Telemetry.energy_j), 0.0)).where(dbm.Telemetry.robot_id == rid)
        ).scalar_one()
        kwh = float(energy) / 3.6e6
        carbon = kwh * (sites[r.site_id].carbon_g_per_kwh if r.site_id in sites else 0.0)
        out_robots.append(
            {
                "robot_id": rid,
                "name": r.name,
                "site_id": r.site_id,
                "outcomes": [1 if o == "success" else 0 for o, _, _ in rows],
                "interventions": [int(i) for _, i, _ in rows],
                "packages": [pk for _, _, pk in rows],
                "energy_j": float(energy),
                "energy_kwh": kwh,
                "carbon_g": carbon,
            }
        )
    by_pkg: dict = {}
    for rr in out_robots:
        for o, i, pk in zip(rr["outcomes"], rr["interventions"], rr["packages"], strict=True):
            b = by_pkg.setdefault(str(pk), {"episodes": 0, "successes": 0, "interventions": 0})
            b["episodes"] += 1
            b["successes"] += o
            b["interventions"] += i
    return {"robots": out_robots, "packages": by_pkg}
