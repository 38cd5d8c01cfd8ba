"""The `collect` stage of the demo: expert episodes into a LeRobot v3.0 dataset, validated and viewed."""

from __future__ import annotations

import os
from pathlib import Path

from physai.core.progress import Progress
from physai.demo.registry import stage


@stage("collect", order=10)
def collect_stage(
    out: Path, progress: Progress, episodes: int = 6, task: str = "tabletop/pick-place"
) -> dict:
    """Collect `episodes` successful expert episodes with 2 workers, validate, write a contact sheet."""
    from physai.data.collect import CollectConfig, collect
    from physai.data.repair import validate
    from physai.data.view import view

    root = out / "dataset"
    summary = collect(
        CollectConfig(
            task=task,
            episodes=episodes,
            out=str(root),
            workers=min(2, os.cpu_count() or 1),
            cameras=("scene", "wrist"),
        ),
        progress=progress,
    )
    violations = validate(root)
    pngs = (
        view(root, out / "dataset-view", episodes=list(range(min(2, summary["kept"]))))
        if summary["kept"]
        else {}
    )
    return {
        **summary,
        "valid": not violations,
        "violations": violations[:3],
        "view": {k: str(Path(v).relative_to(out)) for k, v in pngs.items()},
    }
