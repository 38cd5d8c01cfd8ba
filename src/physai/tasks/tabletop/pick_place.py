"""`tabletop/pick-place`: pick the named object (one of five shapes/colours) and put it in the tray."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7
from physai.sim.geometry import grasp_yaw, quat_yaw
from physai.sim.scene import add_open_box, free_pose, set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.tabletop.common import (
    OBJECTS,
    TABLE_Z,
    WaypointArm,
    build_table_and_objects,
    object_joint,
    park_all,
    sample_positions,
)

TRAY_HALF = (0.08, 0.08, 0.025)
TRAY_WALL = 0.008
TRAY_CLEARANCE = 0.16


@dataclass
class PickPlaceConfig(TaskConfig):
    """Options of tabletop/pick-place."""

    n_distractors: int = 2
    """Other objects on the table besides the target."""


@register_task("tabletop/pick-place")
class PickPlace(Task):
    """One of five objects is named in the instruction; it must end up resting inside the tray."""

    instructions = (
        "put the {object} in the tray",
        "pick up the {object} and place it in the tray",
        "move the {object} into the tray",
        "place the {object} inside the tray",
    )
    default_max_steps = 160
    config_cls = PickPlaceConfig
    config: PickPlaceConfig
    robot: Arm7

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table_and_objects(spec)
        tray = spec.worldbody.add_body(name="tray", pos=[0.5, 0.3, TABLE_Z], mocap=True)
        add_open_box(tray, "tray", TRAY_HALF, TRAY_WALL, (0.35, 0.35, 0.4, 1))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.tray_mocap = model.body("tray").mocapid[0]
        self._dof = {k.name: int(model.jnt_dofadr[model.joint(object_joint(k)).id]) for k in OBJECTS}
        self._qadr = {k.name: int(model.jnt_qposadr[model.joint(object_joint(k)).id]) for k in OBJECTS}
        self.target = OBJECTS[0]
        self.active: list = []

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        park_all(m, d)
        n = 1 + self.config.n_distractors
        idx = rng.choice(len(OBJECTS), size=n, replace=False)
        self.active = [OBJECTS[i] for i in idx]
        self.target = self.active[0]
        # objects keep TRAY_CLEARANCE from the tray centre so an open finger never lands on a tray wall
        tray_xy = sample_positions(rng, 1, min_dist=0.0)[0]
        obj_xy = sample_positions(rng, n, min_dist=0.13, avoid=[tray_xy], avoid_dist=TRAY_CLEARANCE)
        d.mocap_pos[self.tray_mocap] = [tray_xy[0], tray_xy[1], TABLE_Z]
        for k, xy in zip(self.active, obj_xy, strict=True):
            set_free_pose(m, d, object_joint(k), np.array([xy[0], xy[1], TABLE_Z + k.half_height]),
                          yaw=rng.uniform(-np.pi, np.pi))

    def instruction_fields(self) -> dict[str, str]:
        return {"object": self.target.name}

    def target_pose(self) -> np.ndarray:
        """Position (3) and quaternion (4, wxyz) of the named object."""
        a = self._qadr[self.target.name]
        return self.data.qpos[a:a + 7].copy()

    def tray_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.tray_mocap].copy()

    def in_tray(self, pos: np.ndarray, margin: float = 0.0) -> bool:
        t = self.tray_pos()
        inner = np.array(TRAY_HALF[:2]) - TRAY_WALL - margin
        return bool(np.all(np.abs(pos[:2] - t[:2]) < inner) and pos[2] < t[2] + TRAY_HALF[2] * 2 + 0.02)

    def success(self) -> bool:
        d = self.data
        pos = self.target_pose()[:3]
        vel = d.qvel[self._dof[self.target.name]:][:3]
        return self.in_tray(pos) and float(np.linalg.norm(vel)) < 0.05 and self.robot.gripper_width() > 0.05

    def state_names(self) -> list[str]:
        return [f"target.pos.{a}" for a in "xyz"] + [f"target.quat.{a}" for a in "wxyz"] + \
               [f"tray.pos.{a}" for a in "xyz"]

    def state(self) -> np.ndarray:
        pose = self.target_pose()
        return np.concatenate([pose, self.tray_pos()]).astype(np.float32)

    def keypoints(self) -> dict[str, np.ndarray]:
        """The named object, the tray, and every object kind by name ('red_cube', ...; the unused
        ones where they are parked): labels that teach an image encoder all five colours at once."""
        m, d = self.model, self.data
        kinds = {k.name.replace(" ", "_"): free_pose(m, d, object_joint(k))[:3] for k in OBJECTS}
        return {"target": self.target_pose()[:3], "tray": self.tray_pos(), **kinds}

    def make_expert(self) -> Expert:
        return PickPlaceExpert(self)


class PickPlaceExpert(Expert[PickPlace]):
    """Above the object, down, close, lift, over the tray, down, open, up."""

    def __init__(self, task: PickPlace) -> None:
        super().__init__(task)
        self.ctl = WaypointArm(task.robot)

    def reset(self) -> None:
        self.ctl.reset()
        self.phase, self.wait = 0, 0

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        m, d = t.model, t.data
        pose = free_pose(m, d, object_joint(t.target))
        obj, yaw = pose[:3], quat_yaw(pose[3:])
        q = self.ctl.down_quat(grasp_yaw(yaw, t.target.yaw_symmetry))
        tray = t.tray_pos()
        above_obj = obj + [0, 0, 0.12]
        grasp_z = max(obj[2] + min(0.0, 0.02 - t.target.half_height), TABLE_Z + 0.024)
        grasp = np.array([obj[0], obj[1], grasp_z])
        carry_z = TABLE_Z + 0.22
        if self.phase == 0:  # above the object, wrist aligned
            a = self.ctl.action(above_obj, q, 0.0)
            if self.ctl.dist(above_obj) < 0.015:
                self.phase = 1
        elif self.phase == 1:  # straight down
            a = self.ctl.action(grasp, q, 0.0, max_lin=0.025)
            if self.ctl.dist(grasp) < 0.008:
                self.phase, self.wait = 2, 0
        elif self.phase == 2:  # close
            a = self.ctl.action(grasp, q, 1.0)
            self.wait += 1
            if self.wait >= 6:
                self.phase = 3
        elif self.phase == 3:  # lift
            up = np.array([obj[0], obj[1], carry_z])
            a = self.ctl.action(up, q, 1.0, max_lin=0.02)
            if self.ctl.tcp_z() > carry_z - 0.03:
                self.phase = 4
        elif self.phase == 4:  # over the tray
            dest = np.array([tray[0], tray[1], carry_z])
            a = self.ctl.action(dest, q, 1.0, max_lin=0.03)
            if self.ctl.dist(dest) < 0.02:
                self.phase = 5
        elif self.phase == 5:  # lower into the tray
            dest = np.array([tray[0], tray[1], TABLE_Z + 0.1])
            a = self.ctl.action(dest, q, 1.0, max_lin=0.03)
            if self.ctl.dist(dest) < 0.015:
                self.phase, self.wait = 6, 0
        elif self.phase == 6:  # release
            a = self.ctl.action(np.array([tray[0], tray[1], TABLE_Z + 0.1]), q, 0.0)
            self.wait += 1
            if self.wait >= 5:
                self.phase = 7
        else:  # back up
            a = self.ctl.action(np.array([tray[0], tray[1], carry_z]), q, 0.0)
        return a
