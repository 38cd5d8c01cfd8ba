"""Array specifications: shape, dtype, bounds and per-element names of observations and actions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_CONTROL_HZ = 20.0
"""The control rate of a task that does not set its own (`Task.control_hz`); everything else reads the
rate from the task, the dataset's fps or the policy contract."""

IMAGE_LABEL_TAG = ".px."
"""In the state element names of image labels, `<keypoint>.px.<camera>.x/y`: where a task keypoint
appears in a camera image (`PhysaiEnv(image_labels=True)`); training labels, never policy inputs."""


@dataclass(frozen=True)
class ArraySpec:
    """A fixed-shape float array with optional bounds and element names."""

    shape: tuple[int, ...]
    """Array shape, e.g. (7,)."""
    dtype: str = "float32"
    """NumPy dtype name."""
    low: np.ndarray | None = field(default=None, compare=False)
    """Lower bound per element (None: unbounded)."""
    high: np.ndarray | None = field(default=None, compare=False)
    """Upper bound per element (None: unbounded)."""
    names: tuple[str, ...] = ()
    """One name per element of a 1-D array (empty when unnamed)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))

    def validate(self, value: object, what: str = "array") -> np.ndarray:
        """Return `value` as an array of this spec; raise ValueError on wrong shape or non-finite values."""
        arr = np.asarray(value, dtype=self.dtype)
        if arr.shape != self.shape:
            raise ValueError(f"{what} has shape {arr.shape}, expected {tuple(self.shape)}")
        if not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr.ravel()))[:5].tolist()
            raise ValueError(f"{what} contains NaN or inf at flat indices {bad}; expected shape {self.shape}")
        return arr

    def clip(self, arr: np.ndarray) -> tuple[np.ndarray, int]:
        """Clip to the bounds; returns the clipped array and how many elements were changed."""
        out = arr
        if self.low is not None:
            out = np.maximum(out, self.low, dtype=arr.dtype)
        if self.high is not None:
            out = np.minimum(out, self.high, dtype=arr.dtype)
        return out, int((out != arr).sum())

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high); raises ValueError for an unbounded spec (actions are always bounded)."""
        if self.low is None or self.high is None:
            raise ValueError(f"the {self.shape} spec {list(self.names)[:3]}... has no bounds")
        return self.low, self.high

    def to_dict(self) -> dict:
        """JSON-ready description."""
        d: dict = {"shape": list(self.shape), "dtype": self.dtype, "names": list(self.names)}
        if self.low is not None:
            d["low"] = np.asarray(self.low).tolist()
        if self.high is not None:
            d["high"] = np.asarray(self.high).tolist()
        return d
