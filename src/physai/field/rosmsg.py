"""ROS 2 messages without a ROS installation: CDR (de)serialization and `ros2msg` schemas via `rosbags`.

Messages written here use the ROS 2 conventions every tool expects from an MCAP or rosbag2 file: schema
encoding `ros2msg` (the `.msg` text with its dependencies, as `ros2 bag record` writes it) and message
encoding `cdr`. Types come from the ROS 2 Humble type store; a bag's own schemas are registered on the
fly when it carries types the store lacks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from physai.core.errors import ConfigError

SCHEMA_ENCODING = "ros2msg"
MESSAGE_ENCODING = "cdr"


@lru_cache(maxsize=1)
def typestore():
    """The shared ROS 2 (Humble) type store."""
    try:
        from rosbags.typesys import Stores, get_typestore
    except ModuleNotFoundError:
        raise ConfigError(
            "MCAP/rosbag2 support needs rosbags and mcap; pip install 'physai[field]'"
        ) from None
    return get_typestore(Stores.ROS2_HUMBLE)


def full_type(name: str) -> str:
    """'sensor_msgs/JointState' or 'sensor_msgs/msg/JointState' -> 'sensor_msgs/msg/JointState'."""
    parts = name.split("/")
    return name if len(parts) == 3 else f"{parts[0]}/msg/{parts[-1]}"


def short_type(name: str) -> str:
    """'sensor_msgs/msg/JointState' -> 'sensor_msgs/msg/JointState' (ROS 2 bags keep the /msg/ form)."""
    return full_type(name)


def schema_text(msgtype: str) -> str:
    """The `ros2msg` schema of `msgtype`: its definition and every dependency's, ros2 bag style."""
    return typestore().generate_msgdef(full_type(msgtype), ros_version=2)[0]


def register_schema(msgtype: str, text: str) -> None:
    """Teach the type store a type (and its dependencies) from a bag's `ros2msg` schema text."""
    ts = typestore()
    if full_type(msgtype) in ts.types:
        return
    from rosbags.typesys import get_types_from_msg

    types: dict = {}
    main, *deps = text.split("=" * 80 + "\n")
    types.update(get_types_from_msg(main, full_type(msgtype)))
    for dep in deps:
        head, _, body = dep.partition("\n")
        if head.startswith("MSG: "):
            name = full_type(head[5:].strip())
            if name not in ts.types:
                types.update(get_types_from_msg(body, name))
    ts.register(types)


def serialize(msg: Any, msgtype: str) -> bytes:
    return bytes(typestore().serialize_cdr(msg, full_type(msgtype)))


def deserialize(data: bytes, msgtype: str) -> Any:
    return typestore().deserialize_cdr(data, full_type(msgtype))


def _cls(name: str):
    return typestore().types[full_type(name)]


def header(stamp_ns: int, frame_id: str = "") -> Any:
    Time, Header = _cls("builtin_interfaces/Time"), _cls("std_msgs/Header")
    return Header(
        stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
        frame_id=frame_id,
    )


def joint_state(
    stamp_ns: int,
    names: list[str],
    position: np.ndarray,
    velocity: np.ndarray | None = None,
    effort: np.ndarray | None = None,
) -> Any:
    empty = np.zeros(0, np.float64)
    return _cls("sensor_msgs/JointState")(
        header=header(stamp_ns),
        name=list(names),
        position=np.asarray(position, np.float64),
        velocity=empty if velocity is None else np.asarray(velocity, np.float64),
        effort=empty if effort is None else np.asarray(effort, np.float64),
    )


