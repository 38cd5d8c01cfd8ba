"""The real-time runtime: package -> safety supervisor -> driver, at a fixed rate on the monotonic clock.

Before anything moves the package's contract is checked against what the robot declares (embodiment,
control mode, control rate, state/action layout, cameras, image size, tactile): a mismatch is refused
naming both sides. Each cycle: read the robot; take this cycle's action from the `ChunkExecutor` (the
contract's execution mode, the same object `Policy.act` and `physai eval --policy PKG` run); let the
supervisor filter it; write it. Inference runs on a background thread: in queue mode the next chunk is
requested `lead` cycles before the current one's horizon ends and the actions for cycles already past
are skipped when it arrives; in ensemble mode a chunk is requested every cycle the worker is free. A
cycle with no action ready counts as late for the supervisor's deadline watchdog (except sync mode's
planned wait for its in-flight chunk, up to one chunk length). With
`realtime=False` every requested chunk is waited for, which reproduces `Policy.act` exactly.

The execution mode (sync, queue, ensemble, rtc) is the contract's unless `execution` overrides it. An
`InjectedDelay` makes each chunk available no earlier than `delay` control periods after its request,
on the same code path with real and simulated time: with `realtime=False` the result is held until
that cycle (deterministic), with `realtime=True` it is held until the later of its real arrival and
that cycle. In rtc mode each request carries the committed actions and the estimated delay (the
largest recently observed, in cycles).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from physai.core.errors import ConfigError, SafetyError
from physai.core.execution import (
    ChunkExecutor,
    DelayEstimator,
    InjectedDelay,
    describe_execution,
    resolve_execution,
    rtc_method,
)
from physai.deploy.package import Package
from physai.deploy.safety import SafetySupervisor, SupervisorConfig
from physai.embodiments import EMBODIMENTS, make_embodiment


@dataclass
class RuntimeConfig:
    """Settings of one runtime session."""

    hz: float | None = None
    """Control rate (cycles per second); None: the package's contract rate. Another value is refused:
    a policy runs at the rate it was trained at."""
    duration: float | None = None
    """Stop after this many seconds of control (None: until the episode ends or max_cycles)."""
    max_cycles: int | None = None
    """Stop after this many cycles (None: no limit)."""
    lead_cycles: int | None = None
    """Queue mode: request the next chunk this many cycles before the current chunk's horizon ends
    (None: enough cycles for `min_lead_s` beyond the chunk's spare actions; 0 when realtime is off)."""
    min_lead_s: float = 0.01
    """Least time the background inference gets before the chunk runs out (default lead only)."""
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
    execution: str | None = None
    """Execution mode overriding the contract's: 'sync', 'queue', 'ensemble' or 'rtc', optionally
    ':HORIZON' (e.g. 'rtc:8'); None: the contract's."""
    delay: InjectedDelay | None = None
    """Inject an inference delay (control periods, optionally jittered); None: only the real one."""
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    """Safety supervisor settings."""
    read_deadline_s: float | None = None
    """A `driver.read()` taking longer than this (s) is a safety event: protective stop, no further
    reads. None: three control periods, at least 20 ms."""


@dataclass(frozen=True)
class CycleRecord:
    """What happened in one control cycle, as handed to every `RuntimeObserver`."""

    cycle: int
    """Cycle index from 0."""
    t: float
    """Monotonic time the cycle started (s)."""
    obs: dict
    """The observation the driver returned this cycle."""
    robot: object
    """The measured `RobotState` the supervisor saw."""
    action: np.ndarray | None
    """The action proposed this cycle, before the supervisor (None: none was ready)."""
    command: np.ndarray
    """The command written to the driver, after the supervisor."""
    source: str = "policy"
    """Who proposed `action`: "policy", "human:<source>" (a teleop source holds control) or
    "hold:<source>" (the source holding control was lost; the robot holds)."""
    work_s: float = 0.0
    """Time from the cycle's start to the write (s)."""


class ActionArbiter(Protocol):
    """Decides each cycle who commands the robot (`physai.teleop.arbiter.ActionArbiter` implements it): the
    policy's proposal, or a human source holding control; the supervisor filters either."""

    def start_robot(self, info: object, driver: object) -> None: ...

    def runtime_action(self, obs: dict, proposal: np.ndarray | None) -> tuple[np.ndarray | None, str]: ...

    def summary(self) -> dict: ...

    def close(self) -> None: ...


class RuntimeObserver(Protocol):
    """Sees a session: `start` once after the robot is checked, `cycle` after every write, `end` with the
    report. Observers must be quick (they run on the control thread) and must not raise."""

    def start(self, info: object, pkg: Package) -> None: ...

    def cycle(self, record: CycleRecord) -> None: ...

    def end(self, report: dict) -> None: ...


def check_compatible(pkg: Package, info) -> None:
    """Refuse a robot whose declaration (`DriverInfo`) does not match the package's contract."""
    pkg.contract.check_robot(info, who=f"package {pkg.path}")


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


class _ChunkFeed:
    """Between the inference worker and the executor: requests a chunk when the executor wants one (with
    the committed actions in rtc mode), and hands each result to the executor at the cycle it becomes
    available: its real arrival, delayed to request + injected delay when one is configured."""

    def __init__(
        self, worker: _InferenceWorker, executor: ChunkExecutor, cfg: RuntimeConfig, d0: int
    ) -> None:
        self.worker, self.executor, self.cfg = worker, executor, cfg
        self.draw = (cfg.delay or InjectedDelay()).sampler()
        self.estimator = DelayEstimator(d0)
        self._held: tuple[int, np.ndarray, int] | None = None  # (request cycle, chunk, ready cycle)
        self._due = 0  # the injected delay of the request in flight
        self._req = 0  # the cycle of the request in flight
        self.latencies: list[float] = []
        self.delays: list[int] = []
        self.chunks = 0

    @property
    def busy(self) -> bool:
        return self.worker.pending or self._held is not None

    def planned_wait(self, cycle: int) -> bool:
        """Sync mode holds the robot while its next chunk is inferred: those idle cycles are by design,
        not late, for at most one chunk's length (a longer wait is a late inference again)."""
        ex = self.executor
        return ex.mode == "sync" and self.busy and cycle - self._req < ex.chunk_size

    def step(self, cycle: int, obs: dict) -> None:
        """This cycle's part: take a finished chunk, release a held one that is due, request one."""
        wait = not self.cfg.realtime
        for res in (self.worker.poll(wait=wait and self.worker.pending), None):
            if res is None and self.executor.wants(cycle) and not self.busy:
                self._submit(cycle, obs)
                res = self.worker.poll(wait=wait)
            if res is not None:
                self.latencies.append(res[2])
                self._held = (res[0], res[1], max(cycle, res[0] + self._due))
            if self._held is not None and self._held[2] <= cycle:
                start, chunk, ready = self._held
                self._held = None
                self.executor.add(start, chunk, ready)
                self.estimator.observe(ready - start)
                self.delays.append(ready - start)
                self.chunks += 1

    def _submit(self, cycle: int, obs: dict) -> None:
        self._due, self._req = int(self.draw()), cycle
        if self.executor.rtc == "inpaint":
            obs = {**obs, **self.executor.rtc_request(cycle, self.estimator.estimate())}
        self.worker.submit(cycle, obs)


class _HungReadWatchdog:
    """Realtime sessions: a `driver.read()` still running past its deadline (a hung driver that never
    returns) latches a protective stop and asks the driver to stop from this thread, since the control
    thread is stuck inside the read. Costs the control loop two attribute writes per cycle."""

    def __init__(self, driver, sup: SafetySupervisor, deadline: float, lock: threading.Lock) -> None:
        self.driver, self.sup, self.deadline, self.lock = driver, sup, deadline, lock
        self.since: float | None = None
        self.fired = False
        self._quit = threading.Event()
        self._t = threading.Thread(target=self._watch, name="physai-read-watchdog", daemon=True)
        self._t.start()

    def _watch(self) -> None:
        while not self._quit.wait(self.deadline / 4):
            since = self.since
            if since is None or self.fired or time.monotonic() - since <= self.deadline:
                continue
            self.fired = True
            self.sup.fault("read_hung", f"driver.read() has not returned after {self.deadline:.3f} s")
            try:
                with self.lock:  # never concurrently with the runtime's own final stop
                    self.driver.stop()
            except Exception:
                pass

    def close(self) -> None:
        self._quit.set()
        self._t.join(timeout=1)


class Runtime:
    """Runs a verified package on a driver with the supervisor in the loop; `estop()` from any thread."""

    def __init__(
        self,
        pkg: Package,
        driver,
        config: RuntimeConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        observers: Sequence[RuntimeObserver] = (),
        arbiter: ActionArbiter | None = None,
    ) -> None:
        self.pkg, self.driver = pkg, driver
        self.observers = tuple(observers)
        self.arbiter = arbiter  # interventions: a teleop source may take over (physai.teleop.arbiter)
        self._clock = clock  # times driver reads against their deadline (tests inject a fake one)
        self._read_failed = False
        self._watchdog: _HungReadWatchdog | None = None
        self._stop_lock = threading.Lock()
        self.cfg = config or RuntimeConfig()
        rate = pkg.contract.control_hz
        if self.cfg.hz is not None and not math.isclose(self.cfg.hz, rate, rel_tol=1e-6):
            raise SafetyError(
                f"the runtime was asked to run at {self.cfg.hz:g} Hz but package {pkg.path} was trained at "
                f"{rate:g} Hz; run it at {rate:g} Hz (drop --hz) or retrain at {self.cfg.hz:g} Hz"
            )
        self.hz = rate
        self.execution = resolve_execution(pkg.contract, self.cfg.execution)
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
        dog = self._watchdog
        if dog is not None:
            dog.since = time.monotonic()
        t = self._clock()
        reading = self.driver.read()
        took = self._clock() - t
        if dog is not None:
            dog.since = None
            if dog.fired:
                self._read_failed = True
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
            for ob in self.observers:
                ob.start(info, pkg)
            if self.arbiter is not None:
                self.arbiter.start_robot(info, self.driver)
            period = 1.0 / self.hz
            sup = self.supervisor = make_supervisor(info, period, cfg.supervisor)
            deadline = cfg.read_deadline_s
            self._deadline = max(3 * period, 0.02) if deadline is None else deadline
            if cfg.realtime:
                self._watchdog = _HungReadWatchdog(self.driver, sup, self._deadline, self._stop_lock)
            if self._estop_reason:
                sup.estop(self._estop_reason)
            c = pkg.contract
            ex = self.execution
            lead = cfg.lead_cycles
            if lead is None:
                spare = c.chunk_size - ex.horizon
                lead = max(0, math.ceil(cfg.min_lead_s * self.hz) - spare) if cfg.realtime else 0
                lead = 0 if ex.mode == "rtc" else lead  # rtc runs on the committed overlap instead
            executor = ChunkExecutor(ex, c.chunk_size, lead, rtc=rtc_method(c, ex))
            reading = self._read(sup)
            sup.start(reading.robot)
            worker = _InferenceWorker(pkg)
            worker.submit(0, reading.obs)
            _, chunk, lat = worker.poll(wait=True)  # first chunk before motion starts
            executor.add(0, chunk)
            d0 = (cfg.delay.cycles if cfg.delay is not None else 0) + (
                math.ceil(lat * self.hz) if cfg.realtime else 0
            )
            feed = _ChunkFeed(worker, executor, cfg, d0)
            sup.enable()
            report = self._loop(sup, feed, period, lat)
            if self.arbiter is not None:
                report["control"] = self.arbiter.summary()
            for ob in self.observers:
                ob.end(report)
            return report
        finally:
            if worker is not None:
                worker.close()
            if self.arbiter is not None:
                self.arbiter.close()
            if self._watchdog is not None:
                self._watchdog.close()
                self._watchdog = None
            try:
                with self._stop_lock:
                    self.driver.stop()
            finally:
                self.driver.disconnect()
                if self.supervisor is not None:
                    self.supervisor.close()

    def _loop(self, sup: SafetySupervisor, feed: _ChunkFeed, period: float, first_latency: float) -> dict:
        cfg = self.cfg
        previous = _set_rt_priority(cfg.rt_priority) if cfg.rt_priority else None
        try:
            return self._cycles(sup, feed, period, first_latency)
        finally:
            if previous is not None:
                os.sched_setscheduler(0, *previous)

    def _cycles(self, sup: SafetySupervisor, feed: _ChunkFeed, period: float, first_latency: float) -> dict:
        cfg = self.cfg
        executor = feed.executor
        max_cycles = cfg.max_cycles if cfg.max_cycles is not None else 2**62
        if cfg.duration is not None:
            max_cycles = min(max_cycles, int(round(cfg.duration * self.hz)))
        starts, works = [], []
        misses = late_cycles = 0
        success = done = False
        t_next = time.monotonic()
        cycle = 0
        while cycle < max_cycles:
            if cfg.realtime:
                _sleep_until(t_next, cfg.spin_s)
            t0 = time.monotonic()
            starts.append(t0)
            reading = self._read(sup)  # a late read stops the supervisor: this cycle writes the stop
            if self._watchdog is not None and self._watchdog.fired:
                break  # the watchdog already stopped a hung driver: nothing more is written to it
            success = success or reading.success
            if cfg.stop_on_done and reading.done:
                done = True
                break
            # take a finished chunk, then request one if the executor wants it (realtime off: wait for it)
            feed.step(cycle, reading.obs)
            action = executor.action(cycle)
            source = "policy"
            if self.arbiter is not None:  # a human source holding control replaces the policy's action
                action, source = self.arbiter.runtime_action(reading.obs, action)
            late = action is None
            late_cycles += late
            sup.watchdog(late and not feed.planned_wait(cycle))
            # the supervisor's step is the loop's real period (it takes the shorter of this and 1/hz)
            cmd = sup.filter(action, reading.robot, t0 - starts[-2] if cfg.realtime and cycle else None)
            self.driver.write(cmd)
            if self.observers:  # observers run on the control thread: their time counts in the cycle's work
                rec = CycleRecord(cycle, t0, reading.obs, reading.robot, action, cmd, source,
                                  time.monotonic() - t0)
                for ob in self.observers:
                    ob.cycle(rec)
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
            for _ in range(int(self.hz * 5)):
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
        report = _report(
            cfg, self.hz, period, cycle, starts, works, [first_latency, *feed.latencies], misses, late_cycles,
            feed.chunks, success, done, sup.summary(),
        )
        report["execution"] = describe_execution(self.pkg.contract, self.execution)
        report["inference"]["delay_cycles_mean"] = float(np.mean(feed.delays)) if feed.delays else 0.0
        report["inference"]["chunk_boundaries"] = list(executor.boundaries)
        return report


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
    hz: float,
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
        "hz": hz,
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
