"""`physai dataset info|validate|repair|merge|split|convert|view`."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, console, handle_errors, out, print_json

app = typer.Typer(help="Inspect, check, repair and reshape LeRobot v3.0 datasets.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print one JSON document.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dataset")


@app.command("info")
@handle_errors
def info_cmd(path: Path = typer.Argument(..., help="Dataset folder."), json_out: bool = JSON) -> None:
    """Totals, robot, fps, features and tasks of a dataset."""
    from physai.data.tools import info

    doc = info(path)
    if json_out:
        print_json(doc)
        return
    out.print(
        f"[bold]{doc['root']}[/bold]  {doc['codebase_version']}  robot={doc['robot_type']}  fps={doc['fps']}"
    )
    out.print(
        f"episodes={doc['episodes']} frames={doc['frames']} ({doc['seconds']:.1f} s) "
        f"tasks={len(doc['tasks'])}"
    )
    for k, f in doc["features"].items():
        out.print(f"  {k:<32} {f['dtype']:<8} {f['shape']}")


@app.command("validate")
@handle_errors
def validate_cmd(
    path: Path = typer.Argument(..., help="Dataset folder."),
    quick: bool = typer.Option(False, "--quick", help="Skip decoding every video."),
    json_out: bool = JSON,
) -> None:
    """Check every invariant; exits 1 with the first violations."""
    from physai.data.repair import validate

    errs = validate(path, deep=not quick, progress=RichProgress(enabled=not json_out))
    if json_out:
        print_json({"root": str(path), "ok": not errs, "violations": errs})
    elif errs:
        for e in errs:
            console.print(f"[red]violation:[/red] {e}")
        console.print(f"fix: physai dataset repair {path}")
    else:
        out.print(f"[green]ok[/green] {path}")
    if errs:
        raise typer.Exit(code=1)


@app.command("repair")
@handle_errors
def repair_cmd(path: Path = typer.Argument(..., help="Dataset folder."), json_out: bool = JSON) -> None:
    """Keep the longest verified prefix of episodes and remove unfinished files (idempotent)."""
    from physai.data import collect
    from physai.data.repair import repair

    if collect.pending(path):  # an interrupted `physai collect`: merge what its workers committed
        doc = collect.recover(path, progress=RichProgress(enabled=not json_out))
    else:
        doc = repair(path, progress=RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
        return
    out.print(
        f"kept {doc['episodes_kept']} episodes ({doc['frames']} frames), dropped {doc['episodes_dropped']}, "
        f"removed {len(doc['files_removed'])} files"
        + (f"; first violation: {doc['first_violation']}" if doc["first_violation"] else "")
    )


@app.command("merge")
@handle_errors
def merge_cmd(
    sources: list[Path] = typer.Argument(..., help="Datasets to merge (same features)."),
    dest: Path = typer.Option(..., "--out", help="New dataset folder."),
    json_out: bool = JSON,
) -> None:
    """Merge datasets with identical features into one."""
    from physai.data.tools import merge

    doc = merge(sources, dest, progress=RichProgress(enabled=not json_out))
    print_json(doc) if json_out else out.print(f"merged {doc['episodes']} episodes into {doc['out']}")


@app.command("split")
@handle_errors
def split_cmd(
    path: Path = typer.Argument(..., help="Dataset folder."),
    dest: Path = typer.Option(..., "--out", help="Folder for the split datasets."),
    val: float = typer.Option(0.1, "--val", help="Fraction of episodes for validation."),
    seed: int = typer.Option(0, "--seed", help="Shuffle seed."),
    json_out: bool = JSON,
) -> None:
    """Split into OUT/train and OUT/val by episodes."""
    import numpy as np

    from physai.data.tools import split

    doc = split(path, dest, {"train": 1 - val, "val": val}, rng=np.random.default_rng(seed))
    if json_out:
        print_json(doc)
        return
    for name, d in doc.items():
        out.print(f"{name}: {d['episodes']} episodes -> {d['out']}")


@app.command("convert")
@handle_errors
def convert_cmd(
    path: Path = typer.Argument(..., help="LeRobot v2.1 dataset folder."),
    dest: Path = typer.Option(None, "--out", help="New v3.0 folder (default: PATH-v3)."),
    json_out: bool = JSON,
) -> None:
    """Upgrade a LeRobot v2.1 dataset to v3.0 (writes a new folder)."""
    from physai.data.convert import convert_v21

    dest = dest or path.with_name(path.name + "-v3")
    doc = convert_v21(path, dest, progress=RichProgress(enabled=not json_out))
    print_json(doc) if json_out else out.print(f"converted {doc['episodes']} episodes -> {doc['out']}")


@app.command("view")
@handle_errors
def view_cmd(
    path: Path = typer.Argument(..., help="Dataset folder."),
    dest: Path = typer.Option(None, "--out", help="Folder for the PNGs (default: PATH-view next to PATH)."),
    episodes: str = typer.Option("0,1,2", "--episodes", help="Comma-separated episode indices."),
    json_out: bool = JSON,
) -> None:
    """Contact sheet of camera frames and state/action plots as PNG files."""
    from physai.data.meta import DatasetMeta
    from physai.data.view import view

    n = len(DatasetMeta(path).episodes)
    eps = [int(e) for e in episodes.split(",") if e.strip() and int(e) < n] or [0]
    doc = view(path, dest or path.with_name(path.name + "-view"), episodes=eps)
    print_json(doc) if json_out else [out.print(f"{k}: {v}") for k, v in doc.items()]
