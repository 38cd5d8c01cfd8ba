"""Demo stage `experts`: each task's scripted expert for a few episodes, one video per task."""

from __future__ import annotations

from pathlib import Path

from physai.core.progress import Progress
from physai.demo.registry import stage


@stage("experts", order=0)
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
