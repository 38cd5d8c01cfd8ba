"""`physai collect`: record expert episodes with parallel workers into one LeRobot v3.0 dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, handle_errors, out, print_json


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)


@handle_errors
def collect(
    task: str = typer.Option(..., "--task", help="Task name, e.g. tabletop/pick-place."),
    episodes: int = typer.Option(10, "--episodes", min=1, help="Episodes to keep."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes."),
    dest: Path = typer.Option(..., "--out", help="New dataset folder."),
    cameras: str = typer.Option(
        None, "--cameras", help="Comma-separated cameras (default: all; 'none': state only)."
    ),
    image_size: int = typer.Option(128, "--image-size", min=16),
    image_labels: bool = typer.Option(
        False, "--image-labels", help="Record task keypoints' image coordinates (act aux_keypoints labels)."
    ),
    keep_failures: bool = typer.Option(False, "--keep-failures", help="Keep episodes the expert failed."),
    seed: int = typer.Option(0, "--seed"),
    codec: str = typer.Option("h264", "--codec", help="h264 or av1."),
    max_steps: int = typer.Option(
        None, "--max-steps", min=1, help="Episode step limit (default: the task's)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Run the task's scripted expert in parallel processes and merge the episodes into one dataset."""
    from physai.cli.ui import new_folder
    from physai.data.collect import CollectConfig
    from physai.data.collect import collect as run

    new_folder(dest)
    if codec not in ("h264", "av1"):
        from physai.core.errors import ConfigError

        raise ConfigError(f"--codec {codec!r}: use h264 or av1")

    cams = (
        None if cameras is None else (() if cameras == "none" else tuple(c for c in cameras.split(",") if c))
    )
    cfg = CollectConfig(
        task=task,
        episodes=episodes,
        out=str(dest),
        workers=workers,
        cameras=cams,
        image_size=image_size,
        image_labels=image_labels,
        keep_failures=keep_failures,
        seed=seed,
        codec=codec,
        max_steps=max_steps,
    )
    doc = run(cfg, progress=RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
        return
    out.print(
        f"[bold]{task}[/bold]: kept {doc['kept']} / {doc['attempts']} episodes "
        f"(success {doc['success_rate']:.0%}, discarded {doc['discarded']}), {doc['frames']} frames, "
        f"{doc['episodes_per_min']:.1f} episodes/min -> {doc['out']}"
    )
