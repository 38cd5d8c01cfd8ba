"""The staging folder of a `physai collect` in progress (`out/collect-in-progress/worker-<k>/`): whether
one is pending, its worker parts, the episodes they committed, and the message naming the fix."""

from __future__ import annotations

import json
from pathlib import Path

from physai.data import format as fmt

STAGING = "collect-in-progress"


def pending(root: str | Path) -> bool:
    """Whether `root` holds a collection that did not finish (or finished but was not cleaned up)."""
    return (Path(root) / STAGING).is_dir()


def parts(staging: Path) -> list[Path]:
    return sorted(
        (p for p in staging.glob("worker-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1])
    )


def committed_episodes(root: str | Path) -> int:
    """Episodes committed so far by the workers of an unfinished collection in `root`."""
    n = 0
    for part in parts(Path(root) / STAGING):
        try:
            n += int(json.loads((part / "meta" / "info.json").read_text())["total_episodes"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return n


def unfinished_collect(root: Path) -> str | None:
    """The message for an interrupted `physai collect` in `root` (not yet a dataset), else None."""
    if (root / fmt.INFO_PATH).exists() or not pending(root):
        return None
    return (
        f"{root}: unfinished `physai collect` ({committed_episodes(root)} episodes recorded in "
        f"{root / STAGING}, not merged); run `physai dataset repair {root}` to merge them into the "
        "dataset"
    )
