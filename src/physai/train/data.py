"""Training data: IOSpecs from dataset metadata, feature checks, and an in-memory tensor cache that
builds action chunks per episode and serves random batches without a DataLoader.

A dataset here is anything map-style with `meta.info` (LeRobot info.json dict) and `meta.stats`
(`{feature: {"mean", "std", ...}}`) whose items carry `observation.state` (D,), `action` (A,),
`episode_index`, optional `observation.images.<cam>` float (C, H, W) in [0, 1], optional
`observation.tactile`, and `task` (str): `physai.data.Dataset` is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physai.core.errors import DatasetError
from physai.core.progress import NullProgress, Progress
from physai.policies.base import PolicyConfig
from physai.policies.spec import ACTION, ACTION_PAD, IMAGE_PREFIX, STATE, TACTILE, IOSpec, merge_stats


def open_dataset(path: str | Path) -> Any:
    """`physai.data.Dataset(path)` (frames, no windows: the cache builds the action chunks itself)."""
    from physai.data import Dataset

    return Dataset(path)


def _names(info: dict, key: str, path: str) -> list[str]:
    feats = info.get("features", {})
    if key not in feats:
        raise DatasetError(
            f"{path}: the dataset has no {key!r} feature (features: {sorted(feats)}); "
            f"policies need {STATE!r} and {ACTION!r}"
        )
    f = feats[key]
    names = f.get("names")
    if isinstance(names, dict):  # LeRobot sometimes nests {"motors": [...]}
        names = next(iter(names.values()), None)
    dim = int(np.prod(f.get("shape", [len(names or [])])))
    if not names or len(names) != dim:
        names = [f"{key}.{i}" for i in range(dim)]
    return [str(n) for n in names]


def _fps(info: dict, where: str) -> float:
    try:
        fps = float(info["fps"])
    except (KeyError, TypeError, ValueError):
        raise DatasetError(
            f"{where}: meta/info.json has no valid 'fps' ({info.get('fps')!r}); the control rate of the "
            "data must be known to train a policy that runs at it"
        ) from None
    if not fps > 0:
        raise DatasetError(f"{where}: meta/info.json 'fps' is {fps}; it must be a positive rate in Hz")
    return fps


def spec_from_dataset(ds: Any, cfg: PolicyConfig, where: str = "dataset") -> IOSpec:
    """The IOSpec a policy with `cfg` gets from this dataset; names a missing feature on mismatch."""
    info = ds.meta.info
    feats = info.get("features", {})
    cams_all = sorted(k[len(IMAGE_PREFIX) :] for k in feats if k.startswith(IMAGE_PREFIX))
    cams: list[str] = []
    if cfg.use_images:
        cams = list(cfg.cameras) if cfg.cameras is not None else cams_all
        missing = [c for c in cams if c not in cams_all]
        if missing:
            raise DatasetError(
                f"{where}: the policy reads cameras {missing} but the dataset has no feature "
                f"{[IMAGE_PREFIX + c for c in missing]} (cameras: {cams_all})"
            )
    size = None
    if cams:
        shapes = {tuple(feats[IMAGE_PREFIX + c]["shape"]) for c in cams}
        if len(shapes) > 1:
            raise DatasetError(f"{where}: cameras {cams} have different shapes {shapes}; pick one size")
        shp = next(iter(shapes))
        size = (int(shp[0]), int(shp[1])) if shp[-1] == 3 else (int(shp[1]), int(shp[2]))
    tactile = int(np.prod(feats[TACTILE]["shape"])) if (cfg.use_tactile and TACTILE in feats) else 0
    extra = info.get("physai", {}) if isinstance(info.get("physai"), dict) else {}
    tasks = list(getattr(ds.meta, "tasks", []) or [])
    return IOSpec(
        embodiment=str(info.get("robot_type") or "unknown"),
        state_names=_names(info, STATE, where),
        action_names=_names(info, ACTION, where),
        cameras=cams,
        image_size=size,
        tactile_dim=tactile,
        fps=_fps(info, where),
        tasks=tasks,
        env_task=extra.get("task"),
        control=extra.get("control") or extra.get("control_mode"),
        privileged=extra.get("privileged"),
    )


def check_compatible(expected: IOSpec, got: IOSpec, where: str) -> None:
    """Raise DatasetError naming the feature when `got` (data) does not fit `expected` (a checkpoint)."""
    for feat, a, b in (
        (STATE, expected.state_names, got.state_names),
        (ACTION, expected.action_names, got.action_names),
    ):
        if len(a) != len(b):
            raise DatasetError(
                f"{where}: feature {feat!r} has {len(b)} dims, the policy expects {len(a)} ({a[:6]}...)"
            )
    missing = [c for c in expected.cameras if c not in got.cameras]
    if missing:
        raise DatasetError(
            f"{where}: the policy reads {[IMAGE_PREFIX + c for c in missing]}, missing in the data"
        )
    if expected.tactile_dim != got.tactile_dim:
        raise DatasetError(
            f"{where}: feature {TACTILE!r} has {got.tactile_dim} values, "
            f"the policy expects {expected.tactile_dim}"
        )


def group_key(spec: IOSpec) -> tuple:
    return (
        spec.embodiment,
        tuple(spec.state_names),
        tuple(spec.action_names),
        tuple(spec.cameras),
        spec.image_size,
        spec.tactile_dim,
        spec.env_task,
    )


@dataclass
class TensorCache:
    """All frames of one embodiment group in memory, with precomputed action-chunk indices."""

    state: torch.Tensor
    """(N, D) float32 raw states."""
    action: torch.Tensor
    """(N, A) float32 raw actions."""
    chunk_idx: torch.Tensor
    """(N, H) long: frame index of each chunk step (clamped to the episode's last frame)."""
    chunk_pad: torch.Tensor
    """(N, H) bool: chunk steps past the episode end."""
    task_index: torch.Tensor
    """(N,) long index into `tasks`."""
    tasks: list[str]
    """Task strings."""
    images: dict[str, torch.Tensor] = field(default_factory=dict)
    """camera -> (N, 3, H, W) uint8."""
    tactile: torch.Tensor | None = None
    """(N, K) float32 raw tactile values."""

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def batch(self, idx: torch.Tensor) -> dict:
        ci = self.chunk_idx[idx]
        out: dict[str, Any] = {
            STATE: self.state[idx],
            ACTION: self.action[ci],
            ACTION_PAD: self.chunk_pad[idx],
            "task": [self.tasks[i] for i in self.task_index[idx].tolist()],
        }
        for cam, imgs in self.images.items():
            out[IMAGE_PREFIX + cam] = imgs[idx]
        if self.tactile is not None:
            out[TACTILE] = self.tactile[idx]
        return out


def build_cache(
    datasets: Sequence[Any], spec: IOSpec, chunk_size: int, progress: Progress | None = None
) -> TensorCache:
    """Read every frame of `datasets` (one group) once and build chunk indices of `chunk_size`."""
    progress = progress or NullProgress()
    states, actions, eps, tasks_idx, tac = [], [], [], [], []
    images: dict[str, list[torch.Tensor]] = {c: [] for c in spec.cameras}
    task_names: list[str] = []
    ep_offset = 0
    progress.start(sum(len(d) for d in datasets), "loading data")
    for ds in datasets:
        last_ep = -1
        n = len(ds)
        for i in range(n):
            item = ds[i]
            st = torch.as_tensor(item[STATE]).float().reshape(-1)
            if st.numel() != spec.state_dim:
                raise DatasetError(
                    f"item {i}: {STATE!r} has {st.numel()} values, info.json declares {spec.state_dim}"
                )
            states.append(st)
            actions.append(torch.as_tensor(item[ACTION]).float().reshape(-1))
            ep = int(torch.as_tensor(item["episode_index"]).reshape(-1)[0])
            last_ep = max(last_ep, ep)
            eps.append(ep + ep_offset)
            task = str(item.get("task", ""))
            if task not in task_names:
                task_names.append(task)
            tasks_idx.append(task_names.index(task))
            for cam in spec.cameras:
                img = torch.as_tensor(item[IMAGE_PREFIX + cam])
                images[cam].append(
                    img if img.dtype == torch.uint8 else (img.clamp(0, 1) * 255).round().to(torch.uint8)
                )
            if spec.tactile_dim:
                tac.append(torch.as_tensor(item[TACTILE]).float().reshape(-1))
            if i % 256 == 0:
                progress.advance(min(256, n - i))
        ep_offset += last_ep + 1
    progress.close()
    if not states:
        raise DatasetError("the datasets have no frames; record some episodes first")
    ep_t = torch.tensor(eps)
    n = len(states)
    # the last frame of each frame's episode (episodes are contiguous runs of frames)
    change = torch.nonzero(ep_t[1:] != ep_t[:-1]).flatten() + 1
    ends = torch.cat([change, torch.tensor([n])]) - 1
    starts = torch.cat([torch.tensor([0]), change])
    ep_end = torch.empty(n, dtype=torch.long)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        ep_end[s : e + 1] = e
    raw = torch.arange(n)[:, None] + torch.arange(chunk_size)[None]
    pad = raw > ep_end[:, None]
    idx = torch.minimum(raw, ep_end[:, None])
    return TensorCache(
        state=torch.stack(states),
        action=torch.stack(actions),
        chunk_idx=idx,
        chunk_pad=pad,
        task_index=torch.tensor(tasks_idx),
        tasks=task_names,
        images={c: torch.stack(v) for c, v in images.items()},
        tactile=torch.stack(tac) if tac else None,
    )


def group_stats(datasets: Sequence[Any], keys: Sequence[str] = (STATE, ACTION, TACTILE)) -> dict:
    """Pooled mean/std per feature over the datasets of one group (from `meta.stats`)."""
    out = {}
    for k in keys:
        have = [d.meta.stats[k] for d in datasets if k in (d.meta.stats or {})]
        if have:
            out[k] = merge_stats(have)
        elif k in (STATE, ACTION):
            raise DatasetError(
                f"the dataset's meta/stats.json has no stats for {k!r}; "
                "run `physai dataset repair` to recompute them"
            )
    return out
