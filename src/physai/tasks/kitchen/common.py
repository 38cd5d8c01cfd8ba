"""What the kitchen tasks share: the task base (kitchen scene, fixture arrangement, one joint read), and the
experts that push a fixture along its joint (`FollowExpert`, `RotaryPushExpert`).

The experts work from privileged joint state: they put the closed gripper in contact with the
handle/fin/lever (hooked into the gap behind a bar handle, or beside a pointer fin) and then follow
the fixture's joint, always commanding the contact pose for the joint value a little ahead of the
measured one, so the fixture is pushed along its own path whatever its damping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

import mujoco
import numpy as np

from physai.embodiments.base import Embodiment
from physai.tasks.base import Expert, Task, TaskConfig
from physai.tasks.kitchen.control import ArmDriver, yaw_rot
from physai.tasks.kitchen.scene import (
    COUNTER_Z,
    Kitchen,
    KitchenArm,
    build_kitchen,
)

GRIP_CLOSED = 1.0
SAFE_Z = COUNTER_Z + 0.36  # TCP height at which the fingers clear the tallest fixture


@dataclass
class KitchenConfig(TaskConfig):
    """Options shared by the kitchen tasks."""

    n_distractors: int = 2
    """Other fixtures placed on the counter besides the task's own (0-2)."""


class KitchenTask(Task):
    """A kitchen task: builds the shared kitchen, arranges fixtures, reads one joint."""

    robot: KitchenArm

    fixture: ClassVar[str] = ""
    joint_name: ClassVar[str] = ""
    target_slots: ClassVar[tuple[int, ...]] = (0, 1, 2)
    """Counter slots the task's fixture may be put in."""
    forward: ClassVar[bool] = True
    """Whether the task drives its joint up (open, turn on) rather than down (close, turn off)."""
    default_max_steps = 90
    config_cls = KitchenConfig
    config: KitchenConfig

    def make_embodiment(self) -> Embodiment:
        return KitchenArm()

    def build(self, spec: mujoco.MjSpec) -> None:
        build_kitchen(spec)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.kitchen = Kitchen(model, data)
        self.fields: dict[str, str] = {}

    def reset(self, rng: np.random.Generator) -> None:
        self.kitchen.park_objects()
        self.kitchen.arrange(rng, self.fixture, self.config.n_distractors, self.target_slots)
        self.fields = {}
        self.randomize_joint(rng)

    def randomize_joint(self, rng: np.random.Generator) -> None:
        """Initial state of the task's joint."""

    def q(self) -> float:
        return self.kitchen.joint(self.joint_name)

    def instruction_fields(self) -> dict[str, str]:
        return self.fields

    def state_names(self) -> list[str]:
        return [f"{self.fixture}.pos.{a}" for a in "xyz"] + [f"{self.joint_name}.q"]

    def state(self) -> np.ndarray:
        return np.append(self.kitchen.origin[self.fixture], self.q()).astype(np.float32)


KT = TypeVar("KT", bound="KitchenTask")


class FollowExpert(Expert[KT]):
    """Approach from above, descend to the contact pose, follow the joint to its goal, back off up.

    Subclasses give `contact(q)`: the TCP position (and gripper yaw) that engages the fixture when its
    joint is at `q`; `goal`/`direction` say where the joint must go.
    """

    lead: ClassVar[float] = 0.1
    """How far ahead of the measured joint value the commanded contact pose is."""
    goal: float = 0.0
    direction: float = 1.0
    hover: ClassVar[float] = 0.1
    """Height above the contact pose where the approach starts (m)."""
    start_back: ClassVar[float] = 0.0
    """Joint offset behind the current value where the gripper first goes down (for pushers)."""

    def __init__(self, task: KT) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)

    def reset(self) -> None:
        self.drv.reset()
        self.phase = 0
        self.start_q: float | None = None

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def done(self, q: float) -> bool:
        return (q - self.goal) * self.direction >= 0

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        q = t.q()
        if self.start_q is None:
            self.start_q = q - self.direction * self.start_back
        start_q = self.start_q
        if self.phase == 0:  # above the contact pose
            p, yaw = self.contact(start_q)
            dest = np.array([p[0], p[1], max(p[2] + self.hover, SAFE_Z)])  # above every fixture
            a = self.drv.action(dest, self.drv.down(yaw), GRIP_CLOSED)
            if self.drv.dist(dest) < 0.02:
                self.phase = 1
        elif self.phase == 1:  # down into contact
            p, yaw = self.contact(start_q)
            a = self.drv.action(p, self.drv.down(yaw), GRIP_CLOSED, max_lin=0.03)
            if self.drv.dist(p) < 0.008:
                self.phase = 2
        elif self.phase == 2:  # follow the joint
            qc = q + self.direction * self.lead
            if (qc - self.goal) * self.direction > 0:
                qc = self.goal + self.direction * min(self.lead, 0.5 * abs(self.lead))
            p, yaw = self.contact(qc)
            a = self.drv.action(p, self.drv.down(yaw), GRIP_CLOSED, max_lin=0.02)
            if self.done(q):
                self.phase = 3
        else:  # back off upwards
            p, yaw = self.contact(q)
            a = self.drv.action(p + [0, 0, self.hover], self.drv.down(yaw), GRIP_CLOSED, max_lin=0.02)
        return a


class RotaryPushExpert(FollowExpert[KT]):
    """Pushes a pointer (fin or lever along -x at angle 0) about a vertical axis from its side."""

    lead = 0.2
    start_back = 0.12
    radius: ClassVar[float] = 0.04
    side_gap: ClassVar[float] = 0.028
    tcp_above: ClassVar[float] = 0.028
    yaw_offset: float = -np.pi / 2
    """Wrist yaw relative to the pointer; chosen so joint 7 stays in range and the palm clears neighbours."""

    def pivot(self) -> np.ndarray:
        raise NotImplementedError

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        # the wrist is turned a quarter turn so the wide palm lies along the pointer, clear of neighbours
        local = np.array([-self.radius, self.direction * self.side_gap, self.tcp_above])
        return self.pivot() + yaw_rot(q) @ local, q + self.yaw_offset
