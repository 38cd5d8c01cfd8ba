"""One evaluation episode, run inside a worker: the env and policy of each task are built once per
worker process (GL contexts included) and reused for every episode of that task."""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physai.evaluate.policy_source import PolicySource, build_policy, make_env


@dataclass(frozen=True)
class Job:
    """One episode to run."""

    job_id: int
    """Position in the run's job list."""
    task: str
    """Task name (or `gym:<id>`)."""
    index: int
    """Episode index within the task."""
    seed: int
    """Env reset seed, from `episode_seed(run_seed, task, index)`."""
    video: str | None = None
    """Record the episode to this mp4 path (replays for the report)."""


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs besides the jobs."""

    source: PolicySource
    """The resolved policy."""
    max_steps: int | None = None
    """Episode step limit override (None: each task's default)."""
    video_size: tuple[int, int] = (240, 320)
    """(H, W) of recorded videos."""
    threads: int | None = None
    """Intra-op threads of torch (and OpenMP) in each worker process; None: the library defaults. Workers
    share the cores: torch's default of one thread per core in every worker oversubscribes them (two
    workers on N cores ran 2N spinning OpenMP threads: issue 25 measured 40 s per act episode)."""


def limit_threads(threads: int | None) -> None:
    """Cap this process's torch/OpenMP threads (call before torch is imported where possible)."""
    import os

    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _no_grad() -> Any:
    """torch.inference_mode() when torch is loaded (a torch policy then keeps no autograd state)."""
    import contextlib

    torch = sys.modules.get("torch")
    return torch.inference_mode() if torch is not None else contextlib.nullcontext()


def episode_loop(env: Any, policy: Any, seed: int, record: bool = False) -> tuple[dict, list]:
    """Reset with `seed`, act until done; the same loop as `physai.envs.run_episode`, for any env shape."""
    with _no_grad():
        return _episode_loop(env, policy, seed, record)


def _episode_loop(env: Any, policy: Any, seed: int, record: bool) -> tuple[dict, list]:
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    if callable(getattr(policy, "seed", None)):
        policy.seed(seed)
    if "torch" in sys.modules:  # stochastic torch policies: same sample noise for the same episode
        sys.modules["torch"].manual_seed(seed)
    policy.reset()
    frames = [env.render()] if record else []
    success, steps = False, 0
    while True:
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        steps += 1
        success = bool(info.get("is_success", False))
        if record:
            frames.append(env.render())
        if terminated or truncated:
            break
    return {"success": success, "length": steps, "duration_s": time.perf_counter() - t0,
            "instruction": getattr(env.task, "instruction", "")}, frames


class EpisodeRunner:
    """Runs jobs in the current process, caching one (env, policy) per task (and one more for videos)."""

    def __init__(self, cfg: WorkerConfig, worker: str = "main") -> None:
        self.cfg = cfg
        self.worker = worker
        self._cache: dict[tuple[str, bool], tuple[Any, Any]] = {}

    def _get(self, task: str, record: bool) -> tuple[Any, Any]:
        key = (task, record)
        if key not in self._cache:
            env = make_env(task, self.cfg.source, self.cfg.max_steps,
                           video_size=self.cfg.video_size if record else None)
            policy = build_policy(self.cfg.source, env)
            limit_threads(self.cfg.threads)  # again: building the policy may have imported torch
            self._cache[key] = (env, policy)
        return self._cache[key]

    def _drop(self, task: str, record: bool) -> None:
        env, policy = self._cache.pop((task, record), (None, None))
        for obj in (policy, env):
            if obj is not None and hasattr(obj, "close"):
                try:
                    obj.close()
                except Exception:
                    pass

    def run(self, job: Job) -> dict:
        """The episode record for `job`; an exception becomes `status: "error"` with its message."""
        rec: dict[str, Any] = {"task": job.task, "index": job.index, "seed": job.seed, "worker": self.worker}
        record = job.video is not None
        try:
            env, policy = self._get(job.task, record)
            out, frames = episode_loop(env, policy, job.seed, record=record)
            rec.update(out, status="ok", error=None)
            if record:
                from physai.data.video import write_video

                write_video(frames, Path(job.video), fps=env.metadata.get("render_fps", 20))
                rec["video"] = job.video
        except Exception as exc:
            self._drop(job.task, record)
            tb = traceback.format_exc(limit=4)
            rec.update(status="error", success=False, length=0, duration_s=0.0, instruction="",
                       error=f"{type(exc).__name__}: {exc}", traceback=tb[-3000:])
        return rec

    def close(self) -> None:
        for task, record in list(self._cache):
            self._drop(task, record)


def worker_main(worker: str, conn: Any, cfg: WorkerConfig) -> None:
    """Entry point of a local worker process: receive jobs on `conn`, send records back; None stops."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops workers
    os.environ.setdefault("MUJOCO_GL", "egl")
    limit_threads(cfg.threads)
    runner = EpisodeRunner(cfg, worker)
    try:
        while True:
            job = conn.recv()
            if job is None:
                break
            conn.send(runner.run(job))
    except (EOFError, OSError):
        pass
    finally:
        runner.close()
