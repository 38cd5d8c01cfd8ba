"""Database of the fleet service: SQLAlchemy 2 models, engine set-up and Alembic migrations.

SQLite (a file, zero set-up) by default; PostgreSQL by URL (`postgresql+psycopg://user@host/db`).
The schema is created and upgraded only through the Alembic migrations in `physai/fleet/migrations`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    carbon_g_per_kwh: Mapped[float] = mapped_column(Float, default=400.0)


class ApiKey(Base):
    """A credential: admin, operator (limited to `site_ids`) or robot (limited to itself)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(24))
    robot_id: Mapped[int | None] = mapped_column(ForeignKey("robots.id"), nullable=True, index=True)
    site_ids: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Robot(Base):
    __tablename__ = "robots"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    group: Mapped[str] = mapped_column(String(64), default="default")
    embodiment: Mapped[str] = mapped_column(String(64), default="")
    hardware: Mapped[str] = mapped_column(String(120), default="")
    software_version: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(32), default="enrolled")
    package_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class EnrollToken(Base):
    __tablename__ = "enroll_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    group: Mapped[str] = mapped_column(String(64), default="default")
    created_by: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    robot_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Telemetry(Base):
    """One telemetry message; (robot_id, agent_id, epoch, seq) is unique so a re-sent batch is never stored
    twice, while a re-installed agent (new agent_id or epoch, seq from 0 again) is not taken for one."""

    __tablename__ = "telemetry"
    __table_args__ = (
        UniqueConstraint("robot_id", "agent_id", "epoch", "seq", name="uq_telemetry_robot_agent_epoch_seq"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id"), index=True)
    agent_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seq: Mapped[int] = mapped_column(Integer)
    t: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    state: Mapped[str] = mapped_column(String(32), default="")
    interventions: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    package_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Upload(Base):
    """A chunked, resumable episode upload: `open` (taking chunks), `completing` (claimed by one
    completion request), `done` (episode stored). Its finished chunks are rows of `upload_chunks`."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    episode_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class UploadChunk(Base):
    """One received chunk of an upload; the primary key makes recording a chunk one atomic INSERT, so
    concurrent PUTs can neither lose nor double-count one."""

    __tablename__ = "upload_chunks"
    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)


class Episode(Base):
    """A field episode stored as a one-episode LeRobot v3 dataset under the storage folder."""

    __tablename__ = "episodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    robot_id: Mapped[int] = mapped_column(ForeignKey("robots.id"), index=True)
    package_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    task: Mapped[str] = mapped_column(String(120), default="")
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    interventions: Mapped[int] = mapped_column(Integer, default=0)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    path: Mapped[str] = mapped_column(Text)
    video: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_package_name_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(32))
    embodiment: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Deployment(Base):
    """A package assigned to (site, group); canary -> promoted, or rolled_back."""

    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    group: Mapped[str] = mapped_column(String(64), default="default")
    canary_percent: Mapped[int] = mapped_column(Integer, default=100)
    state: Mapped[str] = mapped_column(String(16), default="canary")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    history: Mapped[list] = mapped_column(JSON, default=list)


class AuditEntry(Base):
    """Append-only, hash-chained record of a privileged action."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    t: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(160))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        # as many connections as request worker threads (40), so none waits for a connection
        memory = url in ("sqlite://", "sqlite:///:memory:")
        pool = {} if memory else {"pool_size": 10, "max_overflow": 40}
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(eng, "connect")
        def _pragmas(conn, _rec) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return eng
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema with the packaged Alembic migrations."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def session_factory(engine: Engine, anchor: object | None = None) -> sessionmaker:
    """Sessions on `engine`; `anchor` (an `audit.Anchor`) is what their audit appends count towards."""
    return sessionmaker(engine, expire_on_commit=False, info={"audit_anchor": anchor} if anchor else {})
