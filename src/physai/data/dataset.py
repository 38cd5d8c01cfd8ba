"""`Dataset`: a torch map-style dataset over a LeRobot v3.0 folder.

Item = dict of torch tensors keyed by feature name (`observation.state`, `action`, `observation.images.<cam>`
as float (C, H, W) in [0, 1], the bookkeeping columns), plus `task` (str). With `delta_timestamps`
a key becomes a window (T, ...) of frames at those offsets and gets a `<key>_is_pad` bool mask for
offsets that fall outside the episode (values there repeat the nearest frame), as in LeRobot.

Non-video columns are read once per process from memory-mapped parquet into flat numpy arrays; video
frames are decoded by integer frame index with a bounded LRU of open decoders. Handles are opened
lazily and dropped on pickling, so the dataset is safe in DataLoader workers (fork or spawn).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from physai.core.errors import ConfigError, DatasetError
from physai.data import format as fmt
from physai.data.meta import DatasetMeta, read_parquet
from physai.data.video import VideoReader


def column_to_numpy(col: pa.ChunkedArray, feature: dict) -> np.ndarray:
    """A parquet column as (N, *shape) numpy (zero-copy for fixed-size lists without nulls)."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type):
        values = col.flatten().to_numpy(zero_copy_only=False)
        shape = [d for d in feature["shape"]]
        return values.reshape(len(col), *shape)
    arr = col.to_numpy(zero_copy_only=False)
    return arr


