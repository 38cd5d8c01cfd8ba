"""`humanoid/drawer-<item>`: put an item in the open drawer of a small chest, then push the drawer shut.

The chest stands on the working hand's half of the table (a mocap body: resets move it without
recompiling) with its drawer (a slide joint, opening towards the robot) pulled out most of the way;
the item stands on the table nearer the middle. The expert side-grasps the item with the hand on
that side, drops it into the exposed part of the drawer, backs off, and pushes the drawer's front
panel with the closed fingers until the drawer is shut. Success: the drawer is closed, the item is
inside the drawer's volume, and the hand has let go.

Chest frame: origin at the middle of the front face on the table top, +x away from the robot.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.humanoid import HumanoidUpper
from physai.sim.scene import GEOM, set_free_pose
from physai.tasks.base import Expert, Task, register_task
from physai.tasks.humanoid.common import (
    ITEMS,
    PARK,
    TABLE_Z,
    HandDriver,
    Item,
    build_table,
    park_items,
    side_grasp_and_lift,
)

CHEST_W, CHEST_D, CHEST_H = 0.2, 0.22, 0.17
"""Chest outer width (y), depth (x) and height (m)."""
DRAWER_TRAVEL = 0.17
DRAWER_FLOOR = 0.012
"""Top of the drawer floor above the table (m)."""
DRAWER_IN = (0.18, 0.075)
"""Drawer inside: depth (x) and half width (y) (m)."""
FRONT_H = 0.075
"""Height of the drawer's front panel above the table; its other walls are `WALL_H`."""
WALL_H = 0.045
CLOSED_Q = 0.012
"""The drawer counts as shut below this opening (m)."""
DRAWER_ITEMS = ("cup", "can", "apple", "orange")
"""Items short enough to pass under the chest's top when the drawer closes."""
CHEST_PARK = PARK + np.array([0.0, -0.8, 0.0])
WOOD = (0.55, 0.42, 0.3, 1)
FRONT = (0.92, 0.9, 0.85, 1)


def build_chest(spec: mujoco.MjSpec) -> None:
    """The chest (parked) with its drawer, beside the tabletop suite's items and receptacles."""
    body = spec.worldbody.add_body(name="chest", mocap=True, pos=CHEST_PARK.tolist())
    t, w, d, h = 0.008, CHEST_W / 2, CHEST_D, CHEST_H
    for s in (-1, 1):
        body.add_geom(type=GEOM.mjGEOM_BOX, size=[d / 2, t, h / 2], pos=[d / 2, s * (w - t), h / 2],
                      rgba=WOOD)
    body.add_geom(type=GEOM.mjGEOM_BOX, size=[t, w, h / 2], pos=[d - t, 0, h / 2], rgba=WOOD)
    body.add_geom(type=GEOM.mjGEOM_BOX, size=[d / 2, w, t], pos=[d / 2, 0, h - t], rgba=WOOD)
    drawer = body.add_body(name="chest_drawer", pos=[0, 0, 0])
    drawer.add_joint(name="chest_drawer", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[-1, 0, 0],
                     range=[0, DRAWER_TRAVEL], damping=4.0, frictionloss=0.3, armature=0.05)
    din, hw = DRAWER_IN
    fl = DRAWER_FLOOR
    drawer.add_geom(type=GEOM.mjGEOM_BOX, size=[din / 2 + 0.008, hw + 0.008, fl / 2 - 0.001],
                    pos=[din / 2 + 0.008, 0, fl / 2 + 0.001], rgba=FRONT, mass=0.2)
    drawer.add_geom(name="chest_drawer_front", type=GEOM.mjGEOM_BOX, size=[0.004, w - t - 0.002, FRONT_H / 2],
                    pos=[0.004, 0, FRONT_H / 2 + 0.001], rgba=FRONT, mass=0.2)
    drawer.add_geom(type=GEOM.mjGEOM_BOX, size=[0.004, hw + 0.008, WALL_H / 2],
                    pos=[din + 0.012, 0, WALL_H / 2 + 0.001], rgba=FRONT, mass=0.05)
    for s in (-1, 1):
        drawer.add_geom(type=GEOM.mjGEOM_BOX, size=[din / 2 + 0.008, 0.004, WALL_H / 2],
                        pos=[din / 2 + 0.008, s * (hw + 0.004), WALL_H / 2 + 0.001], rgba=FRONT, mass=0.05)


