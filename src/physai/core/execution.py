"""Turning predicted action chunks into one action per control cycle, as the contract's `Execution` says.

`ChunkExecutor` is the one implementation: `Policy.act`, the package evaluator and the runtime all run
it, so what is evaluated is what is deployed. A chunk is added with the cycle whose observation it was
predicted from (and the cycle it became available); `action(cycle)` reads the action for that cycle.

- sync: execute `horizon` actions of a chunk, then nothing (idle cycles) until the next chunk, predicted
  from the observation after them, arrives; it is executed from its first action.
- queue: execute `horizon` actions of the newest chunk, then ask for the next. When inference runs on
  another thread (`lead` > 0) the next chunk is requested `lead` cycles early, and when it arrives the
  actions for cycles already past are skipped; a late chunk lets the current one run on to its end.
- ensemble (ACT's temporal ensembling): a chunk every cycle; the action for cycle t averages every live
  chunk's prediction for t with weights exp(-coef * i), i = 0 for the oldest prediction.
- rtc (real-time chunking, Black et al. 2025): scheduled like queue, but each request carries the
  actions already committed for the cycles the new chunk covers (`rtc_request`): the first d of them
  (executed while the new chunk is inferred, d the estimated delay) are frozen, the rest of the overlap
  is held to them with a weight decaying to 0 (`rtc_weights`). A policy whose contract says
  `rtc='inpaint'` (flow, vla) guides its sampler toward them; for `rtc='blend'` (act, mlp: no sampler)
  the executor blends the old and new chunk over the overlap with the same weights.

Run synchronously (`lead` = 0, each requested chunk added before `action` of the same cycle) every mode
reproduces the policy's own `act` exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from physai.core.contract import EXECUTION_MODES, RTC_INPUTS, Execution, PolicyContract
from physai.core.errors import ConfigError

DEFAULT_ENSEMBLE_COEF = 0.01


# ---------------------------------------------------------------------------- mode resolution
def parse_execution(text: str) -> tuple[str, int | None]:
    """'MODE' or 'MODE:HORIZON' (e.g. 'rtc:8') -> (mode, horizon or None); ConfigError when malformed."""
    mode, _, h = str(text).strip().partition(":")
    if mode not in EXECUTION_MODES:
        raise ConfigError(
            f"execution {text!r}: mode must be one of {EXECUTION_MODES} (optionally ':HORIZON')"
        )
    if not h:
        return mode, None
    try:
        horizon = int(h)
    except ValueError:
        raise ConfigError(f"execution {text!r}: the horizon after ':' must be an integer") from None
    if horizon < 1:
        raise ConfigError(f"execution {text!r}: the horizon must be >= 1")
    return mode, horizon


def resolve_execution(contract: PolicyContract, override: str | None = None) -> Execution:
    """The execution a session runs: the contract's, or `override` ('MODE' or 'MODE:HORIZON', from
    `physai run --execution` or the server config). Switching an ensemble contract (horizon 1) to a
    chunked mode without a horizon executes half the chunk. Raises ConfigError for an impossible choice:
    'rtc' on a package that does not record RTC support (exported before it), a horizon longer than the
    chunk, or 'rtc' without overlap (horizon == chunk_size)."""
    base = contract.execution
    if override is None:
        ex = base
    else:
        mode, horizon = parse_execution(override)
        if horizon is None:
            horizon = base.horizon if base.mode != "ensemble" else max(1, contract.chunk_size // 2)
            if mode == "ensemble":
                horizon = 1
        coef = base.ensemble_coef if base.ensemble_coef is not None else DEFAULT_ENSEMBLE_COEF
        ex = Execution(mode, horizon, coef if mode == "ensemble" else base.ensemble_coef)
    if ex.horizon > contract.chunk_size:
        raise ConfigError(
            f"execution horizon {ex.horizon} exceeds the policy's chunk_size {contract.chunk_size}"
        )
    if ex.mode == "rtc":
        if contract.rtc is None:
            raise ConfigError(
                "execution 'rtc' needs a package that records its RTC support (contract field 'rtc'); this "
                "one was exported before physai had real-time chunking: re-export it with `physai export`, "
                "or run it with --execution queue"
            )
        if ex.horizon >= contract.chunk_size:
            raise ConfigError(
                f"execution 'rtc' needs an overlap: horizon {ex.horizon} must be below chunk_size "
                f"{contract.chunk_size} (e.g. --execution rtc:{max(1, contract.chunk_size // 2)})"
            )
    return ex


def rtc_method(contract: PolicyContract, execution: Execution) -> str | None:
    """'inpaint' (the model guides its sampler), 'blend' (act/mlp: the executor blends the overlap) or
    None when the execution is not 'rtc'."""
    return contract.rtc if execution.mode == "rtc" else None


def describe_execution(contract: PolicyContract, execution: Execution) -> dict:
    """JSON-ready description of the resolved execution (reports, server metadata)."""
    d = dataclasses.asdict(execution)
    if execution.mode == "rtc":
        d["rtc"] = contract.rtc
        d["rtc_note"] = (
            "guided inpainting of the committed prefix in the flow sampler"
            if contract.rtc == "inpaint"
            else "no sampler (act/mlp): the new chunk is blended with the committed one over the overlap"
        )
    return d


# ---------------------------------------------------------------------------- RTC prefix
def rtc_weights(committed: int, delay: int, chunk_size: int) -> np.ndarray:
    """Soft mask (H,) of the RTC paper: 1 for the first `delay` steps (executed while inferring), then
    c * (e^c - 1) / (e - 1) with c = (n - i) / (n - d + 1) decaying to 0 at the end of the `committed`
    actions (n), 0 beyond them."""
    n = max(0, min(int(committed), int(chunk_size)))
    d = max(0, min(int(delay), n))
    w = np.zeros(int(chunk_size), np.float32)
    w[:d] = 1.0
    i = np.arange(d, n)
    c = (n - i) / (n - d + 1)
    w[d:n] = c * np.expm1(c) / (math.e - 1)
    return w


def rtc_inputs(committed: np.ndarray, delay: int, chunk_size: int) -> dict[str, np.ndarray]:
    """The model inputs `rtc_prefix` (H, A) and `rtc_weights` (H,) for `committed` (n, A): the actions
    already committed for the cycles from the request on (n may be 0), and the inference delay d."""
    a = np.asarray(committed, np.float32)
    if a.ndim != 2:
        raise ConfigError(f"committed actions must be (n, A), got shape {a.shape}")
    n = min(len(a), chunk_size)
    prefix = np.zeros((chunk_size, a.shape[1]), np.float32)
    prefix[:n] = a[:n]
    return {RTC_INPUTS[0]: prefix, RTC_INPUTS[1]: rtc_weights(n, delay, chunk_size)}


# ---------------------------------------------------------------------------- delays
@dataclass(frozen=True)
class InjectedDelay:
    """An inference delay injected in control periods: a chunk requested at cycle c becomes available
    at cycle c + delay (or later, when the real inference is slower)."""

    cycles: int = 0
    """Nominal delay in control periods."""
    jitter: int = 0
    """Each delay is `cycles` plus a uniform integer in [-jitter, jitter] (clipped at 0)."""
    seed: int = 0
    """Seed of the jitter (one Generator per session: the same seed gives the same delays)."""

    def __post_init__(self) -> None:
        if self.cycles < 0 or self.jitter < 0:
            raise ConfigError(f"injected delay must be >= 0 cycles with jitter >= 0, got {self}")

    def sampler(self) -> Callable[[], int]:
        """A fresh draw function: the delay of each successive request."""
        rng = np.random.default_rng(self.seed)
        if not self.jitter:
            return lambda: self.cycles
        return lambda: max(0, self.cycles + int(rng.integers(-self.jitter, self.jitter + 1)))

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> InjectedDelay:
        """'4' or '4~2' (4 +- 2 cycles, uniform)."""
        a, _, b = str(text).partition("~")
        try:
            return cls(int(a), int(b or 0), seed)
        except ValueError:
            raise ConfigError(f"delay {text!r} must be 'CYCLES' or 'CYCLES~JITTER' (integers)") from None


class DelayEstimator:
    """The delay d the next RTC request assumes: the largest of the last `window` observed delays
    (conservative, as in the paper), `initial` before any was observed."""

    def __init__(self, initial: int, window: int = 8) -> None:
        self.initial = int(initial)
        self._seen: deque[int] = deque(maxlen=window)

    def observe(self, cycles: int) -> None:
        self._seen.append(int(cycles))

    def estimate(self) -> int:
        return max(self._seen) if self._seen else self.initial


# ---------------------------------------------------------------------------- the executor
class ChunkExecutor:
    """One action per cycle from chunks predicted at earlier (or the same) cycles."""

    def __init__(self, execution: Execution, chunk_size: int, lead: int = 0, rtc: str | None = None) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        if lead < 0:
            raise ConfigError(f"lead must be >= 0 cycles, got {lead}")
        if execution.mode == "rtc" and rtc not in ("inpaint", "blend"):
            raise ConfigError(f"rtc execution needs the rtc method ('inpaint' or 'blend'), got {rtc!r}")
        self.execution, self.chunk_size = execution, int(chunk_size)
        self.mode = execution.mode
        self.rtc = rtc if self.mode == "rtc" else None
        self.horizon = min(execution.horizon, self.chunk_size)
        self.lead = min(int(lead), self.horizon - 1) if self.mode in ("queue", "rtc") else 0
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._blend: tuple[int, np.ndarray, np.ndarray] | None = None  # (start, old chunk, weights)
        self._source: int | None = None
        self.boundaries: list[int] = []
        """Cycles whose action came from a newer chunk than the cycle before (chunk switches)."""

    def reset(self) -> None:
        """Forget every chunk (a new episode)."""
        self._chunks.clear()
        self._blend, self._source = None, None
        self.boundaries = []

    def wants(self, cycle: int) -> bool:
        """Whether a chunk should be predicted from this cycle's observation."""
        if not self._chunks:
            return True
        start = self._chunks[-1][0]
        if self.mode == "ensemble":
            return start < cycle
        if self.mode == "sync":
            return cycle - start >= self.horizon
        return start + self.horizon - cycle <= self.lead

    def committed(self, cycle: int) -> np.ndarray:
        """The actions the newest chunk holds for cycles `cycle`, `cycle` + 1, ... (n, A); n may be 0."""
        if not self._chunks:
            return np.zeros((0, 0), np.float32)
        start, chunk = self._chunks[-1]
        return chunk[max(0, cycle - start):].astype(np.float32)

    def rtc_request(self, cycle: int, delay: int) -> dict[str, np.ndarray]:
        """The RTC model inputs for a chunk requested at `cycle` expected `delay` cycles later."""
        if not self._chunks:
            return {}  # nothing committed: the model's optional inputs default to zeros
        return rtc_inputs(self.committed(cycle), delay, self.chunk_size)

    def add(self, start: int, chunk: np.ndarray, ready: int | None = None) -> None:
        """A chunk (H, A) predicted from the observation of cycle `start`, available from cycle `ready`
        (default `start`). In sync mode it executes from its first action at `ready`."""
        chunk = np.asarray(chunk, np.float64)
        if chunk.ndim != 2 or len(chunk) < 1:
            raise ConfigError(f"an action chunk must be (H, A), got shape {chunk.shape}")
        ready = start if ready is None else int(ready)
        if self.mode == "sync":
            start = ready
        if self._chunks and start < self._chunks[-1][0]:
            return  # an older prediction than the newest one: stale
        if self.rtc == "blend" and self._chunks:
            old_start, old = self._chunks[-1]
            n = max(0, old_start + len(old) - start)
            w = rtc_weights(n, ready - start, self.chunk_size)
            self._blend = (int(start), old[start - old_start:], w)
        if self.mode != "ensemble":
            self._chunks.clear()
        self._chunks.append((int(start), chunk))

    def action(self, cycle: int) -> np.ndarray | None:
        """The action for `cycle`, or None when no chunk covers it (a late inference, or sync's wait)."""
        while self._chunks and cycle - self._chunks[0][0] >= len(self._chunks[0][1]):
            self._chunks.popleft()
        live = [(s, c) for s, c in self._chunks if 0 <= cycle - s < len(c)]  # oldest first
        if self.mode == "sync":
            live = [(s, c) for s, c in live if cycle - s < self.horizon]
        if not live:
            return None
        src = live[-1][0]
        if self._source is not None and src != self._source:
            self.boundaries.append(int(cycle))
        self._source = src
        if self.mode == "ensemble":
            preds = [c[cycle - s] for s, c in live]
            w = np.exp(-float(self.execution.ensemble_coef or 0.0) * np.arange(len(preds)))
            return ((np.stack(preds) * w[:, None]).sum(0) / w.sum()).astype(np.float32)
        s, c = live[-1]
        a = c[cycle - s]
        if self._blend is not None and self._blend[0] == s:
            i = cycle - s
            old, w = self._blend[1], self._blend[2]
            if i < len(old) and w[i] > 0:
                a = w[i] * old[i] + (1 - w[i]) * a
        return a.astype(np.float32)


class SyncExecution:
    """`reset()` / `act(obs)` for any `infer(obs) -> (H, A)` under a `ChunkExecutor`, one cycle per call
    (the synchronous path: `Policy.act`, the package evaluator, the INT8 acceptance check). In rtc mode
    each request carries the committed actions with delay 0 (the model ignores keys it does not read)."""

    def __init__(self, infer, execution: Execution, chunk_size: int, rtc: str | None = None) -> None:
        self.infer = infer
        rtc = rtc or ("blend" if execution.mode == "rtc" else None)
        self.executor = ChunkExecutor(execution, chunk_size, rtc=rtc)
        self.cycle = 0

    def reset(self) -> None:
        self.executor.reset()
        self.cycle = 0

    def act(self, obs: dict) -> np.ndarray:
        t = self.cycle
        if self.executor.wants(t):
            if self.executor.rtc == "inpaint":
                obs = {**obs, **self.executor.rtc_request(t, 0)}
            self.executor.add(t, self.infer(obs))
        action = self.executor.action(t)
        assert action is not None  # a chunk was just added for this cycle
        self.cycle += 1
        return action
