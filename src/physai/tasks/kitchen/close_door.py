"""`kitchen/close-door`: swing the open cabinet door shut (below 0.08 rad)."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import DoorTask


@register_task("kitchen/close-door")
class CloseDoor(DoorTask):
    """Swing the open cabinet door shut (below 0.08 rad)."""

    forward = False

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
