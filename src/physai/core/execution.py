"""Turning predicted action chunks into one action per control cycle, as the contract's `Execution` says.

`ChunkExecutor` is the one implementation: `Policy.act`, the package evaluator and the runtime all run
it, so what is evaluated is what is deployed. A chunk is added with the cycle whose observation it was
predicted from; `action(cycle)` reads the action for that cycle.

- queue: execute `horizon` actions of the newest chunk, then ask for the next. When inference runs on
  another thread (`lead` > 0) the next chunk is requested `lead` cycles early, and when it arrives the
  actions for cycles already past are skipped; a late chunk lets the current one run on to its end.
- ensemble (ACT's temporal ensembling): a chunk every cycle; the action for cycle t averages every live
  chunk's prediction for t with weights exp(-coef * i), i = 0 for the oldest prediction.

Run synchronously (`lead` = 0, each requested chunk added before `action` of the same cycle) both modes
reproduce the policy's own `act` exactly.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from physai.core.contract import Execution
from physai.core.errors import ConfigError


class ChunkExecutor:
    """One action per cycle from chunks predicted at earlier (or the same) cycles."""

    def __init__(self, execution: Execution, chunk_size: int, lead: int = 0) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
        if lead < 0:
            raise ConfigError(f"lead must be >= 0 cycles, got {lead}")
        self.execution, self.chunk_size = execution, int(chunk_size)
        self.horizon = min(execution.horizon, self.chunk_size)
        self.lead = min(int(lead), self.horizon - 1) if execution.mode == "queue" else 0
        self._chunks: deque[tuple[int, np.ndarray]] = deque()

    def reset(self) -> None:
        """Forget every chunk (a new episode)."""
        self._chunks.clear()

    def wants(self, cycle: int) -> bool:
        """Whether a chunk should be predicted from this cycle's observation."""
        if not self._chunks:
            return True
        start = self._chunks[-1][0]
        if self.execution.mode == "ensemble":
            return start < cycle
        return start + self.horizon - cycle <= self.lead

    def add(self, start: int, chunk: np.ndarray) -> None:
        """A chunk (H, A) predicted from the observation of cycle `start`."""
        chunk = np.asarray(chunk, np.float64)
        if chunk.ndim != 2 or len(chunk) < 1:
            raise ConfigError(f"an action chunk must be (H, A), got shape {chunk.shape}")
        if self._chunks and start < self._chunks[-1][0]:
            return  # an older prediction than the newest one: stale
        if self.execution.mode == "queue":
            self._chunks.clear()
        self._chunks.append((int(start), chunk))

    def action(self, cycle: int) -> np.ndarray | None:
        """The action for `cycle`, or None when no chunk covers it (a late inference)."""
        while self._chunks and cycle - self._chunks[0][0] >= len(self._chunks[0][1]):
            self._chunks.popleft()
        preds = [c[cycle - s] for s, c in self._chunks if 0 <= cycle - s < len(c)]  # oldest first
        if not preds:
            return None
        if self.execution.mode == "queue":
            return preds[-1].astype(np.float32)
        w = np.exp(-float(self.execution.ensemble_coef) * np.arange(len(preds)))
        return ((np.stack(preds) * w[:, None]).sum(0) / w.sum()).astype(np.float32)


class SyncExecution:
    """`reset()` / `act(obs)` for any `infer(obs) -> (H, A)` under a `ChunkExecutor`, one cycle per call
    (the synchronous path: `Policy.act`, the package evaluator, the INT8 acceptance check)."""

    def __init__(self, infer, execution: Execution, chunk_size: int) -> None:
        self.infer = infer
        self.executor = ChunkExecutor(execution, chunk_size)
        self.cycle = 0

    def reset(self) -> None:
        self.executor.reset()
        self.cycle = 0

    def act(self, obs: dict) -> np.ndarray:
        t = self.cycle
        if self.executor.wants(t):
            self.executor.add(t, self.infer(obs))
        action = self.executor.action(t)
        assert action is not None  # a chunk was just added for this cycle
        self.cycle += 1
        return action
