"""Parallel expert data collection: W spawn-context worker processes, each recording into its own
part dataset (durable episode by episode), merged into one dataset at the end."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from physai.core.errors import ConfigError, PhysaiError
from physai.core.progress import NullProgress, Progress


@dataclass
class CollectConfig:
    """What `collect` records."""

    task: str
    """Task name, e.g. tabletop/pick-place."""
    episodes: int
    """Episodes to keep."""
    out: str
    """Output dataset folder (new or empty)."""
    workers: int = 1
    """Worker processes."""
    cameras: tuple[str, ...] | None = None
    """Cameras to record as video (None: every camera of the robot; empty: state only)."""
    image_size: int = 128
    """Square image size in pixels."""
    image_labels: bool = False
    """Also record each task keypoint's image coordinates per camera in the state
    (`<name>.px.<camera>.x/y`): training-only labels for act's `aux_keypoints`."""
    keep_failures: bool = False
    """Keep episodes where the expert failed."""
    seed: int = 0
    """First episode seed; attempt k uses seed + k."""
    codec: str = "h264"
    """Video codec: h264 or av1."""
    max_steps: int | None = None
    """Episode step limit (None: the task default)."""
    max_attempts: int | None = None
    """Give up after this many attempts (None: 4 * episodes + 8)."""


def _worker(wid: int, cfg: dict, part: str, counter, lock, results) -> None:
    # Mesa's software GL (llvmpipe) spreads every render over all cores; with one worker per core that
    # only adds contention (measured: 0.48 ms vs 1.3 ms per 128x128 frame). LP_NUM_THREADS=0 rasterizes in
    # the calling thread, without the hand-off to a rasterizer thread that =1 costs (0.45 vs 0.58 ms).
    os.environ.setdefault("LP_NUM_THREADS", "0")
    try:
        import physai.envs as envs
        from physai.data.recorder import Recorder

        obs = ("state", "images") if cfg["cameras"] != () else ("state",)
        kw = {
            "cameras": list(cfg["cameras"]) if cfg["cameras"] else None,
            "image_size": (cfg["image_size"], cfg["image_size"]),
            "max_steps": cfg["max_steps"],
            "image_labels": cfg["image_labels"],
        }
        env = envs.make(cfg["task"], obs=obs, **kw)
        if env.robot.tactile() is not None:  # record the robot's tactile array too
            env.close()
            env = envs.make(cfg["task"], obs=(*obs, "tactile"), **kw)
        limit = cfg["max_attempts"] or 4 * cfg["episodes"] + 8
        with Recorder(env, part, codec=cfg["codec"], keep_failures=cfg["keep_failures"]) as rec:
            while True:
                with lock:  # counter: [next attempt, kept, in flight]
                    if counter[1] + counter[2] >= cfg["episodes"] or counter[0] >= limit:
                        break
                    attempt = counter[0]
                    counter[0] += 1
                    counter[2] += 1
                r = rec.record(env.expert(), seed=cfg["seed"] + attempt)
                with lock:
                    counter[2] -= 1
                    counter[1] += r.kept
                results.put(("episode", wid, r.to_dict()))
        env.close()
        results.put(("done", wid, None))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put(("error", wid, f"{type(exc).__name__}: {exc}"))


def collect(cfg: CollectConfig, progress: Progress | None = None) -> dict:
    """Record `cfg.episodes` kept expert episodes with `cfg.workers` processes; returns a summary."""
    from physai.data.tools import copy_episodes
    from physai.tasks import TASKS

    TASKS.get(cfg.task)  # UnknownNameError before any process starts
    if cfg.episodes < 1 or cfg.workers < 1:
        raise ConfigError(f"episodes and workers must be >= 1, got {cfg.episodes}, {cfg.workers}")
    if cfg.image_labels and cfg.cameras == ():
        raise ConfigError(
            "image_labels (--image-labels) needs cameras: the labels are image coordinates; record "
            "with cameras (e.g. --cameras scene,wrist) or without --image-labels"
        )
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new output folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    parts_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}-parts-", dir=out.parent))
    progress = progress or NullProgress()
    ctx = mp.get_context("spawn")
    counter, lock, results = ctx.Array("i", [0, 0, 0], lock=False), ctx.Lock(), ctx.Queue()
    d = asdict(cfg)
    d["cameras"] = tuple(cfg.cameras) if cfg.cameras is not None else None
    parts = [str(parts_dir / f"worker-{w}") for w in range(cfg.workers)]
    procs = [
        ctx.Process(target=_worker, args=(w, d, parts[w], counter, lock, results), daemon=True)
        for w in range(cfg.workers)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    progress.start(cfg.episodes, f"collect {cfg.task}")
    episodes, done, error = [], 0, None
    try:
        while done < len(procs):
            try:
                kind, wid, payload = results.get(timeout=1.0)
            except queue.Empty:
                if all(not p.is_alive() for p in procs) and results.empty():
                    error = error or "a worker process died without reporting"
                    break
                continue
            if kind == "episode":
                episodes.append({**payload, "worker": wid})
                kept = sum(e["kept"] for e in episodes)
                progress.advance(int(payload["kept"]), kept=kept, discarded=len(episodes) - kept)
            elif kind == "error":
                error, done = payload, done + 1
            else:
                done += 1
    finally:
        for p in procs:
            p.join(timeout=30)
        progress.close()
    if error:
        raise PhysaiError(f"collect worker failed: {error} (parts kept in {parts_dir})")
    t_merge = time.perf_counter()
    sources = [(p, None) for p in parts if (Path(p) / "meta" / "info.json").exists() and _n_episodes(p) > 0]
    merged = copy_episodes(sources, out) if sources else {"episodes": 0, "frames": 0}
    shutil.rmtree(parts_dir, ignore_errors=True)
    elapsed = time.perf_counter() - t0  # the whole job: start-up, recording and the merge
    kept = sum(e["kept"] for e in episodes)
    succ = sum(e["success"] for e in episodes)
    return {
        "task": cfg.task,
        "out": str(out),
        "workers": cfg.workers,
        "attempts": len(episodes),
        "kept": kept,
        "discarded": len(episodes) - kept,
        "successes": succ,
        "success_rate": succ / max(1, len(episodes)),
        "frames": merged["frames"],
        "seconds": round(elapsed, 2),
        "merge_seconds": round(elapsed - (t_merge - t0), 2),
        "episodes_per_min": round(60 * len(episodes) / max(elapsed, 1e-9), 2),
    }


def _n_episodes(path: str) -> int:
    import json

    return int(json.loads((Path(path) / "meta" / "info.json").read_text())["total_episodes"])
