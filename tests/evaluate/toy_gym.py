"""A tiny gymnasium env reporting info["is_success"], registered as `PhysaiToyReach-v0` on import."""

import gymnasium as gym
import numpy as np


class ToyReach(gym.Env):
    """Move a point towards a goal with bounded velocity; success when within 0.05."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Dict({
            "observation": gym.spaces.Box(-2, 2, (2,), np.float32),
            "desired_goal": gym.spaces.Box(-1, 1, (2,), np.float32)})
        self.action_space = gym.spaces.Box(-0.1, 0.1, (2,), np.float32)
        self.render_mode = render_mode

    def _obs(self):
        return {"observation": self.pos.astype(np.float32), "desired_goal": self.goal.astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = np.zeros(2)
        self.goal = self.np_random.uniform(-0.5, 0.5, 2)
        return self._obs(), {"is_success": False}

    def step(self, action):
        self.pos = self.pos + np.clip(action, -0.1, 0.1)
        ok = bool(np.linalg.norm(self.pos - self.goal) < 0.05)
        return self._obs(), float(ok), ok, False, {"is_success": ok}

    def render(self):
        img = np.zeros((64, 64, 3), np.uint8)
        x, y = ((self.pos + 1) * 32).clip(0, 63).astype(int)
        img[y, x] = 255
        return img


def greedy(env):
    """A policy that reads the mapped state (desired_goal then observation) and steps to the goal."""

    class Greedy:
        def reset(self):
            pass

        def act(self, obs):
            goal, pos = obs["state"][:2], obs["state"][2:]
            return np.clip(goal - pos, -0.1, 0.1).astype(np.float32)

    return Greedy()


if "PhysaiToyReach-v0" not in gym.registry:
    gym.register("PhysaiToyReach-v0", entry_point=ToyReach, max_episode_steps=30)
