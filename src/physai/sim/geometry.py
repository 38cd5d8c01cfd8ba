"""Planar geometry of wxyz quaternions shared by robots, tasks, experts and policies: the heading (yaw
about +z) of one quaternion or of a batch, and the smallest wrist turn for
a symmetric object (`grasp_yaw`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

ArrayT = TypeVar("ArrayT")


def yaw_wxyz(w: float, x: float, y: float, z: float) -> float:
    """Heading about +z of the quaternion (w, x, y, z), in scalar math (for per-step hot paths)."""
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def quat_yaw(quat: np.ndarray | Sequence[float]) -> float:
    """Heading about +z of one wxyz quaternion."""
    w, x, y, z = quat.tolist() if isinstance(quat, np.ndarray) else quat
    return yaw_wxyz(w, x, y, z)


def quat_yaw_batch(q: ArrayT) -> ArrayT:
    """Headings about +z of wxyz quaternions along the last axis, (..., 4) -> (...), for numpy arrays and
    torch tensors alike (torch is not imported here: a tensor brings its own `atan2`)."""
    a: Any = q
    w, x, y, z = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    num, den = 2 * (w * z + x * y), 1 - 2 * (y * y + z * z)
    if hasattr(num, "atan2"):  # a torch tensor (also traced for ONNX export)
        return num.atan2(den)
    return np.arctan2(num, den)


def grasp_yaw(object_yaw: float, symmetry: float) -> float:
    """The object heading reduced by its symmetry (turns by `symmetry` give the same grasp; 0: round, any
    heading) to the smallest wrist rotation, in [-symmetry/2, symmetry/2)."""
    if symmetry <= 0:
        return 0.0
    return float((object_yaw + symmetry / 2) % symmetry - symmetry / 2)
