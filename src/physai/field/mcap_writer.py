"""`SessionMcap`: a physai session (observations, actions, interventions, timing) as ROS 2 messages in MCAP.

Topics (all `ros2msg` schemas, `cdr` messages, stamps and log times in wall-clock nanoseconds):

| topic | type | content |
|---|---|---|
| `/joint_states` | sensor_msgs/JointState | measured robot joints (names from the robot's limits) |
| `/physai/observation/state` | sensor_msgs/JointState | the policy's state vector, one named element each |
| `/physai/observation/images/<cam>` | sensor_msgs/Image | camera frames, rgb8 |
| `/physai/action/proposed` | sensor_msgs/JointState | the action before the supervisor (absent: none ready) |
| `/physai/action/command` | sensor_msgs/JointState | the command written to the robot, after the supervisor |
| `/physai/source` | std_msgs/String | who proposed the action: "policy" or a teleop source |
| `/physai/intervention` | std_msgs/String | JSON, when the supervisor changed the action or none was ready |
| `/physai/timing` | std_msgs/Float64MultiArray | [cycle, monotonic start (s), work (s)] |
| `/physai/session` | std_msgs/String | JSON: the contract and robot at start, the runtime report at the end |

Chunks are small (`chunk_size`) so that a file cut short (power loss) stays readable up to its last
complete chunk; `close()` writes the summary so seeking readers (Foxglove, `ros2 bag info`) index it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from physai.core.errors import ConfigError
from physai.field import rosmsg

JOINTS = "/joint_states"
STATE = "/physai/observation/state"
IMAGES = "/physai/observation/images/"
PROPOSED = "/physai/action/proposed"
COMMAND = "/physai/action/command"
SOURCE = "/physai/source"
INTERVENTION = "/physai/intervention"
TIMING = "/physai/timing"
SESSION = "/physai/session"

TOPIC_TYPES = {
    JOINTS: "sensor_msgs/msg/JointState",
    STATE: "sensor_msgs/msg/JointState",
    PROPOSED: "sensor_msgs/msg/JointState",
    COMMAND: "sensor_msgs/msg/JointState",
    SOURCE: "std_msgs/msg/String",
    INTERVENTION: "std_msgs/msg/String",
    TIMING: "std_msgs/msg/Float64MultiArray",
    SESSION: "std_msgs/msg/String",
}


class SessionMcap:
    """Writes ROS 2-encoded messages to one MCAP file (not thread-safe: one writer thread)."""

    def __init__(self, path: str | Path, chunk_size: int = 256 * 1024, compression: str = "lz4") -> None:
        try:
            from mcap.writer import CompressionType, Writer
        except ModuleNotFoundError:
            raise ConfigError("MCAP recording needs the mcap package; pip install 'physai[field]'") from None
        self.path = Path(path)
        comp = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
        if compression not in comp:
            raise ConfigError(f"MCAP compression {compression!r}: use one of {sorted(comp)}")
        self._f: BinaryIO = open(self.path, "wb")
        self._w = Writer(self._f, chunk_size=chunk_size, compression=comp[compression])
        self._w.start(profile="ros2", library="physai")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, tuple[int, str]] = {}
        self._seq: dict[str, int] = {}
        self.messages = 0
        self.closed = False

    def channel(self, topic: str, msgtype: str) -> None:
        """Declare `topic` with ROS 2 type `msgtype` (idempotent)."""
        msgtype = rosmsg.full_type(msgtype)
        if topic in self._channels:
            if self._channels[topic][1] != msgtype:
                raise ConfigError(
                    f"MCAP topic {topic} already has type {self._channels[topic][1]}, not {msgtype}"
                )
            return
        if msgtype not in self._schemas:
            self._schemas[msgtype] = self._w.register_schema(
                name=msgtype, encoding=rosmsg.SCHEMA_ENCODING, data=rosmsg.schema_text(msgtype).encode()
            )
        cid = self._w.register_channel(
            topic=topic, message_encoding=rosmsg.MESSAGE_ENCODING, schema_id=self._schemas[msgtype]
        )
        self._channels[topic] = (cid, msgtype)
        self._seq[topic] = 0

    def write(self, topic: str, msg: Any, log_ns: int, msgtype: str | None = None) -> None:
        """Write one message object (declaring the topic first if `msgtype` is given)."""
        if topic not in self._channels:
            if msgtype is None:
                raise ConfigError(f"MCAP topic {topic} was not declared")
            self.channel(topic, msgtype)
        self.write_cdr(topic, rosmsg.serialize(msg, self._channels[topic][1]), log_ns)

    def write_cdr(self, topic: str, data: bytes, log_ns: int) -> None:
        """Write one already CDR-serialized message on a declared topic."""
        cid, _ = self._channels[topic]
        self._w.add_message(
            channel_id=cid, log_time=log_ns, publish_time=log_ns, sequence=self._seq[topic], data=data
        )
        self._seq[topic] += 1
        self.messages += 1

    def metadata(self, name: str, data: dict[str, str]) -> None:
        self._w.add_metadata(name, data)

    def write_json(self, topic: str, doc: dict, log_ns: int) -> None:
        self.write(topic, rosmsg.string(json.dumps(doc, default=_jsonable)), log_ns, "std_msgs/msg/String")

    def close(self) -> None:
        """Write the summary and close the file (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._w.finish()
        finally:
            self._f.close()


def _jsonable(x: object) -> object:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)
