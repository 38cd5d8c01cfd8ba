"""CommandMapper: normalized twists to ee_delta (one and two arms) and base_velocity commands."""

from __future__ import annotations

import numpy as np
import pytest

from physai.core.errors import UnknownNameError
from physai.teleop import SOURCES, CommandMapper, ControlContext, SourceInput, make_source


def test_two_arm_mapping_moves_the_selected_arm_only() -> None:
    names = tuple(
        f"{p}/{n}"
        for p in ("left", "right")
        for n in ("ee.dx", "ee.dy", "ee.dz", "ee.drx", "ee.dry", "ee.drz", "gripper")
    )
    lo = np.tile(np.array([-0.05] * 3 + [-0.25] * 3 + [0.0], np.float32), 2)
    m = CommandMapper(ControlContext("ee_delta", 10.0, names, lo, -lo + np.tile([0] * 6 + [1], 2)))
    a = m.command(SourceInput(twist=np.array([0, 0, 1, 0, 0, -1.0]), arm=1, gripper=1.0))
    assert a[:7].tolist() == [0.0] * 7
    np.testing.assert_allclose(a[7:], [0, 0, 0.015, 0, 0, -0.08, 1.0], atol=1e-6)
    b = m.command(SourceInput(twist=np.array([5.0, np.nan, 0, 0, 0, 0])))  # clipped, NaN is no motion
    np.testing.assert_allclose(b[7:10], [0.015, 0, 0], atol=1e-6)
    assert b[13] == 1.0  # the gripper stays as last commanded


def test_base_velocity_mapping() -> None:
    names = ("base.vx", "base.vy", "base.yaw_rate")
    m = CommandMapper(
        ControlContext("base_velocity", 50.0, names, np.array([-0.6, -0.4, -1.2]), np.array([1.0, 0.4, 1.2]))
    )
    a = m.command(SourceInput(twist=np.array([1.0, -1.0, 0, 0, 0, 0.5])))
    np.testing.assert_allclose(a, [0.6, -0.24, 0.36], atol=1e-6)
    assert not m.hold().any()


def test_full_action_is_clipped_to_bounds() -> None:
    m = CommandMapper(
        ControlContext(
            "base_velocity", 50.0, ("base.vx", "base.vy", "base.yaw_rate"), -np.ones(3), np.ones(3)
        )
    )
    np.testing.assert_array_equal(m.command(SourceInput(action=np.array([3.0, -3.0, 0.5]))), [1, -1, 0.5])


def test_registry_lists_sources() -> None:
    import physai.teleop.devices
    import physai.teleop.expert  # noqa: F401

    assert {"keyboard", "gamepad", "spacemouse", "expert"} <= set(SOURCES.names())
    with pytest.raises(UnknownNameError, match="keyboard"):
        make_source("joystik")
