"""The fast CDR writers are byte-identical to `rosbags`' serializer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rosbags")

from physai.field import rosmsg as r


@pytest.mark.parametrize("n", [0, 1, 3, 28])
def test_joint_state_bytes_match_rosbags(n):
    names = [f"joint{i}.pos" * (i % 3 + 1) for i in range(n)]
    pos = np.arange(n) * 0.5 - 1
    want = r.serialize(r.joint_state(99_000_000_001, names, pos), "sensor_msgs/msg/JointState")
    assert r.cdr_joint_state(99_000_000_001, names, pos) == want
    assert r.deserialize(want, "sensor_msgs/JointState").name == names


def test_image_string_and_array_bytes_match_rosbags():
    img = np.random.default_rng(0).integers(0, 255, (5, 7, 3), np.uint8)
    assert r.cdr_image(123456789012, img, "cam") == r.serialize(
        r.image(123456789012, img, "cam"), "sensor_msgs/msg/Image"
    )
    assert r.cdr_image(5, img[..., 0]) == r.serialize(r.image(5, img[..., 0]), "sensor_msgs/msg/Image")
    assert r.cdr_string("héllo") == r.serialize(r.string("héllo"), "std_msgs/msg/String")
    assert r.cdr_float_array(np.arange(3.0), "a,b") == r.serialize(
        r.float_array(np.arange(3.0), "a,b"), "std_msgs/msg/Float64MultiArray"
    )
    back = r.image_array(
        r.deserialize(r.cdr_image(0, img), "sensor_msgs/msg/Image"), "sensor_msgs/Image", "t"
    )
    np.testing.assert_array_equal(back, img)
