"""`tabletop/stack`: put the named cube on top of the other named cube."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.sim.scene import GEOM, add_free_object, add_table, set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.tabletop.common import (
    PARK,
    TABLE_CENTER,
    TABLE_HALF,
    TABLE_Z,
    WaypointArm,
    grasp_yaw,
    quat_yaw,
    sample_positions,
)

CUBE_HALF = 0.02
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.12, 1),
    "green": (0.15, 0.7, 0.25, 1),
    "blue": (0.15, 0.3, 0.85, 1),
    "yellow": (0.95, 0.8, 0.1, 1),
    "orange": (0.95, 0.5, 0.1, 1),
}


def cube_joint(colour: str) -> str:
    return f"cube_{colour}"


@dataclass
class StackConfig(TaskConfig):
    """Options of tabletop/stack."""

    n_distractors: int = 1
    """Other cubes on the table besides the two named ones."""
    xy_tolerance: float = 0.02
    """How far (m) the top cube's centre may be from the bottom cube's centre, horizontally."""


@register_task("tabletop/stack")
class Stack(Task):
    """Two of five coloured cubes are named; the first must end resting on the second, released."""

    instructions = (
        "stack the {top} cube on the {bottom} cube",
        "put the {top} cube on top of the {bottom} cube",
        "place the {top} cube onto the {bottom} cube",
        "pick up the {top} cube and stack it on the {bottom} one",
    )
    default_max_steps = 120
    config_cls = StackConfig

    def build(self, spec: mujoco.MjSpec) -> None:
        add_table(spec, "table", TABLE_CENTER, TABLE_HALF, TABLE_Z)
        for i, colour in enumerate(COLOURS):
            add_free_object(spec, cube_joint(colour), GEOM.mjGEOM_BOX, [CUBE_HALF] * 3, COLOURS[colour],
                            mass=0.08, pos=tuple(PARK + [0, 0.1 * i, 0]))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        names = list(COLOURS)
        self.top, self.bottom = names[0], names[1]
        self._dof = {c: int(model.jnt_dofadr[model.joint(cube_joint(c)).id]) for c in names}
        self._qadr = {c: int(model.jnt_qposadr[model.joint(cube_joint(c)).id]) for c in names}

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        names = list(COLOURS)
        for i, c in enumerate(names):
            set_free_pose(m, d, cube_joint(c), PARK + [0, 0.1 * i, CUBE_HALF])
        n = 2 + self.config.n_distractors
        chosen = [names[i] for i in rng.choice(len(names), size=n, replace=False)]
        self.top, self.bottom = chosen[0], chosen[1]
        for c, xy in zip(chosen, sample_positions(rng, n, min_dist=0.1), strict=True):
            set_free_pose(m, d, cube_joint(c), np.array([xy[0], xy[1], TABLE_Z + CUBE_HALF]),
                          yaw=rng.uniform(-np.pi, np.pi))

    def instruction_fields(self) -> dict[str, str]:
        return {"top": self.top, "bottom": self.bottom}

    def pose(self, colour: str) -> np.ndarray:
        a = self._qadr[colour]
        return self.data.qpos[a:a + 7].copy()

    def success(self) -> bool:
        top, bottom = self.pose(self.top)[:3], self.pose(self.bottom)[:3]
        d = self.data
        speed = float(np.linalg.norm(d.qvel[self._dof[self.top]:self._dof[self.top] + 3]))
        on_top = (np.linalg.norm(top[:2] - bottom[:2]) < self.config.xy_tolerance
                  and abs(top[2] - bottom[2] - 2 * CUBE_HALF) < 0.006
                  and bottom[2] < TABLE_Z + CUBE_HALF + 0.005)
        return bool(on_top and speed < 0.05 and self.robot.gripper_width() > 0.05)

    def state_names(self) -> list[str]:
        return [f"{o}.{k}.{a}" for o in ("top", "bottom") for k, axes in (("pos", "xyz"), ("quat", "wxyz"))
                for a in axes]

    def state(self) -> np.ndarray:
        return np.concatenate([self.pose(self.top), self.pose(self.bottom)]).astype(np.float32)

    def make_expert(self) -> Expert:
        return StackExpert(self)


class StackExpert(Expert):
    """Above the top cube, down, close, lift, over the bottom cube, lower onto it, open, up."""

    def __init__(self, task: Stack) -> None:
        super().__init__(task)
        self.ctl = WaypointArm(task.robot)

    def reset(self) -> None:
        self.ctl.reset()
        self.phase, self.wait = 0, 0

    def act(self, obs: dict) -> np.ndarray:
        t: Stack = self.task  # type: ignore[assignment]
        top, bottom = t.pose(t.top), t.pose(t.bottom)
        carry_z = TABLE_Z + 0.16
        if self.phase <= 3:
            obj = top[:3]
            q = self.ctl.down_quat(grasp_yaw(quat_yaw(top[3:]), np.pi / 2))
            self.grasp_quat = q
        else:
            obj = bottom[:3]
            q = self.grasp_quat
        above = np.array([obj[0], obj[1], carry_z])
        if self.phase == 0:  # above the top cube, wrist aligned with its faces
            a = self.ctl.action(above, q, 0.0)
            if self.ctl.dist(above) < 0.012:
                self.phase = 1
        elif self.phase == 1:  # straight down around it
            grasp = np.array([obj[0], obj[1], TABLE_Z + CUBE_HALF])
            a = self.ctl.action(grasp, q, 0.0, max_lin=0.025)
            if self.ctl.dist(grasp) < 0.008:
                self.phase, self.wait = 2, 0
        elif self.phase == 2:  # close
            a = self.ctl.action(np.array([obj[0], obj[1], TABLE_Z + CUBE_HALF]), q, 1.0)
            self.wait += 1
            if self.wait >= 6:
                self.phase = 3
        elif self.phase == 3:  # lift
            a = self.ctl.action(above, q, 1.0, max_lin=0.02)
            if self.ctl.tcp_z() > carry_z - 0.02:
                self.phase = 4
        elif self.phase == 4:  # over the bottom cube
            a = self.ctl.action(above, q, 1.0, max_lin=0.03)
            if self.ctl.dist(above) < 0.008:
                self.phase = 5
        elif self.phase == 5:  # lower until the held cube sits just above the bottom one
            place = np.array([obj[0], obj[1], obj[2] + 2 * CUBE_HALF + 0.004])
            a = self.ctl.action(place, q, 1.0, max_lin=0.015)
            if self.ctl.dist(place) < 0.005:
                self.phase, self.wait = 6, 0
        elif self.phase == 6:  # release
            a = self.ctl.action(np.array([obj[0], obj[1], obj[2] + 2 * CUBE_HALF + 0.004]), q, 0.0)
            self.wait += 1
            if self.wait >= 5:
                self.phase = 7
        else:  # back up
            a = self.ctl.action(np.array([obj[0], obj[1], carry_z]), q, 0.0, max_lin=0.02)
        return a