class HumanoidDrawer(Task):
    """Put `item` into the chest's open drawer and close the drawer."""

    robot: HumanoidUpper

    embodiment_name = "humanoid-upper"
    instructions = (
        "put the {item} in the drawer and close it",
        "place the {item} inside the open drawer, then shut the drawer",
        "store the {item} in the drawer and push the drawer closed",
        "drop the {item} into the drawer and close the drawer",
    )
    default_max_steps = 200
    item_name: str = "cup"

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.item: Item = ITEMS[self.item_name]
        self.side = "left"

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)
        build_chest(spec)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self._mocap = int(model.body("chest").mocapid[0])
        jid = model.joint("chest_drawer").id
        self._dq, self._dv = int(model.jnt_qposadr[jid]), int(model.jnt_dofadr[jid])
        jid = model.joint("item_" + self.item.name).id
        self._dof, self._qadr = int(model.jnt_dofadr[jid]), int(model.jnt_qposadr[jid])
        self._state = np.empty(7, np.float32)

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        park_items(m, d)
        self.side = "left" if rng.random() < 0.5 else "right"
        sign = 1.0 if self.side == "left" else -1.0
        chest = np.array([rng.uniform(0.45, 0.49), sign * rng.uniform(0.22, 0.27), TABLE_Z])
        d.mocap_pos[self._mocap] = chest
        d.qpos[self._dq] = rng.uniform(0.12, 0.145)
        d.qvel[self._dv] = 0.0
        xy = np.array([rng.uniform(0.34, 0.4), sign * rng.uniform(0.0, 0.06)])
        pos = np.array([xy[0], xy[1], TABLE_Z + self.item.half_height])
        set_free_pose(m, d, "item_" + self.item.name, pos, yaw=rng.uniform(-np.pi, np.pi))

    # privileged state
    def chest_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self._mocap].copy()

    def drawer_q(self) -> float:
        return float(self.data.qpos[self._dq])

    def item_pos(self) -> np.ndarray:
        return self.data.qpos[self._qadr:self._qadr + 3].copy()

    def in_drawer(self) -> bool:
        """True when the item's centre lies inside the drawer box (wherever the drawer is)."""
        d, a = self.data, self._qadr
        ix, iy, iz = d.qpos[a:a + 3].tolist()  # scalar math: no temporaries
        cx, cy, cz = d.mocap_pos[self._mocap].tolist()
        lx, ly, lz = ix - cx + float(d.qpos[self._dq]), iy - cy, iz - cz
        din, hw = DRAWER_IN
        return 0.0 < lx < din + 0.008 and abs(ly) < hw and lz < CHEST_H

    def success(self) -> bool:
        # cheapest test first (runs every control step)
        if not self.data.qpos[self._dq] < CLOSED_Q:
            return False
        robot = self.robot
        released = robot.gripper_width("left") > 0.06 and robot.gripper_width("right") > 0.06
        return released and self.in_drawer()

    def instruction_fields(self) -> dict[str, str]:
        return {"item": self.item.name}

    def state_names(self) -> list[str]:
        return [f"item.pos.{a}" for a in "xyz"] + [f"chest.pos.{a}" for a in "xyz"] + ["drawer.q"]

    def state(self) -> np.ndarray:
        d, out, a = self.data, self._state, self._qadr
        out[0:3] = d.qpos[a:a + 3]
        out[3:6] = d.mocap_pos[self._mocap]
        out[6] = d.qpos[self._dq]
        return out.copy()

    def make_expert(self) -> Expert:
        return DrawerExpert(self)


