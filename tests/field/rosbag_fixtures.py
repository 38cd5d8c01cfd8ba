"""Small ROS 2 bags written by the `rosbags` library itself (not by physai), for the field tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rosbags")
pytest.importorskip("mcap")

JOINTS = [f"j{i}" for i in range(3)]
JS_HZ, CMD_HZ, CAM_HZ, SECONDS = 100, 50, 10, 2.0
T0 = 1_700_000_000_000_000_000


def joint_positions(t_ns: int) -> np.ndarray:
    s = (t_ns - T0) / 1e9
    return np.array([np.sin(s), np.cos(s), 0.1 * s])


def command(t_ns: int) -> np.ndarray:
    s = (t_ns - T0) / 1e9
    return np.array([s, -s])


def camera(t_ns: int) -> np.ndarray:
    k = int(round((t_ns - T0) / 1e8))
    img = np.zeros((32, 48, 3), np.uint8)
    img[..., 0] = 200
    img[..., 1] = 10 * k + 20
    img[..., 2] = 30
    return img


def write_rosbag(path: Path, storage: str = "sqlite3", drop_after_s: float | None = None) -> Path:
    """A rosbag2 of a 3-joint robot: /joint_states 100 Hz, /cmd Float64MultiArray 50 Hz, /cam bgr8 10 Hz,
    plus an unmapped /chatter String."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as w:
        js = w.add_connection("/joint_states", "sensor_msgs/msg/JointState", typestore=ts)
        cmd = w.add_connection("/cmd", "std_msgs/msg/Float64MultiArray", typestore=ts)
        cam = w.add_connection("/cam", "sensor_msgs/msg/Image", typestore=ts)
        chat = w.add_connection("/chatter", "std_msgs/msg/String", typestore=ts)
        Time, Header = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]
        Layout = T["std_msgs/msg/MultiArrayLayout"]
        msgs = []
        for k in range(int(SECONDS * JS_HZ) + 1):
            t = T0 + k * 10_000_000
            if drop_after_s is not None and 0.8 < (t - T0) / 1e9 < 0.8 + drop_after_s:
                continue
            hdr = Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="")
            # joints in a different order than the map asks for them
            q = joint_positions(t)
            msgs.append(
                (
                    t,
                    js,
                    T["sensor_msgs/msg/JointState"](
                        header=hdr,
                        name=["j2", "j0", "j1"],
                        position=q[[2, 0, 1]],
                        velocity=np.zeros(3),
                        effort=np.zeros(0),
                    ),
                )
            )
            if k % 2 == 0:
                msgs.append(
                    (
                        t + 1,
                        cmd,
                        T["std_msgs/msg/Float64MultiArray"](
                            layout=Layout(dim=[], data_offset=0), data=command(t)
                        ),
                    )
                )
            if k % 10 == 0:
                img = camera(t)[:, :, ::-1].copy()  # bgr8 on the wire
                msgs.append(
                    (
                        t + 2,
                        cam,
                        T["sensor_msgs/msg/Image"](
                            header=hdr,
                            height=32,
                            width=48,
                            encoding="bgr8",
                            is_bigendian=0,
                            step=144,
                            data=img.reshape(-1),
                        ),
                    )
                )
                msgs.append((t + 3, chat, T["std_msgs/msg/String"](data="hi")))
        for t, conn, msg in sorted(msgs, key=lambda x: x[0]):
            w.write(conn, t, ts.serialize_cdr(msg, conn.msgtype))
    return path


MAP = {
    "fps": 20,
    "task": "wave",
    "state": [{"topic": "/joint_states", "field": "position", "names": JOINTS}],
    "action": [{"topic": "/cmd", "field": "data", "labels": ["c0", "c1"]}],
    "images": {"cam": "/cam"},
}
