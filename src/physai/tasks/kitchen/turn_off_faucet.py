"""`kitchen/turn-off-faucet`: swing the faucet lever back to off (below 0.1 rad)."""

from __future__ import annotations

import numpy as np

from physai.tasks.base import register_task
from physai.tasks.kitchen.fixtures import FaucetTask


@register_task("kitchen/turn-off-faucet")
class TurnOffFaucet(FaucetTask):
    """Swing the faucet lever back to off (below 0.1 rad)."""

    forward = False

    instructions = ("turn off the faucet", "turn the water off", "close the tap", "stop the running water")

    def randomize_joint(self, rng: np.random.Generator) -> None:
        self.kitchen.set_joint("faucet_lever", rng.uniform(0.8, 1.1))

    def success(self) -> bool:
        return self.q() < 0.1
