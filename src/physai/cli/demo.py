"""`physai demo`: the lifecycle tour that `make demo` runs."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, handle_errors, out, print_json


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


@handle_errors
def demo(
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="Output folder."),
    stages: str = typer.Option(None, "--stages", help="Comma-separated subset of stages."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Run the demo: every stage of the lifecycle on embedded defaults, with videos and a summary."""
    from physai.demo.runner import run_demo

    summary = run_demo(out_dir, stages.split(",") if stages else None, RichProgress(enabled=not json_out))
    if json_out:
        print_json(summary)
        return
    for name, res in summary["stages"].items():
        out.print(f"[bold]{name}[/bold] done in {res['seconds']} s")
    out.print(f"open {out_dir / 'index.html'}")
