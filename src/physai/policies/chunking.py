"""Turning predicted action chunks into one action per control step: a queue, or temporal ensembling."""

from __future__ import annotations

from collections import deque

import numpy as np


class ChunkQueue:
    """Execute the first `n_action_steps` actions of each chunk, then ask for a new chunk."""

    def __init__(self, n_action_steps: int) -> None:
        if n_action_steps < 1:
            raise ValueError(f"n_action_steps must be >= 1, got {n_action_steps}")
        self.n_action_steps = n_action_steps
        self._q: deque[np.ndarray] = deque()

    def reset(self) -> None:
        self._q.clear()

    @property
    def empty(self) -> bool:
        return not self._q

    def push(self, chunk: np.ndarray) -> None:
        """Queue the first `n_action_steps` rows of `chunk` (H, A)."""
        self._q.extend(np.asarray(chunk)[: self.n_action_steps])

    def pop(self) -> np.ndarray:
        return self._q.popleft()


class TemporalEnsembler:
    """ACT's temporal ensembling: a new chunk every step; the action for step t averages every chunk's
    prediction for t with weights exp(-coef * i), i = 0 for the oldest prediction.
    """

    def __init__(self, coef: float, chunk_size: int) -> None:
        self.coef = float(coef)
        self.chunk_size = chunk_size
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._t = 0

    def reset(self) -> None:
        self._chunks.clear()
        self._t = 0

    def step(self, chunk: np.ndarray) -> np.ndarray:
        """Add the chunk predicted at the current step and return the ensembled action for this step."""
        self._chunks.append((self._t, np.asarray(chunk, np.float64)))
        while self._chunks and self._t - self._chunks[0][0] >= len(self._chunks[0][1]):
            self._chunks.popleft()
        preds = [c[self._t - start] for start, c in self._chunks]  # oldest first
        w = np.exp(-self.coef * np.arange(len(preds)))
        action = (np.stack(preds) * w[:, None]).sum(0) / w.sum()
        self._t += 1
        return action.astype(np.float32)
