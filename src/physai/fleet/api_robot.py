"""Robot traffic: heartbeats, batched telemetry (deduplicated by sequence number), chunked resumable
episode uploads (sha256 per chunk and per archive; stored as LeRobot v3), and the episode browser."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from physai.fleet import db as dbm
from physai.fleet.auth import Principal
from physai.fleet.service import (
    ChunkIndex,
    Fleet,
    Id,
    OptionalId,
    get_db,
    iso,
    principal,
    require,
    robot_visible,
)

router = APIRouter(prefix="/api/v1")
OCTET = {
    "requestBody": {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "required": True,
    }
}


async def raw_body(request: Request) -> bytes:
    return await request.body()


def _fleet(request: Request) -> Fleet:
    return request.app.state.fleet


# ------------------------------------------------------------------------ heartbeat and telemetry
Text = r"^[^\x00-\x1f\x7f]*$"
"""Free text: no control characters (PostgreSQL refuses NUL; logs and the dashboard need none)."""
MAX_CHUNKS = 1 << 16
"""Most chunks one upload may have (bounds the bookkeeping of `received`)."""


class HeartbeatIn(BaseModel):
    state: str = Field("idle", max_length=32, pattern=r"^[\w-]*$")
    software_version: str | None = Field(None, max_length=64, pattern=Text)
    package_id: int | None = Field(None, ge=1, le=2**31 - 1)


class TelemetryMsg(BaseModel):
    seq: int = Field(ge=0, le=2**31 - 1)
    t: dt.datetime
    state: str = Field("", max_length=32, pattern=Text)
    interventions: int = Field(0, ge=0, le=10**6)
    outcome: str | None = Field(None, pattern="^(success|failure)$")
    energy_j: float = Field(0.0, ge=0, le=1e9, allow_inf_nan=False)
    package_id: int | None = Field(None, ge=1, le=2**31 - 1)

    @field_validator("t")
    @classmethod
    def _utc(cls, t: dt.datetime) -> dt.datetime:
        """Stored as naive UTC; a time whose UTC value falls outside years 1..9999 is refused (422)."""
        try:
            return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t
        except OverflowError:
            raise ValueError(f"time {t.isoformat()} is out of range in UTC") from None


class TelemetryIn(BaseModel):
    messages: list[TelemetryMsg] = Field(max_length=5000)


@router.post("/heartbeat")
def heartbeat(body: HeartbeatIn, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Mark the robot alive; returns its current package assignment."""
    from physai.fleet.api_deploy import assignment_for

    require(p, "robot")
    r = robot_visible(p, db.get(dbm.Robot, p.robot_id))
    r.last_seen, r.state = dbm.utcnow(), body.state
    if body.software_version:
        r.software_version = body.software_version
    if body.package_id:
        r.package_id = body.package_id
    db.commit()
    return {"ok": True, "assignment": assignment_for(db, r)}


