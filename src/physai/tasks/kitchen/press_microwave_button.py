"""`kitchen/press-microwave-button`: press the microwave's start button, with its expert."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import Expert, register_task
from physai.tasks.kitchen.common import GRIP_CLOSED, SAFE_Z, KitchenTask
from physai.tasks.kitchen.control import ArmDriver
from physai.tasks.kitchen.scene import (
    BUTTON_PRESSED,
    MW_BUTTON,
)


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


class ButtonExpert(Expert[PressMicrowaveButton]):
    """Closed fingers over the button, press down until it clicks, back off."""

    def __init__(self, task: PressMicrowaveButton) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)

    def reset(self) -> None:
        self.drv.reset()
        self.phase = 0

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
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