def image(stamp_ns: int, img: np.ndarray, frame_id: str = "") -> Any:
    """sensor_msgs/Image, rgb8 (HxWx3 uint8) or mono8 (HxW)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    enc, ch = ("rgb8", 3) if img.ndim == 3 else ("mono8", 1)
    return _cls("sensor_msgs/Image")(
        header=header(stamp_ns, frame_id),
        height=img.shape[0],
        width=img.shape[1],
        encoding=enc,
        is_bigendian=0,
        step=img.shape[1] * ch,
        data=img.reshape(-1),
    )


def string(text: str) -> Any:
    return _cls("std_msgs/String")(data=text)


def float_array(values: np.ndarray, label: str = "") -> Any:
    Dim, Layout = _cls("std_msgs/MultiArrayDimension"), _cls("std_msgs/MultiArrayLayout")
    v = np.asarray(values, np.float64).ravel()
    return _cls("std_msgs/Float64MultiArray")(
        layout=Layout(dim=[Dim(label=label, size=len(v), stride=len(v))], data_offset=0), data=v
    )


def image_array(msg: Any, msgtype: str, where: str) -> np.ndarray:
    """HxWx3 uint8 RGB from a sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8) or CompressedImage."""
    t = full_type(msgtype)
    if t == "sensor_msgs/msg/CompressedImage":
        import io

        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(bytes(msg.data))).convert("RGB"))
    if t != "sensor_msgs/msg/Image":
        raise ConfigError(
            f"{where}: {msgtype} is not an image; map sensor_msgs/Image or CompressedImage topics"
        )
    enc = msg.encoding.lower()
    ch = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3}.get(enc)
    if ch is None:
        raise ConfigError(
            f"{where}: image encoding {msg.encoding!r} is not supported (rgb8, bgr8, rgba8, bgra8, mono8)"
        )
    a = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * ch]
    a = a.reshape(msg.height, msg.width, ch)
    if ch == 1:
        return np.repeat(a, 3, axis=2)
    if enc.startswith("bgr"):
        a = a[:, :, 2::-1]
    return np.ascontiguousarray(a[:, :, :3])


class _Cdr:
    """Little-endian CDR (XCDR1, what ROS 2 writes) for the few message types a session records every cycle;
    byte-identical to `rosbags`' serializer (tested), ~20x faster, so recording stays cheap."""

    def __init__(self) -> None:
        self.b = bytearray(b"\x00\x01\x00\x00")  # encapsulation: CDR_LE

    def _align(self, n: int) -> None:
        pad = (-(len(self.b) - 4)) % n
        if pad:
            self.b += b"\x00" * pad

    def u32(self, v: int) -> None:
        self._align(4)
        self.b += int(v).to_bytes(4, "little", signed=False)

    def i32(self, v: int) -> None:
        self._align(4)
        self.b += int(v).to_bytes(4, "little", signed=True)

    def u8(self, v: int) -> None:
        self.b.append(int(v))

    def string(self, s: str) -> None:
        raw = s.encode()
        self.u32(len(raw) + 1)
        self.b += raw + b"\x00"

    def strings(self, items: list[str]) -> None:
        self.u32(len(items))
        for s in items:
            self.string(s)

    def f64s(self, v: np.ndarray) -> None:
        a = np.ascontiguousarray(v, dtype="<f8")
        self.u32(a.size)
        if a.size:
            self._align(8)
            self.b += a.tobytes()

    def u8s(self, v: np.ndarray) -> None:
        a = np.ascontiguousarray(v, dtype=np.uint8)
        self.u32(a.size)
        self.b += a.tobytes()

    def header(self, stamp_ns: int, frame_id: str) -> None:
        self.i32(stamp_ns // 1_000_000_000)
        self.u32(stamp_ns % 1_000_000_000)
        self.string(frame_id)


@lru_cache(maxsize=64)
def _joint_state_layout(names: tuple[str, ...], n: int) -> tuple[bytes, bytes, bytes]:
    """(bytes between the stamp and the positions, position count + padding, the empty velocity/effort)."""
    c = _Cdr()
    c.header(0, "")
    c.strings(list(names))
    mid = bytes(c.b[12:])
    c.u32(n)
    if n:
        c._align(8)
    count = bytes(c.b[12 + len(mid) :])
    c.b += b"\x00" * (8 * n)
    end = len(c.b)
    c.f64s(np.zeros(0))
    c.f64s(np.zeros(0))
    return mid, count, bytes(c.b[end:])


def cdr_joint_state(stamp_ns: int, names: list[str], position: np.ndarray) -> bytes:
    """sensor_msgs/JointState (positions only) as CDR bytes (the layout of each name list is cached)."""
    a = np.ascontiguousarray(position, dtype="<f8").ravel()
    mid, count, tail = _joint_state_layout(tuple(names), a.size)
    stamp_ns = int(stamp_ns)
    head = (
        b"\x00\x01\x00\x00"
        + (stamp_ns // 1_000_000_000).to_bytes(4, "little", signed=True)
        + (stamp_ns % 1_000_000_000).to_bytes(4, "little")
    )
    return b"".join((head, mid, count, a.tobytes(), tail))


def cdr_image(stamp_ns: int, img: np.ndarray, frame_id: str = "") -> bytes:
    """sensor_msgs/Image (rgb8 HxWx3 or mono8 HxW uint8) as CDR bytes."""
    img = np.asarray(img, dtype=np.uint8)
    enc, ch = ("rgb8", 3) if img.ndim == 3 else ("mono8", 1)
    c = _Cdr()
    c.header(int(stamp_ns), frame_id)
    c.u32(img.shape[0])
    c.u32(img.shape[1])
    c.string(enc)
    c.u8(0)
    c.u32(img.shape[1] * ch)
    c.u8s(img.reshape(-1))
    return bytes(c.b)


def cdr_string(text: str) -> bytes:
    """std_msgs/String as CDR bytes."""
    c = _Cdr()
    c.string(text)
    return bytes(c.b)


def cdr_float_array(values: np.ndarray, label: str = "") -> bytes:
    """std_msgs/Float64MultiArray (one dimension) as CDR bytes."""
    v = np.asarray(values, np.float64).ravel()
    c = _Cdr()
    c.u32(1)
    c.string(label)
    c.u32(v.size)
    c.u32(v.size)
    c.u32(0)
    c.f64s(v)
    return bytes(c.b)
