"""Shared pieces of the quadruped suite: the arena, low obstacles, point sampling, a go-to controller."""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.quadruped import Quadruped
from physai.sim.scene import GEOM, OBJECT_GROUP

ARENA_HALF = 3.0  # m; waypoints and markers lie inside [-ARENA_HALF, ARENA_HALF]^2
N_OBSTACLES = 8
OBSTACLE_HEIGHT = (0.015, 0.035)  # m; small enough to step over with the gait's 7 cm clearance
PARK_Z = -1.0


def build_arena(spec: mujoco.MjSpec) -> None:
    """A fenced-off patch of floor (visual border) and `N_OBSTACLES` low boxes on mocap bodies."""
    wb = spec.worldbody
    h = ARENA_HALF + 0.6
    for i, (x, y, sx, sy) in enumerate(
        [(h, 0, 0.02, h), (-h, 0, 0.02, h), (0, h, h, 0.02), (0, -h, h, 0.02)]
    ):
        wb.add_geom(
            name=f"arena_border{i}",
            type=GEOM.mjGEOM_BOX,
            size=[sx, sy, 0.003],
            pos=[x, y, 0.003],
            rgba=[0.95, 0.75, 0.1, 1],
            contype=0,
            conaffinity=0,
        )
    for i in range(N_OBSTACLES):
        b = wb.add_body(name=f"obstacle{i}", pos=[0, 0, PARK_Z], mocap=True)
        b.add_geom(
            name=f"obstacle{i}",
            type=GEOM.mjGEOM_BOX,
            size=[0.1, 0.04, 0.02],
            rgba=[0.45, 0.42, 0.38, 1],
            contype=OBJECT_GROUP,
            conaffinity=OBJECT_GROUP,
            friction=[1.0, 0.01, 0.001],
        )


def place_obstacles(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    rng: np.random.Generator,
    keep_clear: list[np.ndarray],
    clear_dist: float = 0.5,
) -> None:
    """Scatter the low obstacles over the arena, away from the points in `keep_clear`.

    Box heights are fixed at build time; each reset picks a position, yaw and a height scale by
    moving the mocap body down into the floor (only the top part shows).
    """
    for i in range(N_OBSTACLES):
        body = model.body(f"obstacle{i}")
        half_h = float(model.geom_size[model.geom(f"obstacle{i}").id][2])
        for _ in range(200):
            xy = rng.uniform(-ARENA_HALF, ARENA_HALF, size=2)
            if all(np.linalg.norm(xy - p[:2]) > clear_dist for p in keep_clear):
                break
        top = rng.uniform(*OBSTACLE_HEIGHT)
        yaw = rng.uniform(-np.pi, np.pi)
        data.mocap_pos[body.mocapid[0]] = [xy[0], xy[1], top - half_h]
        data.mocap_quat[body.mocapid[0]] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]


def sample_points(
    rng: np.random.Generator,
    n: int,
    min_dist: float,
    avoid: list[np.ndarray],
    avoid_dist: float,
    half: float = ARENA_HALF,
) -> list[np.ndarray]:
    """`n` xy points in the arena, pairwise >= `min_dist` apart and >= `avoid_dist` from `avoid`."""
    pts: list[np.ndarray] = []
    for _ in range(5000):
        p = rng.uniform(-half, half, size=2)
        if all(np.linalg.norm(p - q) >= min_dist for q in pts) and all(
            np.linalg.norm(p - q[:2]) >= avoid_dist for q in avoid
        ):
            pts.append(p)
            if len(pts) == n:
                return pts
    raise RuntimeError(f"could not place {n} points {min_dist} m apart in the arena; lower the count")


def wrap(angle: float) -> float:
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


class GoTo:
    """Steers the quadruped's base_velocity command towards a point: turn, then walk while turning."""

    def __init__(self, robot: Quadruped, v_max: float = 0.8, k_yaw: float = 2.0) -> None:
        self.robot, self.v_max, self.k_yaw = robot, v_max, k_yaw

    def command(
        self, target: np.ndarray, stop_dist: float = 0.0, face: np.ndarray | None = None
    ) -> np.ndarray:
        """(vx, vy, yaw_rate) that brings the base to within `stop_dist` of `target`, then faces `face`."""
        pos, yaw = self.robot.base_pose()
        off = np.asarray(target[:2], float) - pos[:2]
        dist = float(np.linalg.norm(off))
        if dist > stop_dist:
            err = wrap(float(np.arctan2(off[1], off[0])) - yaw)
            vx = min(self.v_max, 0.8 * (dist - stop_dist) + 0.15) * max(0.0, np.cos(err)) ** 2
            wz = float(np.clip(self.k_yaw * err, -1.2, 1.2))
            return np.array([vx, 0.0, wz])
        if face is not None:
            f = np.asarray(face[:2], float) - pos[:2]
            err = wrap(float(np.arctan2(f[1], f[0])) - yaw)
            return np.array([0.0, 0.0, float(np.clip(self.k_yaw * err, -1.0, 1.0))])
        return np.zeros(3)
