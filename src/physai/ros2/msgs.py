"""numpy <-> ROS 2 messages: stamps, joint states, poses, wrenches, images, arrays, commands."""

from __future__ import annotations

import importlib
import io

import numpy as np

from physai.core.errors import ConfigError


def msg_class(type_name: str) -> type:
    """The Python class of `pkg/msg/Name` (ConfigError naming the missing wheel if not installed)."""
    pkg, sep, name = type_name.partition("/msg/")
    if not sep or not pkg or not name:
        raise ConfigError(f"message type {type_name!r} is not of the form pkg/msg/Name")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ModuleNotFoundError, AttributeError):
        raise ConfigError(
            f"message type {type_name} is not installed; pip install ros-{pkg.replace('_', '-')} "
            "(or pick a type from sensor_msgs, geometry_msgs, std_msgs, trajectory_msgs)"
        ) from None


def stamp_s(msg: object) -> float | None:
    """Header stamp of `msg` in seconds (None: the message has no header)."""
    h = getattr(msg, "header", None)
    if h is None:
        return None
    return h.stamp.sec + h.stamp.nanosec * 1e-9


def to_time(t: float):  # -> builtin_interfaces.msg.Time
    """builtin_interfaces/Time of `t` seconds."""
    from builtin_interfaces.msg import Time

    sec = int(np.floor(t))
    return Time(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


def to_duration(t: float):  # -> builtin_interfaces.msg.Duration
    """builtin_interfaces/Duration of `t` seconds."""
    from builtin_interfaces.msg import Duration

    sec = int(np.floor(t))
    return Duration(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


def pose_vec(msg: object) -> np.ndarray:
    """PoseStamped -> (px, py, pz, qw, qx, qy, qz)."""
    p, q = msg.pose.position, msg.pose.orientation  # type: ignore[attr-defined]
    return np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z], float)


def pose_msg(vec: np.ndarray, stamp: float, frame_id: str):
    """(px, py, pz[, qw, qx, qy, qz]) -> PoseStamped (identity orientation if none is given)."""
    from geometry_msgs.msg import PoseStamped

    m = PoseStamped()
    m.header.stamp, m.header.frame_id = to_time(stamp), frame_id
    v = np.asarray(vec, float)
    m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(x) for x in v[:3])
    q = v[3:7] if v.size >= 7 else np.array([1.0, 0.0, 0.0, 0.0])
    m.pose.orientation.w, m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z = (
        float(x) for x in q
    )
    return m


def wrench_vec(msg: object) -> np.ndarray:
    """WrenchStamped -> (fx, fy, fz, tx, ty, tz)."""
    f, t = msg.wrench.force, msg.wrench.torque  # type: ignore[attr-defined]
    return np.array([f.x, f.y, f.z, t.x, t.y, t.z], float)


def wrench_msg(vec: np.ndarray, stamp: float, frame_id: str):
    """(fx, fy, fz, tx, ty, tz) -> WrenchStamped."""
    from geometry_msgs.msg import WrenchStamped

    m = WrenchStamped()
    m.header.stamp, m.header.frame_id = to_time(stamp), frame_id
    v = [float(x) for x in np.asarray(vec, float)[:6]]
    m.wrench.force.x, m.wrench.force.y, m.wrench.force.z = v[:3]
    m.wrench.torque.x, m.wrench.torque.y, m.wrench.torque.z = v[3:]
    return m


def array_msg(values: np.ndarray, label: str = ""):
    """1-D array -> std_msgs/Float64MultiArray (one dimension, labelled)."""
    from std_msgs.msg import Float64MultiArray, MultiArrayDimension

    v = np.asarray(values, np.float64).ravel()
    m = Float64MultiArray()
    m.layout.dim = [MultiArrayDimension(label=label, size=v.size, stride=v.size)]
    m.data = v.tolist()
    return m


def array_vec(msg: object) -> np.ndarray:
    """Float64MultiArray -> 1-D float array."""
    return np.asarray(msg.data, float)  # type: ignore[attr-defined]


def image_array(msg: object, topic: str) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8) or CompressedImage (jpeg, png) -> uint8 HxWx3."""
    if hasattr(msg, "format"):  # CompressedImage
        from PIL import Image as PILImage

        try:
            pil = PILImage.open(io.BytesIO(bytes(msg.data)))  # type: ignore[attr-defined]
            return np.asarray(pil.convert("RGB"), np.uint8)
        except Exception as e:
            raise ConfigError(f"topic {topic}: cannot decode the {msg.format!r} image ({e})") from None
    enc = msg.encoding.lower()  # type: ignore[attr-defined]
    ch = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3}.get(enc)
    if ch is None:
        raise ConfigError(
            f"topic {topic}: image encoding {msg.encoding!r} is not supported; publish rgb8, bgr8, "  # type: ignore[attr-defined]
            "rgba8, bgra8 or mono8, or a jpeg/png CompressedImage"
        )
    h, w, step = msg.height, msg.width, msg.step  # type: ignore[attr-defined]
    buf = np.frombuffer(bytes(msg.data), np.uint8)  # type: ignore[attr-defined]
    if step < w * ch or buf.size < h * step:
        raise ConfigError(
            f"topic {topic}: image data is {buf.size} bytes, too short for {h}x{w} {enc} with step {step}"
        )
    img = buf[: h * step].reshape(h, step)[:, : w * ch].reshape(h, w, ch)
    if ch == 1:
        return np.repeat(img, 3, axis=2)
    if enc.startswith("bgr"):
        img = img[:, :, 2::-1]
    return np.ascontiguousarray(img[:, :, :3])


def image_msg(img: np.ndarray, stamp: float, frame_id: str):
    """uint8 HxWx3 RGB -> sensor_msgs/Image rgb8."""
    from sensor_msgs.msg import Image

    a = np.ascontiguousarray(img, np.uint8)
    m = Image()
    m.header.stamp, m.header.frame_id = to_time(stamp), frame_id
    m.height, m.width, m.encoding, m.is_bigendian, m.step = a.shape[0], a.shape[1], "rgb8", 0, a.shape[1] * 3
    m.data = a.tobytes()
    return m


def compressed_msg(img: np.ndarray, stamp: float, frame_id: str, fmt: str = "jpeg"):
    """uint8 HxWx3 RGB -> sensor_msgs/CompressedImage (jpeg or png)."""
    from PIL import Image as PILImage
    from sensor_msgs.msg import CompressedImage

    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(img, np.uint8)).save(
        buf, format="JPEG" if fmt == "jpeg" else "PNG"
    )
    m = CompressedImage()
    m.header.stamp, m.header.frame_id, m.format = to_time(stamp), frame_id, fmt
    m.data = buf.getvalue()
    return m
