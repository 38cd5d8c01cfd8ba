"""`physai collect`: record expert episodes with parallel workers into one LeRobot v3.0 dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from physai.cli.options import config_options
from physai.cli.ui import RichProgress, handle_errors, out, print_json
from physai.data.collect import CollectConfig


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)


@handle_errors
@config_options(
    CollectConfig, ("episodes", "workers", "image_size", "image_labels", "keep_failures", "seed", "codec",
                    "max_steps"),
    dest="options", defaults={"episodes": 10},
    minimum={"episodes": 1, "workers": 1, "image_size": 16, "max_steps": 1},
)
def collect(
    task: str = typer.Option(..., "--task", help="Task name, e.g. tabletop/pick-place."),
    dest: Path = typer.Option(..., "--out", help="New dataset folder."),
    cameras: str = typer.Option(
        None, "--cameras", help="Comma-separated cameras (default: all; 'none': state only)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
    options: dict[str, Any] | None = None,
) -> None:
    """Run the task's scripted expert in parallel processes and merge the episodes into one dataset."""
    from physai.cli.ui import new_folder
    from physai.data.collect import collect as run

    new_folder(dest)
    opts = dict(options or {})
    if opts.get("codec") not in ("h264", "av1"):
        from physai.core.errors import ConfigError

        raise ConfigError(f"--codec {opts.get('codec')!r}: use h264 or av1")
    cams = (
        None if cameras is None else (() if cameras == "none" else tuple(c for c in cameras.split(",") if c))
    )
    cfg = CollectConfig(task=task, out=str(dest), cameras=cams, **opts)
    doc = run(cfg, progress=RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
        return
    out.print(
        f"[bold]{task}[/bold]: kept {doc['kept']} / {doc['attempts']} episodes "
        f"(success {doc['success_rate']:.0%}, discarded {doc['discarded']}), {doc['frames']} frames, "
        f"{doc['episodes_per_min']:.1f} episodes/min -> {doc['out']}"
    )
