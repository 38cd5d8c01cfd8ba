"""`kitchen/turn-off-stove`: turn the lit burner's knob back to off (below 0.15 rad)."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import StoveTask


@register_task("kitchen/turn-off-stove")
class TurnOffStove(StoveTask):
    """Turn the lit burner's knob back to off (below 0.15 rad)."""

    forward = False

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
