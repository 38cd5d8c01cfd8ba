"""`run_eval`: the benchmark protocol — tasks x episodes with fixed seeds, on any backend, to results.

Episode i of task t is reset with `episode_seed(seed, t, i)`, so outcomes do not depend on the number of
workers or on scheduling order. After the main pass, `videos` successes and `videos` failures per task
are replayed (same seeds) with recording for the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from physai.core.errors import ConfigError
from physai.core.progress import NullProgress, Progress
from physai.evaluate.backends import auto_workers, run_inline, run_local, run_ray
from physai.evaluate.gym_env import PREFIX as GYM_PREFIX
from physai.evaluate.policy_source import resolve_policy
from physai.evaluate.results import build_results, write_results
from physai.evaluate.seeding import episode_seed
from physai.evaluate.worker import Job, WorkerConfig

BACKENDS = ("local", "ray")


@dataclass
class EvalConfig:
    """One evaluation run."""

    policy: str
    """expert | random | ws://HOST:PORT | py:module:fn | path to a checkpoint | path to a package."""
    out: Path
    """Run folder: results.json, report.html, videos/."""
    tasks: str | None = None
    """Task selector: 'all', 'suite:NAME' or 'T1,T2' (ignored with a gym env); None: the tasks a checkpoint
    or package was trained on, every task for the other policies."""
    env: str = "physai"
    """'physai' (registered tasks) or 'gym:<id>' (an installed gymnasium env)."""
    episodes: int = 50
    """Episodes per task."""
    seed: int = 0
    """Base seed; episode seeds derive from (seed, task, index)."""
    workers: int | str = "auto"
    """Worker processes/actors ('auto': one per usable core; 0: run in this process)."""
    backend: str = "local"
    """local (spawned processes) | ray."""
    ray_address: str | None = None
    """Ray cluster address (None: start a local Ray)."""
    videos: int = 0
    """Successful and failed episodes per task to replay with video for the report."""
    max_steps: int | None = None
    """Override each task's episode step limit."""
    episode_timeout_s: float | None = None
    """Stop a worker whose episode runs longer (local backend); the episode errors."""
    control: str | None = None
    """Override the control mode (default: the policy's, or the expert's)."""
    obs: tuple[str, ...] | None = None
    """Override the observation keys given to the policy."""
    api_key: str | None = field(default=None, repr=False)
    """Token for a remote policy server."""
    trusted_keys: tuple[str, ...] = ()
    """Public key files a package policy must be signed with (plus $PHYSAI_TRUSTED_KEYS)."""
    allow_unsigned: bool = False
    """Evaluate an unsigned package (its hashes are still checked)."""
    report: bool = True
    """Write report.html."""


def select_tasks(cfg: EvalConfig) -> list[str]:
    """Task names of the run; unknown tasks/suites raise UnknownNameError."""
    if cfg.env.startswith(GYM_PREFIX):
        return [cfg.env]
    if cfg.env != "physai":
        raise ConfigError(f"--env must be 'physai' or 'gym:<id>', got {cfg.env!r}")
    from physai.tasks import tasks_in

    return tasks_in(cfg.tasks if cfg.tasks is not None else (trained_tasks(cfg) or "all"))


def trained_tasks(cfg: EvalConfig) -> str | None:
    """'T1,T2': the tasks the checkpoint or package `cfg.policy` was trained on (None for other policies).

    Raises ConfigError when a trained policy does not say which task its data came from."""
    from physai.evaluate.policy_source import PolicySource, _load_checkpoint, _load_package, policy_kind

    kind = policy_kind(cfg.policy)
    if kind == "checkpoint":
        policy = _load_checkpoint(cfg.policy)
        specs = getattr(policy, "specs", None) or [getattr(policy, "spec", None)]
        names = [getattr(s, "env_task", None) for s in specs]
    elif kind == "package":
        pkg = _load_package(PolicySource(spec=cfg.policy, kind=kind, trusted_keys=cfg.trusted_keys,
                                         allow_unsigned=cfg.allow_unsigned))
        names = [pkg.contract.env_task]
    else:
        return None
    names = [str(n) for n in dict.fromkeys(n for n in names if n)]
    if not names:
        raise ConfigError(f"policy {cfg.policy} does not say which task it was trained on; "
                          "give the tasks with --tasks T1,T2 (see `physai tasks`)")
    return ",".join(names)


def resolve_workers(workers: int | str, n_jobs: int) -> int:
    if workers == "auto":
        return auto_workers(n_jobs)
    try:
        n = int(workers)
    except ValueError:
        raise ConfigError(f"--workers must be 'auto' or an integer >= 0, got {workers!r}") from None
    if n < 0:
        raise ConfigError(f"--workers must be >= 0, got {n}")
    return n


def worker_threads(backend: str, n_workers: int) -> int | None:
    """Torch threads per worker so that the workers together use each usable core once (None in-process:
    the caller's settings stand)."""
    import os

    if n_workers == 0:
        return None
    if backend == "ray":
        return 1  # each actor reserves one CPU
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // n_workers)


