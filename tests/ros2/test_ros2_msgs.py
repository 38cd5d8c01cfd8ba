"""numpy <-> ROS 2 message conversions."""

from __future__ import annotations

import numpy as np
import pytest

from physai.core.errors import ConfigError
from physai.ros2 import msgs


def _img(h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_raw_images_round_trip_in_every_encoding():
    img = _img()
    m = msgs.image_msg(img, 12.25, "cam")
    assert msgs.stamp_s(m) == pytest.approx(12.25) and m.encoding == "rgb8"
    np.testing.assert_array_equal(msgs.image_array(m, "/cam"), img)
    m.encoding, m.data = "bgr8", img[:, :, ::-1].tobytes()
    np.testing.assert_array_equal(msgs.image_array(m, "/cam"), img)
    m.encoding, m.step, m.data = "mono8", 5, img[:, :, 0].tobytes()
    np.testing.assert_array_equal(msgs.image_array(m, "/cam"), np.repeat(img[:, :, :1], 3, axis=2))


def test_padded_rows_and_compressed_images():
    img = _img(4, 3)
    m = msgs.image_msg(img, 0.0, "cam")
    m.step = 3 * 3 + 7  # rows padded to a stride
    m.data = np.pad(img.reshape(4, 9), ((0, 0), (0, 7))).tobytes()
    np.testing.assert_array_equal(msgs.image_array(m, "/cam"), img)
    png = msgs.compressed_msg(img, 1.0, "cam", fmt="png")
    np.testing.assert_array_equal(msgs.image_array(png, "/cam"), img)
    jpg = msgs.compressed_msg(np.full((16, 16, 3), 128, np.uint8), 1.0, "cam")
    assert np.abs(msgs.image_array(jpg, "/cam").astype(int) - 128).max() <= 2


def test_bad_images_are_errors_naming_the_topic():
    m = msgs.image_msg(_img(), 0.0, "cam")
    m.encoding = "32FC1"
    with pytest.raises(ConfigError, match="topic /cam: image encoding '32FC1' is not supported"):
        msgs.image_array(m, "/cam")
    m.encoding, m.data = "rgb8", b"\x00" * 10
    with pytest.raises(ConfigError, match="topic /cam: image data is 10 bytes"):
        msgs.image_array(m, "/cam")
    bad = msgs.compressed_msg(_img(), 0.0, "cam")
    bad.data = b"not a jpeg"
    with pytest.raises(ConfigError, match="topic /cam: cannot decode"):
        msgs.image_array(bad, "/cam")


def test_poses_wrenches_arrays_and_types():
    v = np.array([0.1, -0.2, 0.3, 0.5, 0.5, -0.5, 0.5])
    np.testing.assert_allclose(msgs.pose_vec(msgs.pose_msg(v, 3.0, "world")), v)
    np.testing.assert_allclose(msgs.pose_vec(msgs.pose_msg(v[:3], 3.0, "world"))[3:], [1, 0, 0, 0])
    w = np.arange(6.0)
    np.testing.assert_allclose(msgs.wrench_vec(msgs.wrench_msg(w, 0.0, "tool")), w)
    np.testing.assert_allclose(msgs.array_vec(msgs.array_msg(w, "x")), w)
    assert msgs.stamp_s(msgs.array_msg(w)) is None
    assert msgs.msg_class("sensor_msgs/msg/JointState").__name__ == "JointState"
    with pytest.raises(ConfigError, match="pip install ros-nav-msgs"):
        msgs.msg_class("nav_msgs/msg/Odometry")
    with pytest.raises(ConfigError, match="not of the form"):
        msgs.msg_class("JointState")
