"""Shared pieces of the humanoid tabletop suite: the table, the items, the receptacles, a hand driver.

The robot (`humanoid-upper`) stands at x = 0 facing +x; the table top is at `TABLE_Z`. Items are
grasped from the side (fingers pointing +x, closing along y) the way a humanoid grasps a cup: the arm
reaches forward with the forearm level. Every item and receptacle is built once and parked under the
table until a reset puts the ones a task needs on the table, so resets never recompile.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.humanoid import HumanoidUpper
from physai.sim.scene import GEOM, add_free_object, add_table, free_pose, set_free_pose

TABLE_Z = 0.75
PARK = np.array([0.6, -1.6, 0.05])  # unused items and receptacles wait on the floor, out of view
SIDE_QUAT = np.array([np.cos(-np.pi / 4), 0.0, np.sin(-np.pi / 4), 0.0])  # fingers along +x
WORK_X = (0.34, 0.43)
"""x range of item and receptacle centres (the side-grasp reach of either hand)."""
WORK_Y = (0.0, 0.36)
"""|y| range on the working hand's side (mirrored for the right hand)."""


@dataclass(frozen=True)
class Item:
    """A graspable item: one primitive, grasped at `grasp_h` above its base."""

    name: str
    shape: int
    size: tuple[float, ...]
    rgba: tuple[float, float, float, float]
    half_height: float
    grasp_h: float
    mass: float = 0.1


ITEMS: dict[str, Item] = {
    "cup": Item("cup", GEOM.mjGEOM_CYLINDER, (0.033, 0.045), (0.95, 0.95, 0.9, 1), 0.045, 0.045, 0.1),
    "can": Item("can", GEOM.mjGEOM_CYLINDER, (0.03, 0.055), (0.8, 0.1, 0.1, 1), 0.055, 0.045, 0.12),
    "bottle": Item("bottle", GEOM.mjGEOM_CYLINDER, (0.028, 0.065), (0.45, 0.75, 0.95, 1), 0.065, 0.05, 0.15),
    "apple": Item("apple", GEOM.mjGEOM_SPHERE, (0.034,), (0.75, 0.12, 0.1, 1), 0.034, 0.034, 0.1),
    "orange": Item("orange", GEOM.mjGEOM_SPHERE, (0.035,), (1.0, 0.55, 0.05, 1), 0.035, 0.035, 0.1),
}


@dataclass(frozen=True)
class Receptacle:
    """A static receptacle: items rest `floor` above the table inside `inner` (half extents, or a radius)."""

    name: str
    floor: float
    """Height of its inner floor (or top surface) above the table (m)."""
    wall: float
    """Height of its rim above the table (m); 0 for flat ones."""
    inner: tuple[float, float]
    """Half extents (x, y) of the area an item must rest in (m); for round ones both are the radius."""
    round: bool
    rgba: tuple[float, float, float, float]


RECEPTACLES: dict[str, Receptacle] = {
    "plate": Receptacle("plate", 0.012, 0.0, (0.085, 0.085), True, (0.96, 0.96, 0.98, 1)),
    "cutting board": Receptacle("cutting board", 0.02, 0.0, (0.09, 0.12), False, (0.7, 0.5, 0.3, 1)),
    "tray": Receptacle("tray", 0.006, 0.022, (0.09, 0.12), False, (0.35, 0.35, 0.4, 1)),
    "bowl": Receptacle("bowl", 0.008, 0.045, (0.07, 0.07), True, (0.3, 0.55, 0.75, 1)),
    "basket": Receptacle("basket", 0.008, 0.06, (0.085, 0.1), False, (0.6, 0.45, 0.25, 1)),
}


def item_joint(item: Item) -> str:
    return "item_" + item.name


def rec_body(rec: Receptacle) -> str:
    return "rec_" + rec.name.replace(" ", "_")


def _build_receptacle(spec: mujoco.MjSpec, rec: Receptacle, park: np.ndarray) -> None:
    body = spec.worldbody.add_body(name=rec_body(rec), pos=park.tolist(), mocap=True)
    rgba = list(rec.rgba)
    hx, hy = rec.inner
    if rec.wall == 0.0:  # flat: a disc or a board
        if rec.round:
            body.add_geom(type=GEOM.mjGEOM_CYLINDER, size=[hx + 0.01, rec.floor / 2, 0],
                          pos=[0, 0, rec.floor / 2], rgba=rgba)
        else:
            body.add_geom(type=GEOM.mjGEOM_BOX, size=[hx + 0.01, hy + 0.01, rec.floor / 2],
                          pos=[0, 0, rec.floor / 2], rgba=rgba)
        return
    t, h = 0.008, rec.wall
    if rec.round:
        body.add_geom(type=GEOM.mjGEOM_CYLINDER, size=[hx + t, rec.floor / 2, 0], pos=[0, 0, rec.floor / 2],
                      rgba=rgba)
        n = 12
        seg = (hx + t) * np.tan(np.pi / n) + 0.002
        for i in range(n):
            a = 2 * np.pi * i / n
            body.add_geom(type=GEOM.mjGEOM_BOX, size=[t / 2, seg, h / 2],
                          pos=[(hx + t / 2) * np.cos(a), (hx + t / 2) * np.sin(a), h / 2],
                          quat=[np.cos(a / 2), 0, 0, np.sin(a / 2)], rgba=rgba)
        return
    body.add_geom(type=GEOM.mjGEOM_BOX, size=[hx + t, hy + t, rec.floor / 2], pos=[0, 0, rec.floor / 2],
                  rgba=rgba)
    for sx, sy, px, py in ((t / 2, hy + t, hx + t / 2, 0), (t / 2, hy + t, -hx - t / 2, 0),
                           (hx + t, t / 2, 0, hy + t / 2), (hx + t, t / 2, 0, -hy - t / 2)):
        body.add_geom(type=GEOM.mjGEOM_BOX, size=[sx, sy, h / 2], pos=[px, py, h / 2], rgba=rgba)


