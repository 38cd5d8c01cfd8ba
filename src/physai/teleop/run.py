"""`physai teleop`: drive a simulated task from teleop sources and record the episodes as a LeRobot v3
dataset (the same features `physai collect` writes, plus `control_source`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physai.core.errors import ConfigError
from physai.core.progress import NullProgress, Progress
from physai.teleop.arbiter import ActionArbiter, Decision
from physai.teleop.sources import MapperConfig, TeleopSource, context_from_env, make_source


@dataclass(frozen=True)
class TeleopConfig:
    """One teleoperation session."""

    task: str
    """Task to drive, e.g. tabletop/pick-place."""
    out: Path
    """Dataset folder (created, or appended to when it is a dataset of the same features)."""
    sources: tuple[str, ...] = ("browser",)
    """Teleop sources by registered name; when several ask for control the first listed wins."""
    episodes: int = 1
    """Episodes to record (the session also ends on a `quit` from a source)."""
    seed: int = 0
    """Seed of the first episode (episode i uses seed + i)."""
    cameras: tuple[str, ...] | None = None
    """Cameras to record and stream (None: all of the robot's; (): state only)."""
    image_size: int = 128
    """Camera image height and width (pixels)."""
    max_steps: int | None = None
    """Episode step limit (None: the task's)."""
    keep_failures: bool = False
    """Keep episodes that did not succeed (a `save` from the operator always keeps one)."""
    port: int = 8765
    """Port of the browser page (0: any free port)."""
    host: str = "127.0.0.1"
    """Address the browser page binds (loopback: reach it through a forwarded port)."""
    linear_speed: float = 0.15
    """TCP speed (m/s) at full deflection."""
    realtime: bool = True
    """Pace steps at the task's control rate (False: as fast as the sources answer; for tests)."""


def open_sources(
    names: tuple[str, ...], engaged: bool, port: int = 8765, host: str = "127.0.0.1"
) -> list[TeleopSource]:
    """Build the named sources (`engaged`: they hold control from the start, as in plain teleop; for
    interventions they take over on the operator's request)."""
    import physai.teleop.browser
    import physai.teleop.devices
    import physai.teleop.expert  # noqa: F401

    if not names:
        raise ConfigError("no teleop source given; use e.g. --source browser or --source keyboard")
    out: list[TeleopSource] = []
    for n in names:
        if n == "browser":
            out.append(make_source(n, engaged=engaged, port=port, host=host))
        elif n == "expert":
            out.append(make_source(n, drive=engaged))
        else:
            out.append(make_source(n, engaged=engaged))
    return out


def run_teleop(
    cfg: TeleopConfig,
    sources: list[TeleopSource] | None = None,
    progress: Progress | None = None,
    on_ready: Any = None,
    stop: threading.Event | None = None,
) -> dict:
    """Run the session; returns per-episode outcomes and totals. `on_ready(sources)` is called once the
    sources are open (the CLI prints the page's address); `stop` ends it from another thread."""
    import physai
    from physai.teleop.session import open_writer, run_episode_arbitrated

    progress = progress or NullProgress()
    obs = ("state", "instruction") if cfg.cameras == () else ("state", "images", "instruction")
    env = physai.make(
        cfg.task,
        obs=obs,
        cameras=list(cfg.cameras) if cfg.cameras else None,
        image_size=(cfg.image_size, cfg.image_size),
        max_steps=cfg.max_steps,
    )
    srcs = sources if sources is not None else open_sources(cfg.sources, True, cfg.port, cfg.host)
    arb = ActionArbiter(srcs, MapperConfig(linear_speed=cfg.linear_speed), policy=False)
    stop = stop or threading.Event()
    episodes: list[dict] = []
    writer = None
    try:
        arb.start(context_from_env(env))
        if on_ready is not None:
            on_ready(srcs)
        writer = open_writer(env, cfg.out, source="physai teleop")
        progress.start(cfg.episodes, f"teleop {cfg.task}")

        def show(o: dict, d: Decision, status: dict) -> None:
            for s in srcs:
                if hasattr(s, "show"):
                    s.show(o, {**status, "episode": len(episodes)}, d.seq)

        for i in range(cfg.episodes):
            r = run_episode_arbitrated(
                env,
                arb,
                cfg.seed + i,
                writer=writer,
                keep_failures=cfg.keep_failures,
                realtime=cfg.realtime,
                on_step=show,
                stop=stop.is_set,
                wait_for_operator=True,
            )
            episodes.append(r.to_dict())
            progress.advance(1, kept=sum(e["kept"] for e in episodes))
            if r.ended_by in ("quit", "stop"):
                break
        progress.close()
    finally:
        if writer is not None:
            writer.close()
        arb.close()
        env.close()
    kept = [e for e in episodes if e["kept"]]
    return {
        "task": cfg.task,
        "out": str(cfg.out),
        "episodes": episodes,
        "kept": len(kept),
        "human_steps": sum(e["steps"].get("human", 0) for e in episodes),
        "hold_steps": sum(e["steps"].get("hold", 0) for e in episodes),
        "successes": sum(bool(e["success"]) for e in episodes),
    }
