"""The LeRobot v3.0 on-disk layout: paths, info.json, feature specs and durable (atomic) file writes.

Layout (all paths relative to the dataset root)::

    meta/info.json                                   schema, fps, totals, path templates (written last)
    meta/stats.json                                  global per-feature stats
    meta/tasks.parquet                               task string -> task_index
    meta/episodes/chunk-000/file-000.parquet         one row per episode (spans, files, per-episode stats)
    data/chunk-XXX/file-YYY.parquet                  frame rows (every non-video feature)
    videos/<video_key>/chunk-XXX/file-YYY.mp4        video frames (one stream per camera)

physai writes one data file and one mp4 per camera per episode (the next file index past every file in
use) so that every finished episode is durable on its own; LeRobot's loader reads files by the
chunk/file indices stored per episode, so this is a valid v3.0 dataset.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
INDEX_KEYS = ("timestamp", "frame_index", "episode_index", "index", "task_index")
"""Bookkeeping columns present in every frame row."""
STAT_NAMES = ("min", "max", "mean", "std", "count", "q01", "q99")


def chunk_file(episode_index: int, chunks_size: int = CHUNKS_SIZE) -> tuple[int, int]:
    """(chunk_index, file_index) of the files that hold `episode_index` (one file per episode)."""
    return episode_index // chunks_size, episode_index % chunks_size


def index_features() -> dict[str, dict]:
    """Feature entries of the bookkeeping columns, as LeRobot writes them."""
    return {
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }


def video_feature(height: int, width: int, fps: float, codec: str, pix_fmt: str = "yuv420p") -> dict:
    """Feature entry of a camera stored as video."""
    return {
        "dtype": "video",
        "shape": [height, width, 3],
        "names": ["height", "width", "channels"],
        "info": {
            "video.height": height,
            "video.width": width,
            "video.codec": codec,
            "video.pix_fmt": pix_fmt,
            "video.is_depth_map": False,
            "video.fps": int(fps),
            "video.channels": 3,
            "has_audio": False,
        },
    }


def new_info(fps: float, features: dict[str, dict], robot_type: str | None) -> dict:
    """A fresh info.json with zero episodes."""
    has_video = any(f["dtype"] == "video" for f in features.values())
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": 0,
        "total_frames": 0,
        "total_tasks": 0,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
        "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
        "fps": int(fps),
        "splits": {},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if has_video else None,
        "features": features,
    }


def video_keys(features: dict[str, dict]) -> list[str]:
    return [k for k, f in features.items() if f["dtype"] == "video"]


def disk_full(exc: BaseException | None) -> OSError | None:
    """The ENOSPC / EDQUOT OSError in `exc`'s cause/context chain (a full disk or quota), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic(path: Path, write: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, write: Any) -> None:
    """`write(tmp_path)` then fsync + rename onto `path` (readers see the old or the new file, never half)."""
    _atomic(path, write)


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write JSON via temp file + fsync + rename (readers see the old or the new file, never half)."""
    _atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=4)))


def write_parquet_atomic(path: Path, table: pa.Table, row_groups: list[int] | None = None) -> None:
    """Write a parquet file via temp file + fsync + rename. `row_groups`: row counts of consecutive row
    groups (one per episode in packed files, so damage to one row group costs only that episode)."""

    def write(tmp: str) -> None:
        if not row_groups:
            pq.write_table(table, tmp, compression="snappy")
            return
        with pq.ParquetWriter(tmp, table.schema, compression="snappy") as w:
            start = 0
            for n in row_groups:
                w.write_table(table.slice(start, n), row_group_size=max(n, 1))
                start += n

    _atomic(path, write)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet as LeRobot writes it with pandas: index `task`, column `task_index`."""
    table = pa.table(
        {"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())}
    )
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": "task",
                "field_name": "task",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    return table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})


def read_tasks(path: Path) -> list[str]:
    """Task strings ordered by task_index (reads files written by pandas or by physai)."""
    t = pq.read_table(path)
    names = t.column_names
    col = "task" if "task" in names else ("__index_level_0__" if "__index_level_0__" in names else None)
    if col is None:
        from physai.core.errors import DatasetError

        raise DatasetError(f"{path}: no 'task' column (columns: {names}); run `physai dataset repair`")
    order = t.column("task_index").to_pylist()
    tasks = t.column(col).to_pylist()
    out = [""] * len(tasks)
    for i, s in zip(order, tasks, strict=True):
        out[i] = s
    return out


def time_base(stream: Any) -> float:
    """A video stream's time base in seconds; DatasetError when the file declares none."""
    if stream.time_base is None:
        from physai.core.errors import DatasetError

        raise DatasetError(f"{stream.container.name}: its video stream declares no time base; re-encode it")
    return float(stream.time_base)
