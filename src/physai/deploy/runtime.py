"""The real-time runtime: package -> safety supervisor -> driver, at a fixed rate on the monotonic clock.

Each cycle: read the robot; take the next action from the chunk queue; let the supervisor filter it;
write it. Inference of the next chunk runs on a background thread while the current chunk executes
(asynchronous chunking): when the queue falls to `refill_threshold` actions, the latest observation is
sent to the worker; when the new chunk arrives, the actions for cycles already past are dropped and the
first `blend_steps` overlapping actions are blended linearly from the old chunk into the new one. A
cycle with no action ready counts as late for the supervisor's deadline watchdog.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from physai.core.errors import ConfigError, SafetyError
from physai.deploy.package import Package
from physai.deploy.safety import SafetySupervisor, SupervisorConfig
from physai.embodiments import EMBODIMENTS, make_embodiment


@dataclass
class RuntimeConfig:
    """Settings of one runtime session."""

    hz: float = 20.0
    """Control rate (cycles per second)."""
    duration: float | None = None
    """Stop after this many seconds of control (None: until the episode ends or max_cycles)."""
    max_cycles: int | None = None
    """Stop after this many cycles (None: no limit)."""
    refill_threshold: int | None = None
    """Request the next chunk when this many actions are left (None: chunk_size - execution_horizon, but
    at least `min_lead_s` worth of cycles and at most chunk_size - 1)."""
    min_lead_s: float = 0.01
    """Least time the background inference gets before the queue runs dry (default threshold only)."""
    blend_steps: int = 1
    """Overlapping actions blended linearly from the old chunk into the new one (0: switch at once).
    More blending is smoother but follows new observations later (a reactive policy wants 0-1)."""
    realtime: bool = True
    """Pace cycles on the monotonic clock; False runs as fast as possible and waits for each inference
    (deterministic; for tests and offline checks)."""
    stop_on_done: bool = True
    """End the session when the driver reports the episode done (simulation)."""
    spin_s: float = 0.0003
    """Busy-wait this long before each deadline instead of sleeping (tighter jitter, more CPU)."""
    rt_priority: int | None = None
    """Run the control thread under SCHED_FIFO at this priority (1-99; Linux, needs CAP_SYS_NICE);
    None keeps the normal scheduler. The inference thread stays at normal priority."""
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    """Safety supervisor settings."""
    read_deadline_s: float | None = None
    """A `driver.read()` taking longer than this (s) is a safety event: protective stop, no further
    reads. None: three control periods, at least 20 ms."""


def check_compatible(pkg: Package, info) -> None:
    """Refuse a package for another embodiment, control mode or I/O layout than the robot's."""
    if pkg.embodiment != info.embodiment:
        raise SafetyError(
            f"package {pkg.path} is for embodiment {pkg.embodiment!r} but the robot is "
            f"{info.embodiment!r}; refusing to run it"
        )
    if pkg.control and pkg.control != info.control:
        raise SafetyError(
            f"package {pkg.path} commands {pkg.control!r} but the robot driver accepts {info.control!r}"
        )
    if pkg.action_dim != len(info.action_names):
        raise SafetyError(
            f"package actions have {pkg.action_dim} elements, the robot expects "
            f"{len(info.action_names)} ({info.action_names})"
        )
    if pkg.state_dim != len(info.state_names):
        raise SafetyError(
            f"package expects a state of {pkg.state_dim} elements, the robot provides {len(info.state_names)}"
        )
    missing = [
        i["name"]
        for i in pkg.inputs
        if i["name"].startswith("images/") and i["name"][len("images/") :] not in info.cameras
    ]
    if missing:
        raise SafetyError(f"package needs camera inputs {missing}; the robot provides {info.cameras}")


class _InferenceWorker:
    """One background thread that turns (cycle, obs) requests into (cycle, chunk, seconds) results."""

    def __init__(self, pkg: Package) -> None:
        self.pkg = pkg
        self._cv = threading.Condition()
        self._req: tuple[int, dict] | None = None
        self._res: tuple[int, np.ndarray, float] | None = None
        self._err: BaseException | None = None
        self._quit = False
        self.pending = False
        self._t = threading.Thread(target=self._loop, name="physai-inference", daemon=True)
        self._t.start()

    def submit(self, cycle: int, obs: dict) -> None:
        with self._cv:
            self._req, self.pending = (cycle, obs), True
            self._cv.notify_all()

    def poll(self, wait: bool = False) -> tuple[int, np.ndarray, float] | None:
        with self._cv:
            if wait:
                self._cv.wait_for(lambda: self._res is not None or self._err is not None)
            if self._err is not None:
                raise self._err
            res, self._res = self._res, None
            if res is not None:
                self.pending = False
            return res

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._req is not None or self._quit)
                if self._quit:
                    return
                cycle, obs = self._req
                self._req = None
            t0 = time.perf_counter()
            try:
                chunk = self.pkg.infer(obs)
            except BaseException as exc:  # surfaced to the control thread on the next poll
                with self._cv:
                    self._err = exc
                    self._cv.notify_all()
                return
            with self._cv:
                self._res = (cycle, chunk, time.perf_counter() - t0)
                self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._quit = True
            self._cv.notify_all()
        self._t.join(timeout=5)


