"""Shared pieces of the tabletop suite: the table, the object set, and a waypoint expert for arm7."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7
from physai.sim.scene import GEOM, add_free_object, add_table, free_pose, set_free_pose

TABLE_Z = 0.4
TABLE_CENTER = (0.45, 0.0)
TABLE_HALF = (0.45, 0.6)
WORK_X = (0.38, 0.62)
WORK_Y = (-0.25, 0.25)
PARK = np.array([-1.5, 0.0, 0.05])  # where unused objects wait, off the table and out of view


@dataclass(frozen=True)
class ObjectKind:
    """A graspable object: a primitive shape with a colour and a name used in instructions."""

    name: str
    shape: int
    size: tuple[float, ...]
    rgba: tuple[float, float, float, float]
    half_height: float
    yaw_symmetry: float  # rotation (rad) that maps the shape onto itself; 0 for round shapes
    mass: float = 0.08


OBJECTS: tuple[ObjectKind, ...] = (
    ObjectKind("red cube", GEOM.mjGEOM_BOX, (0.02, 0.02, 0.02), (0.85, 0.15, 0.12, 1), 0.02, np.pi / 2),
    ObjectKind("green cylinder", GEOM.mjGEOM_CYLINDER, (0.02, 0.03), (0.15, 0.7, 0.25, 1), 0.03, 0.0),
    ObjectKind("blue block", GEOM.mjGEOM_BOX, (0.018, 0.018, 0.035), (0.15, 0.3, 0.85, 1), 0.035, np.pi / 2),
    ObjectKind("yellow puck", GEOM.mjGEOM_CYLINDER, (0.026, 0.015), (0.95, 0.8, 0.1, 1), 0.015, 0.0),
    ObjectKind("purple pebble", GEOM.mjGEOM_ELLIPSOID, (0.024, 0.02, 0.018), (0.55, 0.2, 0.7, 1), 0.018,
               np.pi),
)


def object_joint(kind: ObjectKind) -> str:
    return "obj_" + kind.name.replace(" ", "_")


def build_table_and_objects(spec: mujoco.MjSpec, kinds: tuple[ObjectKind, ...] = OBJECTS) -> None:
    """The table in front of the arm and every object kind (parked until `place_objects`)."""
    add_table(spec, "table", TABLE_CENTER, TABLE_HALF, TABLE_Z)
    for i, k in enumerate(kinds):
        add_free_object(spec, object_joint(k), k.shape, list(k.size), k.rgba, mass=k.mass,
                        pos=tuple(PARK + [0, 0.1 * i, 0]))


def sample_positions(rng: np.random.Generator, n: int, min_dist: float, x=WORK_X, y=WORK_Y,
                     avoid: list[np.ndarray] | None = None, avoid_dist: float = 0.0) -> list[np.ndarray]:
    """`n` xy points in the work area, pairwise >= `min_dist` apart and >= `avoid_dist` from `avoid`."""
    pts: list[np.ndarray] = []
    for _ in range(2000):
        p = np.array([rng.uniform(*x), rng.uniform(*y)])
        if all(np.linalg.norm(p - q) >= min_dist for q in pts) and all(
            np.linalg.norm(p - q[:2]) >= avoid_dist for q in (avoid or [])
        ):
            pts.append(p)
            if len(pts) == n:
                return pts
    raise RuntimeError(f"could not place {n} objects {min_dist} m apart; enlarge the work area")


def park_all(model: mujoco.MjModel, data: mujoco.MjData, kinds: tuple[ObjectKind, ...] = OBJECTS) -> None:
    for i, k in enumerate(kinds):
        set_free_pose(model, data, object_joint(k), PARK + [0, 0.1 * i, k.half_height])


def object_pos(model: mujoco.MjModel, data: mujoco.MjData, kind: ObjectKind) -> np.ndarray:
    return free_pose(model, data, object_joint(kind))[:3]


def yaw_mul(yaw: float, quat: np.ndarray) -> np.ndarray:
    """Rotate `quat` by `yaw` about world +z."""
    out = np.empty(4)
    mujoco.mju_mulQuat(out, np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]), quat)
    return out


class WaypointArm:
    """Drives one arm7 TCP through Cartesian waypoints with a clipped P-controller (ee_delta actions).

    By default it steers the *commanded* TCP pose (`Arm7.command_twist_to`). With `measured_gain` set
    it steers the *measured* TCP pose instead: each action is that fraction of the remaining error
    (clipped to the speed limits), a smooth function of what the state observation shows, which a
    policy can imitate (the commanded pose leads the measured one by a few cm, hidden from the state).
    """

    def __init__(self, arm: Arm7, max_lin: float = 0.04, max_rot: float = 0.2, gain: float = 1.0,
                 measured_gain: float | None = None) -> None:
        self.arm = arm
        self.max_lin, self.max_rot, self.gain = max_lin, max_rot, gain
        self.measured_gain = measured_gain
        self.home_quat: np.ndarray = np.array([1.0, 0.0, 0.0, 0.0])  # set to the TCP's at reset()

    def reset(self) -> None:
        self.home_quat = self.arm.tcp_pose()[1]

    def down_quat(self, yaw: float = 0.0) -> np.ndarray:
        """The home (pointing down) orientation turned by `yaw` about +z."""
        return yaw_mul(yaw, self.home_quat)

    def action(self, pos: np.ndarray, quat: np.ndarray | None, grip: float,
               max_lin: float | None = None) -> np.ndarray:
        if self.measured_gain is not None:
            tw = self.arm.twist_to(pos, quat) * self.measured_gain
        else:
            twist_fn = getattr(self.arm, "command_twist_to", self.arm.twist_to)  # arms without one: measured
            tw = twist_fn(pos, quat) * self.gain
        lin = max_lin or self.max_lin
        n = np.linalg.norm(tw[:3])
        if n > lin:
            tw[:3] *= lin / n
        tw[3:] = np.clip(tw[3:], -self.max_rot, self.max_rot)
        return np.concatenate([tw, [grip]]).astype(np.float32)

    def tcp_z(self) -> float:
        return float(self.arm.tcp_pose()[0][2])

    def dist(self, pos: np.ndarray) -> float:
        return float(np.linalg.norm(self.arm.tcp_pose()[0] - pos))
