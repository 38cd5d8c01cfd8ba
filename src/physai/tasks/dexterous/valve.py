"""`dexterous/turn-valve`: grip a T-handle valve with all four fingers and turn it a quarter turn.

The valve turns on a vertical hinge with friction, so the hand must pinch the handle between the thumb
and the three fingers and keep the grip (regulated from touch) while the wrist twists.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.hand16 import Hand16
from physai.sim.scene import GEOM, OBJECT_GROUP
from physai.tasks.base import Expert, Task, register_task
from physai.tasks.dexterous.common import PALM_OFFSET, TABLE_Z, HandDriver, TactileGrip, build_table

TURN = np.pi / 2  # rad the valve must turn in the instructed direction
HANDLE_Z = 0.05  # handle centre above the table (m)
OVERTURN = 0.2  # the expert aims this far past 90 degrees to absorb grip slip


@register_task("dexterous/turn-valve")
class TurnValve(Task):
    """A T-handle valve sits on the table; turn it 90 degrees clockwise or counter-clockwise."""

    robot: Hand16

    embodiment_name = "hand16"
    instructions = (
        "turn the valve a quarter turn {direction}",
        "rotate the valve handle 90 degrees {direction}",
        "grip the valve and turn it {direction} by a quarter turn",
        "open the valve: a quarter turn {direction}",
    )
    default_max_steps = 140
    control_hz = 20.0
    timestep = 0.002
    expert_control = "ee_delta"

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)
        base = spec.worldbody.add_body(name="valve_base", pos=[0, 0, TABLE_Z], mocap=True)
        base.add_geom(
            type=GEOM.mjGEOM_CYLINDER,
            size=[0.03, 0.01, 0],
            pos=[0, 0, 0.01],
            rgba=[0.4, 0.4, 0.42, 1],
            contype=OBJECT_GROUP,
            conaffinity=OBJECT_GROUP,
        )
        base.add_geom(
            type=GEOM.mjGEOM_CYLINDER,
            size=[0.008, 0.02, 0],
            pos=[0, 0, 0.03],
            rgba=[0.5, 0.5, 0.52, 1],
            contype=0,
            conaffinity=0,
        )
        handle = base.add_body(name="valve", pos=[0, 0, HANDLE_Z])
        handle.add_joint(
            name="valve",
            type=mujoco.mjtJoint.mjJNT_HINGE,
            axis=[0, 0, 1],
            damping=0.02,
            frictionloss=0.05,
            armature=0.001,
        )
        handle.add_geom(
            name="valve_handle",
            type=GEOM.mjGEOM_BOX,
            size=[0.012, 0.055, 0.012],
            mass=0.08,
            rgba=[0.85, 0.1, 0.1, 1],
            friction=[1.0, 0.01, 0.001],
            condim=4,
            contype=OBJECT_GROUP,
            conaffinity=OBJECT_GROUP,
        )
        handle.add_geom(
            type=GEOM.mjGEOM_CYLINDER,
            size=[0.016, 0.014, 0],
            mass=0.02,
            rgba=[0.6, 0.1, 0.1, 1],
            contype=0,
            conaffinity=0,
        )

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.base_mocap = model.body("valve_base").mocapid[0]
        j = model.joint("valve").id
        self.q_adr, self.v_adr = model.jnt_qposadr[j], model.jnt_dofadr[j]
        self.direction = 1
        self.start = 0.0

    def reset(self, rng: np.random.Generator) -> None:
        d = self.data
        xy = rng.uniform(-0.05, 0.05, size=2)
        d.mocap_pos[self.base_mocap] = [xy[0], xy[1], TABLE_Z]
        self.start = float(rng.uniform(-0.8, 0.8))
        d.qpos[self.q_adr] = self.start
        d.qvel[self.v_adr] = 0
        self.direction = 1 if rng.random() < 0.5 else -1

    def instruction_fields(self) -> dict[str, str]:
        return {"direction": "counter-clockwise" if self.direction > 0 else "clockwise"}

    def angle(self) -> float:
        return float(self.data.qpos[self.q_adr])

    def turned(self) -> float:
        """Rotation so far in the instructed direction (rad)."""
        return (self.angle() - self.start) * self.direction

    def handle_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.base_mocap] + [0, 0, HANDLE_Z]

    def success(self) -> bool:
        return self.turned() >= TURN

    def state_names(self) -> list[str]:
        return ["valve.x", "valve.y", "valve.angle", "valve.turned", "valve.direction"]

    def state(self) -> np.ndarray:
        p = self.handle_pos()
        return np.array([p[0], p[1], self.angle(), self.turned(), self.direction], dtype=np.float32)

    def make_expert(self) -> Expert:
        return ValveExpert(self)


class ValveExpert(Expert[TurnValve]):
    """Align the hand across the handle, pinch it, twist the wrist past 90 degrees while holding on."""

    def __init__(self, task: TurnValve) -> None:
        super().__init__(task)
        hand = task.robot
        self.drv = HandDriver(hand, max_rot=0.12)
        self.grip = TactileGrip(hand, np.array([1.2, 1.2, 1.2, 2.5]), np.array([2.5, 2.5, 2.5, 4.5]))

    def reset(self) -> None:
        self.phase, self.wait = 0, 0
        self.grip.reset()

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        h = t.handle_pos()
        grasp = np.array([h[0], h[1], h[2] + self.grip.depth - PALM_OFFSET])
        yaw0 = t.start
        open_q = self.grip.open_pose()
        if self.phase == 0:  # above the handle, hand turned to lie across it
            target = grasp + [0, 0, 0.08]
            a = self.drv.action(target, yaw0, open_q)
            if self.drv.palm_error(target, yaw0) < 0.01 and abs(t.robot.wrist_pose()[3] - yaw0) < 0.05:
                self.phase = 1
        elif self.phase == 1:  # down around it
            a = self.drv.action(grasp, yaw0, open_q, max_lin=0.015)
            if self.drv.palm_error(grasp, yaw0) < 0.006:
                self.phase = 2
        elif self.phase == 2:  # pinch
            a = self.drv.action(grasp, yaw0, self.grip.step())
            self.wait += 1
            if self.grip.holding() and self.wait > 8:
                self.phase = 3
        else:  # twist while regulating the grip
            goal = yaw0 + t.direction * (TURN + OVERTURN)
            a = self.drv.action(grasp, goal, self.grip.step())
        return a
