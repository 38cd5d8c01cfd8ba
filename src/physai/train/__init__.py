"""Training: the trainer (`train`, `TrainConfig`), presets, checkpoints, closed-loop evaluation.

Names are imported lazily so that the CLI builds its options from `TrainConfig` and the presets
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "PRESETS": "physai.train.presets",
    "Preset": "physai.train.presets",
    "TrainConfig": "physai.train.config",
    "TrainingDiverged": "physai.train.trainer",
    "evaluate_policy": "physai.train.evaluate",
    "train": "physai.train.trainer",
    "train_config": "physai.train.presets",
}

__all__ = [
    "PRESETS",
    "Preset",
    "TrainConfig",
    "TrainingDiverged",
    "evaluate_policy",
    "train",
    "train_config",
]

if TYPE_CHECKING:
    from physai.train.config import TrainConfig
    from physai.train.evaluate import evaluate_policy
    from physai.train.presets import PRESETS, Preset, train_config
    from physai.train.trainer import TrainingDiverged, train


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'physai.train' has no attribute {name!r}")
