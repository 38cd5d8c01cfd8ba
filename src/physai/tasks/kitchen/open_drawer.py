"""`kitchen/open-drawer`: pull the drawer out past 75% of its travel."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import DrawerTask
from physai.tasks.kitchen.scene import (
    DRAWER_TRAVEL,
)


@register_task("kitchen/open-drawer")
class OpenDrawer(DrawerTask):
    """Pull the drawer out past 75% of its travel."""

    forward = True

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
