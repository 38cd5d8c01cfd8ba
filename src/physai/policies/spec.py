"""What a policy reads and writes: `IOSpec` (names, dims, cameras, rate, embodiment) and `Normalizer`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from physai.core.specs import DEFAULT_CONTROL_HZ

STATE = "observation.state"
ACTION = "action"
ACTION_PAD = "action_is_pad"
TACTILE = "observation.tactile"
IMAGE_PREFIX = "observation.images."


@dataclass
class IOSpec:
    """Inputs and outputs of a policy for one embodiment (what one dataset group provides)."""

    embodiment: str
    """Robot name (`robot_type` in the dataset), e.g. 'arm7'."""
    state_names: list[str]
    """Names of the elements of `observation.state` (env `state`)."""
    action_names: list[str]
    """Names of the elements of `action`."""
    cameras: list[str] = field(default_factory=list)
    """Cameras the policy reads, in input order (env `images/<cam>`)."""
    image_size: tuple[int, int] | None = None
    """(height, width) of every camera image; None without cameras."""
    tactile_dim: int = 0
    """Flattened size of the tactile array (0: not used)."""
    fps: float = DEFAULT_CONTROL_HZ
    """Control rate the data was recorded at (Hz); the policy contract's `control_hz`."""
    tasks: list[str] = field(default_factory=list)
    """Instructions (LeRobot task strings) seen in training."""
    env_task: str | None = None
    """The physai task the data came from (e.g. 'tabletop/pick-place'), when the dataset says."""
    control: str | None = None
    """Control mode of the actions (e.g. 'ee_delta'), when the dataset says."""
    privileged: bool | None = None
    """Whether `state` holds privileged task state (False: proprioception only), when the dataset says."""

    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    @property
    def action_dim(self) -> int:
        return len(self.action_names)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_size"] = list(self.image_size) if self.image_size else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> IOSpec:
        d = dict(d)
        if d.get("image_size") is not None:
            d["image_size"] = tuple(int(x) for x in d["image_size"])
        return cls(**d)


class Normalizer(nn.Module):
    """(x - mean) / std with stats kept as buffers, so they live inside `model.safetensors`."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int, stats: dict | None = None, min_std: float = 1e-2) -> None:
        super().__init__()
        mean = np.zeros(dim, np.float32)
        std = np.ones(dim, np.float32)
        if stats is not None:
            mean = np.asarray(stats["mean"], np.float32).reshape(-1)[:dim]
            std = np.maximum(np.asarray(stats["std"], np.float32).reshape(-1)[:dim], min_std)
        self.register_buffer("mean", torch.as_tensor(mean.copy()))
        self.register_buffer("std", torch.as_tensor(std.copy()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


def merge_stats(stats: list[dict]) -> dict:
    """Pool per-dataset mean/std of the same feature (equal weights) into one mean/std."""
    means = np.stack([np.asarray(s["mean"], np.float64).reshape(-1) for s in stats])
    stds = np.stack([np.asarray(s["std"], np.float64).reshape(-1) for s in stats])
    mu = means.mean(0)
    var = (stds**2 + (means - mu) ** 2).mean(0)
    return {"mean": mu.astype(np.float32), "std": np.sqrt(var).astype(np.float32)}