@router.post("/telemetry")
def telemetry(body: TelemetryIn, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Store a batch; messages whose (robot, seq) is already stored count as duplicates, not errors."""
    require(p, "robot")
    r = robot_visible(p, db.get(dbm.Robot, p.robot_id))
    seqs = sorted({m.seq for m in body.messages})
    have: set[int] = set()
    for i in range(0, len(seqs), 500):
        part = seqs[i : i + 500]
        have |= set(
            db.execute(
                select(dbm.Telemetry.seq).where(dbm.Telemetry.robot_id == r.id, dbm.Telemetry.seq.in_(part))
            ).scalars()
        )
    new, seen = [], set(have)
    for m in body.messages:
        if m.seq in seen:
            continue
        seen.add(m.seq)
        new.append(
            {
                "robot_id": r.id,
                "seq": m.seq,
                "t": m.t,
                "state": m.state,
                "interventions": m.interventions,
                "outcome": m.outcome,
                "energy_j": m.energy_j,
                "package_id": m.package_id,
            }
        )
    if new:
        db.execute(dbm.Telemetry.__table__.insert(), new)
    r.last_seen = dbm.utcnow()
    if body.messages:
        r.state = body.messages[-1].state or r.state
    db.commit()
    return {"accepted": len(new), "duplicates": len(body.messages) - len(new)}


@router.get("/robots/{robot_id}/telemetry")
def get_telemetry(
    robot_id: Id, limit: int = 500, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    r = robot_visible(p, db.get(dbm.Robot, robot_id))
    limit = max(1, min(limit, 100_000))
    rows = (
        db.execute(
            select(dbm.Telemetry)
            .where(dbm.Telemetry.robot_id == r.id)
            .order_by(dbm.Telemetry.seq.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
    count = db.query(dbm.Telemetry).filter(dbm.Telemetry.robot_id == r.id).count()
    return {
        "robot_id": r.id,
        "count": count,
        "messages": [
            {
                "seq": m.seq,
                "t": iso(m.t),
                "state": m.state,
                "interventions": m.interventions,
                "outcome": m.outcome,
                "energy_j": m.energy_j,
                "package_id": m.package_id,
            }
            for m in reversed(rows)
        ],
    }


# ------------------------------------------------------------------------ uploads
class UploadIn(BaseModel):
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    size: int = Field(gt=0, le=1 << 34)
    chunk_size: int = Field(1 << 20, ge=1024, le=8 << 20)
    task: str = Field("", max_length=120, pattern=Text)
    success: bool = False
    interventions: int = Field(0, ge=0, le=10**6)
    energy_j: float = Field(0.0, ge=0, le=1e12, allow_inf_nan=False)
    package_id: int | None = Field(None, ge=1, le=2**31 - 1)

    @model_validator(mode="after")
    def _chunks(self) -> UploadIn:
        n = -(-self.size // self.chunk_size)
        if n > MAX_CHUNKS:
            raise ValueError(f"{n} chunks of {self.chunk_size} bytes; at most {MAX_CHUNKS}: larger chunks")
        return self


def _n_chunks(u: dbm.Upload) -> int:
    return -(-u.size // u.chunk_size)


def upload_json(u: dbm.Upload) -> dict:
    return {
        "id": u.id,
        "sha256": u.sha256,
        "size": u.size,
        "chunk_size": u.chunk_size,
        "chunks": _n_chunks(u),
        "received": sorted(u.received or []),
        "episode_id": u.episode_id,
    }


def _upload_of(p: Principal, db: Session, upload_id: int) -> dbm.Upload:
    require(p, "robot")
    u = db.get(dbm.Upload, upload_id)
    if u is None or u.robot_id != p.robot_id:
        raise HTTPException(404, f"upload {upload_id} not found")
    return u


@router.post("/uploads", status_code=201)
def start_upload(
    body: UploadIn, request: Request, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    """Start (or resume: same robot and sha256) an episode upload; `received` lists finished chunks."""
    require(p, "robot")
    u = (
        db.execute(
            select(dbm.Upload).where(dbm.Upload.robot_id == p.robot_id, dbm.Upload.sha256 == body.sha256)
        )
        .scalars()
        .first()
    )
    if u is None:
        u = dbm.Upload(
            robot_id=p.robot_id,
            sha256=body.sha256,
            size=body.size,
            chunk_size=body.chunk_size,
            received=[],
            meta=body.model_dump(exclude={"sha256", "size", "chunk_size"}),
        )
        db.add(u)
        db.commit()
    return upload_json(u)


@router.get("/uploads/{upload_id}")
def get_upload(upload_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    return upload_json(_upload_of(p, db, upload_id))


@router.put("/uploads/{upload_id}/chunks/{index}", openapi_extra=OCTET)
def put_chunk(
    upload_id: Id,
    index: ChunkIndex,
    request: Request,
    body: bytes = Depends(raw_body),
    p: Principal = Depends(principal),
    db: Session = Depends(get_db),
) -> dict:
    """One chunk; header `X-Chunk-Sha256` must match. Re-sending a finished chunk is a no-op."""
    u = _upload_of(p, db, upload_id)
    n = _n_chunks(u)
    if not 0 <= index < n:
        raise HTTPException(422, f"chunk index {index} out of range 0..{n - 1}")
    want = u.chunk_size if index < n - 1 else u.size - u.chunk_size * (n - 1)
    if len(body) != want:
        raise HTTPException(422, f"chunk {index} has {len(body)} bytes, expected {want}")
    if hashlib.sha256(body).hexdigest() != request.headers.get("x-chunk-sha256", ""):
        raise HTTPException(422, f"chunk {index} does not match its X-Chunk-Sha256 header; re-send it")
    if index in (u.received or []):
        return upload_json(u)
    part = _fleet(request).data_dir / "uploads" / f"{u.id}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    with open(part, "r+b" if part.exists() else "wb") as f:
        f.seek(index * u.chunk_size)
        f.write(body)
    u.received = sorted({*(u.received or []), index})
    db.commit()
    return upload_json(u)


@router.post("/uploads/{upload_id}/complete")
def complete_upload(
    upload_id: Id, request: Request, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    """Check the whole archive's sha256, store it as a LeRobot v3 dataset, register the episode."""
    from physai.fleet.storage import store_episode

    u = _upload_of(p, db, upload_id)
    if u.episode_id is not None:
        return {"episode_id": u.episode_id, "upload": upload_json(u)}
    missing = sorted(set(range(min(_n_chunks(u), MAX_CHUNKS))) - set(u.received or []))
    if missing:
        raise HTTPException(409, f"upload {u.id} is missing chunks {missing[:20]}; send them first")
    fleet = _fleet(request)
    part = fleet.data_dir / "uploads" / f"{u.id}.part"
    data = part.read_bytes()
    if hashlib.sha256(data).hexdigest() != u.sha256:
        u.received = []
        db.commit()
        raise HTTPException(422, f"upload {u.id}: archive sha256 does not match; all chunks must be re-sent")
    dest = fleet.data_dir / "episodes" / f"r{u.robot_id}-u{u.id}"
    shutil.rmtree(dest, ignore_errors=True)
    facts = store_episode(data, dest)
    m = u.meta or {}
    e = dbm.Episode(
        robot_id=u.robot_id,
        package_id=m.get("package_id"),
        task=m.get("task", ""),
        success=bool(m.get("success")),
        interventions=int(m.get("interventions", 0)),
        energy_j=float(m.get("energy_j", 0.0)),
        frames=facts["frames"],
        sha256=u.sha256,
        path=str(dest),
        video=facts["video"],
    )
    db.add(e)
    db.flush()
    u.episode_id = e.id
    db.commit()
    part.unlink(missing_ok=True)
    return {"episode_id": e.id, "upload": upload_json(u)}


# ------------------------------------------------------------------------ episodes
def episode_json(e: dbm.Episode) -> dict:
    return {
        "id": e.id,
        "robot_id": e.robot_id,
        "package_id": e.package_id,
        "task": e.task,
        "success": e.success,
        "interventions": e.interventions,
        "frames": e.frames,
        "energy_j": e.energy_j,
        "sha256": e.sha256,
        "has_video": e.video is not None,
        "created_at": iso(e.created_at),
    }


def _episode(p: Principal, db: Session, episode_id: int) -> dbm.Episode:
    e = db.get(dbm.Episode, episode_id)
    if e is None:
        raise HTTPException(404, f"episode {episode_id} not found")
    try:
        robot_visible(p, db.get(dbm.Robot, e.robot_id))
    except HTTPException:
        raise HTTPException(404, f"episode {episode_id} not found") from None
    return e


@router.get("/episodes")
def list_episodes(
    robot_id: OptionalId = None,
    only_failures: bool = False,
    limit: int = 200,
    p: Principal = Depends(principal),
    db: Session = Depends(get_db),
) -> list[dict]:
    """Episodes the caller may see; `only_failures`: failed or with safety interventions."""
    q = select(dbm.Episode, dbm.Robot).join(dbm.Robot, dbm.Robot.id == dbm.Episode.robot_id)
    if robot_id is not None:
        q = q.where(dbm.Episode.robot_id == robot_id)
    if p.role == "robot":
        q = q.where(dbm.Episode.robot_id == p.robot_id)
    elif p.role == "operator":
        q = q.where(dbm.Robot.site_id.in_(p.site_ids or [-1]))
    if only_failures:
        q = q.where((dbm.Episode.success.is_(False)) | (dbm.Episode.interventions > 0))
    q = q.order_by(dbm.Episode.id.desc()).limit(max(1, min(limit, 10_000)))
    return [episode_json(e) for e, _ in db.execute(q).all()]


@router.get("/episodes/{episode_id}")
def get_episode(episode_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    return episode_json(_episode(p, db, episode_id))


@router.get("/episodes/{episode_id}/archive")
def episode_archive(
    episode_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> Response:
    """The episode as a tar of its LeRobot v3 dataset folder."""
    from pathlib import Path

    from physai.fleet.storage import tar_dir

    e = _episode(p, db, episode_id)
    return Response(tar_dir(Path(e.path)), media_type="application/x-tar")


@router.get("/episodes/{episode_id}/video")
def episode_video(episode_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)):
    from pathlib import Path

    e = _episode(p, db, episode_id)
    if not e.video:
        raise HTTPException(404, f"episode {episode_id} has no camera video")
    return FileResponse(Path(e.path) / e.video, media_type="video/mp4")
