"""`InMemoryDataset`: episodes held in memory with the same item keys and `meta` as `physai.data.Dataset`
(for tests, benchmarks and quick experiments), and `collect_expert` to fill one from a task's expert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from physai.core.progress import NullProgress, Progress
from physai.policies.spec import ACTION, IMAGE_PREFIX, STATE


@dataclass
class _Meta:
    info: dict
    stats: dict
    tasks: list[str] = field(default_factory=list)


class InMemoryDataset(torch.utils.data.Dataset):
    """Frames of `episodes` (dicts with `state` (T, D), `action` (T, A), optional `images` {cam: (T, H, W, 3)
    uint8}, `task` str) behind the `physai.data.Dataset` item/metadata contract."""

    def __init__(
        self,
        episodes: list[dict],
        robot_type: str,
        fps: float = 20.0,
        state_names: list[str] | None = None,
        action_names: list[str] | None = None,
        env_task: str | None = None,
        control: str | None = "joint_pos",
    ) -> None:
        if not episodes:
            raise ValueError("InMemoryDataset needs at least one episode")
        self.state = np.concatenate([np.asarray(e["state"], np.float32) for e in episodes])
        self.action = np.concatenate([np.asarray(e["action"], np.float32) for e in episodes])
        self.episode = np.concatenate([np.full(len(e["state"]), i) for i, e in enumerate(episodes)])
        self.frame = np.concatenate([np.arange(len(e["state"])) for e in episodes])
        tasks = sorted({e.get("task", "") for e in episodes})
        self.task = [e.get("task", "") for e in episodes]
        cams = sorted(episodes[0].get("images", {}))
        self.images = {
            c: np.concatenate([np.asarray(e["images"][c], np.uint8) for e in episodes]) for c in cams
        }
        d, a = self.state.shape[1], self.action.shape[1]
        feats: dict[str, Any] = {
            STATE: {"dtype": "float32", "shape": [d], "names": state_names or [f"s{i}" for i in range(d)]},
            ACTION: {"dtype": "float32", "shape": [a], "names": action_names or [f"a{i}" for i in range(a)]},
        }
        for c, v in self.images.items():
            feats[IMAGE_PREFIX + c] = {
                "dtype": "video",
                "shape": list(v.shape[1:]),
                "names": ["height", "width", "channels"],
            }
        stats = {
            k: {
                "mean": v.mean(0),
                "std": v.std(0),
                "min": v.min(0),
                "max": v.max(0),
                "q01": np.quantile(v, 0.01, axis=0),
                "q99": np.quantile(v, 0.99, axis=0),
            }
            for k, v in ((STATE, self.state), (ACTION, self.action))
        }
        info = {
            "fps": fps,
            "robot_type": robot_type,
            "features": feats,
            "total_episodes": len(episodes),
            "total_frames": len(self.state),
            "physai": {"task": env_task, "control": control},
        }
        self.meta = _Meta(info=info, stats=stats, tasks=tasks)

    def __len__(self) -> int:
        return len(self.state)

    def __getitem__(self, i: int) -> dict:
        ep = int(self.episode[i])
        item: dict[str, Any] = {
            STATE: torch.from_numpy(self.state[i]),
            ACTION: torch.from_numpy(self.action[i]),
            "episode_index": torch.tensor(ep),
            "frame_index": torch.tensor(int(self.frame[i])),
            "index": torch.tensor(i),
            "task": self.task[ep],
        }
        for c, v in self.images.items():
            item[IMAGE_PREFIX + c] = torch.from_numpy(v[i]).permute(2, 0, 1).float() / 255.0
        return item


def collect_expert(
    task: str,
    episodes: int,
    seed: int = 0,
    obs: tuple[str, ...] = ("state",),
    image_size: tuple[int, int] = (64, 64),
    cameras: list[str] | None = None,
    only_success: bool = True,
    progress: Progress | None = None,
    max_attempts: int | None = None,
) -> tuple[InMemoryDataset, dict]:
    """Record `episodes` expert episodes of `task` (successful ones when `only_success`) in memory.

    Returns the dataset and {"attempts", "successes", "expert_success_rate"}.
    """
    import physai
    from physai.envs import run_episode

    progress = progress or NullProgress()
    kw: dict[str, Any] = {"obs": tuple(obs) + (("instruction",) if "instruction" not in obs else ())}
    if "images" in obs:
        kw.update(image_size=image_size, cameras=cameras)
    env = physai.make(task, **kw)
    expert = env.expert()
    eps: list[dict] = []
    attempts = successes = 0
    max_attempts = max_attempts or episodes * 4
    progress.start(episodes, f"collect {task}")
    while len(eps) < episodes and attempts < max_attempts:
        rec: dict[str, list] = {"state": [], "action": [], **{f"images/{c}": [] for c in env.camera_names}}

        def on_step(o: dict, a: np.ndarray, info: dict, rec: dict = rec) -> None:
            rec["state"].append(o["state"])
            rec["action"].append(a)
            for k in o:
                if k.startswith("images/"):
                    rec[k].append(o[k])

        r = run_episode(env, expert, seed=seed + attempts, on_step=on_step)
        attempts += 1
        successes += r.success
        if r.success or not only_success:
            ep = {"state": np.array(rec["state"]), "action": np.array(rec["action"]), "task": r.instruction}
            if "images" in obs:
                ep["images"] = {c: np.array(rec[f"images/{c}"]) for c in env.camera_names}
            eps.append(ep)
            progress.advance(1)
    progress.close()
    ds = InMemoryDataset(
        eps,
        robot_type=env.robot.name,
        fps=env.metadata["render_fps"],
        state_names=list(env.state_names),
        action_names=list(env.action_spec.names) or None,
        env_task=task,
        control=env.control,
    )
    env.close()
    return ds, {
        "attempts": attempts,
        "successes": successes,
        "expert_success_rate": successes / max(attempts, 1),
    }


def synthetic_episodes(n_eps: int = 4, steps: int = 24, d: int = 5, a: int = 3, seed: int = 0,
                       camera: str | None = None, size: int = 16) -> list[dict]:
    """Toy episodes for tests: the action is a smooth function of the state; optional camera frames
    showing a square whose position encodes state[0]."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, a))
    eps = []
    for i in range(n_eps):
        s0 = rng.normal(size=d)
        t = np.arange(steps)[:, None] / steps
        state = (s0[None] * (1 - t) + np.sin(3 * t + i)).astype(np.float32)
        action = np.tanh(state @ w).astype(np.float32)
        ep = {"state": state, "action": action, "task": f"do thing {i % 2}"}
        if camera:
            img = np.zeros((steps, size, size, 3), np.uint8)
            for k in range(steps):
                x = int((state[k, 0] % 1.0) * (size - 4))
                img[k, 2:6, x:x + 4] = 255
            ep["images"] = {camera: img}
        eps.append(ep)
    return eps
