"""Registers every physai task with gymnasium as `physai/<suite>-<task>-v0`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym


def gym_id(task_name: str) -> str:
    """`tabletop/pick-place` -> `physai/tabletop-pick-place-v0`."""
    return "physai/" + task_name.replace("/", "-") + "-v0"


def _make(**kwargs: Any) -> gym.Env:
    from physai.envs.env import PhysaiEnv

    return PhysaiEnv(kwargs.pop("task"), **kwargs)


def register_gym_envs() -> None:
    """Register all tasks (idempotent); also the `gymnasium.envs` entry point."""
    from physai.tasks import TASKS

    for name in TASKS.names():
        env_id = gym_id(name)
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=_make, kwargs={"task": name}, disable_env_checker=True,
                         order_enforce=False)
