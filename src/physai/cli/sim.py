"""`physai robots`, `physai tasks`, `physai rollout`."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, handle_errors, out, print_json, print_table, table


def register(app: typer.Typer) -> None:
    app.command("robots")(robots)
    app.command("tasks")(tasks)
    app.command("rollout")(rollout)


@handle_errors
def robots(json_out: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List the registered robots (embodiments)."""
    from physai.embodiments import EMBODIMENTS, make_embodiment

    rows = []
    for name in EMBODIMENTS.names():
        r = make_embodiment(name)
        rows.append({"name": name, "description": r.description, "control_modes": list(r.control_modes),
                     "safety_limits": r.safety_limits().to_dict()})
    if json_out:
        print_json(rows)
        return
    t = table("robot", "control modes", "description")
    for r in rows:
        t.add_row(r["name"], ", ".join(r["control_modes"]), r["description"])
    print_table(t)


@handle_errors
def tasks(json_out: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List the registered tasks with their robot, control modes and an instruction."""
    from physai.tasks import TASKS

    rows = []
    for name in TASKS.names():
        cls = TASKS.get(name)
        task = cls()
        rows.append({"name": name, "embodiment": task.robot.name,
                     "control_modes": list(task.robot.control_modes),
                     "expert_control": cls.expert_control, "max_steps": task.max_steps,
                     "control_hz": cls.control_hz,
                     "instruction": cls.instructions[0] if cls.instructions else ""})
    if json_out:
        print_json(rows)
        return
    t = table("task", "robot", "control modes", "instruction", names=2)
    for r in rows:
        t.add_row(r["name"], r["embodiment"], ", ".join(r["control_modes"]), r["instruction"])
    print_table(t)


@handle_errors
def rollout(
    task: str = typer.Option(..., "--task", help="Task name, e.g. tabletop/pick-place."),
    policy: str = typer.Option("expert", "--policy", help="expert | random"),
    episodes: int = typer.Option(5, "--episodes", min=1),
    seed: int = typer.Option(0, "--seed"),
    control: str = typer.Option(None, "--control", help="Control mode (default: the expert's)."),
    video: Path = typer.Option(None, "--video", help="Write an mp4 of all episodes here (FILE.mp4)."),
    video_size: str = typer.Option("256x256", "--video-size", help="Video frame size, WIDTHxHEIGHT."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Run a scripted expert or a random policy and report per-episode and overall success."""
    from physai.core.errors import ConfigError
    from physai.data.video import write_video
    from physai.envs import make, run_episodes
    from physai.sim.render import RenderConfig

    size = video_size.lower().split("x")
    if len(size) != 2 or not all(v.strip().isdigit() and 16 <= int(v) <= 4096 for v in size):
        raise ConfigError(f"--video-size {video_size!r}: give WIDTHxHEIGHT in pixels (16-4096), e.g. 640x480")
    if video is not None and (video.suffix.lower() not in (".mp4", ".mkv") or video.is_dir()):
        raise ConfigError(f"--video {video}: give a file name ending in .mp4 (or .mkv)")
    width, height = (int(v) for v in size)
    if policy not in ("expert", "random"):  # before the env is built
        from physai.core.errors import UnknownNameError

        raise UnknownNameError("policy", policy, ["expert", "random"])
    env = make(task, control=control, render_config=RenderConfig(width=width, height=height))
    try:
        doc, frames = run_episodes(env, policy, episodes, seed, record=video is not None,
                                   progress=RichProgress(enabled=not json_out))
    finally:
        env.close()
    results = doc["episodes"]
    if video is not None:
        write_video(frames, video, fps=env.metadata["render_fps"])
        doc["video"] = str(video.resolve())
        doc["video_frames"], doc["video_size"] = len(frames), [width, height]
    if json_out:
        print_json(doc)
        return
    for r in results:
        mark = "[green]success[/green]" if r["success"] else "[red]fail[/red]"
        out.print(f"episode seed={r['seed']:<4} {mark:<24} steps={r['length']:<4} {r['instruction']}")
    out.print(f"[bold]{task}[/bold] {policy}: success {doc['success_rate']:.0%} over {episodes} episodes")
    if video is not None:
        out.print(f"video: {doc['video']} ({len(frames)} frames, {width}x{height}, camera "
                      f"{env.video_camera})", highlight=False)
