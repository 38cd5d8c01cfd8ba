"""Per-feature statistics (min, max, mean, std, count, q01, q99) computed in one streaming pass.

Vector features are reduced over frames (result shape = feature shape); images over frames and pixels
per channel (shape (3, 1, 1), values in [0, 1]) like LeRobot. Quantiles of the global stream come from
a bounded reservoir sample drawn with an explicit Generator, so memory does not grow with the dataset.
"""

from __future__ import annotations

import numpy as np

QUANTILES = {"q01": 0.01, "q99": 0.99}


def _as_rows(x: np.ndarray, is_image: bool) -> np.ndarray:
    """(N, ...) -> (M, D) rows to reduce over; images (N, H, W, C) uint8 -> (N*H*W, C) floats in [0, 1]."""
    x = np.asarray(x)
    if is_image:
        return x.reshape(-1, x.shape[-1]).astype(np.float32) / 255.0
    x = x.astype(np.float64)
    return x.reshape(len(x), -1) if x.ndim > 1 else x.reshape(-1, 1)


def _shape(d: int, is_image: bool, feat_shape: tuple[int, ...]) -> tuple[int, ...]:
    return (d, 1, 1) if is_image else (tuple(feat_shape) or (1,))


def episode_stats(values: np.ndarray, is_image: bool = False) -> dict[str, np.ndarray]:
    """Exact stats of one episode's values (N, ...)."""
    values = np.asarray(values)
    feat_shape = values.shape[1:] if values.ndim > 1 else (1,)
    rows = _as_rows(values, is_image)
    d = rows.shape[1]
    shp = _shape(d, is_image, feat_shape)
    out = {"min": rows.min(0), "max": rows.max(0), "mean": rows.mean(0), "std": rows.std(0)}
    for name, q in QUANTILES.items():
        out[name] = np.quantile(rows, q, axis=0)
    out = {k: np.asarray(v, np.float64).reshape(shp) for k, v in out.items()}
    out["count"] = np.array([len(values)], np.int64)
    return out


class RunningStats:
    """Streaming stats over batches of rows: exact min/max/mean/std (Chan's merge), reservoir quantiles."""

    def __init__(
        self, is_image: bool = False, reservoir: int = 20_000, rng: np.random.Generator | None = None
    ) -> None:
        self.is_image = is_image
        self.reservoir_size = reservoir
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.n = 0
        self.frames = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None
        self.sample: np.ndarray | None = None
        self.seen = 0
        self.feat_shape: tuple[int, ...] = (1,)

    def update(self, values: np.ndarray, frames: int | None = None) -> None:
        """Add a batch (N, ...) of values; `frames` is how many dataset frames it stands for."""
        values = np.asarray(values)
        if len(values) == 0:
            return
        self.feat_shape = values.shape[1:] if values.ndim > 1 else (1,)
        rows = _as_rows(values, self.is_image).astype(np.float64)
        self.frames += frames if frames is not None else len(values)
        m, mean_b = len(rows), rows.mean(0)
        m2_b = ((rows - mean_b) ** 2).sum(0)
        if self.mean is None:
            self.mean, self.m2, self.min, self.max, self.n = mean_b, m2_b, rows.min(0), rows.max(0), m
        else:
            assert self.m2 is not None and self.min is not None and self.max is not None
            n = self.n + m
            delta = mean_b - self.mean
            self.mean = self.mean + delta * m / n
            self.m2 = self.m2 + m2_b + delta**2 * self.n * m / n
            self.min, self.max, self.n = (
                np.minimum(self.min, rows.min(0)),
                np.maximum(self.max, rows.max(0)),
                n,
            )
        self._reservoir(rows)

    def _reservoir(self, rows: np.ndarray) -> None:
        k = self.reservoir_size
        if self.sample is None:
            self.sample = np.empty((0, rows.shape[1]))
        if self.is_image and len(rows) > k:  # pixels: subsample before the reservoir
            rows = rows[self.rng.choice(len(rows), k, replace=False)]
        take = min(len(rows), max(0, k - len(self.sample)))
        if take:
            self.sample = np.concatenate([self.sample, rows[:take]])
        rest = rows[take:]
        if len(rest):
            # Algorithm R, vectorized: row j (global position p) replaces a random slot with prob k/(p+1).
            pos = self.seen + take + np.arange(len(rest))
            slots = (self.rng.random(len(rest)) * (pos + 1)).astype(np.int64)
            keep = slots < k
            self.sample[slots[keep]] = rest[keep]
        self.seen += len(rows)

    def result(self) -> dict[str, np.ndarray]:
        if self.mean is None or self.m2 is None or self.min is None or self.max is None:
            raise ValueError("no values were added")
        if self.sample is None:
            raise ValueError("no values were added")
        d = len(self.mean)
        shp = _shape(d, self.is_image, self.feat_shape)
        out: dict[str, np.ndarray] = {"min": self.min, "max": self.max, "mean": self.mean,
                                      "std": np.sqrt(self.m2 / self.n)}
        for name, q in QUANTILES.items():
            out[name] = np.quantile(self.sample, q, axis=0)
        out = {k: np.asarray(v, np.float64).reshape(shp) for k, v in out.items()}
        out["count"] = np.array([self.frames], np.int64)
        return out


