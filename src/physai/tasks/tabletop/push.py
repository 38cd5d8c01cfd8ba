"""`tabletop/push`: push the named object into the marked zone with the closed gripper."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7
from physai.sim.scene import add_marker, set_free_pose
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

# low objects only: the tall cylinder and block tip over under a flat pusher
PUSHABLE = tuple(k for k in OBJECTS if k.name in ("red cube", "yellow puck"))
ZONE_HALF = 0.05
PUSH_Z = TABLE_Z + 0.025  # TCP height while pushing: pad tips ~5 mm above the table


@dataclass
class PushConfig(TaskConfig):
    """Options of tabletop/push."""

    min_distance: float = 0.12
    """Smallest initial distance (m) between the object and the zone centre."""
    max_distance: float = 0.22
    """Largest initial distance (m) between the object and the zone centre."""


@register_task("tabletop/push")
class Push(Task):
    """One object (cube or puck) lies on the table; push it until it rests inside the zone.

    Success: the object's centre is inside the square zone and the object is (nearly) at rest.
    """

    instructions = (
        "push the {object} into the {zone} zone",
        "slide the {object} onto the {zone} square",
        "push the {object} to the {zone} target area",
        "move the {object} into the {zone} zone without picking it up",
    )
    default_max_steps = 150
    config_cls = PushConfig
    config: PushConfig
    robot: Arm7

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table_and_objects(spec, PUSHABLE)
        add_marker(spec, "zone", (ZONE_HALF, ZONE_HALF), (0.2, 0.75, 0.9, 0.6),
                   pos=(0.5, 0.0, TABLE_Z + 0.001))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.zone_mocap = model.body("zone").mocapid[0]
        self._dof = {k.name: int(model.jnt_dofadr[model.joint(object_joint(k)).id]) for k in PUSHABLE}
        self._qadr = {k.name: int(model.jnt_qposadr[model.joint(object_joint(k)).id]) for k in PUSHABLE}
        self.target = PUSHABLE[0]

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        park_all(m, d, PUSHABLE)
        self.target = PUSHABLE[int(rng.integers(len(PUSHABLE)))]
        for _ in range(1000):
            zone, obj = sample_positions(rng, 2, min_dist=self.config.min_distance)
            if np.linalg.norm(zone - obj) <= self.config.max_distance:
                break
        d.mocap_pos[self.zone_mocap] = [zone[0], zone[1], TABLE_Z + 0.001]
        set_free_pose(m, d, object_joint(self.target),
                      np.array([obj[0], obj[1], TABLE_Z + self.target.half_height]),
                      yaw=rng.uniform(-np.pi, np.pi))

    def instruction_fields(self) -> dict[str, str]:
        return {"object": self.target.name, "zone": "blue"}

    def zone_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.zone_mocap].copy()

    def object_pose(self) -> np.ndarray:
        a = self._qadr[self.target.name]
        return self.data.qpos[a:a + 7].copy()

    def in_zone(self, pos: np.ndarray, margin: float = 0.0) -> bool:
        zone = self.data.mocap_pos[self.zone_mocap]
        lim = ZONE_HALF - margin
        return abs(pos[0] - zone[0]) < lim and abs(pos[1] - zone[1]) < lim

    def success(self) -> bool:  # runs every control step: plain float arithmetic, no temporaries
        d = self.data
        a = self._qadr[self.target.name]
        pos = d.qpos[a:a + 3]
        if not self.in_zone(pos) or abs(pos[2] - TABLE_Z - self.target.half_height) >= 0.01:
            return False
        dof = self._dof[self.target.name]
        vx, vy, vz = d.qvel[dof:dof + 3]
        return vx * vx + vy * vy + vz * vz < 0.05 ** 2

    def state_names(self) -> list[str]:
        return [f"object.pos.{a}" for a in "xyz"] + [f"object.quat.{a}" for a in "wxyz"] + \
               [f"zone.pos.{a}" for a in "xyz"]

    def state(self) -> np.ndarray:
        return np.concatenate([self.object_pose(), self.zone_pos()]).astype(np.float32)

    def make_expert(self) -> Expert:
        return PushExpert(self)


class PushExpert(Expert[Push]):
    """Closed gripper behind the object on the line to the zone centre, then push along that line.

    The push line is re-aimed every step; if the object drifts off the pusher the expert lifts,
    goes behind it again and resumes. It stops (backs off) once the object is near the zone centre.
    """

    STANDOFF = 0.035  # m between the object's edge and the TCP before the push

    def __init__(self, task: Push) -> None:
        super().__init__(task)
        self.ctl = WaypointArm(task.robot)

    def reset(self) -> None:
        self.ctl.reset()
        self.phase = 0

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        obj = t.object_pose()[:3]
        zone = t.zone_pos()
        to_zone = zone[:2] - obj[:2]
        dist = float(np.linalg.norm(to_zone))
        d = to_zone / max(dist, 1e-6)
        radius = max(t.target.size[0], t.target.size[1] if len(t.target.size) > 2 else 0.0)
        behind = obj[:2] - d * (radius + self.STANDOFF)
        q = self.ctl.down_quat(float(np.arctan2(d[1], d[0])))  # pads' broad faces across the push line
        tcp = self.ctl.arm.tcp_pose()[0]
        rel = tcp[:2] - obj[:2]
        lateral = float(abs(rel[0] * d[1] - rel[1] * d[0]))
        along = float(rel @ d)
        if dist < 0.012 or (self.phase == 3 and t.in_zone(obj, margin=0.02) and dist < 0.02):
            self.phase = 3
        elif self.phase == 3:
            self.phase = 0  # it slid out of the zone after all: push again
        if self.phase == 0:  # above the point behind the object
            goal = np.array([behind[0], behind[1], PUSH_Z + 0.08])
            a = self.ctl.action(goal, q, 1.0)
            if self.ctl.dist(goal) < 0.015:
                self.phase = 1
        elif self.phase == 1:  # down beside the table top
            goal = np.array([behind[0], behind[1], PUSH_Z])
            a = self.ctl.action(goal, q, 1.0, max_lin=0.025)
            if self.ctl.dist(goal) < 0.01:
                self.phase = 2
        elif self.phase == 2:  # push through the object towards the zone centre
            if lateral > 0.018 or along > -radius * 0.5:
                self.phase, self.retreat_from = 4, tcp[:2] - d * 0.04  # lost it: back off, go round again
                return self.ctl.action(np.array([*self.retreat_from, PUSH_Z]), q, 1.0, max_lin=0.02)
            # advance along the line through the object towards the zone, removing any sideways offset
            step = min(0.015, max(dist, 0.004))
            goal2 = obj[:2] + d * (along + step)
            a = self.ctl.action(np.array([goal2[0], goal2[1], PUSH_Z]), q, 1.0, max_lin=0.03)
        elif self.phase == 4:  # back away from the object at table height, then up and round again
            goal = np.array([*self.retreat_from, PUSH_Z])
            a = self.ctl.action(goal, q, 1.0, max_lin=0.02)
            if self.ctl.dist(goal) < 0.01:
                self.phase = 0
        else:  # done: back off and up
            goal = np.array([tcp[0] - d[0] * 0.02, tcp[1] - d[1] * 0.02, PUSH_Z + 0.1])
            a = self.ctl.action(goal, q, 1.0, max_lin=0.02)
        return a
