"""Robot traffic: heartbeats, batched telemetry (deduplicated by sequence number), chunked resumable
episode uploads (sha256 per chunk and per archive; stored as LeRobot v3), and the episode browser."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from physai.core.errors import PhysaiError
from physai.fleet import db as dbm
from physai.fleet.auth import Principal
from physai.fleet.http import OCTET, raw_body
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
    agent_id: str = Field("", max_length=64, pattern=r"^[\w.-]*$")
    """The agent installation that numbered this message ('' for agents that predate it)."""
    epoch: int = Field(0, ge=0, le=2**31 - 1)
    """The agent's numbering epoch: a new one restarts `seq` without the messages counting as re-sends."""
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
    from physai.fleet.deployments import assignment_for

    require(p, "robot")
    r = robot_visible(p, db.get(dbm.Robot, p.robot_id))
    r.last_seen, r.state = dbm.utcnow(), body.state
    if body.software_version:
        r.software_version = body.software_version
    if body.package_id:
        refuse_foreign_packages(db, r, {body.package_id}, "heartbeat")
        r.package_id = body.package_id
    db.commit()
    return {"ok": True, "assignment": assignment_for(db, r)}


def refuse_foreign_packages(db: Session, r: dbm.Robot, named: set[int], what: str) -> None:
    """422 if `named` holds a package this robot was never assigned (a robot cannot credit its telemetry
    or episodes to another package)."""
    from physai.fleet.deployments import packages_assigned

    foreign = sorted(named - packages_assigned(db, r))
    if foreign:
        raise HTTPException(
            422,
            f"{what} names package(s) {foreign[:20]}, never assigned to robot {r.id}; "
            f"report only the package the service assigned",
        )


