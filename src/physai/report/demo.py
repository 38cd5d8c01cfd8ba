"""The demo job behind `make demo`: a tour of the lifecycle on embedded defaults.

Each stage is a function that takes the output folder and a Progress and returns a JSON-ready dict;
`run_demo` runs them in order and writes `summary.json` and `index.html`. Later stages (collect, train,
evaluate, package, profile, fleet) register themselves in `STAGES`.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from pathlib import Path

from physai.core.progress import NullProgress, Progress

StageFn = Callable[[Path, Progress], dict]
STAGES: dict[str, StageFn] = {}


def stage(name: str) -> Callable[[StageFn], StageFn]:
    """Register a demo stage (run in registration order)."""

    def deco(fn: StageFn) -> StageFn:
        STAGES[name] = fn
        return fn

    return deco


@stage("experts")
def experts_stage(out: Path, progress: Progress, episodes: int = 3) -> dict:
    """Each task's scripted expert for a few episodes, with one video per task."""
    from physai.data.video import write_video
    from physai.envs import make, run_episode
    from physai.sim.render import RenderConfig
    from physai.tasks import TASKS

    rows = []
    progress.start(len(TASKS) * episodes, "experts")
    for name in TASKS.names():
        env = make(name, render_config=RenderConfig(width=320, height=240, pretty=True))
        frames, succ = [], 0
        for i in range(episodes):
            r = run_episode(env, env.expert(), seed=i, record=True)
            frames.extend(r.frames)
            succ += r.success
            progress.advance(1)
        video = out / "videos" / (name.replace("/", "__") + ".mp4")
        write_video(frames, video, fps=env.metadata["render_fps"])
        env.close()
        rows.append({"task": name, "episodes": episodes, "success_rate": succ / episodes,
                     "video": str(video.relative_to(out))})
    progress.close()
    return {"tasks": rows}


def run_demo(out: Path, stages: list[str] | None = None, progress: Progress | None = None) -> dict:
    """Run the demo stages into `out`; returns the summary (also written to summary.json, index.html)."""
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or NullProgress()
    summary: dict = {"stages": {}}
    for name in stages or list(STAGES):
        t0 = time.perf_counter()
        result = STAGES[name](out, progress)
        result["seconds"] = round(time.perf_counter() - t0, 2)
        summary["stages"][name] = result
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "index.html").write_text(_html(summary))
    return summary


def _html(summary: dict) -> str:
    parts = ["<html><head><meta charset='utf-8'><title>physai demo</title>",
             "<style>body{font-family:sans-serif;margin:2em}video{width:320px;margin:4px}"
             ".card{display:inline-block;vertical-align:top;margin:8px}</style></head><body>",
             "<h1>physai demo</h1>"]
    experts = summary["stages"].get("experts")
    if experts:
        parts.append("<h2>Scripted experts</h2>")
        for row in experts["tasks"]:
            parts.append(f"<div class='card'><b>{html.escape(row['task'])}</b> "
                         f"success {row['success_rate']:.0%}<br><video controls muted loop "
                         f"src='{html.escape(row['video'])}'></video></div>")
    parts.append("<h2>Summary</h2><pre>" + html.escape(json.dumps(summary, indent=2)) + "</pre></body></html>")
    return "\n".join(parts)