class Dataset(torch.utils.data.Dataset):
    """Random access into a LeRobot v3.0 dataset at `path`.

    `delta_timestamps`: {feature: [seconds, ...]} — e.g. {"observation.state": [-0.05, 0],
    "action": [0, 0.05, 0.1]}; offsets must be multiples of 1/fps. `episodes`: restrict to these
    episode indices. `video_cache`: open decoders kept per process.
    """

    def __init__(
        self,
        path: str | Path,
        delta_timestamps: dict[str, list[float]] | None = None,
        episodes: list[int] | None = None,
        video_cache: int = 64,
    ) -> None:
        self.root = Path(path)
        self.meta = DatasetMeta(self.root)
        self.fps = self.meta.fps
        self.features = self.meta.features
        self.video_keys = self.meta.video_keys
        self.image_keys = [k for k, f in self.features.items() if f["dtype"] == "image"]
        self.camera_keys = self.video_keys + self.image_keys
        """Cameras: `video` features (mp4) and `image` features (PNG/JPEG bytes in the parquet rows)."""
        self.data_keys = [k for k, f in self.features.items() if f["dtype"] not in ("video", "image")]
        self.video_cache = video_cache
        eps = self.meta.episodes if episodes is None else [self.meta.episodes[i] for i in episodes]
        self._episodes = eps
        lengths = np.array([e["length"] for e in eps], np.int64)
        self._ep_from = (
            np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(eps) else lengths
        )
        self._ep_to = self._ep_from + lengths
        self._ep_task = [e["tasks"][0] if e.get("tasks") else "" for e in eps]
        self._len = int(lengths.sum())
        self.delta_indices = self._check_deltas(delta_timestamps or {})
        self._data: dict[str, np.ndarray] | None = None
        self._images: dict[str, pa.Array] = {}
        self._readers: OrderedDict | None = None
        self._video_paths: dict[tuple[int, str], tuple[str, int]] = {}
        self._pid = -1

    # ------------------------------------------------------------------ setup
    def _check_deltas(self, deltas: dict[str, list[float]]) -> dict[str, np.ndarray]:
        out = {}
        for k, ds in deltas.items():
            if k not in self.features:
                raise ConfigError(
                    f"delta_timestamps key {k!r} is not a feature of {self.root}; "
                    f"features: {sorted(self.features)}"
                )
            steps = np.asarray(ds, np.float64) * self.fps
            off = np.round(steps)
            bad = np.abs(steps - off) > 1e-4 * self.fps + 1e-6
            if bad.any():
                raise ConfigError(
                    f"delta_timestamps[{k!r}] has {np.asarray(ds)[bad].tolist()} which are not "
                    f"multiples of 1/fps = {1 / self.fps:.6g} s"
                )
            out[k] = off.astype(np.int64)
        return out

    def _load(self) -> dict[str, np.ndarray]:
        if self._data is not None and self._pid == os.getpid():
            return self._data
        parts: dict[str, list[np.ndarray]] = {k: [] for k in self.data_keys}
        images: dict[str, list[pa.Array]] = {k: [] for k in self.image_keys}
        by_file: dict[Path, list[dict]] = OrderedDict()
        for e in self._episodes:
            by_file.setdefault(self.meta.data_path(e), []).append(e)
        for path, eps in by_file.items():
            table = read_parquet(path, self.root, "data")
            missing = [k for k in self.data_keys + self.image_keys if k not in table.column_names]
            if missing:
                raise DatasetError(
                    f"{path}: columns {missing} declared in meta/info.json are missing; "
                    f"run `physai dataset validate {self.root}`"
                )
            idx = table.column("index").to_numpy()
            file_start = int(idx[0]) if len(idx) else 0
            cols = {}
            for k in self.data_keys:
                try:
                    cols[k] = column_to_numpy(table.column(k), self.features[k])
                except ValueError as exc:
                    raise DatasetError(
                        f"{path}: column {k!r} does not match shape {self.features[k]['shape']} declared in "
                        f"meta/info.json ({exc}); fix info.json or re-record — `physai dataset validate "
                        f"{self.root}` lists every violation"
                    ) from exc
            for e in eps:
                a, b = e["dataset_from_index"] - file_start, e["dataset_to_index"] - file_start
                if (
                    a < 0
                    or b > len(idx)
                    or (b > a and (idx[a] != e["dataset_from_index"] or idx[b - 1] != b - 1 + file_start))
                ):
                    raise DatasetError(
                        f"{path}: rows for episode {e['episode_index']} "
                        f"[{e['dataset_from_index']}, {e['dataset_to_index']}) are not in the file "
                        f"(it has {len(idx)} rows from index {file_start}); "
                        f"run `physai dataset repair {self.root}`"
                    )
                for k in self.data_keys:
                    parts[k].append(cols[k][a:b])
                for k in self.image_keys:
                    col = table.column(k).combine_chunks().slice(a, b - a)
                    images[k].append(col.field("bytes") if pa.types.is_struct(col.type) else col)
        self._data = {
            k: (np.concatenate(v) if len(v) > 1 else v[0]) if v else np.zeros(0) for k, v in parts.items()
        }
        self._images = {k: pa.concat_arrays(v) for k, v in images.items() if v}
        self._readers = OrderedDict()
        self._pid = os.getpid()
        return self._data

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_data"], state["_readers"], state["_pid"] = None, None, -1
        state["_images"] = {}
        return state

    # ------------------------------------------------------------------ access
    @property
    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        return self.meta.stats

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    def __len__(self) -> int:
        return self._len

    def _episode_of(self, idx: np.ndarray | int) -> np.ndarray:
        return np.searchsorted(self._ep_to, idx, side="right")

    def _frames(self, key: str, ep_pos: int, rows: np.ndarray) -> np.ndarray:
        """Frames (T, 3, H, W) float32 in [0, 1] of camera `key` at dataset rows `rows` of one episode."""
        if key in self.image_keys:
            return np.stack([self._decode_image(key, int(r)) for r in rows])
        loc = self._video_paths.get((ep_pos, key))
        if loc is None:  # (file, first frame of the episode in it minus its first dataset row)
            e = self._episodes[ep_pos]
            base = int(round(e[f"videos/{key}/from_timestamp"] * self.fps)) - int(self._ep_from[ep_pos])
            loc = self._video_paths[(ep_pos, key)] = (str(self.meta.video_path(e, key)), base)
        path, base = loc
        readers = self._readers
        assert readers is not None
        reader = readers.get(path)
        if reader is None:
            reader = VideoReader(path, self.fps)
            readers[path] = reader
            if len(readers) > self.video_cache:
                readers.popitem(last=False)[1].close()
        elif len(readers) > 1:
            readers.move_to_end(path)
        if len(rows) == 1:
            return reader.get_float(int(rows[0]) + base)[None]
        out = np.empty((len(rows), *reader.frame_shape), np.float32)
        for j, r in enumerate(rows):
            reader.get_float(int(r) + base, out=out[j])
        return out

    def _decode_image(self, key: str, row: int) -> np.ndarray:
        import io

        from PIL import Image

        raw = self._images[key][row].as_py()
        try:
            img = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
        except Exception as exc:  # PIL raises many types on corrupt bytes
            raise DatasetError(
                f"{self.root}: image {key!r} at row {row} does not decode ({exc}); "
                f"run `physai dataset validate {self.root}`"
            ) from exc
        return np.multiply(img.transpose(2, 0, 1), np.float32(1 / 255), dtype=np.float32)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if idx < 0:
            idx += self._len
        if not 0 <= idx < self._len:
            raise IndexError(f"index {idx} out of range for a dataset of {self._len} frames")
        data = self._load()
        ep = int(self._episode_of(idx))
        lo, hi = int(self._ep_from[ep]), int(self._ep_to[ep])
        item: dict[str, Any] = {}
        for k in self.data_keys:
            off = self.delta_indices.get(k)
            if off is None:
                item[k] = torch.from_numpy(np.array(data[k][idx]))
            else:
                rows = idx + off
                item[k] = torch.from_numpy(data[k][np.clip(rows, lo, hi - 1)])
                item[f"{k}_is_pad"] = torch.from_numpy((rows < lo) | (rows >= hi))
        for k in self.camera_keys:
            off = self.delta_indices.get(k)
            rows = np.array([idx]) if off is None else idx + off
            frames = self._frames(k, ep, np.clip(rows, lo, hi - 1))
            img = torch.from_numpy(frames)
            item[k] = img[0] if off is None else img
            if off is not None:
                item[f"{k}_is_pad"] = torch.from_numpy((rows < lo) | (rows >= hi))
        item["task"] = self._ep_task[ep]
        return item

    def get_batch(self, indices: np.ndarray | list[int]) -> dict[str, Any]:
        """A collated batch (vectorized gather for non-video features); same keys as a DataLoader batch."""
        idx = np.asarray(indices, np.int64)
        data = self._load()
        ep = self._episode_of(idx)
        lo, hi = self._ep_from[ep], self._ep_to[ep]
        out: dict[str, Any] = {}
        for k in self.data_keys:
            off = self.delta_indices.get(k)
            if off is None:
                out[k] = torch.from_numpy(np.ascontiguousarray(data[k][idx]))
            else:
                rows = idx[:, None] + off[None]
                out[k] = torch.from_numpy(data[k][np.clip(rows, lo[:, None], hi[:, None] - 1)])
                out[f"{k}_is_pad"] = torch.from_numpy((rows < lo[:, None]) | (rows >= hi[:, None]))
        if self.camera_keys:
            items = [self[int(i)] for i in idx]
            for k in self.camera_keys:
                out[k] = torch.stack([it[k] for it in items])
                if f"{k}_is_pad" in items[0]:
                    out[f"{k}_is_pad"] = torch.stack([it[f"{k}_is_pad"] for it in items])
        out["task"] = [self._ep_task[int(e)] for e in ep]
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """Every non-video feature as one (N, ...) numpy array (rows in dataset order)."""
        return self._load()

    def episode_range(self, episode: int) -> tuple[int, int]:
        """[from, to) positions of an episode (position in this dataset's episode list)."""
        return int(self._ep_from[episode]), int(self._ep_to[episode])

    def __repr__(self) -> str:
        return (
            f"Dataset({str(self.root)!r}, episodes={self.num_episodes}, frames={len(self)}, fps={self.fps}, "
            f"features={sorted(k for k in self.features if k not in fmt.INDEX_KEYS)})"
        )
