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
        raise ConfigError("MCAP/rosbag2 support needs rosbags and mcap; pip install 'physai[field]'") from None
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
    return Header(stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)),
                  frame_id=frame_id)


def joint_state(stamp_ns: int, names: list[str], position: np.ndarray, velocity: np.ndarray | None = None,
                effort: np.ndarray | None = None) -> Any:
    empty = np.zeros(0, np.float64)
    return _cls("sensor_msgs/JointState")(
        header=header(stamp_ns), name=list(names), position=np.asarray(position, np.float64),
        velocity=empty if velocity is None else np.asarray(velocity, np.float64),
        effort=empty if effort is None else np.asarray(effort, np.float64),
    )


def image(stamp_ns: int, img: np.ndarray, frame_id: str = "") -> Any:
    """sensor_msgs/Image, rgb8 (HxWx3 uint8) or mono8 (HxW)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    enc, ch = ("rgb8", 3) if img.ndim == 3 else ("mono8", 1)
    return _cls("sensor_msgs/Image")(
        header=header(stamp_ns, frame_id), height=img.shape[0], width=img.shape[1], encoding=enc,
        is_bigendian=0, step=img.shape[1] * ch, data=img.reshape(-1),
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
        raise ConfigError(f"{where}: {msgtype} is not an image; map sensor_msgs/Image or CompressedImage topics")
    enc = msg.encoding.lower()
    ch = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3}.get(enc)
    if ch is None:
        raise ConfigError(f"{where}: image encoding {msg.encoding!r} is not supported (rgb8, bgr8, rgba8, "
                          "bgra8, mono8)")
    a = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * ch]
    a = a.reshape(msg.height, msg.width, ch)
    if ch == 1:
        return np.repeat(a, 3, axis=2)
    if enc.startswith("bgr"):
        a = a[:, :, 2::-1]
    return np.ascontiguousarray(a[:, :, :3])
