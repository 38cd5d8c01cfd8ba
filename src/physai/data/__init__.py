"""Datasets in the LeRobot v3.0 format: writer, recorder, reader, video, stats, repair, convert, multi.

Names are imported lazily so that light users (the recorder in a worker process) do not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Dataset": "physai.data.dataset",
    "DatasetMeta": "physai.data.meta",
    "DatasetWriter": "physai.data.writer",
    "MultiDataset": "physai.data.multi",
    "Recorder": "physai.data.recorder",
    "env_features": "physai.data.recorder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'physai.data' has no attribute {name!r}")
