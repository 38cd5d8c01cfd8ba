"""Run episodes of a policy in an env (the shared loop of `rollout`, `collect` and `eval`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physai.core.errors import ConfigError
from physai.core.progress import Progress
from physai.envs.env import PhysaiEnv


class RandomPolicy:
    """Uniform random actions within the env's action bounds, from its own Generator."""

    def __init__(self, env: PhysaiEnv, seed: int = 0) -> None:
        self.space = env.action_spec
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        return self.rng.uniform(*self.space.bounds()).astype(np.float32)


@dataclass
class EpisodeResult:
    """Outcome of one episode."""

    seed: int
    """Seed the env was reset with."""
    success: bool
    """Whether the task's success predicate held at the end."""
    length: int
    """Control steps taken."""
    duration_s: float
    """Wall-clock seconds."""
    instruction: str = ""
    """The episode's instruction."""
    clipped: int = 0
    """Action elements clipped to bounds over the episode."""
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    """Rendered frames when recording was asked for."""

    def to_dict(self) -> dict:
        return {"seed": self.seed, "success": self.success, "length": self.length,
                "duration_s": round(self.duration_s, 4), "instruction": self.instruction,
                "clipped": self.clipped}


def run_episode(env: PhysaiEnv, policy, seed: int, record: bool = False,
                on_step: Callable[[dict, np.ndarray, dict], None] | None = None) -> EpisodeResult:
    """Reset with `seed`, act until success, failure or the time limit; optionally keep rendered frames.

    `policy` has `reset()` and `act(obs) -> action`. `on_step(obs, action, info)` sees every transition
    (the observation the action was computed from).
    """
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed)
    policy.reset()
    frames = [_frame(env)] if record else []
    success, steps = False, 0
    while True:
        action = policy.act(obs)
        next_obs, _, terminated, truncated, info = env.step(action)
        if on_step is not None:
            on_step(obs, action, info)
        obs = next_obs
        steps += 1
        success = bool(info["is_success"])
        if record:
            frames.append(_frame(env))
        if terminated or truncated:
            break
    return EpisodeResult(seed=seed, success=success, length=steps, duration_s=time.perf_counter() - t0,
                         instruction=env.task.instruction, clipped=env.clipped_total, frames=frames)


def run_episodes(env: PhysaiEnv, policy: str, episodes: int, seed: int = 0, record: bool = False,
                 progress: Progress | None = None) -> tuple[dict, list[np.ndarray]]:
    """Run `episodes` episodes of the env's scripted expert ('expert') or a uniform random policy
    ('random') with seeds seed, seed+1, ...; (summary with per-episode results, recorded frames)."""
    from physai.core.errors import UnknownNameError
    from physai.core.progress import NullProgress

    if policy not in ("expert", "random"):
        raise UnknownNameError("policy", policy, ["expert", "random"])
    progress = progress or NullProgress()
    results: list[dict] = []
    frames: list[np.ndarray] = []
    progress.start(episodes, f"{env.task.name} [{policy}]")
    for i in range(episodes):
        pol = env.expert() if policy == "expert" else RandomPolicy(env, seed=seed + i)
        r = run_episode(env, pol, seed=seed + i, record=record)
        frames.extend(r.frames)
        results.append(r.to_dict())
        progress.advance(1, success=sum(x["success"] for x in results) / len(results))
    progress.close()
    doc = {"task": env.task.name, "policy": policy, "episodes": results,
           "success_rate": sum(r["success"] for r in results) / episodes}
    return doc, frames
def _frame(env: PhysaiEnv) -> np.ndarray:
    frame = env.render()
    if frame is None:
        raise ConfigError("recording an episode needs an env made with render_mode='rgb_array'")
    return frame
