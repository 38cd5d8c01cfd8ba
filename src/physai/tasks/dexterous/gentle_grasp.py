"""`dexterous/gentle-grasp`: lift a fragile object without ever pressing harder than 5 N on it.

The object (an egg or a ripe tomato) breaks — the episode fails — the moment any contact on it carries
a normal force above `BREAK_FORCE`; this is the fine-force-control test for tactile policies.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.hand16 import Hand16
from physai.sim.scene import GEOM, add_free_object, free_pose, set_free_pose
from physai.tasks.base import Expert, Task, register_task
from physai.tasks.dexterous.common import TABLE_Z, build_table, contact_normal_forces
from physai.tasks.dexterous.grasp_lift import GraspExpert

BREAK_FORCE = 5.0  # N
LIFT = 0.06  # m
HOLD_STEPS = 5
PARK = np.array([1.0, -1.0])
# name, geom, size, half height, mass, rgba
FRAGILE = (
    ("egg", GEOM.mjGEOM_ELLIPSOID, (0.028, 0.021, 0.021), 0.021, 0.06, (0.96, 0.92, 0.8, 1)),  # lying
    ("tomato", GEOM.mjGEOM_SPHERE, (0.026, 0.0, 0.0), 0.026, 0.08, (0.9, 0.18, 0.1, 1)),
)


@register_task("dexterous/gentle-grasp")
class GentleGrasp(Task):
    """Pick up an egg or a tomato; any contact force above 5 N breaks it."""

    robot: Hand16

    embodiment_name = "hand16"
    instructions = (
        "gently pick up the {object}",
        "lift the {object} without crushing it",
        "carefully grasp the {object} and raise it",
        "pick up the fragile {object}",
    )
    default_max_steps = 140
    control_hz = 20.0
    timestep = 0.002
    expert_control = "ee_delta"

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)
        for i, (name, geom, size, half, mass, rgba) in enumerate(FRAGILE):
            body = add_free_object(
                spec,
                f"obj_{name}",
                geom,
                list(size),
                rgba,
                mass=mass,
                friction=1.0,
                pos=(PARK[0] + 0.15 * i, PARK[1], half),
            )
            g = body.first_geom()
            g.condim, g.friction = 6, [1.0, 0.01, 0.002]  # rolling friction: round fruit does not roll away

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.bodies = [model.body(f"obj_{f[0]}").id for f in FRAGILE]
        self.geoms = [model.geom(f"obj_{f[0]}_geom").id for f in FRAGILE]
        self.rgba = [model.geom_rgba[g].copy() for g in self.geoms]
        self.k = 0
        self.rest_z = TABLE_Z
        self.yaw = 0.0
        self.broken = False
        self.peak_force = 0.0
        self.hold = 0

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        for i, f in enumerate(FRAGILE):
            set_free_pose(m, d, f"obj_{f[0]}", np.array([PARK[0] + 0.15 * i, PARK[1], f[3]]))
            m.geom_rgba[self.geoms[i]] = self.rgba[i]
        self.k = int(rng.integers(len(FRAGILE)))
        xy = rng.uniform(-0.06, 0.06, size=2)
        self.rest_z = TABLE_Z + FRAGILE[self.k][3]
        self.yaw = float(rng.uniform(-0.5, 0.5))
        # the egg lies with its long axis across the fingers (along the hand's y after the wrist turns)
        set_free_pose(
            m, d, f"obj_{FRAGILE[self.k][0]}", np.array([xy[0], xy[1], self.rest_z]), yaw=self.yaw + np.pi / 2
        )
        self.broken = False
        self.peak_force = 0.0
        self.hold = 0

    def instruction_fields(self) -> dict[str, str]:
        return {"object": FRAGILE[self.k][0]}

    def object_pose(self) -> np.ndarray:
        return free_pose(self.model, self.data, f"obj_{FRAGILE[self.k][0]}")

    def _check_break(self) -> None:
        forces = contact_normal_forces(self.model, self.data, self.bodies[self.k])
        if forces.size:
            self.peak_force = max(self.peak_force, float(forces.max()))
        if self.peak_force > BREAK_FORCE and not self.broken:
            self.broken = True
            self.model.geom_rgba[self.geoms[self.k]] = [0.45, 0.35, 0.1, 1]  # show the damage

    def success(self) -> bool:
        self._check_break()
        pos = self.object_pose()[:3]
        touching = np.count_nonzero(self.robot.finger_forces() > 0.05) >= 2
        self.hold = self.hold + 1 if (pos[2] > self.rest_z + LIFT and touching) else 0
        return self.hold >= HOLD_STEPS and not self.broken

    def failed(self) -> bool:
        self._check_break()
        return self.broken

    def state_names(self) -> list[str]:
        return (
            [f"object.pos.{a}" for a in "xyz"] + [f"object.quat.{a}" for a in "wxyz"] + ["object.peak_force"]
        )

    def state(self) -> np.ndarray:
        return np.concatenate([self.object_pose(), [self.peak_force]]).astype(np.float32)

    def make_expert(self) -> Expert:
        # light touch: 0.5 N per finger, 1.2 N on the opposing thumb; back off well below the break force
        return GraspExpert(
            self,
            grip_target=np.array([0.5, 0.5, 0.5, 1.2]),
            grip_high=np.array([1.2, 1.2, 1.2, 2.2]),
            lift=LIFT + 0.03,
        )
