"""Policy factories for `--policy py:evalfixture_policies:<fn>` in the evaluation tests (imported in
spawned workers through the inherited sys.path)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from physai.evaluate.seeding import episode_seed

TASK = "tabletop/pick-place"
BAD_SEED = episode_seed(0, TASK, 1)


class _Faulty:
    """Zero actions; on episode 1 of TASK (base seed 0) fails as `mode` says."""

    def __init__(self, env, mode: str) -> None:
        self.dim = env.action_spec.shape[0]
        self.mode = mode
        self.current = None

    def seed(self, seed: int) -> None:
        self.current = seed

    def reset(self) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        if self.current == BAD_SEED:
            marker = Path(os.environ["PHYSAI_TEST_MARKER"]) / f"{self.mode}-{self.current}"
            first = not marker.exists()
            marker.touch()
            if self.mode == "raise_always" or (self.mode == "raise_once" and first):
                raise RuntimeError("injected failure")
            if self.mode == "exit_once" and first:
                os._exit(3)
        return np.zeros(self.dim, np.float32)


def raise_always(env):
    return _Faulty(env, "raise_always")


def raise_once(env):
    return _Faulty(env, "raise_once")


def exit_once(env):
    return _Faulty(env, "exit_once")
