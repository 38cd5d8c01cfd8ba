"""`physai teleop`: drive a simulated task from a keyboard, gamepad, SpaceMouse or browser page and
record the episodes as a LeRobot v3 dataset."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from physai.cli.ui import RichProgress, console, handle_errors, out, print_json
from physai.cli.ui import port as check_port


def register(app: typer.Typer) -> None:
    app.command("teleop")(teleop)


def split_names(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@handle_errors
def teleop(
    task: str = typer.Option(..., "--task", help="Task to drive, e.g. tabletop/pick-place."),
    dest: Path = typer.Option(..., "--out", help="Dataset folder (new, or a dataset to append to)."),
    source: str = typer.Option(
        "browser",
        "--source",
        help="Comma-separated sources: browser, keyboard, gamepad, spacemouse (first wins).",
    ),
    episodes: int = typer.Option(1, "--episodes", min=1, help="Episodes to record."),
    port: int = typer.Option(8765, "--port", help="Port of the browser page."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Bind address of the page (forward the port to reach it)."
    ),
    cameras: str = typer.Option(
        None, "--cameras", help="Comma-separated cameras (default: all; 'none': state only)."
    ),
    image_size: int = typer.Option(128, "--image-size", min=16),
    max_steps: int = typer.Option(
        None, "--max-steps", min=1, help="Episode step limit (default: the task's)."
    ),
    keep_failures: bool = typer.Option(False, "--keep-failures", help="Keep episodes that did not succeed."),
    speed: float = typer.Option(
        0.15, "--speed", min=0.01, max=0.25, help="TCP speed (m/s) at full deflection."
    ),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Teleoperate a sim task and record what you do (Ctrl-C or the quit key ends the session)."""
    from physai.teleop.devices import KEY_HELP
    from physai.teleop.run import TeleopConfig, run_teleop

    if port:  # 0: any free port
        check_port(port)
    if dest.exists() and not dest.is_dir():
        from physai.core.errors import ConfigError

        raise ConfigError(f"--out {dest} is a file; give a dataset folder")
    cams = None if cameras is None else (() if cameras == "none" else split_names(cameras))
    cfg = TeleopConfig(
        task=task,
        out=dest,
        sources=split_names(source),
        episodes=episodes,
        seed=seed,
        cameras=cams,
        image_size=image_size,
        max_steps=max_steps,
        keep_failures=keep_failures,
        port=port,
        host=host,
        linear_speed=speed,
    )

    def ready(srcs: list) -> None:
        for s in srcs:
            if s.name == "browser":
                console.print(
                    f"teleop page: {s.url}  (headless: ssh -L {s.port}:localhost:{s.port} <this host>)",
                    highlight=False,
                )
            elif s.name == "keyboard":
                console.print(f"keyboard: {KEY_HELP}", highlight=False)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        doc = run_teleop(cfg, progress=RichProgress(enabled=not json_out), on_ready=ready, stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    if json_out:
        print_json(doc)
        return
    out.print(
        f"[bold]{task}[/bold]: kept {doc['kept']} of {len(doc['episodes'])} episodes "
        f"({doc['successes']} successful), {doc['human_steps']} human steps -> {doc['out']}"
    )
