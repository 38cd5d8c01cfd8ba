"""The control-loop profiler behind `physai profile`: MLPerf-style scenarios adapted to robot control.

Scenarios per device (all on the monotonic `perf_counter` clock):

- SingleStream: back-to-back batch-1 inferences; latency p50/p90/p99/p99.9/max.
- ControlLoop: one observation every 1/f s for each rate f; a tick misses when its action is not ready by
  the next tick (a tick whose predecessor overran is skipped and counted as a miss); miss rate with an exact
  95% upper bound, longest miss streak, period jitter.
- Chunked: ticks at f, a new chunk requested every `execution_horizon` ticks (asynchronously, like the
  physai runtime); how often the action queue runs dry.
- Throughput: batch sweep over the package's batched variant.
- Memory (RSS / device memory), accuracy against the package model on ONNX Runtime CPU (the fp32
  reference), energy per inference and per hour of operation (method-tagged), carbon.

The package is verified (`physai.deploy.package.load_package`) before any plugin sees a byte of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physai.core.errors import PhysaiError
from physai.core.progress import NullProgress, Progress
from physai.hardware import carbon, stats
from physai.hardware.discovery import discover, get_plugin
from physai.hardware.plugins import ArtifactCache, CompileSpec, DevicePlugin, parse_device

SCHEMA = "physai-profile/1"
_pc = time.perf_counter


@dataclass
class ProfileConfig:
    """Options of `run_profile`."""

    devices: list[str] = field(default_factory=lambda: ["ort:cpu", "torch:cpu"])
    """Device ids, optionally with '@precision' (e.g. 'ort:cpu@int8')."""
    rates_hz: list[float] = field(default_factory=lambda: [50.0, 200.0, 1000.0])
    """Control rates of the ControlLoop and Chunked scenarios."""
    duration_s: float = 20.0
    """Seconds per measurement (SingleStream, and each rate of ControlLoop); Chunked gets half."""
    batches: list[int] = field(default_factory=lambda: [1, 4, 16, 64])
    """Throughput batch sweep (needs the package's batched variant; sizes above its max_batch are skipped)."""
    threads: int = 1
    """Intra-op threads of CPU runtimes (1: one core per policy, as on a robot computer with other work)."""
    miss_target: float = 0.001
    """Deadline-miss rate a rate must stay under to count as sustained (0.1%)."""
    accuracy_samples: int = 32
    """Random inputs compared against the reference outputs."""
    warmup: int = 50
    """Inferences before measuring."""
    grid: carbon.GridIntensity | None = None
    """Grid intensity (None: Korea, latest year in the table)."""
    watts_per_core: float | None = None
    """Rated W per busy core for the energy estimate (only used when no meter is readable)."""
    cache_dir: Path | None = None
    """Compiled-artifact cache (None: `<out>/cache`, or `default_cache_dir()` without an output folder)."""
    seed: int = 0
    """Seed of the random observations."""
    realtime: bool = False
    """Run ControlLoop and Chunked under SCHED_FIFO when permitted (recorded in the report)."""


# ---------------------------------------------------------------------------- helpers
def _rss_mb() -> float | None:
    try:
        for line in open("/proc/self/status", encoding="utf-8"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _wait_until(t: float) -> None:
    """Sleep until 300 us before `t`, then spin: yields the core, yet wakes within microseconds."""
    rem = t - _pc()
    if rem > 0.0004:
        time.sleep(rem - 0.0003)
    while _pc() < t:
        pass


@contextlib.contextmanager
def realtime_priority(enabled: bool, priority: int = 50):
    """SCHED_FIFO for the timed loops when `enabled` and permitted (root or CAP_SYS_NICE), as a robot's
    control process would run; yields a description of the policy actually in force."""
    if not enabled or not hasattr(os, "sched_setscheduler"):
        yield {"policy": "SCHED_OTHER", "requested_realtime": enabled}
        return
    try:
        old = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        yield {"policy": "SCHED_OTHER", "requested_realtime": True, "why": f"SCHED_FIFO refused: {exc}"}
        return
    try:
        yield {"policy": f"SCHED_FIFO {priority}", "requested_realtime": True}
    finally:
        os.sched_setscheduler(0, old[0], old[1])


def _inputs(package: Any, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    from physai.deploy.onnx_io import example_inputs

    return example_inputs(package.inputs, batch, rng)


def _cdf(lat_s: np.ndarray, points: int = 200) -> list[float]:
    q = np.linspace(0, 100, points + 1)
    return [round(float(v), 3) for v in np.percentile(lat_s * 1e6, q)]


# ---------------------------------------------------------------------------- scenarios
def single_stream(session, inputs: list[np.ndarray], duration_s: float, max_n: int = 1_000_000) -> np.ndarray:
    """Back-to-back latencies (s) for `duration_s`."""
    lat = np.empty(max_n, dtype=np.float64)
    run, n = session.run, 0
    end = _pc() + duration_s
    while n < max_n:
        t0 = _pc()
        run(inputs)
        t1 = _pc()
        lat[n] = t1 - t0
        n += 1
        if t1 >= end:
            break
    return lat[:n]


def control_loop(
    session, inputs: list[np.ndarray], rate_hz: float, duration_s: float
) -> dict[str, np.ndarray]:
    """One tick every 1/rate s; returns target, start, done, deadline per tick (NaN start/done = skipped)."""
    period = 1.0 / rate_hz
    n = max(1, int(round(duration_s * rate_hz)))
    t0 = _pc() + 0.01
    target = t0 + period * np.arange(n)
    deadline = target + period
    start = np.full(n, np.nan)
    done = np.full(n, np.nan)
    run = session.run
    for i in range(n):
        if _pc() >= deadline[i]:
            continue  # the previous inference overran this whole tick: skipped, a miss
        _wait_until(target[i])
        s = _pc()
        run(inputs)
        start[i], done[i] = s, _pc()
    return {"target": target, "start": start, "done": done, "deadline": deadline}


def chunked(
    session, inputs: list[np.ndarray], rate_hz: float, duration_s: float, chunk: int, horizon: int
) -> dict:
    """Ticks at `rate_hz` consuming one action each; a chunk is requested every `horizon` ticks from a
    worker thread (like the runtime's async chunking). Returns the dry-tick statistics."""
    period = 1.0 / rate_hz
    n = max(chunk, int(round(duration_s * rate_hz)))
    horizon = max(1, min(horizon, chunk))
    session.run(inputs)  # the first chunk is fetched before the loop starts
    req_tick, ready = [0], [-np.inf]
    todo: list[int] = []
    cv = threading.Condition()
    stop = False

    def worker() -> None:
        while True:
            with cv:
                while not todo and not stop:
                    cv.wait()
                if stop and not todo:
                    return
                j = todo.pop(0)
            session.run(inputs)
            with cv:
                req_tick.append(j)
                ready.append(_pc())

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    t0 = _pc() + 0.01
    ticks = t0 + period * np.arange(n)
    for j in range(n):
        _wait_until(ticks[j])
        if j and j % horizon == 0:
            with cv:
                todo.append(j)
                cv.notify()
    with cv:
        stop = True
        cv.notify()
    th.join(timeout=30)
    dry = stats.queue_dry_ticks(np.asarray(req_tick), np.asarray(ready), ticks, chunk)
    k = int(dry.sum())
    return {
        "rate_hz": rate_hz,
        "ticks": n,
        "chunk_size": chunk,
        "execution_horizon": horizon,
        "dry_ticks": k,
        "dry_rate": k / n,
        "dry_rate_upper95": stats.clopper_pearson_upper(k, n),
        "longest_dry_streak": stats.longest_streak(dry),
    }


# ---------------------------------------------------------------------------- per device
def _energy_block(
    meter_desc: dict, joules: float, n: int, seconds: float, package: Any, grid: carbon.GridIntensity
) -> dict:
    per_inf = joules / n if n else 0.0
    inf_per_hour = package.contract.control_hz / max(1, package.contract.execution.horizon) * 3600.0
    per_hour = per_inf * inf_per_hour
    return {
        **meter_desc,
        "joules": joules,
        "seconds": seconds,
        "avg_power_w": joules / seconds if seconds else 0.0,
        "j_per_inference": per_inf,
        "inferences_per_hour": inf_per_hour,
        "operation": f"{package.contract.control_hz:g} Hz control, a new chunk every "
        f"{package.contract.execution.horizon} ticks",
        "wh_per_hour": per_hour / 3600.0,
        "g_co2e_per_hour": carbon.grams_co2e(per_hour, grid),
    }


def profile_device(
    plugin: DevicePlugin,
    precision: str,
    package: Any,
    cfg: ProfileConfig,
    cache: ArtifactCache,
    grid: carbon.GridIntensity,
    reference: tuple[list, list],
    progress: Progress,
) -> dict:
    """Every scenario on one device. Raises PhysaiError when the device cannot run the package."""
    rng = np.random.default_rng(cfg.seed)
    rss0 = _rss_mb()
    art = plugin.compile(package, CompileSpec(precision=precision, batch=1, threads=cfg.threads), cache)
    sess = plugin.load(art)
    x = _inputs(package, 1, rng)
    sess.warmup(x, cfg.warmup)
    rss1 = _rss_mb()
    res: dict = {"artifact": {"key": art.key, **art.meta}}
    meter, why = plugin.energy_meter()
    res["energy_meter"] = {**meter.describe(), "skipped": why}

    # accuracy against the reference outputs
    ref_in, ref_out = reference
    diffs = np.stack([np.abs(sess.run(a) - r) for a, r in zip(ref_in, ref_out, strict=True)])
    res["accuracy"] = {
        "reference": f"package model.onnx on ONNX Runtime CPU ({package.policy.get('precision', 'fp32')})",
        "samples": len(ref_in),
        "max_abs_diff": float(diffs.max()),
        "mean_abs_diff": float(diffs.mean()),
    }
    progress.advance(1)

    e0, t0 = meter.read_j(), _pc()
    lat = single_stream(sess, x, cfg.duration_s)
    e1, t1 = meter.read_j(), _pc()
    res["single_stream"] = {**stats.latency_summary(lat), "duration_s": t1 - t0, "cdf_us": _cdf(lat)}
    res["energy"] = _energy_block(meter.describe(), e1 - e0, lat.size, t1 - t0, package, grid)
    progress.advance(1)

    loops: list[dict] = []
    rt = contextlib.ExitStack()
    res["scheduling"] = rt.enter_context(realtime_priority(cfg.realtime))
    with rt:
        _loops(sess, x, package, cfg, meter, loops, res, progress)
    progress.advance(1)
    res["throughput"] = _throughput(plugin, precision, package, cfg, cache, rng)
    progress.advance(1)
    res["memory"] = {
        "rss_before_mb": rss0,
        "rss_after_load_mb": rss1,
        "rss_load_delta_mb": (rss1 - rss0) if rss0 is not None and rss1 is not None else None,
        "process_peak_rss_mb": _peak_rss_mb(),
        "device_peak_bytes": plugin.memory_bytes(),
        "note": "RSS is per process; devices profiled earlier in the same run share it",
    }
    return res


def _loops(sess, x, package, cfg: ProfileConfig, meter, loops: list, res: dict, progress: Progress) -> None:
    for f in cfg.rates_hz:
        e0, t0 = meter.read_j(), _pc()
        tr = control_loop(sess, x, f, cfg.duration_s)
        e1, t1 = meter.read_j(), _pc()
        ms = stats.miss_summary(tr["done"], tr["deadline"], tr["start"], 1.0 / f)
        lat_cl = (tr["done"] - tr["start"])[~np.isnan(tr["start"])]
        loops.append(
            {
                "rate_hz": f,
                **ms,
                "skipped_ticks": int(np.isnan(tr["start"]).sum()),
                "latency": stats.latency_summary(lat_cl),
                "loop_power_w": (e1 - e0) / (t1 - t0),
                "sustained": ms["miss_rate"] <= cfg.miss_target,
            }
        )
        progress.advance(1)
    res["control_loop"] = loops
    ok = [c["rate_hz"] for c in loops if c["miss_rate"] <= cfg.miss_target]
    sure = [c["rate_hz"] for c in loops if c["miss_rate_upper95"] <= cfg.miss_target]
    res["verdict"] = {
        "max_sustained_hz": max(ok) if ok else None,
        "max_sustained_hz_upper95": max(sure) if sure else None,
        "miss_target": cfg.miss_target,
        "rule": "highest tested rate whose observed deadline-miss rate is <= miss_target "
        "(_upper95: whose 95% upper bound is)",
    }

    res["chunked"] = [
        chunked(
            sess, x, f, cfg.duration_s / 2, package.contract.chunk_size, package.contract.execution.horizon
        )
        for f in cfg.rates_hz
    ]


def _throughput(
    plugin: DevicePlugin,
    precision: str,
    package: Any,
    cfg: ProfileConfig,
    cache: ArtifactCache,
    rng: np.random.Generator,
) -> dict:
    if not package.has_batched:
        return {"skipped": "the package has no batched variant (model_batched.onnx)"}
    max_b = package.policy.get("models", {}).get("model_batched.onnx", {}).get("max_batch", 64)
    rows = []
    for b in cfg.batches:
        if b > max_b:
            continue
        try:
            art = plugin.compile(
                package, CompileSpec(precision=precision, batch=b, threads=cfg.threads), cache
            )
            s = plugin.load(art)
            xb = _inputs(package, b, rng)
            s.warmup(xb, 5)
            lat = single_stream(s, xb, max(0.05, cfg.duration_s / 10))
        except Exception as exc:  # one batch size failing must not lose the device's other results
            rows.append({"batch": b, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append(
            {
                "batch": b,
                "inferences_per_s": b * lat.size / lat.sum(),
                "p50_us": float(np.median(lat) * 1e6),
                "cache_hit": art.meta.get("cache_hit"),
            }
        )
    return {"sweep": rows}


# ---------------------------------------------------------------------------- run
def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/physai/artifacts` (default `~/.cache/physai/artifacts`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "physai" / "artifacts"


def run_profile(
    package_path: Path,
    cfg: ProfileConfig,
    out: Path | None = None,
    trusted_keys: list | None = None,
    allow_unsigned: bool = False,
    progress: Progress | None = None,
    plugins: dict[str, DevicePlugin] | None = None,
) -> dict:
    """Verify and profile a package on every requested device; writes `profile.json` and `profile.html` to
    `out` when given. A device that is unknown, unavailable or cannot compile the package gets an error entry
    (with what to install) and the others are still measured."""
    from physai.deploy.package import load_package
    from physai.hardware.sysinfo import describe_system

    progress = progress or NullProgress()
    package = load_package(Path(package_path), trusted_keys, allow_unsigned=allow_unsigned, threads=1)
    grid = cfg.grid or carbon.lookup()
    plugin_errors: dict[str, str] = {}
    if plugins is None:
        plugins, plugin_errors = discover()
    cache = ArtifactCache(cfg.cache_dir or (Path(out) / "cache" if out else default_cache_dir()))
    rng = np.random.default_rng(cfg.seed + 1)
    ref_in = [_inputs(package, 1, rng) for _ in range(cfg.accuracy_samples)]
    ref_sess = package.session(False)
    names = [i["name"] for i in package.inputs]
    ref_out = [ref_sess.run(["actions"], dict(zip(names, a, strict=True)))[0] for a in ref_in]
    progress.start(len(cfg.devices) * (4 + len(cfg.rates_hz)), "profile")
    devices = []
    for spec in cfg.devices:
        row: dict = {"device": spec}
        t0 = _pc()
        try:
            name, prec = parse_device(spec)
            plugin = get_plugin(name, plugins)
            pr = plugin.probe()
            row.update(runtime=pr.version, details=pr.details)
            if not pr.available:
                raise PhysaiError(f"{name} is not available here: {pr.reason}")
            precision = prec or str(package.policy.get("precision", "fp32"))
            row["precision"] = precision
            row.update(
                profile_device(plugin, precision, package, cfg, cache, grid, (ref_in, ref_out), progress)
            )
            row["status"] = "ok"
        except PhysaiError as exc:
            row.update(status="error", error=str(exc))
        except Exception as exc:  # a third-party plugin's failure must not stop the other devices
            row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        row["seconds"] = round(_pc() - t0, 2)
        devices.append(row)
    progress.close()
    ok = {d["device"]: d for d in devices if d["status"] == "ok"}
    doc = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "package": {**package.describe(), "precision": package.policy.get("precision", "fp32")},
        "system": describe_system(),
        "config": _cfg_json(cfg),
        "grid_intensity": asdict(grid),
        "devices": devices,
        "plugin_errors": plugin_errors,
        "comparisons": _comparisons(ok),
    }
    if out is not None:
        from physai.report.profile_report import write_report

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "profile.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
        write_report(doc, out / "profile.html")
        doc["files"] = {"json": str(out / "profile.json"), "html": str(out / "profile.html")}
    return doc


def _cfg_json(cfg: ProfileConfig) -> dict:
    d = asdict(cfg)
    d.pop("grid", None)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


def _comparisons(ok: dict[str, dict]) -> dict:
    """Batch-1 p50 speed-up of each device over torch eager on CPU, measured in the same run."""
    base = ok.get("torch:cpu")
    if not base:
        return {}
    b = base["single_stream"]["p50_us"]
    return {
        "speedup_vs_torch_cpu_p50": {
            k: b / v["single_stream"]["p50_us"] for k, v in ok.items() if v["single_stream"].get("p50_us")
        }
    }
