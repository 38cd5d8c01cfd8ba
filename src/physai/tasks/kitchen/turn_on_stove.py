"""`kitchen/turn-on-stove`: turn the named burner's knob past the 'on' angle."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import StoveTask
from physai.tasks.kitchen.scene import (
    KNOB_ON,
)


@register_task("kitchen/turn-on-stove")
class TurnOnStove(StoveTask):
    """Turn the named burner's knob past the 'on' angle."""

    forward = True

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