@router.post("/telemetry")
def telemetry(body: TelemetryIn, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    """Store a batch; a message whose (robot, agent_id, epoch, seq) is already stored counts as a
    duplicate, not an error. Messages naming a package the robot was never assigned are refused (422)."""
    require(p, "robot")
    r = robot_visible(p, db.get(dbm.Robot, p.robot_id))
    named = {m.package_id for m in body.messages if m.package_id is not None}
    if named:
        refuse_foreign_packages(db, r, named, "telemetry")
    for attempt in range(3):
        try:
            return _store_telemetry(db, r, body.messages)
        except IntegrityError:  # a concurrent batch stored some of the same messages first: count again
            db.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _store_telemetry(db: Session, r: dbm.Robot, messages: list[TelemetryMsg]) -> dict:
    by_epoch: dict[tuple[str, int], set[int]] = {}
    for m in messages:
        by_epoch.setdefault((m.agent_id, m.epoch), set()).add(m.seq)
    have: set[tuple[str, int, int]] = set()
    for (agent, epoch), seqs in by_epoch.items():
        ordered = sorted(seqs)
        for i in range(0, len(ordered), 500):
            part = ordered[i : i + 500]
            q = select(dbm.Telemetry.seq).where(
                dbm.Telemetry.robot_id == r.id,
                dbm.Telemetry.agent_id == agent,
                dbm.Telemetry.epoch == epoch,
                dbm.Telemetry.seq.in_(part),
            )
            have |= {(agent, epoch, s) for s in db.execute(q).scalars()}
    new, seen = [], set(have)
    for m in messages:
        k = (m.agent_id, m.epoch, m.seq)
        if k in seen:
            continue
        seen.add(k)
        new.append(
            {
                "robot_id": r.id,
                "agent_id": m.agent_id,
                "epoch": m.epoch,
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
    if messages:
        r.state = messages[-1].state or r.state
    db.commit()
    return {"accepted": len(new), "duplicates": len(messages) - len(new)}


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
            .order_by(dbm.Telemetry.id.desc())
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
                "agent_id": m.agent_id,
                "epoch": m.epoch,
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


def _received(db: Session, u: dbm.Upload) -> list[int]:
    if u.state == "done":
        return list(range(_n_chunks(u)))
    q = select(dbm.UploadChunk.idx).where(dbm.UploadChunk.upload_id == u.id).order_by(dbm.UploadChunk.idx)
    return list(db.execute(q).scalars())


def upload_json(db: Session, u: dbm.Upload) -> dict:
    return {
        "id": u.id,
        "sha256": u.sha256,
        "size": u.size,
        "chunk_size": u.chunk_size,
        "chunks": _n_chunks(u),
        "received": _received(db, u),
        "state": u.state,
        "episode_id": u.episode_id,
    }


def _upload_of(p: Principal, db: Session, upload_id: int) -> dbm.Upload:
    require(p, "robot")
    u = db.get(dbm.Upload, upload_id)
    if u is None or u.robot_id != p.robot_id:
        raise HTTPException(404, f"upload {upload_id} not found")
    return u


def _part(fleet: Fleet, u: dbm.Upload) -> Path:
    return fleet.data_dir / "uploads" / f"{u.id}.part"


def storage_used(db: Session, robot_id: int) -> int:
    """Bytes a robot holds: its stored episodes plus its unfinished uploads (declared sizes)."""
    eps = db.execute(
        select(func.coalesce(func.sum(dbm.Episode.size), 0)).where(dbm.Episode.robot_id == robot_id)
    ).scalar_one()
    ups = db.execute(
        select(func.coalesce(func.sum(dbm.Upload.size), 0)).where(
            dbm.Upload.robot_id == robot_id, dbm.Upload.state != "done"
        )
    ).scalar_one()
    return int(eps) + int(ups)


@router.post("/uploads", status_code=201)
def start_upload(
    body: UploadIn, request: Request, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    """Start (or resume: same robot and sha256) an episode upload; `received` lists finished chunks.
    A declared size over `max_upload_bytes`, or past the robot's storage quota, is refused (413)."""
    require(p, "robot")
    fleet = _fleet(request)
    u = (
        db.execute(
            select(dbm.Upload).where(dbm.Upload.robot_id == p.robot_id, dbm.Upload.sha256 == body.sha256)
        )
        .scalars()
        .first()
    )
    if u is not None:
        return upload_json(db, u)
    if body.size > fleet.cfg.max_upload_bytes:
        raise HTTPException(
            413, f"upload of {body.size} bytes exceeds the limit of {fleet.cfg.max_upload_bytes} bytes"
        )
    fleet.reap_uploads(orphans=False)
    used = storage_used(db, p.robot_id)
    if used + body.size > fleet.cfg.robot_quota_bytes:
        raise HTTPException(
            413,
            f"storage quota of robot {p.robot_id} exceeded: {used} bytes held + {body.size} > "
            f"{fleet.cfg.robot_quota_bytes}; ask an operator to free space or raise robot_quota_bytes",
        )
    if body.package_id is not None:
        refuse_foreign_packages(db, db.get(dbm.Robot, p.robot_id), {body.package_id}, "upload")
    now = fleet.clock()
    u = dbm.Upload(
        robot_id=p.robot_id,
        sha256=body.sha256,
        size=body.size,
        chunk_size=body.chunk_size,
        meta=body.model_dump(exclude={"sha256", "size", "chunk_size"}),
        state="open",
        created_at=now,
        updated_at=now,
    )
    db.add(u)
    db.commit()
    return upload_json(db, u)


@router.get("/uploads/{upload_id}")
def get_upload(upload_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)) -> dict:
    return upload_json(db, _upload_of(p, db, upload_id))


@router.put("/uploads/{upload_id}/chunks/{index}", openapi_extra=OCTET)
def put_chunk(
    upload_id: Id,
    index: ChunkIndex,
    request: Request,
    body: bytes = Depends(raw_body),
    p: Principal = Depends(principal),
    db: Session = Depends(get_db),
) -> dict:
    """One chunk; header `X-Chunk-Sha256` must match. Re-sending a finished chunk is a no-op. The chunk
    is written at its offset of the part file and recorded by one INSERT (primary key upload+index), so
    concurrent chunks of one upload are all recorded."""
    u = _upload_of(p, db, upload_id)
    if u.state == "done":
        return upload_json(db, u)
    if u.state != "open":
        raise HTTPException(409, f"upload {u.id} is being completed; wait for that to finish")
    n = _n_chunks(u)
    if not 0 <= index < n:
        raise HTTPException(422, f"chunk index {index} out of range 0..{n - 1}")
    want = u.chunk_size if index < n - 1 else u.size - u.chunk_size * (n - 1)
    if len(body) != want:
        raise HTTPException(422, f"chunk {index} has {len(body)} bytes, expected {want}")
    if hashlib.sha256(body).hexdigest() != request.headers.get("x-chunk-sha256", ""):
        raise HTTPException(422, f"chunk {index} does not match its X-Chunk-Sha256 header; re-send it")
    got = select(dbm.UploadChunk.idx).where(dbm.UploadChunk.upload_id == u.id, dbm.UploadChunk.idx == index)
    if db.execute(got).first() is None:
        fleet = _fleet(request)
        part = _part(fleet, u)
        part.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)  # never truncates: other chunks may be in
        try:
            os.pwrite(fd, body, index * u.chunk_size)
        finally:
            os.close(fd)
        db.add(dbm.UploadChunk(upload_id=u.id, idx=index))
        db.execute(update(dbm.Upload).where(dbm.Upload.id == u.id).values(updated_at=fleet.clock()))
        try:
            db.commit()
        except IntegrityError:  # recorded meanwhile by a concurrent PUT of the same chunk (same bytes)
            db.rollback()
            if db.get(dbm.Upload, upload_id) is None:  # removed meanwhile (abandoned or failed)
                part.unlink(missing_ok=True)
                raise HTTPException(404, f"upload {upload_id} not found") from None
    return upload_json(db, u)


@router.post("/uploads/{upload_id}/complete")
def complete_upload(
    upload_id: Id, request: Request, p: Principal = Depends(principal), db: Session = Depends(get_db)
) -> dict:
    """Check the whole archive's sha256, store it as a LeRobot v3 dataset, register the episode. The
    archive is hashed and extracted streaming from its part file. A wrong hash removes the chunks (send
    them again); an archive that is not a well-formed episode removes the upload (422)."""
    from physai.fleet.service import drop_upload
    from physai.fleet.storage import sha256_file, store_episode

    u = _upload_of(p, db, upload_id)
    if u.state == "done":
        return {"episode_id": u.episode_id, "upload": upload_json(db, u)}
    n = _n_chunks(u)
    have = _received(db, u)
    if len(have) < n:
        missing = sorted(set(range(min(n, MAX_CHUNKS))) - set(have))
        raise HTTPException(409, f"upload {u.id} is missing chunks {missing[:20]}; send them first")
    fleet = _fleet(request)
    claimed = db.execute(
        update(dbm.Upload)
        .where(dbm.Upload.id == u.id, dbm.Upload.state == "open")
        .values(state="completing", updated_at=fleet.clock())
    ).rowcount
    db.commit()
    if claimed != 1:
        raise HTTPException(409, f"upload {u.id} is already being completed")
    part = _part(fleet, u)
    dest = fleet.data_dir / "episodes" / f"r{u.robot_id}-u{u.id}"
    try:
        if not part.exists() or sha256_file(part) != u.sha256:
            db.execute(delete(dbm.UploadChunk).where(dbm.UploadChunk.upload_id == u.id))
            db.execute(update(dbm.Upload).where(dbm.Upload.id == u.id).values(state="open"))
            db.commit()
            part.unlink(missing_ok=True)
            raise HTTPException(
                422, f"upload {u.id}: archive sha256 does not match; all chunks must be re-sent"
            )
        shutil.rmtree(dest, ignore_errors=True)
        facts = store_episode(part, dest, limit=fleet.cfg.max_upload_bytes)
    except PhysaiError:
        db.rollback()
        gone = db.get(dbm.Upload, u.id)
        if gone is not None:
            drop_upload(db, gone, fleet.data_dir / "uploads")
            db.commit()
        part.unlink(missing_ok=True)
        raise
    except HTTPException:
        raise
    except BaseException:
        db.rollback()
        db.execute(update(dbm.Upload).where(dbm.Upload.id == u.id).values(state="open"))
        db.commit()
        raise
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
        size=u.size,
        path=str(dest),
        video=facts["video"],
    )
    db.add(e)
    db.flush()
    db.execute(delete(dbm.UploadChunk).where(dbm.UploadChunk.upload_id == u.id))
    db.execute(update(dbm.Upload).where(dbm.Upload.id == u.id).values(episode_id=e.id, state="done"))
    db.commit()
    db.refresh(u)
    part.unlink(missing_ok=True)
    return {"episode_id": e.id, "upload": upload_json(db, u)}


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
) -> StreamingResponse:
    """The episode as a tar of its LeRobot v3 dataset folder (streamed)."""
    from physai.fleet.storage import tar_stream

    e = _episode(p, db, episode_id)
    return StreamingResponse(tar_stream(Path(e.path)), media_type="application/x-tar")


@router.get("/episodes/{episode_id}/video")
def episode_video(episode_id: Id, p: Principal = Depends(principal), db: Session = Depends(get_db)):
    e = _episode(p, db, episode_id)
    if not e.video:
        raise HTTPException(404, f"episode {episode_id} has no camera video")
    return FileResponse(Path(e.path) / e.video, media_type="video/mp4")
