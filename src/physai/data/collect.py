"""Parallel expert data collection: W spawn-context worker processes, each recording into its own
part dataset (durable episode by episode), merged into one dataset at the end.

Everything lives inside the folder the user named, so a crash is visible there::

    out/collect-in-progress/state.json      what is being collected (written first)
    out/collect-in-progress/worker-<k>/     worker k's own dataset, committed episode by episode
    out/collect-in-progress/merged/         the merge, moved into out/ at the end

`out/meta/info.json` appears only at the very end, when the merged `meta/` folder is renamed into
`out/` (after `data/` and `videos/`): until then `out/` is not a valid dataset, so `physai dataset
validate` calls it unfinished (never valid with episodes missing), and `physai dataset repair` (or
`recover` here) merges the committed episodes of every part again and commits. A kill at any moment
loses at most the episode each worker was recording. Workers die with their parent (Linux:
PR_SET_PDEATHSIG; elsewhere a watchdog thread), and the parent stops its workers when it fails or
gets SIGTERM.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import shutil
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from physai.core.errors import ConfigError, DatasetError, PhysaiError
from physai.core.progress import NullProgress, Progress
from physai.data.staging import STAGING, committed_episodes, pending
from physai.data.staging import parts as _parts

"""Folder inside the output dataset that holds an unfinished collection."""
STATE = "state.json"
STATE_FORMAT = "physai-collect/1"


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
    noise: float = 0.0
    """Exploration data: std of Gaussian noise added to every expert action, as a fraction of each
    action's range (0: the clean expert); the executed (noisy, clipped) action is recorded. Combine
    with keep_failures to keep the perturbed episodes that fail (world-model training data)."""


# ---------------------------------------------------------------------------- errors
def _describe(exc: BaseException, where: Path) -> str:
    from physai.data.format import disk_full

    full = disk_full(exc)
    if full is not None:
        return f"disk full writing {full.filename or where} ({full.strerror or 'No space left on device'})"
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------- workers
def _die_with_parent(parent_pid: int) -> None:
    """Make this worker die when the collecting process does (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    else:  # no parent-death signal: poll for re-parenting

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="physai-collect-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _worker(wid: int, cfg: dict, part: str, counter, lock, results, parent_pid: int | None = None) -> None:
    if parent_pid is not None:
        _die_with_parent(parent_pid)
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
                expert = env.expert()
                if cfg.get("noise"):
                    expert = NoisyExpert(expert, env.action_spec, cfg["noise"], cfg["seed"] + attempt)
                r = rec.record(expert, seed=cfg["seed"] + attempt)
                with lock:
                    counter[2] -= 1
                    counter[1] += r.kept
                results.put(("episode", wid, r.to_dict()))
        env.close()
        results.put(("done", wid, None))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put(("error", wid, _describe(exc, Path(part))))


class NoisyExpert:
    """The expert with Gaussian action noise (std `noise` x each action's range), seeded per episode."""

    def __init__(self, expert, spec, noise: float, seed: int) -> None:
        import numpy as np

        self.expert, self.low, self.high = expert, np.asarray(spec.low), np.asarray(spec.high)
        self.scale = noise * (self.high - self.low)
        self.rng = np.random.default_rng([seed, 0x5EED])

    def reset(self) -> None:
        self.expert.reset()

    def act(self, obs: dict):
        import numpy as np

        a = np.asarray(self.expert.act(obs), np.float32)
        a = a + self.rng.normal(size=a.shape) * self.scale
        return np.clip(a, self.low, self.high).astype(np.float32)


def _stop(procs: list, timeout: float = 10.0) -> None:
    """Terminate workers still running, then kill those that do not exit within `timeout`."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(timeout=5)


class _Terminated(BaseException):
    """SIGTERM received while collecting."""


# ---------------------------------------------------------------------------- collect
def collect(cfg: CollectConfig, progress: Progress | None = None) -> dict:  # noqa: C901  (too complex; split later, issue 19)
    """Record `cfg.episodes` kept expert episodes with `cfg.workers` processes; returns a summary."""
    from physai.tasks import TASKS

    task_cls = TASKS.get(cfg.task)  # UnknownNameError before any process starts
    if cfg.cameras:
        valid = task_cls().robot.cameras()
        bad = [c for c in cfg.cameras if c not in valid]
        if bad:
            raise ConfigError(f"unknown cameras {bad} for {cfg.task} (robot {task_cls.embodiment_name}); "
                              f"valid: {valid}")
    if not 0.0 <= cfg.noise <= 1.0:
        raise ConfigError(f"noise must be in [0, 1] (a fraction of each action's range), got {cfg.noise}")
    if cfg.episodes < 1 or cfg.workers < 1:
        raise ConfigError(f"episodes and workers must be >= 1, got {cfg.episodes}, {cfg.workers}")
    if cfg.image_labels and cfg.cameras == ():
        raise ConfigError(
            "image_labels (--image-labels) needs cameras: the labels are image coordinates; record "
            "with cameras (e.g. --cameras scene,wrist) or without --image-labels"
        )
    out = Path(cfg.out)
    if (out / STAGING).exists():
        raise ConfigError(
            f"{out} holds an unfinished collection ({out / STAGING}); run `physai dataset repair {out}` "
            "to merge what it recorded, or delete the folder"
        )
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new output folder")
    staging = out / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    from physai.data import format as fmt

    state = {"format": STATE_FORMAT, "config": asdict(cfg), "started": time.time(), "pid": os.getpid()}
    fmt.write_json_atomic(staging / STATE, state)
    fmt.fsync_dir(out)
    progress = progress or NullProgress()
    ctx = mp.get_context("spawn")
    counter, lock, results = ctx.Array("i", [0, 0, 0], lock=False), ctx.Lock(), ctx.Queue()
    d = asdict(cfg)
    d["cameras"] = tuple(cfg.cameras) if cfg.cameras is not None else None
    parts = [str(staging / f"worker-{w}") for w in range(cfg.workers)]
    procs = [
        ctx.Process(target=_worker, args=(w, d, parts[w], counter, lock, results, os.getpid()), daemon=True)
        for w in range(cfg.workers)
    ]
    t0 = time.perf_counter()
    old_term = None
    if threading.current_thread() is threading.main_thread():

        def on_term(signum, frame):
            raise _Terminated()

        old_term = signal.signal(signal.SIGTERM, on_term)
    episodes: list[dict] = []
    done: set[int] = set()
    error = None
    try:
        for p in procs:
            p.start()
        progress.start(cfg.episodes, f"collect {cfg.task}")
        while len(done) < len(procs):
            try:
                kind, wid, payload = results.get(timeout=0.5)
            except queue.Empty:
                dead = [w for w, p in enumerate(procs) if w not in done and p.exitcode is not None]
                if dead and results.empty():
                    # a worker that exited cleanly has its last message in flight; one more look
                    try:
                        kind, wid, payload = results.get(timeout=1.0)
                    except queue.Empty:
                        w = dead[0]
                        error = f"worker {w} died (exit code {procs[w].exitcode}) without reporting"
                        break
                else:
                    continue
            if kind == "episode":
                episodes.append({**payload, "worker": wid})
                kept = sum(e["kept"] for e in episodes)
                progress.advance(int(payload["kept"]), kept=kept, discarded=len(episodes) - kept)
            elif kind == "error":
                error = f"worker {wid}: {payload}"
                break
            else:
                done.add(wid)
    except _Terminated:
        error = "collect got SIGTERM"
    finally:
        if error is None and len(done) == len(procs):
            for p in procs:
                p.join(timeout=30)
        _stop(procs)  # on any failure (or Ctrl-C) no worker keeps recording
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        progress.close()
    if error:
        fix = "free space, then run" if "disk full" in error else "run"
        raise PhysaiError(
            f"collect stopped ({error}); the {committed_episodes(out)} episodes recorded so far are kept "
            f"in {staging} and {out} is marked unfinished: {fix} `physai dataset repair {out}` to merge them"
        )
    t_merge = time.perf_counter()
    merged = finish(out)
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


# ---------------------------------------------------------------------------- finish / recover
def _sources(staging: Path) -> tuple[list[tuple[str | Path, list[int] | None]], list[dict]]:
    """Parts with committed episodes, each opened (and, if it does not open, repaired) first."""
    from physai.data.meta import DatasetMeta

    sources: list[tuple[str | Path, list[int] | None]] = []
    report: list[dict] = []
    for part in _parts(staging):
        if not (part / "meta" / "info.json").exists():  # killed before its first write: nothing in it
            report.append({"part": part.name, "episodes": 0})
            continue
        try:
            meta = DatasetMeta(part)
            repaired = False
        except DatasetError:
            from physai.data.rebuild import rebuild

            rebuild(part)
            meta = DatasetMeta(part)  # still damaged: the DatasetError names the part and the fix
            repaired = True
        report.append({"part": part.name, "episodes": len(meta.episodes), "repaired": repaired})
        if meta.episodes:
            sources.append((str(part), None))
    return sources, report


def finish(root: str | Path, progress: Progress | None = None) -> dict:
    """Merge the committed episodes of every worker part of `root`'s unfinished collection into
    `root` and commit (meta/info.json last); then delete the parts. Safe to re-run after a kill."""
    from physai.data import format as fmt
    from physai.data.tools import copy_episodes

    root = Path(root)
    staging = root / STAGING
    if (root / fmt.INFO_PATH).exists():  # committed earlier; only the clean-up was interrupted
        shutil.rmtree(staging, ignore_errors=True)
        info = json.loads((root / fmt.INFO_PATH).read_text())
        return {"episodes": int(info["total_episodes"]), "frames": int(info["total_frames"]), "parts": []}
    merged = staging / "merged"
    for name in ("data", "videos", "meta", "merged"):  # a previous merge's partial output
        shutil.rmtree(root / name if name != "merged" else merged, ignore_errors=True)
    sources, report = _sources(staging)
    if not sources:  # nothing kept: an empty dataset with the recorded features, if a worker got that far
        opened = [p for p in _parts(staging) if (p / fmt.INFO_PATH).exists()]
        if not opened:
            shutil.rmtree(staging, ignore_errors=True)
            return {"episodes": 0, "frames": 0, "parts": report}
        sources = [(str(opened[0]), None)]
    try:
        res = copy_episodes(sources, merged, progress)
        for name in ("data", "videos", "meta"):  # meta last: its info.json is the commit point
            if (merged / name).exists():
                os.rename(merged / name, root / name)
        fmt.fsync_dir(root)
    except OSError as exc:
        if fmt.disk_full(exc) is None:
            raise
        shutil.rmtree(merged, ignore_errors=True)  # give the space back; the parts stay
        raise PhysaiError(
            f"collect merge stopped: {_describe(exc, merged)}; the {committed_episodes(root)} recorded "
            f"episodes are kept in {staging} ({root} is marked unfinished) — free space, then run "
            f"`physai dataset repair {root}` to merge them"
        ) from exc
    shutil.rmtree(staging, ignore_errors=True)
    return {"episodes": res["episodes"], "frames": res["frames"], "parts": report}


def recover(root: str | Path, progress: Progress | None = None) -> dict:
    """Finish a collection into `root` that was killed (at any moment): every episode a worker
    committed is merged into `root`, which becomes a valid dataset. Idempotent; the result has the
    keys of `physai.data.repair.repair`'s."""
    root = Path(root)
    if not pending(root):
        raise DatasetError(f"{root} holds no unfinished collection ({root / STAGING} not found)")
    before = committed_episodes(root)
    res = finish(root, progress)
    return {
        "root": str(root),
        "collect": True,
        "episodes_kept": res["episodes"],
        "episodes_dropped": max(0, before - res["episodes"]) if res["parts"] else 0,
        "frames": res["frames"],
        "first_violation": f"unfinished collection in {root / STAGING}",
        "files_removed": [STAGING],
        "changed": True,
        "parts": res["parts"],
    }
