"""`DatasetMeta`: info.json, tasks, episodes and stats of a LeRobot v3.0 dataset, checked on open."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from physai.core.errors import DatasetError
from physai.data import format as fmt
from physai.data.staging import unfinished_collect
from physai.data.stats import from_json

REQUIRED_INFO = ("codebase_version", "fps", "features", "total_episodes", "total_frames", "data_path")


def read_parquet(path: Path, root: Path, what: str) -> pa.Table:
    """Read a parquet file or raise a DatasetError naming it and the fix."""
    if not path.exists():
        raise DatasetError(f"{path}: {what} file is missing; run `physai dataset repair {root}`")
    try:
        return pq.read_table(path, memory_map=True)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(
            f"{path}: {what} file is truncated or not parquet ({exc}); run `physai dataset repair {root}`"
        ) from exc


class DatasetMeta:
    """Metadata of the dataset at `root`: `info` (dict), `tasks` (list), `episodes` (list of dicts,
    only the committed ones), `stats` ({feature: {stat: ndarray}})."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        info_path = self.root / fmt.INFO_PATH
        if not info_path.exists():
            unfinished = unfinished_collect(self.root)
            if unfinished:
                raise DatasetError(unfinished)
            if (self.root / "meta" / "episodes.jsonl").exists():
                raise DatasetError(
                    f"{self.root} is a LeRobot v2.x dataset; run `physai dataset convert {self.root}`"
                )
            raise DatasetError(f"{info_path} not found: {self.root} is not a LeRobot dataset")
        try:
            self.info: dict = json.loads(info_path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{info_path}: not valid JSON ({exc}); run `physai dataset repair {self.root}`"
            ) from exc
        missing = [k for k in REQUIRED_INFO if k not in self.info]
        if missing:
            raise DatasetError(f"{info_path}: missing fields {missing}")
        version = self.info["codebase_version"]
        if version != fmt.CODEBASE_VERSION:
            fix = (
                f"run `physai dataset convert {self.root}`"
                if str(version).startswith("v2")
                else "physai reads LeRobot v3.0 (and converts v2.x)"
            )
            raise DatasetError(f"{info_path}: codebase_version {version!r} is not supported; {fix}")
        self.fps: int = int(self.info["fps"])
        self.features: dict = self.info["features"]
        n = int(self.info["total_episodes"])
        self.episodes: list[dict] = []
        self.tasks: list[str] = []
        self.stats: dict = {}
        if n == 0:
            return
        tables = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not tables:
            raise DatasetError(
                f"{self.root}/meta/episodes: no episode files but info.json says {n} episodes; "
                f"run `physai dataset repair {self.root}`"
            )
        rows: list[dict] = []
        for path in tables:
            rows.extend(read_parquet(path, self.root, "episode metadata").to_pylist())
        rows.sort(key=lambda r: r["episode_index"])
        if len(rows) < n:
            raise DatasetError(
                f"{self.root}/meta/episodes has {len(rows)} episodes, info.json says {n}; "
                f"run `physai dataset repair {self.root}`"
            )
        self.episodes = rows[:n]  # rows past total_episodes are uncommitted (crash during a save)
        for i, r in enumerate(self.episodes):
            if r["episode_index"] != i:
                raise DatasetError(
                    f"{self.root}/meta/episodes: episode_index {r['episode_index']} at position {i} "
                    f"(indices must be contiguous); run `physai dataset repair {self.root}`"
                )
        self.tasks = (
            fmt.read_tasks(self.root / fmt.TASKS_PATH) if (self.root / fmt.TASKS_PATH).exists() else []
        )
        if not self.tasks:
            raise DatasetError(
                f"{self.root / fmt.TASKS_PATH}: missing or empty; run `physai dataset repair {self.root}`"
            )
        stats_path = self.root / fmt.STATS_PATH
        if stats_path.exists():
            self.stats = from_json(json.loads(stats_path.read_text()))

    @property
    def video_keys(self) -> list[str]:
        return fmt.video_keys(self.features)

    @property
    def camera_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f["dtype"] in ("video", "image")]

    @property
    def total_frames(self) -> int:
        return int(sum(r["length"] for r in self.episodes))

    def data_path(self, ep: dict) -> Path:
        return self.root / self.info["data_path"].format(
            chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"]
        )

    def video_path(self, ep: dict, key: str) -> Path:
        return self.root / self.info["video_path"].format(
            video_key=key,
            chunk_index=ep[f"videos/{key}/chunk_index"],
            file_index=ep[f"videos/{key}/file_index"],
        )

    def episode_stats(self, ep: dict) -> dict[str, dict[str, np.ndarray]]:
        out: dict[str, dict] = {}
        for key, v in ep.items():
            if key.startswith("stats/") and v is not None:
                feat, s = key[len("stats/") :].rsplit("/", 1)
                out.setdefault(feat, {})[s] = np.asarray(v)
        return out
