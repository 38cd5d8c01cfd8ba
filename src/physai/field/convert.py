"""`physai dataset convert`: one entry for every conversion — LeRobot v2.1 -> v3 (`data.convert`), an MCAP
file or rosbag2 folder -> v3 (`field.bag_convert`), and v3 -> MCAP."""

from __future__ import annotations

from pathlib import Path

from physai.core.errors import ConfigError
from physai.core.progress import Progress
from physai.data.convert import SOURCES, TARGETS, convert_v21


def convert(
    src: str | Path,
    out: str | Path,
    source: str = "v21",
    target: str = "v3",
    map_path: str | Path | None = None,
    fps: float | None = None,
    progress: Progress | None = None,
) -> dict:
    """One entry for every conversion: a LeRobot v2.1 dataset, an MCAP file or a rosbag2 folder -> a v3
    dataset (`target='v3'`), or a v3 dataset -> MCAP files (`target='mcap'`). Bags need `map_path` (a
    MAP.yaml, see `physai.field.bag_convert`) unless they are physai's own recordings."""
    if source not in SOURCES:
        raise ConfigError(f"conversion source {source!r}: use one of {', '.join(SOURCES)}")
    if target not in TARGETS:
        raise ConfigError(f"conversion target {target!r}: use one of {', '.join(TARGETS)}")
    if target == "mcap":
        if source != "v21" or map_path is not None:
            raise ConfigError("conversion to MCAP reads a LeRobot v3 dataset; give no source kind and no map")
        from physai.field.bag_convert import dataset_to_mcap

        return dataset_to_mcap(src, out, progress=progress)
    if source == "v21":
        if map_path is not None:
            raise ConfigError("a topic map applies to MCAP and rosbag2 sources only")
        return convert_v21(src, out, progress=progress)
    from physai.field.bag_convert import bag_to_dataset, load_map, session_map

    if map_path is not None:
        bag_map = load_map(map_path)
        if fps is not None:
            import dataclasses

            bag_map = dataclasses.replace(bag_map, fps=float(fps))
    else:
        bag_map = session_map(Path(src), source, fps)
    return bag_to_dataset(src, out, bag_map, kind=source, progress=progress)
