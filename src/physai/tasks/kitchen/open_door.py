"""`kitchen/open-door`: swing the cabinet door open past 1.2 rad (about 70 degrees)."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import DoorTask


@register_task("kitchen/open-door")
class OpenDoor(DoorTask):
    """Swing the cabinet door open past 1.2 rad (about 70 degrees)."""

    forward = True

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
