"""`DatasetWriter`: appends episodes to a LeRobot v3.0 dataset, each one durable before the next.

Per episode: frames are buffered in memory (non-video features) or streamed to the background video
encoder (cameras); `save_episode` then (1) finishes and fsyncs the mp4 files, (2) writes the data
parquet, (3) rewrites meta/episodes, tasks, stats and checksums (sha256 of the new files and of the
episode's rows and packets), and (4) writes meta/info.json last — the commit
point. Every metadata file is replaced with temp file + fsync + rename, so a crash at any moment leaves
the dataset at its last committed episode (plus orphan files that `physai dataset repair` moves to its
quarantine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from physai.core.errors import ConfigError, DatasetError
from physai.data import checksums as sums
from physai.data import format as fmt
from physai.data.stats import DatasetAggregate, episode_stats, to_json
from physai.data.video import DEFAULT_GOP, BackgroundEncoder

_IMAGE_STATS_EVERY = 5
"""Keep every n-th frame of a camera for its per-episode stats."""


def arrow_type(feature: dict) -> pa.DataType:
    """Arrow column type of a non-video feature: shape [1] is a scalar column (as in LeRobot), anything
    else a fixed-size list of the flattened values."""
    dtype = feature["dtype"]
    base = pa.bool_() if dtype == "bool" else pa.from_numpy_dtype(np.dtype(dtype))
    shape = tuple(feature["shape"])
    if shape in ((), (1,)):
        return base
    return pa.list_(base, int(np.prod(shape)))


def _next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    file += 1
    return (chunk + 1, 0) if file >= chunks_size else (chunk, file)


def next_file(episodes: list[dict], video_keys: list[str], chunks_size: int) -> tuple[int, int]:
    """(chunk, file) for the next episode's own files: past every file the episodes use, so appending
    to a packed or repaired (renumbered) dataset never overwrites a file in use."""
    used = [(r["data/chunk_index"], r["data/file_index"]) for r in episodes]
    for k in video_keys:
        used += [
            (r[f"videos/{k}/chunk_index"], r[f"videos/{k}/file_index"])
            for r in episodes
            if r.get(f"videos/{k}/chunk_index") is not None
        ]
    return _next_file(*max(used), chunks_size) if used else (0, 0)


def is_scalar(feature: dict) -> bool:
    return not pa.types.is_fixed_size_list(arrow_type(feature))


def episodes_table(rows: list[dict]) -> pa.Table:
    """meta/episodes parquet from episode dicts (column order as LeRobot writes it)."""
    if not rows:
        return pa.table({"episode_index": pa.array([], pa.int64())})
    cols: dict[str, list] = {k: [r.get(k) for r in rows] for k in rows[0]}
    arrays = {}
    for k, v in cols.items():
        if k == "tasks":
            arrays[k] = pa.array(v, pa.list_(pa.string()))
        elif k.endswith("_timestamp"):
            arrays[k] = pa.array(v, pa.float64())
        elif k.startswith("stats/"):
            arrays[k] = pa.array([np.asarray(x).tolist() for x in v])
        else:
            arrays[k] = pa.array(v, pa.int64())
    return pa.table(arrays)


class DatasetWriter:
    """Write (or append to) a LeRobot v3.0 dataset at `root`.

    `features` maps feature names to {"dtype", "shape", "names"}; cameras use dtype "video" (see
    `format.video_feature`). The bookkeeping columns (timestamp, indices) are added automatically.
    `extra_info` (e.g. control mode, task name) is stored under info.json's "physai" key.
    """

    def __init__(
        self,
        root: str | Path,
        fps: float | None = None,
        features: dict[str, dict] | None = None,
        robot_type: str | None = None,
        codec: str = "h264",
        crf: int = 23,
        gop: int = DEFAULT_GOP,
        extra_info: dict | None = None,
    ) -> None:
        self.root = Path(root)
        info_path = self.root / fmt.INFO_PATH
        if info_path.exists():
            from physai.data.meta import DatasetMeta

            meta = DatasetMeta(self.root)
            self.info = meta.info
            self.episodes = meta.episodes
            self.tasks = meta.tasks
            if features is not None:
                mine = {k: v for k, v in self.info["features"].items() if k not in fmt.INDEX_KEYS}
                if set(mine) != set(features):
                    raise DatasetError(
                        f"{info_path}: existing features {sorted(mine)} differ from the ones being "
                        f"recorded {sorted(features)}; write to a new folder"
                    )
        else:
            if fps is None or features is None:
                raise ConfigError(f"{self.root} is not a dataset yet; pass fps and features to create it")
            if self.root.exists() and any(self.root.iterdir()):
                raise DatasetError(
                    f"{self.root} exists, is not empty and has no {fmt.INFO_PATH}; choose an empty folder"
                )
            for k, f in features.items():
                if "dtype" not in f or "shape" not in f:
                    raise ConfigError(f"feature {k!r} needs 'dtype' and 'shape', got {f}")
            feats = {**features, **fmt.index_features()}
            self.info = fmt.new_info(fps, feats, robot_type)
            if extra_info:
                self.info["physai"] = extra_info  # LeRobot ignores unknown info.json keys
            self.episodes, self.tasks = [], []
            fmt.write_json_atomic(info_path, self.info)
        self.fps = self.info["fps"]
        self.features = self.info["features"]
        self.video_keys = fmt.video_keys(self.features)
        self.data_keys = [k for k in self.features if k not in self.video_keys and k not in fmt.INDEX_KEYS]
        images = [k for k in self.data_keys if self.features[k]["dtype"] == "image"]
        if images:
            raise ConfigError(
                f"{self.root}: features {images} are stored as images in parquet; physai records cameras "
                "as video (dtype 'video') — append to a new dataset and merge, or convert the cameras"
            )
        self._types = {k: arrow_type(self.features[k]) for k in self.data_keys}
        codec_info = {self.features[k]["info"].get("video.codec", codec) for k in self.video_keys}
        self.codec = codec_info.pop() if len(codec_info) == 1 else codec
        self.encoder = BackgroundEncoder(self.fps, self.codec, crf, gop) if self.video_keys else None
        self._ep_stats = [self._stats_of_row(r) for r in self.episodes]
        # kept up to date per episode so that saving one costs O(1), not O(episodes so far)
        self._agg = DatasetAggregate()
        for st in self._ep_stats:
            self._agg.add(st)
        self._ep_table: pa.Table | None = episodes_table(self.episodes) if self.episodes else None
        self._tasks_on_disk = len(self.tasks) if self.episodes else -1
        try:
            self._sums = (sums.read(self.root) if self.episodes else None) or sums.empty()
        except ValueError as exc:
            raise DatasetError(
                f"{self.root / sums.CHECKSUMS_PATH}: {exc}; run `physai dataset repair {self.root}` "
                "before appending"
            ) from exc
        self._file = next_file(self.episodes, self.video_keys, self.info["chunks_size"])
        self._reset_buffer()

    # ------------------------------------------------------------------ per frame
    def _reset_buffer(self) -> None:
        self._buf: dict[str, list] = {k: [] for k in self.data_keys}
        self._img_sample: dict[str, list] = {k: [] for k in self.video_keys}
        self._n = 0

    @property
    def episode_index(self) -> int:
        """Index the episode being recorded will get."""
        return len(self.episodes)

    @property
    def frames_in_episode(self) -> int:
        return self._n

    def add_frame(self, frame: dict[str, Any]) -> None:
        """Add one frame: every feature of the dataset (cameras as uint8 HxWx3)."""
        missing = [k for k in self.data_keys + self.video_keys if k not in frame]
        if missing:
            raise ConfigError(
                f"frame {self._n} lacks features {missing}; dataset features: "
                f"{self.data_keys + self.video_keys}"
            )
        if self._n == 0 and self.encoder is not None:
            ci, fi = self._file
            for k in self.video_keys:
                h, w = self.features[k]["shape"][:2]
                path = self.root / self.info["video_path"].format(video_key=k, chunk_index=ci, file_index=fi)
                self.encoder.open(k, path, h, w)
        for k in self.data_keys:
            self._buf[k].append(np.asarray(frame[k]))
        for k in self.video_keys:
            img = np.asarray(frame[k], dtype=np.uint8)
            exp = tuple(self.features[k]["shape"])
            if img.shape != exp:
                raise ConfigError(f"camera {k!r} frame {self._n} has shape {img.shape}, expected {exp}")
            assert self.encoder is not None  # made in __init__ when there are video keys
            self.encoder.put(k, img)
            if self._n % _IMAGE_STATS_EVERY == 0:
                self._img_sample[k].append(img[::4, ::4])
        self._n += 1

    def discard_episode(self) -> None:
        """Drop the frames of the episode in progress (its video files are overwritten later)."""
        if self.encoder is not None and self._n:
            self.encoder.finish()
        self._reset_buffer()

    # ------------------------------------------------------------------ per episode
    def save_episode(self, task: str) -> int:
        """Make the episode in progress durable and committed; returns its index. A full disk raises a
        DatasetError naming the file; the episodes committed before stay intact."""
        ep = self.episode_index
        try:
            return self._save_episode(task)
        except (OSError, DatasetError) as exc:
            full = fmt.disk_full(exc)
            if full is None:
                raise
            self._drop_uncommitted_files()  # the unsaved episode's own files: frees space, no leftovers
            raise DatasetError(
                f"disk full writing {full.filename or self.root} ({full.strerror or 'no space left'}) "
                f"while saving episode {ep}; the {ep} episodes saved before it in {self.root} are intact"
            ) from exc

    def _drop_uncommitted_files(self) -> None:
        """Remove the files of the episode whose save failed, when no committed episode uses them."""
        ci, fi = self._file
        if any(r.get("data/chunk_index") == ci and r.get("data/file_index") == fi
               for r in self.episodes):
            return
        paths = [self.root / self.info["data_path"].format(chunk_index=ci, file_index=fi)]
        paths += [self.root / self.info["video_path"].format(video_key=k, chunk_index=ci, file_index=fi)
                  for k in self.video_keys]
        for p in paths:
            if str(p.relative_to(self.root)) not in self._sums["files"]:
                p.unlink(missing_ok=True)

    def _save_episode(self, task: str) -> int:
        n = self._n
        if n == 0:
            raise ConfigError("save_episode called with no frames; call add_frame first")
        ep = self.episode_index
        ci, fi = self._file
        if task not in self.tasks:
            self.tasks.append(task)
        task_index = self.tasks.index(task)
        start = self.info["total_frames"]
        # 1. videos durable
        counts = self.encoder.finish() if self.encoder is not None else {}
        for k in self.video_keys:
            if counts.get(k) != n:
                raise DatasetError(
                    f"camera {k}: encoded {counts.get(k)} frames for episode {ep}, expected {n}"
                )
        # 2. data parquet
        cols: dict[str, pa.Array] = {}
        ep_stats: dict[str, dict] = {}
        for k in self.data_keys:
            arr = np.stack(self._buf[k]).astype(
                self.features[k]["dtype"] if self.features[k]["dtype"] != "bool" else bool
            )
            exp = int(np.prod(self.features[k]["shape"]))
            flat = arr.reshape(n, -1)
            if flat.shape[1] != exp:
                raise ConfigError(
                    f"feature {k!r} has {flat.shape[1]} values per frame, expected {exp} "
                    f"(shape {self.features[k]['shape']})"
                )
            t = self._types[k]
            if pa.types.is_fixed_size_list(t):
                cols[k] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel(), t.value_type), exp)
            else:
                cols[k] = pa.array(flat[:, 0], t)
            ep_stats[k] = episode_stats(flat.astype(np.float64))
        fidx = np.arange(n, dtype=np.int64)
        ts = (fidx / self.fps).astype(np.float32)
        cols["timestamp"] = pa.array(ts, pa.float32())
        cols["frame_index"] = pa.array(fidx)
        cols["episode_index"] = pa.array(np.full(n, ep, np.int64))
        cols["index"] = pa.array(start + fidx)
        cols["task_index"] = pa.array(np.full(n, task_index, np.int64))
        for k, v in (
            ("timestamp", ts),
            ("frame_index", fidx),
            ("episode_index", np.full(n, ep)),
            ("index", start + fidx),
            ("task_index", np.full(n, task_index)),
        ):
            ep_stats[k] = episode_stats(np.asarray(v, np.float64))
        for k in self.video_keys:
            ep_stats[k] = episode_stats(np.stack(self._img_sample[k]), is_image=True)
            ep_stats[k]["count"] = np.array([n], np.int64)
        data_path = self.root / self.info["data_path"].format(chunk_index=ci, file_index=fi)
        table = pa.table(cols)
        fmt.write_parquet_atomic(data_path, table)
        ep_sums: dict[str, Any] = {"data": sums.rows_hash(table), "videos": {}}
        self._sums["files"][str(data_path.relative_to(self.root))] = sums.file_entry(data_path)
        for k in self.video_keys:
            vpath = self.root / self.info["video_path"].format(video_key=k, chunk_index=ci, file_index=fi)
            self._sums["files"][str(vpath.relative_to(self.root))] = sums.file_entry(vpath)
            ep_sums["videos"][k] = sums.packets_hash(sums.packet_index(vpath, self.fps), 0, n)
        # 3. episode row, tasks, stats
        row: dict[str, Any] = {
            "episode_index": ep,
            "tasks": [task],
            "length": n,
            "data/chunk_index": ci,
            "data/file_index": fi,
            "dataset_from_index": start,
            "dataset_to_index": start + n,
        }
        for k in self.video_keys:
            row[f"videos/{k}/chunk_index"] = ci
            row[f"videos/{k}/file_index"] = fi
            row[f"videos/{k}/from_timestamp"] = 0.0
            row[f"videos/{k}/to_timestamp"] = n / self.fps
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        ep_sums["row"] = sums.row_hash(row)
        self._sums["episodes"][str(ep)] = ep_sums
        for k, st in ep_stats.items():
            for s, v in st.items():
                row[f"stats/{k}/{s}"] = v
        self.episodes.append(row)
        self._ep_stats.append(ep_stats)
        self._agg.add(ep_stats)
        one = episodes_table([row])
        try:
            self._ep_table = one if self._ep_table is None else pa.concat_tables([self._ep_table, one])
        except pa.ArrowInvalid:  # a column type differs from the rows read back from disk: rebuild
            self._ep_table = episodes_table(self.episodes)
        self._commit()
        self._file = _next_file(ci, fi, self.info["chunks_size"])
        self._reset_buffer()
        return ep

    def _commit(self) -> None:
        write_tasks = len(self.tasks) != self._tasks_on_disk
        write_metadata(
            self.root,
            self.info,
            self.episodes,
            self.tasks,
            self._ep_stats,
            write_tasks=write_tasks,
            table=self._ep_table,
            stats=self._agg.result(),
            checksums=self._sums,
        )
        self._tasks_on_disk = len(self.tasks)

    @staticmethod
    def _stats_of_row(row: dict) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for key, v in row.items():
            if key.startswith("stats/"):
                feat, s = key[len("stats/") :].rsplit("/", 1)
                out.setdefault(feat, {})[s] = np.asarray(v)
        return out

    def close(self) -> None:
        """Stop the encoder; an episode in progress is discarded."""
        if self.encoder is not None:
            self.encoder.close()
            self.encoder = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_metadata(
    root: Path,
    info: dict,
    episodes: list[dict],
    tasks: list[str],
    ep_stats: list[dict[str, dict]],
    write_tasks: bool = True,
    table: pa.Table | None = None,
    stats: dict[str, dict] | None = None,
    checksums: dict | None = None,
) -> None:
    """Rewrite meta/episodes, tasks (unless unchanged: `write_tasks=False`), stats, checksums and — last,
    the commit point — info.json for `episodes`. `table` / `stats` / `checksums`: the episodes table,
    aggregated stats and checksums when the caller keeps them up to date (the writer does); built from
    `episodes` / `ep_stats` / the files otherwise."""
    fmt.write_parquet_atomic(
        root / fmt.EPISODES_PATH.format(chunk_index=0, file_index=0),
        (table if table is not None else episodes_table(episodes)).combine_chunks(),
    )
    if write_tasks:
        fmt.write_parquet_atomic(root / fmt.TASKS_PATH, fmt.tasks_table(tasks))
    if ep_stats:
        if stats is None:
            agg = DatasetAggregate()
            for st in ep_stats:
                agg.add(st)
            stats = agg.result()
        fmt.write_json_atomic(root / fmt.STATS_PATH, to_json(stats))
    sums.write(root, checksums if checksums is not None else sums.compute(root, info, episodes))
    info["total_episodes"] = len(episodes)
    info["total_frames"] = int(sum(r["length"] for r in episodes))
    info["total_tasks"] = len(tasks)
    info["splits"] = {"train": f"0:{len(episodes)}"} if episodes else {}
    fmt.write_json_atomic(root / fmt.INFO_PATH, info)
