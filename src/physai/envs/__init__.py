"""Gymnasium environments over (embodiment, task)."""

from physai.envs.env import PhysaiEnv
from physai.envs.registration import gym_id, register_gym_envs
from physai.envs.rollout import EpisodeResult, RandomPolicy, run_episode, run_episodes

register_gym_envs()


def make(task: str, **kwargs: object) -> PhysaiEnv:
    """`physai.make("tabletop/pick-place", control="ee_delta", obs=("state", "images"))`."""
    return PhysaiEnv(task, **kwargs)  # type: ignore[arg-type]


__all__ = ["EpisodeResult", "PhysaiEnv", "RandomPolicy", "gym_id", "make", "register_gym_envs", "run_episode",
           "run_episodes"]