def build_table(spec: mujoco.MjSpec) -> None:
    """The table, every item and every receptacle (parked)."""
    add_table(spec, "table", (0.5, 0.0), (0.3, 0.6), TABLE_Z)
    for i, it in enumerate(ITEMS.values()):
        add_free_object(spec, item_joint(it), it.shape, list(it.size), it.rgba, mass=it.mass,
                        pos=tuple(PARK + [0.12 * i, 0, it.half_height]))
    for i, rec in enumerate(RECEPTACLES.values()):
        _build_receptacle(spec, rec, PARK + [0.25 * i, -0.4, 0])


def park_items(model: mujoco.MjModel, data: mujoco.MjData) -> None:
    for i, it in enumerate(ITEMS.values()):
        set_free_pose(model, data, item_joint(it), PARK + [0.12 * i, 0, it.half_height])
    for i, rec in enumerate(RECEPTACLES.values()):
        data.mocap_pos[model.body(rec_body(rec)).mocapid[0]] = PARK + [0.25 * i, -0.4, 0]


def item_pos(model: mujoco.MjModel, data: mujoco.MjData, item: Item) -> np.ndarray:
    return free_pose(model, data, item_joint(item))[:3]


def inside(rec: Receptacle, center: np.ndarray, pos: np.ndarray, margin: float = 0.0) -> bool:
    """True when `pos` (an item centre) is over `rec`'s inner area placed at `center`."""
    # scalar math: numpy's per-call cost dominates on 2-vectors (this runs in every success check)
    dx, dy = float(pos[0]) - float(center[0]), float(pos[1]) - float(center[1])
    if rec.round:
        return (dx * dx + dy * dy) ** 0.5 < rec.inner[0] - margin
    return abs(dx) < rec.inner[0] - margin and abs(dy) < rec.inner[1] - margin


class HandDriver:
    """Steers one hand's commanded TCP to Cartesian targets with clipped steps; the other hand holds."""

    def __init__(self, robot: HumanoidUpper, max_lin: float = 0.03, max_rot: float = 0.2) -> None:
        self.robot = robot
        self.max_lin, self.max_rot = max_lin, max_rot
        self.side = "left"

    def action(self, pos: np.ndarray, grip: float, quat: np.ndarray = SIDE_QUAT,
               max_lin: float | None = None) -> np.ndarray:
        tw = self.robot.command_twist_to(self.side, np.asarray(pos, dtype=float), quat)
        lin = max_lin or self.max_lin
        n = float(np.linalg.norm(tw[:3]))
        if n > lin:
            tw[:3] *= lin / n
        ang = float(np.linalg.norm(tw[3:]))
        if ang > self.max_rot:
            tw[3:] *= self.max_rot / ang
        out = np.zeros(14, dtype=np.float32)
        i = 0 if self.side == "left" else 7
        out[i:i + 6] = tw
        out[i + 6] = grip
        return out

    def pos(self) -> np.ndarray:
        return self.robot.tcp_pose(self.side)[0]

    def dist(self, pos: np.ndarray) -> float:
        return float(np.linalg.norm(self.pos() - np.asarray(pos)))


def side_grasp_and_lift(expert, drv: HandDriver, obj: np.ndarray, behind: np.ndarray, grasp_z: float,
                        carry_z: float, clearance: float) -> np.ndarray:
    """Phases 0-4 of the humanoid side grasp, advancing `expert.phase` (0..5), `.wait` and `.offset`.

    0: behind the item at `clearance` above the grasp height (never sweep down across it); 1: down;
    2: in, fingers around the item; 3: close; 4: lift to `carry_z` keeping the grasp offset.
    """
    if expert.phase == 0:
        tgt = behind + [0, 0, clearance]
        a = drv.action(tgt, 0.0)
        expert.wait += 1
        err = drv.pos() - tgt
        if (np.linalg.norm(err[:2]) < 0.015 and abs(err[2]) < 0.04) or expert.wait > 30:
            expert.phase = 1
    elif expert.phase == 1:  # down
        a = drv.action(behind, 0.0, max_lin=0.02)
        if drv.dist(behind) < 0.012:
            expert.phase = 2
    elif expert.phase == 2:  # in, fingers around the item
        tgt = np.array([obj[0] + 0.005, obj[1], grasp_z])
        a = drv.action(tgt, 0.0, max_lin=0.02)
        if drv.dist(tgt) < 0.01:
            expert.phase, expert.wait = 3, 0
    elif expert.phase == 3:  # close
        a = drv.action(np.array([obj[0] + 0.005, obj[1], grasp_z]), 1.0)
        expert.wait += 1
        if expert.wait >= 6:
            expert.phase = 4
            expert.offset = drv.pos() - obj
    else:  # 4: lift
        tgt = np.array([obj[0], obj[1], 0.0]) + expert.offset
        tgt[2] = carry_z
        a = drv.action(tgt, 1.0, max_lin=0.02)
        if drv.pos()[2] > carry_z - 0.015:
            expert.phase = 5
    return a
