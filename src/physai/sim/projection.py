"""Where world points appear in a MuJoCo camera's image (pinhole model, the renderer's conventions)."""

from __future__ import annotations

import mujoco
import numpy as np

OFF_IMAGE = 2.0
"""Coordinate given to points behind the camera; any |x| or |y| >= 1 is outside the image."""


def project_points(model: mujoco.MjModel, data: mujoco.MjData, camera: str | int, points: np.ndarray,
                   aspect: float = 1.0) -> np.ndarray:
    """World points (N, 3) -> image coordinates (N, 2): x to the right, y down, -1..1 from the image's
    left/top edge to its right/bottom edge. `aspect` is width / height of the rendered image. Points
    behind the camera get `OFF_IMAGE`; values are clipped to +-`OFF_IMAGE`."""
    cid = model.camera(camera).id
    rot = data.cam_xmat[cid].reshape(3, 3)
    c = (np.asarray(points, np.float64).reshape(-1, 3) - data.cam_xpos[cid]) @ rot  # camera frame
    f = 1.0 / np.tan(np.deg2rad(model.cam_fovy[cid]) / 2)
    depth = -c[:, 2]  # the camera looks along its -z
    front = depth > 1e-6
    safe = np.where(front, depth, 1.0)
    xy = np.stack([f * c[:, 0] / safe / aspect, -f * c[:, 1] / safe], axis=1)
    xy[~front] = OFF_IMAGE
    return np.clip(xy, -OFF_IMAGE, OFF_IMAGE)