def merge_chunk(queue: deque, chunk: np.ndarray, elapsed: int, blend: int) -> deque:
    """New queue from `chunk` inferred `elapsed` cycles ago, blended over the first `blend` actions
    that overlap the old queue."""
    new = list(chunk[elapsed:])
    old = list(queue)
    n = min(blend, len(old), len(new))
    for i in range(n):
        w = (i + 1) / (n + 1)
        new[i] = (1 - w) * old[i] + w * new[i]
    return deque(new)


class Runtime:
    """Runs a verified package on a driver with the supervisor in the loop; `estop()` from any thread."""

    def __init__(
        self,
        pkg: Package,
        driver,
        config: RuntimeConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pkg, self.driver = pkg, driver
        self._clock = clock  # times driver reads against their deadline (tests inject a fake one)
        self._read_failed = False
        self.cfg = config or RuntimeConfig()
        if self.cfg.hz <= 0:
            raise ConfigError(f"--hz must be > 0, got {self.cfg.hz}")
        self.supervisor: SafetySupervisor | None = None
        self._estop_reason: str | None = None

    def estop(self, reason: str = "api") -> None:
        """Latch an emergency stop (the loop brings the robot to rest and ends)."""
        self._estop_reason = reason
        if self.supervisor is not None:
            self.supervisor.estop(reason)

    def _read(self, sup: SafetySupervisor):
        """`driver.read()` against its deadline: a late read latches a protective stop (`read_deadline`)
        and the driver is not read again this session."""
        t = self._clock()
        reading = self.driver.read()
        took = self._clock() - t
        if took > self._deadline:
            self._read_failed = True
            sup.fault("read_deadline", f"driver.read() took {took:.3f} s > {self._deadline:.3f} s deadline")
        return reading

    def run(self) -> dict:
        """Connect, run until done/duration/max_cycles/stop, stop the robot, disconnect; return the report."""
        cfg, pkg = self.cfg, self.pkg
        self._read_failed = False
        info = self.driver.connect()
        worker = None
        try:
            check_compatible(pkg, info)
            period = 1.0 / cfg.hz
            sup = self.supervisor = make_supervisor(info, period, cfg.supervisor)
            deadline = cfg.read_deadline_s
            self._deadline = max(3 * period, 0.02) if deadline is None else deadline
            if self._estop_reason:
                sup.estop(self._estop_reason)
            threshold = cfg.refill_threshold
            if threshold is None:
                lead = math.ceil(cfg.min_lead_s * cfg.hz)
                threshold = min(pkg.chunk_size - 1, max(pkg.chunk_size - pkg.execution_horizon, lead))
            reading = self._read(sup)
            sup.start(reading.robot)
            worker = _InferenceWorker(pkg)
            worker.submit(0, reading.obs)
            _, chunk, lat = worker.poll(wait=True)  # first chunk before motion starts
            queue: deque = deque(chunk)
            sup.enable()
            return self._loop(sup, worker, queue, threshold, period, lat)
        finally:
            if worker is not None:
                worker.close()
            try:
                self.driver.stop()
            finally:
                self.driver.disconnect()
                if self.supervisor is not None:
                    self.supervisor.close()

    def _loop(
        self,
        sup: SafetySupervisor,
        worker: _InferenceWorker,
        queue: deque,
        threshold: int,
        period: float,
        first_latency: float,
    ) -> dict:
        cfg = self.cfg
        previous = _set_rt_priority(cfg.rt_priority) if cfg.rt_priority else None
        try:
            return self._cycles(sup, worker, queue, threshold, period, first_latency)
        finally:
            if previous is not None:
                os.sched_setscheduler(0, *previous)

    def _cycles(
        self,
        sup: SafetySupervisor,
        worker: _InferenceWorker,
        queue: deque,
        threshold: int,
        period: float,
        first_latency: float,
    ) -> dict:
        cfg = self.cfg
        max_cycles = cfg.max_cycles if cfg.max_cycles is not None else 2**62
        if cfg.duration is not None:
            max_cycles = min(max_cycles, int(round(cfg.duration * cfg.hz)))
        starts, works, lat = [], [], [first_latency]
        misses = late_cycles = chunks = 0
        success = done = False
        t_next = time.monotonic()
        cycle = 0
        while cycle < max_cycles:
            if cfg.realtime:
                _sleep_until(t_next, cfg.spin_s)
            t0 = time.monotonic()
            starts.append(t0)
            reading = self._read(sup)  # a late read stops the supervisor: this cycle writes the stop
            success = success or reading.success
            if cfg.stop_on_done and reading.done:
                done = True
                break
            res = worker.poll(wait=not cfg.realtime and worker.pending)
            if res is not None:
                k, chunk, dt_inf = res
                queue = merge_chunk(queue, chunk, cycle - k, cfg.blend_steps)
                lat.append(dt_inf)
                chunks += 1
            if len(queue) <= threshold and not worker.pending:
                worker.submit(cycle, reading.obs)
                if not cfg.realtime:
                    k, chunk, dt_inf = worker.poll(wait=True)
                    queue = merge_chunk(queue, chunk, cycle - k, cfg.blend_steps)
                    lat.append(dt_inf)
                    chunks += 1
            action = queue.popleft() if queue else None
            late = action is None
            late_cycles += late
            sup.watchdog(late)
            # the supervisor's step is the loop's real period (it takes the shorter of this and 1/hz)
            cmd = sup.filter(action, reading.robot, t0 - starts[-2] if cfg.realtime and cycle else None)
            self.driver.write(cmd)
            cycle += 1
            t1 = time.monotonic()
            works.append(t1 - t0)
            if cfg.realtime:
                if t1 > t_next + period:
                    misses += 1
                t_next += period
                if t1 > t_next + period:  # fell more than a period behind: skip the lost ticks
                    skipped = int((t1 - t_next) // period)
                    t_next += skipped * period
            if sup.stopped:
                break
        if sup.stopped and not self._read_failed:  # controlled stop: brake until the robot is at rest
            for _ in range(int(cfg.hz * 5)):
                if cfg.realtime:
                    t_next += period
                    _sleep_until(t_next, cfg.spin_s)
                reading = self._read(sup)
                if self._read_failed:
                    break
                self.driver.write(sup.filter(None, reading.robot))
                cycle += 1
                if sup.at_rest():
                    break
        if not self._read_failed:  # a driver that missed its read deadline is not read again
            success = success or self.driver.read().success
        return _report(
            cfg, period, cycle, starts, works, lat, misses, late_cycles, chunks, success, done, sup.summary()
        )


def make_supervisor(info, period: float, config: SupervisorConfig) -> SafetySupervisor:
    """The supervisor for a connected robot: its limits, its kinematics (the driver's, else the
    registered embodiment's own model), at the shorter of the loop's and the driver's period."""
    kin = info.kinematics
    if kin is None and info.embodiment in EMBODIMENTS:
        kin = make_embodiment(info.embodiment).kinematics()
    dt = min(period, 1.0 / info.hz) if info.hz > 0 else period
    return SafetySupervisor(
        info.safety_limits,
        info.control,
        dt,
        info.action_names,
        info.action_low,
        info.action_high,
        config,
        kinematics=kin,
    )


def _set_rt_priority(prio: int) -> tuple:
    """Switch the calling thread to SCHED_FIFO; returns what to restore. Raises ConfigError if refused."""
    if not hasattr(os, "sched_setscheduler"):
        raise ConfigError("rt_priority needs Linux (os.sched_setscheduler)")
    previous = (os.sched_getscheduler(0), os.sched_getparam(0))
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(prio)))
    except (PermissionError, OSError) as exc:
        raise ConfigError(
            f"cannot switch the control thread to SCHED_FIFO priority {prio}: {exc}; run with "
            f"CAP_SYS_NICE (or as root), or drop --rt-priority"
        ) from None
    return previous


