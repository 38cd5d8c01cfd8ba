"""`dexterous/grasp-lift`: grasp one object (five shapes, 50-250 g) with the hand and lift it 8 cm."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from physai.embodiments.hand16 import Hand16
from physai.sim.scene import add_free_object, free_pose, set_free_pose
from physai.tasks.base import Expert, Task, register_task
from physai.tasks.dexterous.common import PALM_OFFSET, SHAPES, TABLE_Z, HandDriver, TactileGrip, build_table

LIFT = 0.08  # m above the resting height
PARK = np.array([1.0, 1.0, 0.05])
_COLOURS = {"cube": "red", "cylinder": "green", "ball": "blue", "bar": "orange", "block": "purple"}
_RGBA = {
    "red": (0.85, 0.15, 0.12, 1),
    "green": (0.15, 0.7, 0.25, 1),
    "blue": (0.15, 0.3, 0.85, 1),
    "orange": (0.95, 0.55, 0.1, 1),
    "purple": (0.55, 0.2, 0.7, 1),
}
HOLD_STEPS = 5


def obj_name(shape: str) -> str:
    return f"obj_{shape}"


@register_task("dexterous/grasp-lift")
class GraspLift(Task):
    """One of five shapes with a random mass is on the table; grasp it and hold it 8 cm up."""

    robot: Hand16

    embodiment_name = "hand16"
    instructions = (
        "pick up the {object}",
        "grasp the {object} and lift it",
        "lift the {colour} {object} off the table",
        "take hold of the {object} and raise it",
    )
    default_max_steps = 120
    control_hz = 20.0
    timestep = 0.002
    expert_control = "ee_delta"

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)
        for i, s in enumerate(SHAPES):
            add_free_object(
                spec,
                obj_name(s.name),
                s.geom,
                list(s.size),
                _RGBA[_COLOURS[s.name]],
                mass=0.1,
                friction=1.0,
                pos=tuple(PARK + [0.1 * i, 0, s.half_height]),
            )

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.bodies = {s.name: model.body(obj_name(s.name)).id for s in SHAPES}
        self.geoms = {s.name: model.geom(f"{obj_name(s.name)}_geom").id for s in SHAPES}
        self.shape = SHAPES[0]
        self.rest_z = TABLE_Z
        self.hold = 0

    def reset(self, rng: np.random.Generator) -> None:
        m = self.model
        for i, s in enumerate(SHAPES):
            self._set_pose(s, PARK[:2] + [0.15 * i, 0.0], 0.0)
        self.shape = SHAPES[int(rng.integers(len(SHAPES)))]
        mass = float(rng.uniform(0.05, 0.25))
        body = self.bodies[self.shape.name]
        scale = mass / m.body_mass[body]
        m.body_mass[body] = mass
        m.body_inertia[body] *= scale
        xy = rng.uniform(-0.06, 0.06, size=2)
        yaw = float(rng.uniform(-0.5, 0.5))
        self.rest_z = self._set_pose(self.shape, xy, yaw, TABLE_Z)
        self.yaw = yaw
        self.hold = 0

    def _set_pose(self, shape, xy: np.ndarray, yaw: float, base_z: float = 0.0) -> float:
        """Rest `shape` at `xy` on a surface at `base_z`; returns its centre z."""
        z = base_z + shape.half_height
        set_free_pose(self.model, self.data, obj_name(shape.name), np.array([xy[0], xy[1], z]), yaw=yaw)
        return z

    def instruction_fields(self) -> dict[str, str]:
        return {"object": self.shape.name, "colour": _COLOURS[self.shape.name]}

    def object_pose(self) -> np.ndarray:
        return free_pose(self.model, self.data, obj_name(self.shape.name))

    def success(self) -> bool:
        pos = self.object_pose()[:3]
        hand_touch = self.robot.finger_forces()
        up = pos[2] > self.rest_z + LIFT and np.count_nonzero(hand_touch > 0.05) >= 2
        self.hold = self.hold + 1 if up else 0
        return self.hold >= HOLD_STEPS

    def state_names(self) -> list[str]:
        return [f"object.pos.{a}" for a in "xyz"] + [f"object.quat.{a}" for a in "wxyz"] + ["object.mass"]

    def state(self) -> np.ndarray:
        mass = self.model.body_mass[self.bodies[self.shape.name]]
        return np.concatenate([self.object_pose(), [mass]]).astype(np.float32)

    def make_expert(self) -> Expert:
        return GraspExpert(self, grip_target=1.2 + 8.0 * 0.25, grip_high=4.0 + 8.0 * 0.25, lift=LIFT + 0.03)


class GraspExpert(Expert[Any]):
    """Above the object, pre-shape, descend, tactile grip, lift and hold."""

    def __init__(
        self, task: Any, grip_target: float | np.ndarray, grip_high: float | np.ndarray, lift: float,
        descend: float = 0.0
    ) -> None:
        super().__init__(task)
        hand = task.robot
        self.drv = HandDriver(hand)
        self.grip = TactileGrip(hand, grip_target, grip_high)
        self.lift, self.descend = lift, descend

    def reset(self) -> None:
        self.phase, self.wait = 0, 0
        self.grip.reset()

    def grasp_height(self, obj: np.ndarray) -> float:
        contact_z = float(np.clip(obj[2], TABLE_Z + 0.026, TABLE_Z + 0.035))
        return float(contact_z + self.grip.depth - PALM_OFFSET + self.descend)

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        obj = t.object_pose()[:3]
        yaw = getattr(t, "yaw", 0.0)
        open_q = self.grip.open_pose()
        if self.phase == 0:  # above the object
            target = np.array([obj[0], obj[1], TABLE_Z + 0.2])
            a = self.drv.action(target, yaw, open_q)
            if self.drv.palm_error(target, yaw) < 0.01:
                self.phase = 1
        elif self.phase == 1:  # down to grasp height
            target = np.array([obj[0], obj[1], self.grasp_height(obj)])
            self.hover = target
            a = self.drv.action(target, yaw, open_q, max_lin=0.015)
            if self.drv.palm_error(target, yaw) < 0.006:
                self.phase = 2
        elif self.phase == 2:  # close until every finger feels the grip force
            a = self.drv.action(self.hover, yaw, self.grip.step())
            self.wait += 1
            if self.grip.holding() and self.wait > 8:
                self.phase, self.wait = 3, 0
        else:  # lift and hold, grip regulated by touch
            target = self.hover + [0, 0, self.lift]
            a = self.drv.action(target, yaw, self.grip.step(), max_lin=0.01)
        return a