class DrawerExpert(Expert[HumanoidDrawer]):
    """Side grasp, lift over the drawer's front panel, drop it in the exposed part, back off, push shut."""

    def __init__(self, task: HumanoidDrawer) -> None:
        super().__init__(task)
        self.drv = HandDriver(task.robot)

    def reset(self) -> None:
        t = self.task
        self.drv.side = t.side
        self.phase, self.wait = 0, 0
        self.offset = np.zeros(3)

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        it, drv = t.item, self.drv
        obj = t.item_pos()
        chest, q = t.chest_pos(), t.drawer_q()
        grasp_z = TABLE_Z + it.grasp_h
        carry_z = TABLE_Z + FRONT_H + 0.03 + it.grasp_h
        behind = np.array([obj[0] - 0.095, obj[1], grasp_z])
        if self.phase < 5:  # behind the item, down, in, close, lift (shared with the other experts)
            clearance = max(2 * it.half_height + 0.04 - it.grasp_h, 0.05)
            a = side_grasp_and_lift(self, drv, obj, behind, grasp_z, carry_z, clearance)
        elif self.phase in (5, 6):  # over the exposed middle of the drawer, then a little lower
            spot = chest + [-0.5 * q + 0.01, 0.0, 0.0]
            z = carry_z if self.phase == 5 else carry_z - 0.015
            tgt = np.array([spot[0], spot[1], z]) + self.offset * [1, 1, 0]
            a = drv.action(tgt, 1.0, max_lin=0.025 if self.phase == 5 else 0.015)
            if drv.dist(tgt) < (0.015 if self.phase == 5 else 0.008):
                self.phase, self.wait = self.phase + 1, 0
        elif self.phase == 7:  # open
            a = drv.action(drv.robot.arms[drv.side].commanded_tcp()[0], 0.0)
            self.wait += 1
            if self.wait >= 6:
                self.phase, self.wait = 8, 0
                self.retreat = drv.pos() + [0.0, 0, 0.06]  # straight up, clear of the item and the panel
        elif self.phase == 8:  # back off, clear of the item
            a = drv.action(self.retreat, 0.0)
            self.wait += 1
            if drv.dist(self.retreat) < 0.015 or self.wait > 18:
                self.phase = 9
        elif self.phase in (9, 10):  # the closed hand above, then right in front of the drawer's front panel
            push = np.array([chest[0] - q - 0.04, chest[1], TABLE_Z + 0.05])
            tgt = push + [0, 0, 0.08] if self.phase == 9 else push  # level back over the panel, then down
            a = drv.action(tgt, 1.0, max_lin=0.025 if self.phase == 9 else 0.015)
            err = np.abs(drv.pos() - tgt)  # close to the body the arm sags a little: lenient in z up there
            if np.all(err < ([0.015, 0.015, 0.035] if self.phase == 9 else 0.012)):
                self.phase += 1
        elif self.phase == 11:  # push the drawer shut, a little ahead of where it is
            tgt = np.array([chest[0] - max(q - 0.04, -0.01) - 0.03, chest[1], TABLE_Z + 0.05])
            a = drv.action(tgt, 1.0, max_lin=0.02)
            if q < CLOSED_Q * 0.5:
                self.phase = 12
        else:  # open the hand and back away
            a = drv.action(np.array([chest[0] - 0.12, chest[1], TABLE_Z + 0.08]), 0.0, max_lin=0.02)
        return a


def _register(item: str) -> type[HumanoidDrawer]:
    cls = type(f"HumanoidDrawer_{item}", (HumanoidDrawer,),
               {"item_name": item, "__module__": __name__,
                "__doc__": f"Put the {item} in the open drawer and close the drawer."})
    return register_task(f"humanoid/drawer-{item}")(cls)


for _item in DRAWER_ITEMS:
    _register(_item)
