"""Dataset tools: `info`, `merge`, `split` (copying episodes between datasets with re-indexing)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from physai.core.errors import ConfigError, DatasetError
from physai.core.progress import NullProgress, Progress
from physai.data import format as fmt
from physai.data.meta import DatasetMeta, read_parquet
from physai.data.pack import DataPacker, VideoPacker
from physai.data.stats import episode_stats


def info(root: str | Path) -> dict:
    """Summary of a dataset: totals, robot, fps, features with shapes, tasks, episode lengths."""
    meta = DatasetMeta(root)
    lengths = [e["length"] for e in meta.episodes]
    return {
        "root": str(meta.root),
        "codebase_version": meta.info["codebase_version"],
        "robot_type": meta.info.get("robot_type"),
        "fps": meta.fps,
        "episodes": len(meta.episodes),
        "frames": meta.total_frames,
        "tasks": meta.tasks,
        "features": {k: {"dtype": f["dtype"], "shape": f["shape"]} for k, f in meta.features.items()},
        "episode_length": {
            "min": min(lengths, default=0),
            "max": max(lengths, default=0),
            "mean": float(np.mean(lengths)) if lengths else 0.0,
        },
        "seconds": meta.total_frames / meta.fps,
        "physai": meta.info.get("physai"),
    }


def _same_schema(a: DatasetMeta, b: DatasetMeta) -> None:
    ra, rb = a.info.get("robot_type"), b.info.get("robot_type")
    if ra and rb and ra != rb:
        from physai.core.errors import RobotMismatchError

        raise RobotMismatchError(f"dataset {a.root}", ra, f"dataset {b.root}", rb,
                                 "merge datasets of one robot (train a vla on several robots' datasets)")
    if a.fps != b.fps:
        raise DatasetError(f"{b.root}: fps {b.fps} != {a.fps} of {a.root}; datasets to merge need one fps")
    fa = {k: (f["dtype"], tuple(f["shape"])) for k, f in a.features.items()}
    fb = {k: (f["dtype"], tuple(f["shape"])) for k, f in b.features.items()}
    if fa != fb:
        diff = [f"{k}: {fa.get(k, 'missing')} vs {fb.get(k, 'missing')}"
                for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)][:4]
        raise DatasetError(
            f"{b.root}: features differ from {a.root} ({'; '.join(diff)}); merge needs identical features "
            "(train on both with physai.data.MultiDataset instead)"
        )


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_episodes(
    sources: list[tuple[str | Path, list[int] | None]],
    out: str | Path,
    progress: Progress | None = None,
) -> dict:
    """Write the chosen episodes of each source (None: all), in order, into a new dataset at `out`,
    packed into multi-episode data and video files (videos are remuxed, not re-encoded)."""
    from physai.data.writer import write_metadata

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new output folder")
    metas = [DatasetMeta(s) for s, _ in sources]
    if not metas:
        raise ConfigError("no source datasets given")
    for m in metas[1:]:
        _same_schema(metas[0], m)
    info = fmt.new_info(metas[0].fps, metas[0].features, metas[0].info.get("robot_type"))
    info["data_path"], info["video_path"] = fmt.DATA_PATH, fmt.VIDEO_PATH if metas[0].video_keys else None
    extras = [m.info.get("physai") for m in metas]
    if extras[0] and all(e == extras[0] for e in extras):
        info["physai"] = extras[0]
    out.mkdir(parents=True, exist_ok=True)
    fmt.write_json_atomic(out / fmt.INFO_PATH, info)
    tasks: list[str] = []
    rows: list[dict] = []
    ep_stats: list[dict] = []
    total = sum(
        len(m.episodes) if sel is None else len(sel) for m, (_, sel) in zip(metas, sources, strict=True)
    )
    progress = progress or NullProgress()
    progress.start(total, "copy episodes")
    start = 0
    data_packer = DataPacker(out, info)
    video_packers = {k: VideoPacker(out, info, k) for k in metas[0].video_keys}
    for meta, (_, sel) in zip(metas, sources, strict=True):
        chosen = range(len(meta.episodes)) if sel is None else sel
        for src_ep in chosen:
            if not 0 <= src_ep < len(meta.episodes):
                raise ConfigError(f"episode {src_ep} not in {meta.root} ({len(meta.episodes)} episodes)")
            row = dict(meta.episodes[src_ep])
            ep = len(rows)
            n = row["length"]
            table = read_parquet(meta.data_path(row), meta.root, "data")
            a = row["dataset_from_index"] - int(table.column("index")[0].as_py())
            table = table.slice(a, n)
            ep_tasks = []
            src_ti = table.column("task_index").to_numpy()
            new_ti = np.empty_like(src_ti)
            for t in np.unique(src_ti):
                name = meta.tasks[int(t)]
                if name not in tasks:
                    tasks.append(name)
                new_ti[src_ti == t] = tasks.index(name)
                ep_tasks.append(name)
            table = (
                table.set_column(
                    table.column_names.index("episode_index"),
                    "episode_index",
                    pa.array(np.full(n, ep, np.int64)),
                )
                .set_column(table.column_names.index("index"), "index", pa.array(start + np.arange(n)))
                .set_column(table.column_names.index("task_index"), "task_index", pa.array(new_ti))
            )
            dci, dfi = data_packer.add(table)
            for key in meta.video_keys:
                first = int(round(row[f"videos/{key}/from_timestamp"] * meta.fps))
                vci, vfi, t0, t1 = video_packers[key].add(meta.video_path(row, key), first, n)
                row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"] = vci, vfi
                row[f"videos/{key}/from_timestamp"], row[f"videos/{key}/to_timestamp"] = t0, t1
            row.update(
                {
                    "episode_index": ep,
                    "tasks": ep_tasks or row.get("tasks"),
                    "data/chunk_index": dci,
                    "data/file_index": dfi,
                    "dataset_from_index": start,
                    "dataset_to_index": start + n,
                    "meta/episodes/chunk_index": 0,
                    "meta/episodes/file_index": 0,
                }
            )
            st = meta.episode_stats(meta.episodes[src_ep])
            for k, v in (
                ("episode_index", np.full(n, ep)),
                ("index", start + np.arange(n)),
                ("task_index", new_ti),
            ):
                st[k] = episode_stats(np.asarray(v, np.float64))
                for s_name, val in st[k].items():
                    row[f"stats/{k}/{s_name}"] = val
            ep_stats.append(st)
            rows.append(row)
            start += n
            progress.advance(1)
    data_packer.flush()
    for vp in video_packers.values():
        vp.close()
    progress.close()
    write_metadata(out, info, rows, tasks, ep_stats)
    return {"out": str(out), "episodes": len(rows), "frames": start, "tasks": len(tasks)}


def merge(sources: Sequence[str | Path], out: str | Path, progress: Progress | None = None) -> dict:
    """All episodes of `sources` (same features and fps) into one new dataset at `out`."""
    return copy_episodes([(s, None) for s in sources], out, progress)


def split(
    root: str | Path,
    out: str | Path,
    fractions: dict[str, float],
    rng: np.random.Generator | None = None,
    progress: Progress | None = None,
) -> dict:
    """Split episodes into `out/<name>` datasets by `fractions` ({"train": 0.9, "val": 0.1}), shuffled
    with `rng` (None: keep episode order)."""
    meta = DatasetMeta(root)
    n = len(meta.episodes)
    total = sum(fractions.values())
    if total <= 0 or any(f < 0 for f in fractions.values()):
        raise ConfigError(f"split fractions must be >= 0 and sum > 0, got {fractions}")
    order = np.arange(n) if rng is None else rng.permutation(n)
    bounds = np.round(np.cumsum([0] + [f / total for f in fractions.values()]) * n).astype(int)
    parts = {}
    for (name, _), a, b in zip(fractions.items(), bounds[:-1], bounds[1:], strict=True):
        parts[name] = sorted(int(i) for i in order[a:b])
        if not parts[name]:
            raise ConfigError(f"split {name!r} would get no episodes out of {n}; change the fractions")
    for name in parts:  # refuse before writing anything: a failed split leaves no partial output
        dest = Path(out) / name
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ConfigError(f"{dest} exists and is not empty; choose a new output folder")
    created = not Path(out).exists()
    result = {}
    try:
        for name, eps in parts.items():
            result[name] = copy_episodes([(root, eps)], Path(out) / name, progress)
    except BaseException:
        for name in parts:
            shutil.rmtree(Path(out) / name, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return result
