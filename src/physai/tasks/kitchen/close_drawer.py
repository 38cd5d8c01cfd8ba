"""`kitchen/close-drawer`: push the open drawer shut (within 1.5 cm)."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import DrawerTask


@register_task("kitchen/close-drawer")
class CloseDrawer(DrawerTask):
    """Push the open drawer shut (within 1.5 cm)."""

    forward = False

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
