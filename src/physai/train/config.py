"""`TrainConfig`: the options of a training run (torch-free, so that the CLI builds its options from
it without importing torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from physai.core.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Options of a training run."""

    policy: str = "act"
    """Registered policy name (mlp, act, flow, vla)."""
    steps: int = 5000
    """Optimizer steps in total (a resumed run continues up to this)."""
    batch_size: int = 64
    """Global batch size (split across DDP ranks and embodiment groups)."""
    lr: float = 3e-4
    """Peak learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    warmup_steps: int = 200
    """Linear warmup steps before the cosine decay (capped at steps/10)."""
    min_lr_ratio: float = 0.05
    """Final learning rate as a fraction of `lr`."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (0: off)."""
    ema_decay: float = 0.995
    """EMA decay of the weights saved for inference (0: no EMA)."""
    seed: int = 0
    """Seed of initialisation, batches and model noise."""
    save_every: int = 1000
    """Checkpoint every this many steps (also kept under checkpoints/)."""
    log_every: int = 10
    """Write a metrics.jsonl row every this many steps."""
    eval_every: int = 0
    """Closed-loop evaluation every this many steps (0: only when `eval_at_end`)."""
    eval_at_end: bool = False
    """Evaluate once after the last step."""
    eval_episodes: int = 10
    """Episodes per evaluation."""
    eval_task: str | None = None
    """Task to evaluate on (default: the task the dataset says it came from)."""
    eval_seed: int = 100_000
    """First seed of the evaluation episodes (away from the seeds demos are usually recorded with)."""
    device: str = "auto"
    """'auto' (cuda if available), 'cpu' or 'cuda[:i]'."""
    bf16: bool = True
    """bf16 autocast on CUDA."""
    num_threads: int | None = None
    """CPU threads for torch (None: torch's default; 1 is fastest on a shared, oversubscribed CPU)."""
    max_minutes: float | None = None
    """Wall-clock budget: stop (and finish the cosine decay) after this many minutes of training."""
    policy_overrides: dict = field(default_factory=dict)
    """Policy config fields to change, e.g. {'chunk_size': 20}."""

    def validate(self) -> None:
        """ConfigError naming the field (TrainConfig.<name>) of the first value out of range."""
        checks = (
            ("steps", self.steps, self.steps >= 1, "at least 1"),
            ("batch_size", self.batch_size, self.batch_size >= 1, "at least 1"),
            ("lr", self.lr, math.isfinite(self.lr) and self.lr > 0, "a positive number"),
            ("max_minutes", self.max_minutes,
             self.max_minutes is None or (math.isfinite(self.max_minutes) and self.max_minutes > 0),
             "a positive number of minutes"),
            ("num_threads", self.num_threads, self.num_threads is None or self.num_threads >= 1,
             "at least 1"),
            ("save_every", self.save_every, self.save_every >= 0, "0 (off) or more"),
            ("eval_every", self.eval_every, self.eval_every >= 0, "0 (off) or more"),
            ("eval_episodes", self.eval_episodes, self.eval_episodes >= 1, "at least 1"),
        )
        for name, value, ok, want in checks:
            if not ok:
                raise ConfigError(f"training option {name} must be {want}, got {value}")
        if self.device != "auto":
            import torch

            try:
                dev = torch.device(self.device)
            except (RuntimeError, ValueError):
                raise ConfigError(f"device {self.device!r}: use auto, cpu or cuda[:INDEX]") from None
            if dev.type == "cuda" and not torch.cuda.is_available():
                raise ConfigError(f"device {self.device}: no CUDA device here; use cpu (or auto)")
