"""`physai dataset info|validate|repair|merge|split|convert|view`."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, console, existing, handle_errors, new_folder, out, print_json

app = typer.Typer(help="Inspect, check, repair and reshape LeRobot v3.0 datasets.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print one JSON document.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dataset")


@app.command("info")
@handle_errors
def info_cmd(path: Path = typer.Argument(..., help="Dataset folder."), json_out: bool = JSON) -> None:
    """Totals, robot, fps, features and tasks of a dataset."""
    from physai.data.tools import info

    doc = info(existing(path, "dataset", "dir"))
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
    deep: bool = typer.Option(
        False, "--deep", help="Also compare every file and episode with the sha256 recorded at write time."
    ),
    json_out: bool = JSON,
) -> None:
    """Check every invariant; exits 1 naming each culprit file and the episodes it holds."""
    from physai.data.repair import inspect

    existing(path, "dataset", "dir")
    doc = inspect(path, deep=not quick, checksums=deep, progress=RichProgress(enabled=not json_out))
    errs = doc["problems"]
    if json_out:
        print_json(
            {
                "root": str(path),
                "ok": not errs,
                "violations": [str(p) for p in errs],
                "problems": [p.to_dict() for p in errs],
                "notes": doc["notes"],
            }
        )
    else:
        for e in errs:
            console.print(f"[red]violation:[/red] {e}")
        for n in doc["notes"]:
            console.print(f"[yellow]note:[/yellow] {n}")
        if errs:
            console.print(
                f"fix: physai dataset repair {path}  (keeps every intact episode; what it removes goes to "
                f"{path}/.quarantine/, or add --out NEW to repair a copy)"
            )
        else:
            out.print(f"[green]ok[/green] {path}")
    if errs:
        raise typer.Exit(code=1)


@app.command("repair")
@handle_errors
def repair_cmd(
    path: Path = typer.Argument(..., help="Dataset folder."),
    dest: Path = typer.Option(
        None, "--out", help="Write the repaired dataset to this new folder; the original stays as it is."
    ),
    json_out: bool = JSON,
) -> None:
    """Keep every episode that verifies, rebuild damaged metadata from the data, and move what is
    removed to DATASET/.quarantine/<time>/ with report.json (idempotent)."""
    from physai.data.repair import repair

    existing(path, "dataset", "dir")
    doc = repair(path, out=dest, progress=RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
        return
    out.print(
        f"kept {doc['episodes_kept']} episodes ({doc['frames']} frames), dropped {doc['episodes_dropped']}"
        + (f", rebuilt {', '.join(doc['metadata_rebuilt'])}" if doc["metadata_rebuilt"] else "")
        + (
            f"; originals of {len(doc['files_removed']) + len(doc['files_replaced'])} files and the report "
            f"in {doc['quarantine']}"
            if doc["quarantine"]
            else "; nothing to change"
        )
    )
    for d in doc["dropped"]:
        out.print(f"  episode {d['episode_index']}: {d['problems'][0]}")


@app.command("merge")
@handle_errors
def merge_cmd(
    sources: list[Path] = typer.Argument(..., help="Datasets to merge (same features)."),
    dest: Path = typer.Option(..., "--out", help="New dataset folder."),
    json_out: bool = JSON,
) -> None:
    """Merge datasets with identical features into one."""
    from physai.data.tools import merge

    for src in sources:
        existing(src, "dataset", "dir")
    new_folder(dest)
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

    from physai.core.errors import ConfigError
    from physai.data.tools import split

    existing(path, "dataset", "dir")
    new_folder(dest)
    if not 0 < val < 1:
        raise ConfigError(f"--val must be a fraction between 0 and 1 (exclusive), got {val}")
    doc = split(path, dest, {"train": 1 - val, "val": val}, rng=np.random.default_rng(seed))
    if json_out:
        print_json(doc)
        return
    for name, d in doc.items():
        out.print(f"{name}: {d['episodes']} episodes -> {d['out']}")


@app.command("convert")
@handle_errors
def convert_cmd(
    path: Path = typer.Argument(
        ..., help="Input: a LeRobot v2.1 dataset, an .mcap file, a rosbag2 folder (--from), or a v3 dataset "
        "(--to mcap)."
    ),
    dest_arg: Path = typer.Argument(None, metavar="[OUT]", help="Output folder (same as --out)."),
    dest: Path = typer.Option(None, "--out", help="New output folder (default: PATH-v3 / PATH-mcap)."),
    source: str = typer.Option("v21", "--from", help="Input kind: v21 (LeRobot v2.1), mcap, rosbag2."),
    target: str = typer.Option("v3", "--to", help="Output kind: v3 (LeRobot v3 dataset) or mcap."),
    map_path: Path = typer.Option(
        None, "--map", help="MAP.yaml: which bag topics/fields become state, action and images, and the "
        "resampling fps (not needed for physai's own recordings)."
    ),
    fps: float = typer.Option(None, "--fps", help="Resampling rate (overrides the map's / the recording's)."),
    json_out: bool = JSON,
) -> None:
    """Convert to/from LeRobot v3: upgrade v2.1, turn an MCAP/rosbag2 log into a dataset (resampled to a
    fixed rate, images to video), or write a dataset as MCAP files (writes a new folder)."""
    from physai.core.errors import ConfigError
    from physai.field.convert import convert

    if dest_arg is not None and dest is not None and dest_arg != dest:
        raise ConfigError(f"two outputs given: {dest_arg} and --out {dest}; give one")
    existing(path, "input", "any")
    if map_path is not None:
        existing(map_path, "--map", "file")
    suffix = "-mcap" if target == "mcap" else "-v3"
    base = path.stem if path.is_file() else path.name
    dest = new_folder(dest_arg or dest or path.with_name(base + suffix))
    doc = convert(path, dest, source, target, map_path, fps, progress=RichProgress(enabled=not json_out))
    if json_out:
        print_json(doc)
        return
    msg = f"converted {doc['episodes']} episodes ({doc.get('frames', '?')} frames) -> {doc['out']}"
    if doc.get("frames_per_s"):
        msg += f" at {doc['frames_per_s']:.0f} frames/s"
    if doc.get("truncated"):
        msg += f"; the input was cut short ({doc['truncated']}): converted up to its last complete chunk"
    out.print(msg)


@app.command("view")
@handle_errors
def view_cmd(
    path: Path = typer.Argument(..., help="Dataset folder."),
    dest: Path = typer.Option(None, "--out", help="Folder for the PNGs (default: PATH-view next to PATH)."),
    episodes: str = typer.Option("0,1,2", "--episodes", help="Comma-separated episode indices."),
    json_out: bool = JSON,
) -> None:
    """Contact sheet of camera frames and state/action plots as PNG files."""
    from physai.core.errors import ConfigError
    from physai.data.meta import DatasetMeta
    from physai.data.view import view

    n = len(DatasetMeta(existing(path, "dataset", "dir")).episodes)
    try:
        asked = [int(e) for e in episodes.split(",") if e.strip()]
    except ValueError:
        raise ConfigError(
            f"--episodes {episodes!r}: give comma-separated episode indices, e.g. 0,1,2"
        ) from None
    if any(e < 0 for e in asked):
        raise ConfigError(f"--episodes {episodes!r}: episode indices start at 0")
    eps = [e for e in asked if e < n] or [0]
    doc = view(path, dest or path.with_name(path.name + "-view"), episodes=eps)
    if json_out:
        print_json(doc)
        return
    for k, v in doc.items():
        shown = ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
        out.print(f"{k}: {shown}", highlight=False)
