"""The fixture tasks of the kitchen (drawer, cabinet door, stove knob, faucet lever) with their experts; one
module per registered task subclasses them (`open_drawer`, `close_drawer`, ...)."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import Expert
from physai.tasks.kitchen.common import FollowExpert, KitchenTask, RotaryPushExpert
from physai.tasks.kitchen.control import yaw_rot
from physai.tasks.kitchen.scene import (
    CABINET_HANDLE,
    CABINET_HINGE,
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
)


class DrawerTask(KitchenTask):
    fixture = "drawers"
    joint_name = "drawer"

    def make_expert(self) -> Expert:
        return DrawerExpert(self)


class DrawerExpert(FollowExpert[DrawerTask]):
    lead = 0.03

    def __init__(self, task: DrawerTask) -> None:
        super().__init__(task)
        opening = task.forward
        self.goal = 0.85 * DRAWER_TRAVEL if opening else 0.0
        self.direction = 1.0 if opening else -1.0

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        k = self.task.kitchen
        # the middle of the gap between the drawer front (x = -q) and the handle bar
        local = np.array([-q - HANDLE_STANDOFF / 2 + 0.004 * self.direction, 0.0, DRAWER_HANDLE_Z])
        return k.world("drawers", local), 0.0

    def done(self, q: float) -> bool:
        return q >= self.goal if self.direction > 0 else q < 0.008


class DoorTask(KitchenTask):
    fixture = "cabinet"
    joint_name = "cabinet_door"

    def make_expert(self) -> Expert:
        return DoorExpert(self)


class DoorExpert(FollowExpert[DoorTask]):
    lead = 0.15

    def __init__(self, task: DoorTask) -> None:
        super().__init__(task)
        opening = task.forward
        self.goal = 1.35 if opening else 0.0
        self.direction = 1.0 if opening else -1.0

    def contact(self, q: float) -> tuple[np.ndarray, float]:
        k = self.task.kitchen
        gap = np.array([(CABINET_HANDLE[0] + 0.008 - 0.016) / 2, CABINET_HANDLE[1], CABINET_HANDLE[2]])
        return k.world("cabinet", CABINET_HINGE + yaw_rot(q) @ gap), q

    def done(self, q: float) -> bool:
        return q >= self.goal if self.direction > 0 else q < 0.04


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


class KnobExpert(RotaryPushExpert[StoveTask]):
    def __init__(self, task: StoveTask) -> None:
        super().__init__(task)
        on = task.forward
        self.goal = KNOB_ON + 0.15 if on else 0.05
        self.direction = 1.0 if on else -1.0
        self.yaw_offset = -np.pi / 2

    def pivot(self) -> np.ndarray:
        t = self.task
        return t.kitchen.world("stove", np.array([KNOB_X, KNOB_Y[t.side], GEOMS["stove"].height]))


class FaucetTask(KitchenTask):
    fixture = "sink"
    joint_name = "faucet_lever"
    target_slots = (1,)  # the faucet sits at the back of the sink: only the middle slot is in reach

    def make_expert(self) -> Expert:
        return LeverExpert(self)


class LeverExpert(RotaryPushExpert[FaucetTask]):
    radius = LEVER_LEN * 0.7
    side_gap = 0.026
    tcp_above = 0.035

    def __init__(self, task: FaucetTask) -> None:
        super().__init__(task)
        on = task.forward
        self.goal = LEVER_ON + 0.2 if on else 0.03
        self.direction = 1.0 if on else -1.0

    def pivot(self) -> np.ndarray:
        return self.task.kitchen.world("sink", FAUCET_POS)
