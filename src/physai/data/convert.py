"""Upgrade a LeRobot v2.1 dataset (one file per episode, jsonl metadata) to the v3.0 layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from physai.core.errors import ConfigError, DatasetError
from physai.core.progress import NullProgress, Progress
from physai.data import format as fmt
from physai.data.meta import read_parquet
from physai.data.stats import episode_stats


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise DatasetError(
            f"{path} is missing; a LeRobot v2.1 dataset has meta/episodes.jsonl and meta/tasks.jsonl"
        )
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def convert_v21(src: str | Path, out: str | Path, progress: Progress | None = None) -> dict:  # noqa: C901  (too complex; split later, issue 19)
    """Write the v3.0 version of the v2.1 dataset at `src` into the new folder `out`."""
    from physai.data.tools import _place
    from physai.data.writer import write_metadata

    src, out = Path(src), Path(out)
    info_path = src / fmt.INFO_PATH
    if not info_path.exists():
        raise DatasetError(f"{info_path} not found: {src} is not a LeRobot dataset")
    old = json.loads(info_path.read_text())
    version = str(old.get("codebase_version"))
    if not version.startswith("v2"):
        raise DatasetError(f"{info_path}: codebase_version {version!r}; convert upgrades v2.x datasets only")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new output folder")
    tasks_rows = sorted(_jsonl(src / "meta" / "tasks.jsonl"), key=lambda r: r["task_index"])
    tasks = [r["task"] for r in tasks_rows]
    episodes = sorted(_jsonl(src / "meta" / "episodes.jsonl"), key=lambda r: r["episode_index"])
    stats_path = src / "meta" / "episodes_stats.jsonl"
    old_stats = {r["episode_index"]: r["stats"] for r in _jsonl(stats_path)} if stats_path.exists() else {}
    features = old["features"]
    info = fmt.new_info(old["fps"], features, old.get("robot_type"))
    vkeys = fmt.video_keys(features)
    out.mkdir(parents=True)
    fmt.write_json_atomic(out / fmt.INFO_PATH, info)
    chunks = old.get("chunks_size", 1000)
    rows, ep_stats, start = [], [], 0
    progress = progress or NullProgress()
    progress.start(len(episodes), "convert v2.1 -> v3.0")
    for new_ep, e in enumerate(episodes):
        ep = e["episode_index"]
        old_chunk = ep // chunks
        table = read_parquet(
            src / old["data_path"].format(episode_chunk=old_chunk, episode_index=ep), src, "data"
        )
        n = table.num_rows
        if n != e["length"]:
            raise DatasetError(f"{src}: episode {ep} has {n} rows but meta/episodes.jsonl says {e['length']}")
        ci, fi = fmt.chunk_file(new_ep, info["chunks_size"])
        import pyarrow as pa

        for name, values in (("episode_index", np.full(n, new_ep)), ("index", start + np.arange(n))):
            table = table.set_column(table.column_names.index(name), name, pa.array(values.astype(np.int64)))
        fmt.write_parquet_atomic(out / info["data_path"].format(chunk_index=ci, file_index=fi), table)
        row = {
            "episode_index": new_ep,
            "tasks": e.get("tasks", []),
            "length": n,
            "data/chunk_index": ci,
            "data/file_index": fi,
            "dataset_from_index": start,
            "dataset_to_index": start + n,
        }
        for key in vkeys:
            vsrc = src / old["video_path"].format(episode_chunk=old_chunk, video_key=key, episode_index=ep)
            if not vsrc.exists():
                raise DatasetError(f"{vsrc} is missing (episode {ep}, camera {key})")
            _place(vsrc, out / info["video_path"].format(video_key=key, chunk_index=ci, file_index=fi))
            row.update(
                {
                    f"videos/{key}/chunk_index": ci,
                    f"videos/{key}/file_index": fi,
                    f"videos/{key}/from_timestamp": 0.0,
                    f"videos/{key}/to_timestamp": n / info["fps"],
                }
            )
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = 0, 0
        st: dict[str, dict] = {}
        for k, v in (old_stats.get(ep) or {}).items():
            st[k] = {s: np.asarray(x) for s, x in v.items()}
        for k, f in features.items():
            if k in table.column_names and (
                k not in st or "q01" not in st[k] or k in ("episode_index", "index")
            ):
                from physai.data.dataset import column_to_numpy

                st[k] = episode_stats(column_to_numpy(table.column(k), f).reshape(n, -1).astype(np.float64))
        for key in vkeys:
            if key not in st:
                from physai.data.video import VideoReader

                r = VideoReader(
                    out / info["video_path"].format(video_key=key, chunk_index=ci, file_index=fi), info["fps"]
                )
                st[key] = episode_stats(np.stack([r.get(i)[::4, ::4] for i in range(0, n, 5)]), is_image=True)
                r.close()
        for k, v in st.items():
            v.setdefault("count", np.array([n]))
            for s, x in v.items():
                row[f"stats/{k}/{s}"] = x
        rows.append(row)
        ep_stats.append(st)
        start += n
        progress.advance(1)
    progress.close()
    write_metadata(out, info, rows, tasks, ep_stats)
    return {"src": str(src), "out": str(out), "episodes": len(rows), "frames": start}


SOURCES = ("v21", "mcap", "rosbag2")
TARGETS = ("v3", "mcap")
