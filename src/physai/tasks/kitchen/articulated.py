"""Kitchen tasks that operate a fixture: drawers, cabinet door, stove knobs, faucet lever, microwave button.

The experts work from privileged joint state: they put the closed gripper in contact with the
handle/fin/lever (hooked into the gap behind a bar handle, or beside a pointer fin) and then follow
the fixture's joint, always commanding the contact pose for the joint value a little ahead of the
measured one, so the fixture is pushed along its own path whatever its damping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import mujoco
import numpy as np

from physai.embodiments.base import Embodiment
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.kitchen.control import ArmDriver, yaw_rot
from physai.tasks.kitchen.scene import (
    BUTTON_PRESSED,
    CABINET_HANDLE,
    CABINET_HINGE,
    COUNTER_Z,
    DRAWER_HANDLE_Z,
    DRAWER_TRAVEL,
    FAUCET_POS,
    GEOMS,
    HANDLE_STANDOFF,
    KNOB_ON,
    KNOB_X,
    KNOB_Y,
    LEVER_LEN,
    LEVER_ON,
    MW_BUTTON,
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

    fixture: ClassVar[str] = ""
    joint_name: ClassVar[str] = ""
    target_slots: ClassVar[tuple[int, ...]] = (0, 1, 2)
    """Counter slots the task's fixture may be put in."""
    default_max_steps = 90
    config_cls = KitchenConfig

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


class FollowExpert(Expert):
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

    def __init__(self, task: KitchenTask) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.drv.reset()
        self.phase = 0
        self.start_q = None

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def done(self, q: float) -> bool:
        return (q - self.goal) * self.direction >= 0

    def act(self, obs: dict) -> np.ndarray:
        t: KitchenTask = self.task  # type: ignore[assignment]
        q = t.q()
        if self.start_q is None:
            self.start_q = q - self.direction * self.start_back
        if self.phase == 0:  # above the contact pose
            p, yaw = self.contact(self.start_q)
            dest = np.array([p[0], p[1], max(p[2] + self.hover, SAFE_Z)])  # above every fixture
            a = self.drv.action(dest, self.drv.down(yaw), GRIP_CLOSED)
            if self.drv.dist(dest) < 0.02:
                self.phase = 1
        elif self.phase == 1:  # down into contact
            p, yaw = self.contact(self.start_q)
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


# ---------------------------------------------------------------------------------------------- drawer
class DrawerTask(KitchenTask):
    fixture = "drawers"
    joint_name = "drawer"

    def make_expert(self) -> Expert:
        return DrawerExpert(self)


@register_task("kitchen/open-drawer")
class OpenDrawer(DrawerTask):
    """Pull the drawer out past 75% of its travel."""

    instructions = (
        "open the drawer",
        "pull the drawer open",
        "slide the drawer out",
        "open the kitchen drawer all the way",
    )

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("drawer", rng.uniform(0.0, 0.03))

    def success(self) -> bool:
        return self.q() > 0.75 * DRAWER_TRAVEL


@register_task("kitchen/close-drawer")
class CloseDrawer(DrawerTask):
    """Push the open drawer shut (within 1.5 cm)."""

    instructions = (
        "close the drawer",
        "push the drawer shut",
        "slide the drawer closed",
        "shut the open drawer",
    )

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("drawer", rng.uniform(0.1, 0.16))

    def success(self) -> bool:
        return self.q() < 0.015


class DrawerExpert(FollowExpert):
    lead = 0.03

    def __init__(self, task: DrawerTask) -> None:
        super().__init__(task)
        opening = isinstance(task, OpenDrawer)
        self.goal = 0.85 * DRAWER_TRAVEL if opening else 0.0
        self.direction = 1.0 if opening else -1.0

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        k = self.task.kitchen  # type: ignore[attr-defined]
        # the middle of the gap between the drawer front (x = -q) and the handle bar
        local = np.array([-q - HANDLE_STANDOFF / 2 + 0.004 * self.direction, 0.0, DRAWER_HANDLE_Z])
        return k.world("drawers", local), 0.0

    def done(self, q: float) -> bool:
        return q >= self.goal if self.direction > 0 else q < 0.008