def _dispatch(cfg: EvalConfig, jobs: list[Job], wcfg: WorkerConfig, on_record, n_workers: int) -> None:
    if not jobs:
        return
    if cfg.backend == "ray":
        run_ray(jobs, wcfg, on_record, max(1, n_workers), cfg.ray_address)
    elif n_workers == 0:
        run_inline(jobs, wcfg, on_record)
    else:
        run_local(jobs, wcfg, on_record, n_workers, cfg.episode_timeout_s)


def run_eval(cfg: EvalConfig, progress: Progress | None = None) -> dict:
    """Run the evaluation; writes results.json (and report.html) to `cfg.out` and returns the results.

    Bad input (unknown task, incompatible or unreachable policy) raises before any worker starts.
    Ctrl-C stops the workers and writes the episodes done so far with `partial: true`.
    """
    progress = progress or NullProgress()
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {BACKENDS}, got {cfg.backend!r}")
    if cfg.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {cfg.episodes}")
    tasks = select_tasks(cfg)
    overrides = {"control": cfg.control, "obs": tuple(cfg.obs) if cfg.obs else None}
    source = resolve_policy(cfg.policy, tasks, overrides, api_key=cfg.api_key, max_steps=cfg.max_steps,
                            trusted_keys=cfg.trusted_keys, allow_unsigned=cfg.allow_unsigned)
    jobs = [Job(k, t, i, episode_seed(cfg.seed, t, i))
            for k, (t, i) in enumerate((t, i) for t in tasks for i in range(cfg.episodes))]
    n_workers = resolve_workers(cfg.workers, len(jobs))
    wcfg = WorkerConfig(source=source, max_steps=cfg.max_steps,
                        threads=worker_threads(cfg.backend, n_workers))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

    records: list[dict] = []

    def on_record(rec: dict) -> None:
        records.append(rec)
        progress.advance(1, success=sum(r["success"] for r in records) / len(records),
                         errors=sum(r["status"] != "ok" for r in records))

    partial = False
    t0 = time.perf_counter()
    progress.start(len(jobs), f"eval {cfg.policy} on {len(tasks)} task(s)")
    try:
        _dispatch(cfg, jobs, wcfg, on_record, n_workers)
    except KeyboardInterrupt:
        partial = True
    finally:
        progress.close()
    wall = time.perf_counter() - t0

    videos: list[dict] = []
    if cfg.videos > 0 and not partial:
        try:
            videos = _replay_videos(cfg, tasks, records, wcfg, n_workers, out, progress)
        except KeyboardInterrupt:
            partial = True
    policy = {**source.identity}
    config = {"tasks": tasks, "task_selector": cfg.tasks if cfg.tasks is not None else "default",
              "env": cfg.env, "episodes": cfg.episodes,
              "seed": cfg.seed, "workers": n_workers, "backend": cfg.backend, "videos": cfg.videos,
              "max_steps": cfg.max_steps, "env_kwargs": {k: list(v) if isinstance(v, tuple) else v
                                                         for k, v in source.env_kwargs.items()}}
    seeds = {"base": cfg.seed,
             "derivation": "blake2b-64('physai-eval/v1|{seed}|{task}|{index}') & 0x7fffffff",
             "per_task": {t: [j.seed for j in jobs if j.task == t] for t in tasks}}
    doc = build_results(policy=policy, config=config, seeds=seeds, tasks=tasks, records=records,
                        partial=partial, videos=videos, wall_s=wall)
    write_results(doc, out)
    if cfg.report:
        from physai.report.eval_report import write_report

        write_report(doc, out)
    return doc


def _replay_videos(cfg: EvalConfig, tasks: list[str], records: list[dict], wcfg: WorkerConfig,
                   n_workers: int, out: Path, progress: Progress) -> list[dict]:
    """Replay up to `cfg.videos` successes and failures per task with recording."""
    jobs: list[Job] = []
    for t in tasks:
        ok = sorted((r for r in records if r["task"] == t and r["status"] == "ok"), key=lambda r: r["index"])
        wins, losses = [r for r in ok if r["success"]], [r for r in ok if not r["success"]]
        picks = wins[: cfg.videos] + losses[: cfg.videos]
        for r in picks:
            path = out / "videos" / f"{t.replace('/', '__').replace(':', '_')}__ep{r['index']:04d}.mp4"
            jobs.append(Job(len(jobs), t, r["index"], r["seed"], video=str(path)))
    expected = {(r["task"], r["index"]): r["success"] for r in records}
    replays: list[dict] = []
    progress.start(len(jobs), "recording videos")
    try:
        _dispatch(cfg, jobs, wcfg, replays.append, min(max(n_workers, 0), len(jobs)))
    finally:
        progress.close()
    videos = []
    for r in sorted(replays, key=lambda r: (tasks.index(r["task"]), r["index"])):
        if r["status"] != "ok":
            videos.append({"task": r["task"], "index": r["index"], "seed": r["seed"], "success": None,
                           "original_success": expected[(r["task"], r["index"])], "path": None,
                           "error": r["error"]})
            continue
        videos.append({"task": r["task"], "index": r["index"], "seed": r["seed"], "success": r["success"],
                       "original_success": expected[(r["task"], r["index"])],
                       "path": str(Path(r["video"]).relative_to(out))})
    return videos
