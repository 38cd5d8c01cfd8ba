"""`validate` (every invariant, first violations) and `repair` (longest verified prefix, idempotent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from physai.core.errors import DatasetError
from physai.core.progress import NullProgress, Progress
from physai.data import format as fmt
from physai.data.meta import DatasetMeta
from physai.data.video import VideoReader


def check_episode(
    root: Path,
    info: dict,
    row: dict,
    prev_to: int,
    tasks: list[str],
    video_frames: dict[Path, int],
    deep: bool = True,
) -> list[str]:
    """Violations of one episode row against its data and video files (empty when it is sound)."""
    errs: list[str] = []
    ep, n = row["episode_index"], row["length"]
    if row["dataset_from_index"] != prev_to:
        errs.append(
            f"episode {ep}: dataset_from_index {row['dataset_from_index']} != previous episode's "
            f"dataset_to_index {prev_to} (indices must be contiguous)"
        )
    if row["dataset_to_index"] - row["dataset_from_index"] != n:
        errs.append(
            f"episode {ep}: span [{row['dataset_from_index']}, {row['dataset_to_index']}) != length {n}"
        )
    path = root / info["data_path"].format(
        chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
    )
    try:
        t = pq.read_table(path, columns=["episode_index", "frame_index", "index", "task_index", "timestamp"])
    except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
        return errs + [f"episode {ep}: data file {path} unreadable ({type(exc).__name__}: {str(exc)[:120]})"]
    e = t.column("episode_index").to_numpy()
    sel = np.flatnonzero(e == ep)
    if len(sel) != n:
        return errs + [f"episode {ep}: {path} has {len(sel)} rows for the episode, meta says length {n}"]
    fi = t.column("frame_index").to_numpy()[sel]
    ix = t.column("index").to_numpy()[sel]
    if not np.array_equal(fi, np.arange(n)):
        errs.append(f"episode {ep}: frame_index in {path} is not 0..{n - 1}")
    if not np.array_equal(ix, np.arange(row["dataset_from_index"], row["dataset_from_index"] + n)):
        errs.append(f"episode {ep}: index in {path} is not contiguous from dataset_from_index")
    ts = t.column("timestamp").to_numpy()[sel]
    if np.abs(ts - fi / info["fps"]).max(initial=0) > 1e-4:
        errs.append(f"episode {ep}: timestamps in {path} disagree with frame_index / fps")
    ti = t.column("task_index").to_numpy()[sel]
    if len(ti) and (ti.min() < 0 or ti.max() >= len(tasks)):
        errs.append(f"episode {ep}: task_index {int(ti.max())} has no entry in meta/tasks.parquet")
    for key in fmt.video_keys(info["features"]):
        if f"videos/{key}/chunk_index" not in row or row[f"videos/{key}/chunk_index"] is None:
            errs.append(f"episode {ep}: no video span for {key}")
            continue
        vpath = root / info["video_path"].format(
            video_key=key,
            chunk_index=row[f"videos/{key}/chunk_index"],
            file_index=row[f"videos/{key}/file_index"],
        )
        if not vpath.exists():
            errs.append(f"episode {ep}: video {vpath} is missing")
            continue
        if deep:
            if vpath not in video_frames:
                try:
                    video_frames[vpath] = VideoReader(vpath, info["fps"]).count()
                except DatasetError as exc:
                    errs.append(f"episode {ep}: video {vpath} does not decode ({str(exc)[:120]})")
                    continue
                except Exception as exc:  # decoder errors on truncated files
                    errs.append(f"episode {ep}: video {vpath} does not decode ({type(exc).__name__})")
                    continue
            need = int(round(row[f"videos/{key}/from_timestamp"] * info["fps"])) + n
            if video_frames[vpath] < need:
                errs.append(
                    f"episode {ep}: video {vpath} has {video_frames[vpath]} frames, needs {need} (truncated)"
                )
    return errs


def validate(
    root: str | Path, deep: bool = True, max_errors: int = 20, progress: Progress | None = None
) -> list[str]:
    """Every violated invariant (up to `max_errors`); empty when the dataset is sound."""
    root = Path(root)
    progress = progress or NullProgress()
    try:
        meta = DatasetMeta(root)
    except DatasetError as exc:
        return [str(exc)]
    info, errs = meta.info, []
    for k, f in info["features"].items():
        if "dtype" not in f or "shape" not in f:
            errs.append(f"meta/info.json: feature {k!r} lacks dtype or shape")
    if info["total_frames"] != meta.total_frames:
        errs.append(
            f"meta/info.json: total_frames {info['total_frames']} != sum of episode lengths "
            f"{meta.total_frames}"
        )
    if info.get("total_tasks", len(meta.tasks)) != len(meta.tasks):
        errs.append(
            f"meta/info.json: total_tasks {info['total_tasks']} != {len(meta.tasks)} tasks in tasks.parquet"
        )
    if meta.episodes:
        missing = [k for k in info["features"] if k not in meta.stats]
        if missing:
            errs.append(f"meta/stats.json: no stats for {missing}")
        for k, st in meta.stats.items():
            absent = [s for s in ("mean", "std", "min", "max") if s not in st]
            if absent:
                errs.append(f"meta/stats.json: {k} lacks {absent}")
    frames: dict[Path, int] = {}
    prev = 0
    progress.start(len(meta.episodes), "validate")
    for row in meta.episodes:
        errs += check_episode(root, info, row, prev, meta.tasks, frames, deep)
        prev = row["dataset_to_index"]
        progress.advance(1)
        if len(errs) >= max_errors:
            break
    progress.close()
    return errs[:max_errors]


def repair(root: str | Path, progress: Progress | None = None) -> dict:
    """Keep the longest prefix of episodes whose files verify, rewrite the metadata for it, and delete
    orphan files (unfinished episodes, temp files). Running it again changes nothing."""
    from physai.data.writer import DatasetWriter, write_metadata

    root = Path(root)
    progress = progress or NullProgress()
    info_path = root / fmt.INFO_PATH
    if not info_path.exists():
        raise DatasetError(f"{info_path} not found: nothing to repair in {root}")
    info = json.loads(info_path.read_text())
    if info.get("codebase_version") != fmt.CODEBASE_VERSION:
        raise DatasetError(
            f"{info_path}: codebase_version {info.get('codebase_version')!r}; "
            f"run `physai dataset convert {root}` first"
        )
    rows: list[dict] = []
    for path in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
        try:
            rows.extend(pq.read_table(path).to_pylist())
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(
                f"{path}: episode metadata unreadable ({exc}); it is written atomically by physai, "
                "so this file was damaged outside physai — restore it from a backup"
            ) from exc
    rows.sort(key=lambda r: r["episode_index"])
    try:
        tasks = fmt.read_tasks(root / fmt.TASKS_PATH)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        tasks = []
    kept: list[dict] = []
    frames: dict[Path, int] = {}
    prev, first_bad = 0, None
    progress.start(len(rows), "repair")
    for i, row in enumerate(rows):
        errs = [] if row["episode_index"] == i else [f"episode_index {row['episode_index']} at position {i}"]
        if not errs and any(t not in tasks for t in row.get("tasks") or []):
            errs = [f"episode {i}: task not in meta/tasks.parquet"]
        errs = errs or check_episode(root, info, row, prev, tasks, frames, deep=True)
        progress.advance(1)
        if errs:
            first_bad = errs[0]
            break
        kept.append(row)
        prev = row["dataset_to_index"]
    progress.close()
    used = {t for r in kept for t in r.get("tasks") or []}
    last = max((tasks.index(t) for t in used), default=-1)
    tasks = tasks[: last + 1]
    changed = (
        len(kept) != info.get("total_episodes")
        or len(rows) != len(kept)
        or info.get("total_frames") != sum(r["length"] for r in kept)
    )
    ep_stats = [DatasetWriter._stats_of_row(r) for r in kept]
    if changed or not (root / fmt.STATS_PATH).exists():
        write_metadata(root, info, kept, tasks, ep_stats)
    removed = _remove_orphans(root, info, kept)
    return {
        "root": str(root),
        "episodes_kept": len(kept),
        "episodes_dropped": len(rows) - len(kept),
        "frames": sum(r["length"] for r in kept),
        "first_violation": first_bad,
        "files_removed": removed,
        "changed": bool(changed or removed),
    }


def _remove_orphans(root: Path, info: dict, kept: list[dict]) -> list[str]:
    keep: set[Path] = set()
    for r in kept:
        keep.add(
            root
            / info["data_path"].format(chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
        )
        for key in fmt.video_keys(info["features"]):
            keep.add(
                root
                / info["video_path"].format(
                    video_key=key,
                    chunk_index=r[f"videos/{key}/chunk_index"],
                    file_index=r[f"videos/{key}/file_index"],
                )
            )
    removed = []
    candidates = list((root / "data").glob("chunk-*/file-*.parquet")) + list(
        (root / "videos").glob("*/chunk-*/file-*.mp4")
    )
    candidates += list(root.glob("**/.*.tmp"))
    for p in candidates:
        if p not in keep:
            p.unlink()
            removed.append(str(p.relative_to(root)))
    return sorted(removed)
