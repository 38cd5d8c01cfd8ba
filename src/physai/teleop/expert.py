"""The scripted "human": the task's expert takes over when the policy strays from it.

Stands in for an operator in tests and benchmarks (DAgger): every cycle the expert computes its own
action from the simulator's privileged state; when the policy's proposal differs from it by more than
`threshold` (the largest per-channel difference, as a fraction of the channel's range) for `patience`
cycles in a row, it asks for control, commands the expert's actions for at least `min_steps` cycles,
and hands back once the policy agrees again for `patience` cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physai.core.errors import ConfigError
from physai.teleop.sources import ControlContext, SourceInput, register_source


@dataclass(frozen=True)
class ExpertTakeoverConfig:
    """When the scripted human takes over and hands back."""

    threshold: float = 0.3
    """Disagreement (max over channels of |policy - expert| / channel range) that counts as straying."""
    patience: int = 3
    """Consecutive straying cycles before it takes over (and agreeing cycles before it hands back)."""
    min_steps: int = 15
    """Least cycles it keeps control once it took it."""


@register_source("expert")
class ExpertSource:
    """The task's scripted expert as a teleop source (simulation only: it reads privileged state)."""

    def __init__(
        self,
        name: str = "expert",
        config: ExpertTakeoverConfig | None = None,
        drive: bool = False,
        **kw: float,
    ) -> None:
        """`drive=True`: always in control (plain teleoperation by the expert, e.g. `physai teleop
        --source expert`); otherwise it takes over only when the policy strays."""
        self.name, self.drive = name, drive
        self.cfg = config or ExpertTakeoverConfig(**kw)  # type: ignore[arg-type]
        self.expert = None
        self.notes: list[tuple[str, str]] = []

    def open(self, ctx: ControlContext) -> None:
        if ctx.env is None:
            raise ConfigError(
                "the 'expert' intervention source reads the simulator's privileged state; use it with a "
                "sim: robot (a real robot needs a human source: keyboard, gamepad, spacemouse, browser)"
            )
        self.env = ctx.env
        self.scale = np.maximum(np.asarray(ctx.action_high) - np.asarray(ctx.action_low), 1e-9)
        self.expert = ctx.env.expert()
        self.reset()

    def reset(self) -> None:
        if self.expert is not None:
            self.expert.reset()
        self.engaged, self.stray, self.agree, self.held = False, 0, 0, 0
        self.last_disagreement = 0.0

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        assert self.expert is not None
        a = np.asarray(self.expert.act(obs), np.float32)
        if proposal is None:
            d = 0.0
        else:
            d = float(np.max(np.abs(np.asarray(proposal, np.float32) - a) / self.scale))
        self.last_disagreement = d
        bad = d > self.cfg.threshold
        self.stray = self.stray + 1 if bad else 0
        self.agree = 0 if bad else self.agree + 1
        if self.engaged:
            self.held += 1
            if self.held >= self.cfg.min_steps and self.agree >= self.cfg.patience:
                self.engaged = False
        elif self.stray >= self.cfg.patience:
            self.engaged, self.held = True, 0
        return SourceInput(connected=True, engaged=self.engaged or self.drive, action=a)

    def notify(self, event: str, detail: str) -> None:
        self.notes.append((event, detail))
        if event in ("denied", "preempted"):
            self.engaged = False

    def close(self) -> None:
        self.expert = None