class EpisodeAggregate:
    """Dataset stats of one feature folded from per-episode stats one episode at a time (O(1) per episode):
    exact min/max/mean/std (Chan et al.'s pairwise update of count, mean and squared deviations),
    count-weighted quantiles (an approximation, as LeRobot does)."""

    def __init__(self) -> None:
        self.n = 0.0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None
        self.q: dict[str, np.ndarray] = {}

    def add(self, st: dict[str, np.ndarray]) -> None:
        nb = float(np.asarray(st["count"]).ravel()[0])
        mb, sb = np.asarray(st["mean"], np.float64), np.asarray(st["std"], np.float64)
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = nb, mb.copy(), sb**2 * nb
            self.min, self.max = np.asarray(st["min"]).copy(), np.asarray(st["max"]).copy()
            self.q = {k: np.asarray(st[k], np.float64) * nb for k in QUANTILES}
            return
        assert self.min is not None and self.max is not None
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + sb**2 * nb + delta**2 * (self.n * nb / n)
        self.min, self.max = np.minimum(self.min, st["min"]), np.maximum(self.max, st["max"])
        for k in QUANTILES:
            self.q[k] = self.q[k] + np.asarray(st[k], np.float64) * nb
        self.n = n

    def result(self) -> dict[str, np.ndarray]:
        if self.mean is None or self.m2 is None or self.min is None or self.max is None:
            raise ValueError("no episodes were added")
        out: dict[str, np.ndarray] = {"min": self.min, "max": self.max, "mean": self.mean,
                                      "std": np.sqrt(self.m2 / self.n)}
        for k in QUANTILES:
            out[k] = self.q[k] / self.n
        out["count"] = np.array([int(self.n)], np.int64)
        return out


def aggregate(stats: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine per-episode stats of one feature (see `EpisodeAggregate`)."""
    agg = EpisodeAggregate()
    for st in stats:
        agg.add(st)
    return agg.result()


class DatasetAggregate:
    """`EpisodeAggregate` for every feature present in every episode so far."""

    def __init__(self) -> None:
        self.per_key: dict[str, EpisodeAggregate] = {}
        self.episodes = 0

    def add(self, ep_stats: dict[str, dict[str, np.ndarray]]) -> None:
        if self.episodes:  # a feature missing from one episode drops out (as `aggregate` over all did)
            for k in [k for k in self.per_key if k not in ep_stats]:
                del self.per_key[k]
            keys = [k for k in ep_stats if k in self.per_key]
        else:
            keys = list(ep_stats)
        for k in keys:
            self.per_key.setdefault(k, EpisodeAggregate()).add(ep_stats[k])
        self.episodes += 1

    def result(self) -> dict[str, dict[str, np.ndarray]]:
        return {k: a.result() for k, a in self.per_key.items()}


def to_json(stats: dict[str, dict[str, np.ndarray]]) -> dict:
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def from_json(doc: dict) -> dict[str, dict[str, np.ndarray]]:
    return {k: {s: np.asarray(v) for s, v in d.items()} for k, d in doc.items()}
