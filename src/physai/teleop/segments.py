"""DAgger data: the human segments of intervened episodes, weighted, as a dataset to train on.

An intervened episode (recorded by `physai run --intervene ... --record` or the DAgger benchmark)
marks every step with `control_source` (0 policy, 1 human, 2 hold). The human steps are the labels
DAgger learns from (HG-DAgger: the policy's own steps are not corrections, and the steps where a lost
device held the robot are no demonstration at all). `extract_interventions` writes each maximal run of
human steps as its own episode, repeated `weight` times (oversampling: the trainer samples frames
uniformly, so a segment written k times weighs k times as much), into a dataset whose features match a
base dataset, ready for `physai.data.tools.merge` (the flywheel's merge step).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from physai.core.errors import ConfigError, DatasetError
from physai.data import format as fmt
from physai.data.dataset import Dataset
from physai.data.meta import DatasetMeta
from physai.data.writer import DatasetWriter
from physai.teleop.arbiter import LABELS
from physai.teleop.session import CONTROL_SOURCE

HUMAN = LABELS.index("human")


def has_interventions(root: str | Path) -> bool:
    """Whether the dataset at `root` marks its steps with `control_source`."""
    return CONTROL_SOURCE in DatasetMeta(Path(root)).features


def human_segments(root: str | Path, min_steps: int = 1) -> list[tuple[int, int, int]]:
    """(episode, first row, end row) of every run of at least `min_steps` human steps."""
    ds = Dataset(root)
    if CONTROL_SOURCE not in ds.features:
        raise DatasetError(f"{root} has no {CONTROL_SOURCE!r} feature: it is not an intervention recording")
    src = np.asarray(ds.arrays()[CONTROL_SOURCE]).reshape(-1)
    out = []
    for ep in range(ds.num_episodes):
        lo, hi = ds.episode_range(ep)
        human = np.concatenate([[False], src[lo:hi] == HUMAN, [False]])
        edges = np.flatnonzero(np.diff(human.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if b - a >= min_steps:
                out.append((ep, lo + int(a), lo + int(b)))
    return out


def extract_interventions(
    sources: Sequence[str | Path],
    out: str | Path,
    like: str | Path | None = None,
    weight: int = 1,
    min_steps: int = 1,
) -> dict:
    """Write the human segments of `sources` (each `weight` times) as episodes of a new dataset at
    `out`, with the features of the dataset `like` (default: the first source's, `control_source`
    included). Returns counts: segments, human steps, frames written."""
    if weight < 1:
        raise ConfigError(f"intervention weight must be a whole number >= 1, got {weight}")
    if not sources:
        raise ConfigError("no intervention recordings given")
    ref = DatasetMeta(Path(like or sources[0]))
    keep = {k: v for k, v in ref.features.items() if k not in fmt.INDEX_KEYS}
    writer: DatasetWriter | None = None
    segments = steps = frames = 0
    for s in sources:
        meta = DatasetMeta(Path(s))
        missing = sorted(set(keep) - set(meta.features))
        if missing or meta.fps != ref.fps:
            raise ConfigError(
                f"intervention recording {s} does not match {like or sources[0]}: features {missing} "
                f"missing or fps {meta.fps} != {ref.fps}; record interventions with the base dataset's "
                "cameras, image size and rate"
            )
        segs = human_segments(s, min_steps)
        if not segs:
            continue
        ds = Dataset(s)
        data = ds.arrays()
        if writer is None:
            info = ref.info
            writer = DatasetWriter(
                out,
                fps=ref.fps,
                features=keep,
                robot_type=info.get("robot_type"),
                extra_info={**info.get("physai", {}), "derived_from": "interventions", "weight": weight},
            )
        for ep, lo, hi in segs:
            task = ds._ep_task[ep] or "intervention"
            rows = [_row(ds, data, keep, r) for r in range(lo, hi)]
            for _ in range(weight):
                for row in rows:
                    writer.add_frame(row)
                writer.save_episode(task)
                frames += hi - lo
            segments += 1
            steps += hi - lo
    if writer is not None:
        writer.close()
    return {
        "segments": segments,
        "human_steps": steps,
        "frames_written": frames,
        "weight": weight,
        "dataset": str(out) if writer is not None else None,
    }


def _row(ds: Dataset, data: dict, keep: dict, r: int) -> dict:
    row: dict = {}
    for k, f in keep.items():
        if f["dtype"] in ("video", "image"):
            img = ds[r][k].numpy()
            row[k] = np.clip(np.round(img.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
        else:
            v = np.asarray(data[k][r])
            row[k] = bool(v.reshape(-1)[0]) if f["dtype"] == "bool" else v
    return row
