"""`physai ros2 ...`: a sim task as a ROS 2 robot (`sim`), and a robot's topics checked (`doctor`)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import typer

from physai.cli.ui import console, handle_errors, out, positive, print_json

ros2_app = typer.Typer(
    help="ROS 2 robots: serve a sim task as one, check a robot's topics.", no_args_is_help=True
)
JSON = typer.Option(False, "--json", help="Print one JSON document.")


def register(app: typer.Typer) -> None:
    app.add_typer(ros2_app, name="ros2")


def _size(text: str) -> tuple[int, int]:
    from physai.core.errors import ConfigError

    h, _, w = text.lower().partition("x")
    try:
        size = (int(h), int(w or h))
    except ValueError:
        raise ConfigError(f"--image-size {text!r}: give HEIGHTxWIDTH or one number, e.g. 128x128") from None
    if min(size) < 8:
        raise ConfigError(f"--image-size {text!r}: at least 8 pixels a side")
    return size


@ros2_app.command("sim")
@handle_errors
def sim(
    task: str = typer.Option(..., "--task", help="Task to serve, e.g. tabletop/pick-place."),
    hz: float = typer.Option(None, "--hz", help="Control/publish rate (default: the task's)."),
    command_interface: str = typer.Option(
        None,
        "--command-interface",
        help="twist (ee_delta tasks), forward_position, forward_velocity or joint_trajectory (joint_pos).",
    ),
    control: str = typer.Option(
        None, "--control", help="Control mode of the sim robot (default: the task's)."
    ),
    seed: int = typer.Option(0, "--seed", help="Episode seed."),
    cameras: str = typer.Option("", "--cameras", help="Comma-separated cameras to publish (default: none)."),
    image_size: str = typer.Option("128x128", "--image-size", help="Camera images HEIGHTxWIDTH."),
    compressed: bool = typer.Option(
        False, "--compressed", help="Publish jpeg CompressedImage, not raw rgb8."
    ),
    domain_id: int = typer.Option(None, "--domain-id", help="ROS domain (default: $ROS_DOMAIN_ID or 0)."),
    namespace: str = typer.Option("", "--namespace", help="Namespace of every topic."),
    write_config: Path = typer.Option(
        None, "--write-config", help="Write the driver CONFIG for this robot here (default: print it)."
    ),
    duration: float = typer.Option(None, "--duration", help="Seconds to serve (default: until Ctrl-C)."),
    until_done: bool = typer.Option(False, "--until-done", help="Exit when the episode ends."),
    lockstep: bool = typer.Option(
        False, "--lockstep", help="Step once per command received (reproducible runs), not free-running."
    ),
    max_steps: int = typer.Option(None, "--max-steps", help="Episode length in steps (default: the task's)."),
    json_out: bool = JSON,
) -> None:
    """Serve a physai task as a ROS 2 robot: joint states, TCP and object poses, cameras at the task rate;
    commands on a ros2_control / MoveIt Servo interface. Prints (or writes) the driver CONFIG for it."""
    import yaml

    from physai.ros2.config import dump_config
    from physai.ros2.sim_node import SimRobotNode

    positive(hz, "--hz")
    positive(duration, "--duration")
    domain = domain_id if domain_id is not None else int(os.environ.get("ROS_DOMAIN_ID", "0") or 0)
    cams = [c for c in cameras.split(",") if c.strip()]
    node = SimRobotNode(
        task,
        control=control,
        interface=command_interface,
        seed=seed,
        hz=hz,
        cameras=cams,
        image_size=_size(image_size),
        compressed=compressed,
        domain_id=domain,
        namespace=namespace,
        lockstep=lockstep,
        max_steps=max_steps,
    )
    quit_ = threading.Event()
    handlers = {s: signal.signal(s, lambda *_: quit_.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        node.start()
        doc = dump_config(node.driver_config())
        text = f"# physai ros2 sim --task {task}: driver CONFIG (physai run --robot ros2:THIS.yaml)\n"
        text += yaml.safe_dump(doc, sort_keys=False)
        if write_config is not None:
            tmp = write_config.with_name(write_config.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(write_config)  # appears whole, once the robot publishes
            console.print(
                f"serving {task} as a ROS 2 robot on domain {domain} at {node.hz:g} Hz; "
                f"driver config: {write_config}"
            )
        elif not json_out:
            out.print(text, end="", markup=False, highlight=False)
        while not quit_.wait(0.1):
            node.check()
            if duration is not None and node.ticks >= duration * node.hz:
                break
            if until_done and node.done:
                break
        node.check()
        rep = {
            "task": task,
            "hz": node.hz,
            "domain_id": domain,
            "interface": node.interface,
            "ticks": node.ticks,
            "commands": node.commands,
            "success": node.success,
            "episode_done": node.done,
            "config": doc,
        }
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        node.close()
    if json_out:
        print_json(rep)
    else:
        console.print(f"{rep['ticks']} ticks, {rep['commands']} commands received, success={rep['success']}")


@ros2_app.command("doctor")
@handle_errors
def doctor(
    config: Path = typer.Argument(..., help="The robot's driver CONFIG.yaml."),
    window: float = typer.Option(2.0, "--window", help="Seconds to measure each topic's rate over."),
    json_out: bool = JSON,
) -> None:
    """Check every topic in CONFIG: exists, right type, expected rate, advancing stamps; commands have a
    subscriber. One line per topic; exits 1 on any problem."""
    from physai.ros2.config import load_config
    from physai.ros2.doctor import as_dict, diagnose

    positive(window, "--window", allow_none=False)
    cfg = load_config(config)
    checks = diagnose(cfg, window)
    doc = as_dict(checks)
    if json_out:
        print_json(doc)
    else:
        for c in checks:
            rate = f"{c.measured_hz:.1f}/{c.expected_hz:g} Hz" if c.measured_hz is not None else ""
            mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
            arrow = "<-" if c.direction == "in" else "->"
            out.print(
                f"{mark} {arrow} {c.topic} ({c.type}) {rate}" + (f": {c.problem}" if c.problem else ""),
                highlight=False,
            )
        n = sum(not c.ok for c in checks)
        out.print(f"{len(checks)} topics, {n} problem(s) on domain {cfg.domain_id}")
    if not doc["ok"]:
        raise typer.Exit(code=1)