# ---------------------------------------------------------------------------------------------- cabinet door
class DoorTask(KitchenTask):
    fixture = "cabinet"
    joint_name = "cabinet_door"

    def make_expert(self) -> Expert:
        return DoorExpert(self)


@register_task("kitchen/open-door")
class OpenDoor(DoorTask):
    """Swing the cabinet door open past 1.2 rad (about 70 degrees)."""

    instructions = (
        "open the cabinet door",
        "swing the cupboard door open",
        "open the cabinet",
        "pull the cabinet door open",
    )

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("cabinet_door", rng.uniform(0.0, 0.1))

    def success(self) -> bool:
        return self.q() > 1.2


@register_task("kitchen/close-door")
class CloseDoor(DoorTask):
    """Swing the open cabinet door shut (below 0.08 rad)."""

    instructions = (
        "close the cabinet door",
        "shut the cupboard",
        "push the cabinet door closed",
        "close the cupboard door",
    )

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("cabinet_door", rng.uniform(1.0, 1.5))

    def success(self) -> bool:
        return self.q() < 0.08


class DoorExpert(FollowExpert):
    lead = 0.15

    def __init__(self, task: DoorTask) -> None:
        super().__init__(task)
        opening = isinstance(task, OpenDoor)
        self.goal = 1.35 if opening else 0.0
        self.direction = 1.0 if opening else -1.0

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        k = self.task.kitchen  # type: ignore[attr-defined]
        gap = np.array([(CABINET_HANDLE[0] + 0.008 - 0.016) / 2, CABINET_HANDLE[1], CABINET_HANDLE[2]])
        return k.world("cabinet", CABINET_HINGE + yaw_rot(q) @ gap), q

    def done(self, q: float) -> bool:
        return q >= self.goal if self.direction > 0 else q < 0.04


# ---------------------------------------------------------------------------------------------- stove
class StoveTask(KitchenTask):
    fixture = "stove"

    def reset(self, rng: np.random.Generator) -> None:
        self.side = ("left", "right")[int(rng.integers(2))]
        super().reset(rng)
        self.fields = {"side": self.side}

    def q(self) -> float:
        return self.kitchen.joint(f"knob_{self.side}")

    def state_names(self) -> list[str]:
        return ["stove.pos.x", "stove.pos.y", "stove.pos.z", "knob.q", "knob.is_right"]

    def state(self) -> np.ndarray:
        return np.concatenate([self.kitchen.origin["stove"], [self.q(), float(self.side == "right")]]).astype(
            np.float32
        )

    def make_expert(self) -> Expert:
        return KnobExpert(self)


@register_task("kitchen/turn-on-stove")
class TurnOnStove(StoveTask):
    """Turn the named burner's knob past the 'on' angle."""

    instructions = (
        "turn on the {side} burner",
        "switch the {side} stove burner on",
        "turn the {side} knob to light the stove",
        "start the {side} burner",
    )

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint(f"knob_{self.side}", rng.uniform(0.0, 0.1))

    def success(self) -> bool:
        return self.q() > KNOB_ON


@register_task("kitchen/turn-off-stove")
class TurnOffStove(StoveTask):
    """Turn the lit burner's knob back to off (below 0.15 rad)."""

    instructions = (
        "turn off the {side} burner",
        "switch the {side} stove burner off",
        "turn the {side} knob back to off",
        "shut off the {side} burner",
    )

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint(f"knob_{self.side}", rng.uniform(1.1, 1.4))

    def success(self) -> bool:
        return self.q() < 0.15


class RotaryPushExpert(FollowExpert):
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


