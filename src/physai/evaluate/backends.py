"""Where episodes run: local worker processes (spawn) or a Ray cluster; both retry a failed episode once.

The scheduler hands out jobs and keeps attempts; a backend only moves jobs to workers and records back.
A Python exception in an episode comes back as an error record; a worker that dies (segfault, OOM kill,
`os._exit`) or exceeds the episode timeout is replaced and its episode counts as an error attempt.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from physai.core.errors import ConfigError
from physai.evaluate.worker import EpisodeRunner, Job, WorkerConfig, worker_main

MAX_ATTEMPTS = 2
"""An episode that errors is run once more; a second error is final."""

OnRecord = Callable[[dict], None]


class Scheduler:
    """Pending jobs and per-job attempts; decides between retry and a final (error) record."""

    def __init__(self, jobs: list[Job], on_record: OnRecord) -> None:
        self.pending: deque[Job] = deque(jobs)
        self.attempts: dict[int, int] = {}
        self.on_record = on_record
        self.done = 0

    def next(self) -> Job | None:
        return self.pending.popleft() if self.pending else None

    def finish(self, job: Job, rec: dict) -> None:
        n = self.attempts[job.job_id] = self.attempts.get(job.job_id, 0) + 1
        rec["attempts"] = n
        if rec["status"] != "ok" and n < MAX_ATTEMPTS:
            self.pending.appendleft(job)
            return
        self.done += 1
        self.on_record(rec)

    def crashed(self, job: Job, worker: str, why: str) -> None:
        self.finish(job, {"task": job.task, "index": job.index, "seed": job.seed, "worker": worker,
                          "status": "error", "success": False, "length": 0, "duration_s": 0.0,
                          "instruction": "", "error": why})


def auto_workers(n_jobs: int) -> int:
    """One worker per usable CPU core, never more than there are jobs."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, n_jobs))


def run_inline(jobs: list[Job], cfg: WorkerConfig, on_record: OnRecord) -> None:
    """Run every job in this process (workers=0: debugging, and the overhead benchmark)."""
    sched = Scheduler(jobs, on_record)
    runner = EpisodeRunner(cfg, "main")
    try:
        while (job := sched.next()) is not None:
            sched.finish(job, runner.run(job))
    finally:
        runner.close()


IN_FLIGHT = 2
"""Jobs queued per local worker (the one running plus the next)."""


class _Worker:
    def __init__(self, ctx: Any, name: str, cfg: WorkerConfig) -> None:
        self.name = name
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=worker_main, args=(name, child, cfg), name=f"physai-eval-{name}",
                                daemon=True)
        self.proc.start()
        child.close()
        self.jobs: deque[Job] = deque()  # in flight, in order; the front one is running
        self.t0 = 0.0  # when the front job started

    @property
    def job(self) -> Job | None:
        return self.jobs[0] if self.jobs else None

    def send(self, job: Job) -> None:
        if not self.jobs:
            self.t0 = time.monotonic()
        self.jobs.append(job)
        self.conn.send(job)

    def done(self) -> Job:
        """The front job finished; the next one (already queued in the worker) starts now."""
        self.t0 = time.monotonic()
        return self.jobs.popleft()

    def stop(self, timeout: float = 5.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
        self.conn.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def run_local(jobs: list[Job], cfg: WorkerConfig, on_record: OnRecord, workers: int,  # noqa: C901  (too complex; split later, issue 19)
              episode_timeout_s: float | None = None) -> None:
    """Run jobs on `workers` spawned processes; Ctrl-C stops the workers and re-raises."""
    ctx = mp.get_context("spawn")
    sched = Scheduler(jobs, on_record)
    pool: list[_Worker] = []
    serial = 0

    def spawn() -> _Worker:
        nonlocal serial
        serial += 1
        return _Worker(ctx, f"w{serial}", cfg)

    try:
        pool = [spawn() for _ in range(min(workers, len(jobs)))]
        while True:
            # keep IN_FLIGHT jobs queued per worker so it never idles waiting for the parent
            for depth in range(1, IN_FLIGHT + 1):
                for w in pool:
                    if len(w.jobs) < depth and (job := sched.next()) is not None:
                        w.send(job)
            busy = [w for w in pool if w.job is not None]
            if not busy:
                break
            ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=0.5)
            for i, w in enumerate(list(pool)):
                if w.job is None:
                    continue
                if w.conn in ready:
                    try:
                        rec = w.conn.recv()
                    except (EOFError, OSError):
                        rec = None
                    if rec is not None:
                        sched.finish(w.done(), rec)
                        continue
                timed_out = episode_timeout_s is not None and time.monotonic() - w.t0 > episode_timeout_s
                if w.proc.sentinel in ready or w.conn in ready or timed_out or not w.proc.is_alive():
                    w.proc.join(1)
                    if timed_out and w.proc.is_alive():
                        why = (f"episode exceeded the {episode_timeout_s} s timeout; "
                               f"worker {w.name} was stopped")
                    else:
                        why = f"worker process {w.name} died (exit code {w.proc.exitcode}) during the episode"
                    job, queued = w.jobs.popleft(), list(w.jobs)
                    w.kill()
                    pool[i] = spawn()
                    sched.pending.extendleft(reversed(queued))  # never started: not an attempt
                    sched.crashed(job, w.name, why)
    finally:
        for w in pool:
            if w.job is not None:
                w.kill()
            else:
                w.stop()


def run_ray(jobs: list[Job], cfg: WorkerConfig, on_record: OnRecord, workers: int,
            address: str | None = None) -> None:
    """Run jobs on Ray actors (one env+policy cache per actor); a dead actor is replaced."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'physai[ray]'") from None
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True, **kw)
        started = True

    @ray.remote(num_cpus=1, max_restarts=0)
    class _Actor:
        def __init__(self, cfg: WorkerConfig, name: str) -> None:
            import os

            os.environ.setdefault("MUJOCO_GL", "egl")
            self.runner = EpisodeRunner(cfg, name)

        def run(self, job: Job) -> dict:
            return self.runner.run(job)

    sched = Scheduler(jobs, on_record)
    serial = 0
    inflight: dict[Any, tuple[Any, Job, str]] = {}

    def launch(actor: Any, name: str) -> None:
        job = sched.next()
        if job is not None:
            inflight[actor.run.remote(job)] = (actor, job, name)

    try:
        for _ in range(min(workers, len(jobs))):
            serial += 1
            launch(_Actor.remote(cfg, f"ray{serial}"), f"ray{serial}")
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            actor, job, name = inflight.pop(ready[0])
            try:
                sched.finish(job, ray.get(ready[0]))
            except ray.exceptions.RayError as exc:
                ray.kill(actor)
                serial += 1
                actor, name = _Actor.remote(cfg, f"ray{serial}"), f"ray{serial}"
                sched.crashed(job, name, f"ray worker died during the episode: {type(exc).__name__}")
            launch(actor, name)
    finally:
        for actor, _, _ in inflight.values():
            ray.kill(actor)
        if started:
            ray.shutdown()
