"""Transitions for world-model training: episodes of (state, action, success) read from LeRobot v3 datasets.

A world model learns `s_{t+1} = f(s_t, a_t)` and `success_{t+1}`, so it needs `observation.state`,
`action` and the recorder's `next.success` column (a dataset without them is refused,
never guessed). Several datasets train one
model when they agree on the robot, the control mode, the rate and the state/action names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from physai.core.errors import ConfigError

STATE, ACTION, SUCCESS = "observation.state", "action", "next.success"


@dataclass
class Episodes:
    """Every episode of one or more datasets, as flat arrays with episode boundaries."""

    state: np.ndarray
    """(N, S) float32 states."""
    action: np.ndarray
    """(N, A) float32 actions taken at each state."""
    success: np.ndarray
    """(N,) float32: 1 when the step taken at row t ended in success."""
    starts: np.ndarray
    """(E,) first row of each episode."""
    ends: np.ndarray
    """(E,) one past the last row of each episode."""
    state_names: list[str]
    action_names: list[str]
    embodiment: str
    fps: float
    control_mode: str | None
    task: str | None
    sources: list[dict] = field(default_factory=list)
    """One entry per dataset: path, episodes, frames, sha256 of its meta/info.json + data files."""

    @property
    def num_episodes(self) -> int:
        return len(self.starts)

    def select(self, episodes: np.ndarray) -> Episodes:
        """The episodes at positions `episodes` (rows renumbered)."""
        rows = [np.arange(self.starts[e], self.ends[e]) for e in episodes]
        idx = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        lengths = np.array([len(r) for r in rows], np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(rows) else lengths
        return Episodes(self.state[idx], self.action[idx], self.success[idx], starts, starts + lengths,
                        self.state_names, self.action_names, self.embodiment, self.fps, self.control_mode,
                        self.task, self.sources)


def dataset_hash(path: Path) -> str:
    """sha256 over the dataset's meta/info.json and its data parquet files (not videos)."""
    h = hashlib.sha256()
    files = [path / "meta" / "info.json", *sorted((path / "data").rglob("*.parquet"))]
    for f in files:
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def load_episodes(paths: list[str | Path]) -> Episodes:
    """Read and check `paths` (one robot, control mode, rate and state/action layout across them)."""
    from physai.data.dataset import Dataset

    if not paths:
        raise ConfigError("no dataset given; pass --dataset PATH (repeat it to train on several)")
    parts: list[dict] = []
    ref: dict | None = None
    for p in map(Path, paths):
        ds = Dataset(p)
        feats = ds.features
        for key in (STATE, ACTION):
            if key not in feats:
                raise ConfigError(
                    f"{p}: dataset has no {key!r} feature; a world model learns from state and action "
                    "(record it with `physai collect`, which writes both)"
                )
        if SUCCESS not in feats:
            raise ConfigError(f"{p}: dataset has no {SUCCESS!r} column; record it with `physai collect`")
        physai_info = ds.meta.info.get("physai") or {}
        desc = {
            "state_names": list(feats[STATE].get("names") or []),
            "action_names": list(feats[ACTION].get("names") or []),
            "embodiment": ds.meta.info.get("robot_type") or "",
            "fps": float(ds.fps),
            "control_mode": physai_info.get("control_mode"),
            "task": physai_info.get("task"),
        }
        if not desc["state_names"] or not desc["action_names"]:
            raise ConfigError(f"{p}: {STATE} / {ACTION} have no names in meta/info.json; the model must "
                              "record what each dimension is")
        if ref is None:
            ref = desc
        else:
            for k in ("embodiment", "fps", "control_mode", "state_names", "action_names"):
                if desc[k] != ref[k]:
                    raise ConfigError(
                        f"{p}: {k} {_short(desc[k])} differs from the first dataset's {_short(ref[k])}; "
                        "train one world model per robot, control mode, rate and state layout"
                    )
        arr = ds.arrays()
        n_eps = ds.num_episodes
        rng = [ds.episode_range(i) for i in range(n_eps)]
        n_rows = len(arr[STATE])
        parts.append({"state": arr[STATE].reshape(n_rows, -1).astype(np.float32),
                      "action": arr[ACTION].reshape(n_rows, -1).astype(np.float32),
                      "success": arr[SUCCESS].reshape(-1).astype(np.float32), "ranges": rng})
        parts[-1]["source"] = {"path": str(p.resolve()), "episodes": n_eps, "frames": len(ds),
                               "sha256": dataset_hash(p), "task": desc["task"]}
    assert ref is not None
    if len({p["source"]["task"] for p in parts}) > 1:
        task = None
    else:
        task = ref["task"]
    states, actions, succ, starts, ends, offset = [], [], [], [], [], 0
    for part in parts:
        states.append(part["state"])
        actions.append(part["action"])
        succ.append(part["success"])
        for a, b in part["ranges"]:
            if b - a >= 2:
                starts.append(offset + a)
                ends.append(offset + b)
        offset += len(part["state"])
    if not starts:
        raise ConfigError(f"datasets {[str(p) for p in paths]} have no episode of 2 or more frames")
    return Episodes(np.concatenate(states), np.concatenate(actions), np.concatenate(succ),
                    np.asarray(starts, np.int64), np.asarray(ends, np.int64), ref["state_names"],
                    ref["action_names"], ref["embodiment"], ref["fps"], ref["control_mode"], task,
                    [p["source"] for p in parts])


def _short(v: object) -> str:
    s = json.dumps(v)
    return s if len(s) < 80 else s[:77] + "..."


def windows(eps: Episodes, horizon: int) -> np.ndarray:
    """(M,) start rows t such that rows t..t+horizon all lie in one episode (horizon+1 states)."""
    out = [np.arange(a, b - horizon) for a, b in zip(eps.starts, eps.ends, strict=True) if b - a > horizon]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def partial_windows(eps: Episodes) -> tuple[np.ndarray, np.ndarray]:
    """Every row t with its episode's end: windows that may run past the end (masked), so the last
    transition of an episode (whose `next.success` is usually the only positive) is trained too."""
    starts = [np.arange(a, b) for a, b in zip(eps.starts, eps.ends, strict=True)]
    ends = [np.full(b - a, b) for a, b in zip(eps.starts, eps.ends, strict=True)]
    return np.concatenate(starts), np.concatenate(ends)


def state_groups(names: list[str], embodiment: str) -> dict[str, list[int]]:
    """Indices of the state by group: `robot` (the embodiment's own state) and one group per task
    object prefix (`object`, `zone`, `waypoint`...), plus `all`."""
    robot_names: set[str] = set()
    try:
        from physai.embodiments.base import make_embodiment

        robot_names = set(make_embodiment(embodiment).state_names())
    except Exception:
        robot_names = set()
    groups: dict[str, list[int]] = {"all": list(range(len(names)))}
    for i, n in enumerate(names):
        g = "robot" if n in robot_names else n.split(".")[0]
        groups.setdefault(g, []).append(i)
    return groups
