"""Expert building blocks for the kitchen: a Cartesian waypoint driver and joint-following helpers."""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7
from physai.sim.ik import quat_error


def yaw_rot(yaw: float) -> np.ndarray:
    """2-D rotation by `yaw` lifted to 3-D about +z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotate_quat(axis: np.ndarray, angle: float, quat: np.ndarray) -> np.ndarray:
    """`quat` turned by `angle` about the world `axis`."""
    rot, out = np.empty(4), np.empty(4)
    mujoco.mju_axisAngle2Quat(rot, np.asarray(axis, dtype=float), angle)
    mujoco.mju_mulQuat(out, rot, quat)
    return out


class ArmDriver:
    """Steers the commanded TCP pose of an `arm7` to Cartesian targets with clipped steps (ee_delta)."""

    def __init__(self, arm: Arm7, max_lin: float = 0.035, max_rot: float = 0.2) -> None:
        self.arm = arm
        self.max_lin, self.max_rot = max_lin, max_rot
        self.home_quat = np.array([0.0, 1.0, 0.0, 0.0])

    def reset(self) -> None:
        self.home_quat = self.arm.tcp_pose()[1]

    def down(self, yaw: float = 0.0) -> np.ndarray:
        """Fingers pointing down, turned by `yaw` about +z (0: fingers close along world y)."""
        return rotate_quat(np.array([0, 0, 1.0]), yaw, self.home_quat)

    def forward(self) -> np.ndarray:
        """Fingers pointing along +x (a side grasp), closing along world y."""
        return rotate_quat(np.array([0, 1.0, 0]), -np.pi / 2, self.home_quat)

    def action(
        self, pos: np.ndarray, quat: np.ndarray, grip: float, max_lin: float | None = None
    ) -> np.ndarray:
        tw = self.arm.command_twist_to(np.asarray(pos, dtype=float), quat)
        lin = max_lin or self.max_lin
        n = float(np.linalg.norm(tw[:3]))
        if n > lin:
            tw[:3] *= lin / n
        ang = float(np.linalg.norm(tw[3:]))
        if ang > self.max_rot:
            tw[3:] *= self.max_rot / ang
        return np.concatenate([tw, [grip]]).astype(np.float32)

    def pos(self) -> np.ndarray:
        return self.arm.tcp_pose()[0]

    def dist(self, pos: np.ndarray) -> float:
        return float(np.linalg.norm(self.pos() - np.asarray(pos)))

    def rot_err(self, quat: np.ndarray) -> float:
        """Angle (rad) between the measured TCP orientation and `quat`."""
        return float(np.linalg.norm(quat_error(np.asarray(quat, dtype=float), self.arm.tcp_pose()[1])))

    def cmd_dist(self, pos: np.ndarray) -> float:
        return float(np.linalg.norm(self.arm.commanded_tcp()[0] - np.asarray(pos)))