def _sleep_until(t: float, spin: float) -> None:
    now = time.monotonic()
    if t - now > spin:
        time.sleep(t - now - spin)
    while time.monotonic() < t:
        pass


def _pct(x: np.ndarray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else 0.0


def _report(
    cfg: RuntimeConfig,
    period: float,
    cycles: int,
    starts: list,
    works: list,
    lat: list,
    misses: int,
    late: int,
    chunks: int,
    success: bool,
    done: bool,
    safety: dict,
) -> dict:
    per = np.diff(np.asarray(starts)) if len(starts) > 1 else np.zeros(0)
    jit = np.abs(per - period) * 1e3
    w = np.asarray(works) * 1e3
    la = np.asarray(lat) * 1e3
    return {
        "cycles": cycles,
        "hz": cfg.hz,
        "realtime": cfg.realtime,
        "success": bool(success),
        "episode_done": done,
        "timing": {
            "period_ms": period * 1e3,
            "period_mean_ms": float(per.mean() * 1e3) if len(per) else 0.0,
            "jitter_p50_ms": _pct(jit, 50),
            "jitter_p99_ms": _pct(jit, 99),
            "jitter_max_ms": _pct(jit, 100),
            "work_p50_ms": _pct(w, 50),
            "work_p99_ms": _pct(w, 99),
            "deadline_misses": misses,
            "deadline_miss_rate": misses / max(cycles, 1),
        },
        "inference": {
            "chunks": chunks + 1,
            "latency_p50_ms": _pct(la, 50),
            "latency_p99_ms": _pct(la, 99),
            "late_cycles": late,
        },
        "safety": safety,
    }