class KnobExpert(RotaryPushExpert):
    def __init__(self, task: StoveTask) -> None:
        super().__init__(task)
        on = isinstance(task, TurnOnStove)
        self.goal = KNOB_ON + 0.15 if on else 0.05
        self.direction = 1.0 if on else -1.0
        self.yaw_offset = -np.pi / 2

    def pivot(self) -> np.ndarray:
        t: StoveTask = self.task  # type: ignore[assignment]
        return t.kitchen.world("stove", np.array([KNOB_X, KNOB_Y[t.side], GEOMS["stove"].height]))


# ---------------------------------------------------------------------------------------------- faucet
class FaucetTask(KitchenTask):
    fixture = "sink"
    joint_name = "faucet_lever"
    target_slots = (1,)  # the faucet sits at the back of the sink: only the middle slot is in reach

    def make_expert(self) -> Expert:
        return LeverExpert(self)


@register_task("kitchen/turn-on-faucet")
class TurnOnFaucet(FaucetTask):
    """Swing the faucet lever past the 'on' angle."""

    instructions = ("turn on the faucet", "turn the water on", "open the tap", "start the water in the sink")

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("faucet_lever", rng.uniform(0.0, 0.1))

    def success(self) -> bool:
        return self.q() > LEVER_ON


@register_task("kitchen/turn-off-faucet")
class TurnOffFaucet(FaucetTask):
    """Swing the faucet lever back to off (below 0.1 rad)."""

    instructions = ("turn off the faucet", "turn the water off", "close the tap", "stop the running water")

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("faucet_lever", rng.uniform(0.8, 1.1))

    def success(self) -> bool:
        return self.q() < 0.1


class LeverExpert(RotaryPushExpert):
    radius = LEVER_LEN * 0.7
    side_gap = 0.026
    tcp_above = 0.035

    def __init__(self, task: FaucetTask) -> None:
        super().__init__(task)
        on = isinstance(task, TurnOnFaucet)
        self.goal = LEVER_ON + 0.2 if on else 0.03
        self.direction = 1.0 if on else -1.0

    def pivot(self) -> np.ndarray:
        return self.task.kitchen.world("sink", FAUCET_POS)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- microwave
@register_task("kitchen/press-microwave-button")
class PressMicrowaveButton(KitchenTask):
    """Press the microwave's start button (depress it past 6 mm)."""

    fixture = "microwave"
    joint_name = "microwave_button"
    instructions = (
        "press the microwave start button",
        "start the microwave",
        "push the button on the microwave",
        "turn the microwave on",
    )
    default_max_steps = 60

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.pressed = False

    def success(self) -> bool:
        self.pressed = self.pressed or self.q() > BUTTON_PRESSED
        return self.pressed

    def make_expert(self) -> Expert:
        return ButtonExpert(self)


class ButtonExpert(Expert):
    """Closed fingers over the button, press down until it clicks, back off."""

    def __init__(self, task: PressMicrowaveButton) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.drv.reset()
        self.phase = 0

    def act(self, obs: dict) -> np.ndarray:
        t: PressMicrowaveButton = self.task  # type: ignore[assignment]
        top = t.kitchen.world("microwave", MW_BUTTON + [0, 0, 0.014])
        pre = np.array([top[0], top[1], SAFE_Z])
        quat = self.drv.down(np.pi / 2)  # palm along x, clear of taller neighbours
        if self.phase == 0:
            a = self.drv.action(pre, quat, GRIP_CLOSED)
            if self.drv.dist(pre) < 0.012 and self.drv.rot_err(quat) < 0.1:
                self.phase = 1
        elif self.phase == 1:
            push = top + [0, 0, 0.02 - 0.014]
            a = self.drv.action(push, quat, GRIP_CLOSED, max_lin=0.015)
            if t.q() > BUTTON_PRESSED + 0.002:
                self.phase = 2
        else:
            a = self.drv.action(pre, quat, GRIP_CLOSED)
        return a
