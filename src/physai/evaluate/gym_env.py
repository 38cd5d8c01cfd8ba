"""Evaluate on any installed gymnasium env that reports `info["is_success"]` (`--env gym:<id>`).

Observation mapping into the physai observation dict (what policies receive):

- a `Box` observation (any shape) -> `{"state": obs.ravel() as float32}`;
- a `Dict` observation -> per key, in sorted key order: a uint8 array of shape (H, W, 3) becomes
  `images/<key>`; a `str` becomes `instruction`; every other numeric array is flattened to float32 and
  concatenated into `state` (so `{"observation", "achieved_goal", "desired_goal"}` of gymnasium-robotics
  becomes one state vector in alphabetical key order: achieved_goal, desired_goal, observation);
- the env's `Box` action space becomes the action spec (bounds used by `random`).

Success is `info["is_success"]` at the last step (missing counts as failure). The id may name a module
to import first, gymnasium style: `gym:my_pkg.envs:MyEnv-v0`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from physai.core.errors import ConfigError
from physai.core.specs import ArraySpec

PREFIX = "gym:"


def map_observation(obs: Any) -> dict:
    """The physai observation dict for an external env observation (see the module docstring)."""
    if isinstance(obs, dict):
        out: dict[str, Any] = {}
        state: list[np.ndarray] = []
        for key in sorted(obs):
            v = obs[key]
            if isinstance(v, str):
                out["instruction"] = v
                continue
            arr = np.asarray(v)
            if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[-1] == 3:
                out[f"images/{key}"] = arr
            else:
                state.append(arr.astype(np.float32).ravel())
        if state:
            out["state"] = np.concatenate(state)
        return out
    return {"state": np.asarray(obs, dtype=np.float32).ravel()}


class GymTaskEnv:
    """A gymnasium env made to look like a PhysaiEnv to the evaluation loop."""

    def __init__(self, env_id: str, max_steps: int | None = None, render: bool = False) -> None:
        import gymnasium as gym

        try:
            self.env = gym.make(env_id, render_mode="rgb_array" if render else None,
                                **({"max_episode_steps": max_steps} if max_steps else {}))
        except gym.error.Error as exc:
            raise ConfigError(f"cannot make gymnasium env {env_id!r}: {exc}; install the package that "
                              f"registers it, or write the id as 'module:EnvId'") from None
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise ConfigError(f"gymnasium env {env_id!r} has a {type(space).__name__} action space; "
                              "physai evaluates envs with Box (continuous) actions")
        self.action_spec = ArraySpec(tuple(space.shape), "float32", space.low.astype(np.float32),
                                     space.high.astype(np.float32))
        self.task = SimpleNamespace(name=PREFIX + env_id, instruction="")
        self.control = "gym"
        self.clipped_total = 0
        self.metadata = {"render_fps": int(self.env.metadata.get("render_fps", 20) or 20)}

    def reset(self, *, seed: int | None = None) -> tuple[dict, dict]:
        obs, info = self.env.reset(seed=seed)
        self.env.action_space.seed(seed)
        mapped = map_observation(obs)
        self.task.instruction = mapped.get("instruction", "")
        return mapped, info

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(np.asarray(action, dtype=np.float32))
        info = dict(info)
        info["is_success"] = bool(info.get("is_success", False))
        return map_observation(obs), float(reward), bool(terminated), bool(truncated), info

    def render(self) -> np.ndarray | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
