"""A trivially predictable toy world for the world-model tests: x' = x + 0.1 u, success near the goal."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physai.data.writer import DatasetWriter

LOW, HIGH = np.array([-1.0], np.float32), np.array([1.0], np.float32)
STATE_NAMES = ["toy.x", "goal.x"]


def toy_step(state: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, bool]:
    x = float(state[0]) + 0.1 * float(np.clip(u[0], -1, 1))
    nxt = np.array([x, state[1]], np.float32)
    return nxt, abs(x - float(state[1])) < 0.1


def toy_reset(rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)], np.float32)


def make_toy_dataset(root: Path, episodes: int = 40, seed: int = 0, robot: str = "toy",
                     with_action: bool = True) -> Path:
    """Half goal-seeking (noisy) episodes, half random ones; at most 40 steps each."""
    rng = np.random.default_rng(seed)
    feats = {"observation.state": {"dtype": "float32", "shape": [2], "names": STATE_NAMES},
             "next.success": {"dtype": "bool", "shape": [1], "names": None}}
    if with_action:
        feats["action"] = {"dtype": "float32", "shape": [1], "names": ["toy.u"]}
    with DatasetWriter(root, fps=10, features=feats, robot_type=robot,
                       extra_info={"task": None, "control_mode": "toy"}) as w:
        for ep in range(episodes):
            s = toy_reset(rng)
            for _ in range(40):
                if ep % 2 == 0:
                    u = np.clip([(s[1] - s[0]) * 10 + rng.normal(0, 0.3)], -1, 1).astype(np.float32)
                else:
                    u = rng.uniform(-1, 1, 1).astype(np.float32)
                nxt, ok = toy_step(s, u)
                fr = {"observation.state": s, "next.success": ok}
                if with_action:
                    fr["action"] = u
                w.add_frame(fr)
                s = nxt
                if ok:
                    break
            w.save_episode("reach the goal")
    return root
