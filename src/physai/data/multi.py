"""`MultiDataset`: one torch dataset over several LeRobot datasets (different robots and features).

Each item keeps its own dataset's feature values, padded with zeros to the widest dimension across
datasets, with a `<key>_dim_mask` bool (D,) saying which entries are real; features a dataset lacks are
all zeros with an all-False mask. `dataset_index` says where an item came from (use it to pick
per-dataset stats: `multi.stats[i]`) and `embodiment` is the dataset's robot_type. Cameras a dataset
lacks are zero images with `<camera>_mask` False.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from physai.core.errors import ConfigError
from physai.data.dataset import Dataset

PADDED = ("observation.state", "action", "observation.tactile")


class MultiDataset(torch.utils.data.Dataset):
    """Concatenation of `datasets` (Dataset objects or paths opened with `delta_timestamps`)."""

    def __init__(
        self, datasets: list[Dataset | str | Path], delta_timestamps: dict[str, list[float]] | None = None
    ) -> None:
        self.datasets = [
            d if isinstance(d, Dataset) else Dataset(d, delta_timestamps=_filter(d, delta_timestamps))
            for d in datasets
        ]
        self._cum = np.cumsum([0] + [len(d) for d in self.datasets])
        self.widths: dict[str, int] = {}
        for key in PADDED:
            dims = [int(np.prod(d.features[key]["shape"])) for d in self.datasets if key in d.features]
            if dims:
                self.widths[key] = max(dims)
        self.camera_keys = sorted({k for d in self.datasets for k in d.video_keys})
        self.camera_shapes: dict[str, tuple[int, ...]] = {}
        for key in self.camera_keys:
            shapes = {tuple(d.features[key]["shape"]) for d in self.datasets if key in d.features}
            if len(shapes) > 1:
                raise ConfigError(
                    f"camera {key!r} has different sizes {sorted(shapes)} across datasets; record them at "
                    "one image size (physai collect --image-size) to train on them together"
                )
            h, w, c = shapes.pop()
            self.camera_shapes[key] = (c, h, w)

    @property
    def stats(self) -> list[dict[str, dict[str, np.ndarray]]]:
        """Per-dataset stats, indexed by `dataset_index`."""
        return [d.stats for d in self.datasets]

    def __len__(self) -> int:
        return int(self._cum[-1])

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if idx < 0:
            idx += len(self)
        di = int(np.searchsorted(self._cum, idx, side="right") - 1)
        ds = self.datasets[di]
        item = ds[idx - int(self._cum[di])]
        for key, width in self.widths.items():
            if key in item:
                v = item[key]
                d = v.shape[-1]
                if d < width:
                    item[key] = torch.nn.functional.pad(v, (0, width - d))
                mask = torch.zeros(width, dtype=torch.bool)
                mask[:d] = True
            else:
                ref = self._reference_shape(key, ds)
                item[key] = torch.zeros(*ref, width)
                mask = torch.zeros(width, dtype=torch.bool)
                pad_key = f"{key}_is_pad"
                if ref:
                    item[pad_key] = torch.ones(ref[0], dtype=torch.bool)
            item[f"{key}_dim_mask"] = mask
        for key, chw in self.camera_shapes.items():
            present = key in item
            if not present:
                off = next((d.delta_indices[key] for d in self.datasets if key in d.delta_indices), None)
                item[key] = torch.zeros(*(() if off is None else (len(off),)), *chw)
                if off is not None:
                    item[f"{key}_is_pad"] = torch.ones(len(off), dtype=torch.bool)
            item[f"{key}_mask"] = torch.tensor(present)
        item["dataset_index"] = torch.tensor(di)
        item["embodiment"] = ds.meta.info.get("robot_type") or ""
        return item

    def _reference_shape(self, key: str, ds: Dataset) -> tuple[int, ...]:
        for other in self.datasets:
            off = other.delta_indices.get(key)
            if key in other.features:
                return (len(off),) if off is not None else ()
        return ()


def _filter(path: str | Path, deltas: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
    if deltas is None:
        return None
    from physai.data.meta import DatasetMeta

    feats = DatasetMeta(path).features
    return {k: v for k, v in deltas.items() if k in feats}
