"""Read ROS 2 logs: a bare MCAP file (physai, Foxglove, `ros2 bag` with mcap storage) or a rosbag2 folder
(sqlite3 or mcap storage), as (topic, type, log time ns, decoded message).

A bare MCAP file is read as a stream, so a file cut short (a crash while recording) yields every message
up to its last complete chunk; `BagContents.truncated` says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from physai.core.errors import ConfigError, DatasetError
from physai.field import rosmsg

KINDS = ("mcap", "rosbag2")


@dataclass
class BagContents:
    """What one pass over a bag found."""

    topics: dict[str, str] = field(default_factory=dict)
    """Topic -> ROS 2 type of every topic in the bag."""
    truncated: str | None = None
    """Why reading stopped early (a cut-short MCAP), else None."""


def detect_kind(path: Path) -> str:
    """'mcap' for a .mcap file, 'rosbag2' for a folder with metadata.yaml."""
    if path.is_file():
        return "mcap"
    if path.is_dir() and (path / "metadata.yaml").exists():
        return "rosbag2"
    raise ConfigError(f"{path} is neither an .mcap file nor a rosbag2 folder (with metadata.yaml)")


def topics(path: Path, kind: str) -> dict[str, str]:
    """Topic -> type of a bag, without decoding messages."""
    if kind == "rosbag2":
        with _rosbag2(path) as r:
            return {c.topic: rosmsg.full_type(c.msgtype) for c in r.connections}
    contents = BagContents()
    for _ in _mcap_records(path, contents, decode=False, wanted=None):
        pass
    return contents.topics


def messages(
    path: Path, kind: str, wanted: set[str], contents: BagContents
) -> Iterator[tuple[str, str, int, Any]]:
    """(topic, type, log time ns, message) of the `wanted` topics in log-time order (per file)."""
    if kind not in KINDS:
        raise ConfigError(f"bag kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind == "mcap":
        yield from _mcap_records(path, contents, decode=True, wanted=wanted)
        return
    with _rosbag2(path) as r:
        contents.topics.update({c.topic: rosmsg.full_type(c.msgtype) for c in r.connections})
        conns = [c for c in r.connections if c.topic in wanted]
        for c in conns:
            if c.msgdef and rosmsg.full_type(c.msgtype) not in rosmsg.typestore().types:
                rosmsg.register_schema(
                    c.msgtype, c.msgdef.data if hasattr(c.msgdef, "data") else str(c.msgdef)
                )
        for conn, t, raw in r.messages(connections=conns):
            mt = rosmsg.full_type(conn.msgtype)
            yield conn.topic, mt, int(t), rosmsg.deserialize(raw, mt)


def _rosbag2(path: Path):
    from rosbags.rosbag2 import Reader

    try:
        r = Reader(path)
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable rosbag2 folder: {exc}") from None
    return r


def _mcap_records(path: Path, contents: BagContents, decode: bool, wanted: set[str] | None):
    try:
        from mcap.records import Channel, Message, Schema
        from mcap.stream_reader import StreamReader
    except ModuleNotFoundError:
        raise ConfigError("reading MCAP needs the mcap package; pip install 'physai[field]'") from None
    schemas: dict[int, Any] = {}
    channels: dict[int, Any] = {}
    n = 0
    with open(path, "rb") as f:
        reader = StreamReader(f, skip_magic=False, emit_chunks=False)
        try:
            for rec in reader.records:
                if isinstance(rec, Schema):
                    schemas[rec.id] = rec
                elif isinstance(rec, Channel):
                    channels[rec.id] = rec
                    sch = schemas.get(rec.schema_id)
                    contents.topics[rec.topic] = rosmsg.full_type(sch.name) if sch else "(no schema)"
                elif isinstance(rec, Message) and decode:
                    ch = channels.get(rec.channel_id)
                    if ch is None or (wanted is not None and ch.topic not in wanted):
                        continue
                    sch = schemas[ch.schema_id]
                    if (
                        ch.message_encoding != rosmsg.MESSAGE_ENCODING
                        or sch.encoding != rosmsg.SCHEMA_ENCODING
                    ):
                        raise DatasetError(
                            f"{path}: topic {ch.topic} is {ch.message_encoding}/{sch.encoding}; only ROS 2 "
                            "messages (cdr/ros2msg) can be converted"
                        )
                    mt = rosmsg.full_type(sch.name)
                    if mt not in rosmsg.typestore().types:
                        rosmsg.register_schema(mt, sch.data.decode())
                    n += 1
                    yield ch.topic, mt, int(rec.log_time), rosmsg.deserialize(rec.data, mt)
        except (EOFError, ValueError, Exception) as exc:
            if isinstance(exc, (ConfigError, DatasetError)):
                raise
            if not contents.topics:
                raise DatasetError(
                    f"{path}: not a readable MCAP file ({type(exc).__name__}: {exc})"
                ) from None
            contents.truncated = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
