"""`kitchen/turn-on-faucet`: swing the faucet lever past the 'on' angle."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import FaucetTask
from physai.tasks.kitchen.scene import (
    LEVER_ON,
)


@register_task("kitchen/turn-on-faucet")
class TurnOnFaucet(FaucetTask):
    """Swing the faucet lever past the 'on' angle."""

    forward = True

    instructions = ("turn on the faucet", "turn the water on", "open the tap", "start the water in the sink")

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("faucet_lever", rng.uniform(0.0, 0.1))

    def success(self) -> bool:
        return self.q() > LEVER_ON
