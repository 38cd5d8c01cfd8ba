"""Shared pieces of the dexterous suite: the table, graspable objects, and a tactile grasp controller."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.hand16 import LINKS, Hand16
from physai.sim.scene import GEOM, add_table

TABLE_Z = 0.4
PALM_OFFSET = 0.012  # palm underside below the wrist frame origin (m)


@dataclass(frozen=True)
class Shape:
    """A graspable primitive: name used in instructions, MuJoCo geom type and size, half height."""

    name: str
    geom: int
    size: tuple[float, ...]
    half_height: float


SHAPES = (
    Shape("cube", GEOM.mjGEOM_BOX, (0.024, 0.024, 0.024), 0.024),
    Shape("cylinder", GEOM.mjGEOM_CYLINDER, (0.024, 0.035), 0.035),
    Shape("ball", GEOM.mjGEOM_SPHERE, (0.028, 0.0, 0.0), 0.028),
    Shape("bar", GEOM.mjGEOM_BOX, (0.02, 0.04, 0.022), 0.022),
    Shape("block", GEOM.mjGEOM_BOX, (0.02, 0.02, 0.04), 0.04),
)


def build_table(spec: mujoco.MjSpec) -> None:
    add_table(spec, "table", (0.0, 0.0), (0.3, 0.3), TABLE_Z, rgba=(0.55, 0.45, 0.35, 1))


def contact_normal_forces(model: mujoco.MjModel, data: mujoco.MjData, body: int) -> np.ndarray:
    """Normal force (N) of every contact that touches `body`."""
    out, f = [], np.zeros(6)
    for i in range(data.ncon):
        c = data.contact[i]
        if model.geom_bodyid[c.geom1] == body or model.geom_bodyid[c.geom2] == body:
            mujoco.mj_contactForce(model, data, i, f)
            out.append(f[0])
    return np.array(out)


class HandDriver:
    """Builds `ee_delta` actions for hand16: wrist towards a palm target, fingers at given joint targets."""

    def __init__(self, hand: Hand16, max_lin: float = 0.02, max_rot: float = 0.15) -> None:
        self.hand, self.max_lin, self.max_rot = hand, max_lin, max_rot

    def wrist_for_palm(self, palm: np.ndarray, yaw: float = 0.0) -> np.ndarray:
        mount = np.array(self.hand.config.mount_pos)
        return np.array([*(np.asarray(palm) - mount + [0, 0, PALM_OFFSET]), yaw, 0.0, 0.0])

    def action(
        self, palm: np.ndarray, yaw: float, fingers: np.ndarray, max_lin: float | None = None
    ) -> np.ndarray:
        target = self.wrist_for_palm(palm, yaw)
        delta = target - self.hand.wrist_cmd
        lin = max_lin or self.max_lin
        n = float(np.linalg.norm(delta[:3]))
        if n > lin:
            delta[:3] *= lin / n
        delta[3:] = np.clip(delta[3:], -self.max_rot, self.max_rot)
        return np.concatenate([delta, fingers]).astype(np.float32)

    def palm_error(self, palm: np.ndarray, yaw: float = 0.0) -> float:
        w = self.hand.wrist_pose()
        t = self.wrist_for_palm(palm, yaw)
        return float(np.linalg.norm(w[:3] - t[:3]) + abs(w[3] - t[3]) * 0.05)


def _finger_table() -> tuple[np.ndarray, np.ndarray]:
    """Flexion grid (j1, j2, j3 = 0.8 j2) and the fingertip pad point it reaches (finger frame x, z)."""
    g1, g2 = np.meshgrid(np.linspace(-0.19, 1.6, 120), np.linspace(0.0, 1.7, 120), indexing="ij")
    j1, j2 = g1.ravel(), g2.ravel()
    j3 = np.minimum(0.8 * j2, 1.6)
    a1, a2, a3 = j1, j1 + j2, j1 + j2 + j3
    l1, l2, l3 = LINKS
    x = 0.014 + l1 * np.cos(a1) + l2 * np.cos(a2) + 0.7 * l3 * np.cos(a3) - 0.009 * np.sin(a3)
    z = -l1 * np.sin(a1) - l2 * np.sin(a2) - 0.7 * l3 * np.sin(a3) - 0.009 * np.cos(a3)
    return np.stack([j1, j2, j3], 1), np.stack([x, z], 1)


_GRID_Q, _GRID_TIP = _finger_table()
FINGER_BASE_X = 0.05  # finger base frames sit this far from the palm centre along the hand's x


def pinch_path(depth: float, x_open: float = 0.11, x_closed: float = -0.02, n: int = 60) -> np.ndarray:
    """Flexion joints (n, 3) that move a fingertip pad horizontally from `x_open` to `x_closed` (m from
    the palm centre, towards the opposing finger) at `depth` below the finger base."""
    out = np.zeros((n, 3))
    for k, xc in enumerate(np.linspace(x_open, x_closed, n)):
        target = np.array([xc - FINGER_BASE_X, -depth])
        err = np.linalg.norm(_GRID_TIP - target, axis=1) + 0.002 * _GRID_Q[:, 1]
        out[k] = _GRID_Q[int(np.argmin(err))]
    return out


class TactileGrip:
    """Closes all four fingers along a horizontal pinch path; each finger stops advancing when its
    tactile force reaches `target` and backs off above `high` — force control from touch alone."""

    def __init__(
        self,
        hand: Hand16,
        target: float | np.ndarray,
        high: float | np.ndarray,
        depth: float = 0.085,
        rate: float = 0.03,
    ) -> None:
        self.hand, self.rate = hand, rate
        self.target = np.broadcast_to(np.asarray(target, float), (4,)).copy()
        self.high = np.broadcast_to(np.asarray(high, float), (4,)).copy()
        self.s = np.zeros(4)  # closing progress per finger, 0 = open, 1 = closed
        self.set_depth(depth)

    def set_depth(self, depth: float) -> None:
        self.depth = depth
        self.path = pinch_path(depth)

    def reset(self) -> None:
        self.s[:] = 0.0

    def open_pose(self) -> np.ndarray:
        return self.pose(np.zeros(4))

    def step(self) -> np.ndarray:
        force = self.hand.finger_forces()
        for f in range(4):
            if force[f] < self.target[f]:
                self.s[f] = min(1.0, self.s[f] + self.rate * (1.0 if force[f] < 0.05 else 0.3))
            elif force[f] > self.high[f]:
                self.s[f] = max(0.0, self.s[f] - self.rate * 0.3)
        return self.pose(self.s)

    def pose(self, s: np.ndarray) -> np.ndarray:
        n = len(self.path)
        q = []
        for f in range(4):
            k = s[f] * (n - 1)
            i0 = int(np.floor(k))
            i1 = min(i0 + 1, n - 1)
            w = k - i0
            q.append(np.concatenate([[0.0], (1 - w) * self.path[i0] + w * self.path[i1]]))
        return np.concatenate(q)

    def holding(self) -> bool:
        f = self.hand.finger_forces()
        settled = (f > 0.5 * self.target) | (self.s >= 1.0)  # each finger either grips or closed on air
        return bool(f[3] > 0.5 * self.target[3] and np.any(f[:3] > 0.5 * self.target[:3]) and settled.all())
