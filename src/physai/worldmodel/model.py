"""`WorldModel`: an ensemble of small MLPs, vectorised over members, on normalised state and action.

Each member maps (s_t, a_t) to the normalised state change and the logit of success after the step;
a separate ensemble head maps s_t to a learned task-progress value V(s) in [0, 1] (the discounted chance
of reaching success from s, fitted to the recorded outcomes), and a behaviour prior pi(s) (an MLP fitted
to the actions of the episodes that succeeded) proposes action sequences to the planner (as TD-MPC does).
Members differ by initialisation and by
the batches they see (bootstrap); their disagreement is the model's uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from physai.core.errors import ConfigError


@dataclass(frozen=True)
class WorldModelConfig:
    """Architecture and training of a world model."""

    ensemble: int = 5
    """Ensemble members (independent MLPs, run as one batched network)."""
    hidden: int = 128
    """Width of each member's hidden layers."""
    layers: int = 2
    """Hidden layers per member."""
    horizon: int = 5
    """Open-loop training horizon H: the loss rolls the model forward H steps from each window start."""
    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 128
    """Windows per member per step."""
    lr: float = 1e-3
    """Adam learning rate (cosine-decayed to 10%)."""
    weight_decay: float = 1e-5
    """AdamW weight decay."""
    success_weight: float = 0.5
    """Weight of the success (termination) cross-entropy against the state loss."""
    discount: float = 0.97
    """Discount of the learned progress value V(s) = discount^(steps to success), 0 for episodes that fail."""
    val_fraction: float = 0.1
    """Episodes held out to measure open-loop error per horizon (at least one when there are >= 5)."""
    seed: int = 0
    """Seed of initialisation, splits and batches."""

    def validate(self) -> None:
        for name in ("ensemble", "hidden", "layers", "horizon", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"world model {name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.discount <= 1 or not 0 <= self.val_fraction < 1:
            raise ConfigError(f"need 0 < discount <= 1 and 0 <= val_fraction < 1, got {self.discount}, "
                              f"{self.val_fraction}")


class EnsembleLinear(nn.Module):
    """E independent linear layers applied to (E, B, in) at once."""

    def __init__(self, members: int, d_in: int, d_out: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(members, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _mlp(members: int, d_in: int, hidden: int, layers: int, d_out: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [EnsembleLinear(members, d, hidden), nn.SiLU()]
        d = hidden
    mods.append(EnsembleLinear(members, d, d_out))
    return nn.Sequential(*mods)


class WorldModel(nn.Module):
    """Dynamics + success + progress ensembles with their normalisation buffers.

    Raw <-> normalised: s_n = (s - state_mean) / state_std, a_n = (a - action_mean) / action_std; the
    dynamics predict d_n = (s' - s) / delta_std.
    """

    state_mean: torch.Tensor
    state_std: torch.Tensor
    action_mean: torch.Tensor
    action_std: torch.Tensor
    delta_mean: torch.Tensor
    delta_std: torch.Tensor

    def __init__(self, cfg: WorldModelConfig, state_dim: int, action_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.state_dim, self.action_dim = state_dim, action_dim
        e = cfg.ensemble
        self.dynamics = _mlp(e, state_dim + action_dim, cfg.hidden, cfg.layers, state_dim + 1)
        self.value = _mlp(e, state_dim, cfg.hidden // 2, 2, 1)
        self.prior = _mlp(1, state_dim, cfg.hidden, 2, action_dim)
        for name, dim in (("state", state_dim), ("action", action_dim), ("delta", state_dim)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))

    def set_stats(self, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Normalisation from {"state"|"action"|"delta": (mean, std)}."""
        for name, (mean, std) in stats.items():
            getattr(self, f"{name}_mean").copy_(torch.as_tensor(mean, dtype=torch.float32))
            getattr(self, f"{name}_std").copy_(torch.as_tensor(std, dtype=torch.float32))

    # ------------------------------------------------------------------ normalised space
    def norm_state(self, s: torch.Tensor) -> torch.Tensor:
        return (s - self.state_mean) / self.state_std

    def denorm_state(self, s_n: torch.Tensor) -> torch.Tensor:
        return s_n * self.state_std + self.state_mean

    def norm_action(self, a: torch.Tensor) -> torch.Tensor:
        return (a - self.action_mean) / self.action_std

    def step_n(self, s_n: torch.Tensor, a_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for every member: s_n, a_n (E, B, ·) -> (next s_n (E, B, S), success logit (E, B))."""
        out = self.dynamics(torch.cat([s_n, a_n], dim=-1))
        d_n = out[..., : self.state_dim]
        nxt = s_n + d_n * (self.delta_std / self.state_std)
        return nxt, out[..., self.state_dim]

    def value_logit(self, s_n: torch.Tensor) -> torch.Tensor:
        """Progress logit (E, B) of normalised states (E, B, S)."""
        return self.value(s_n)[..., 0]

    def prior_action_n(self, s_n: torch.Tensor) -> torch.Tensor:
        """Normalised action of the behaviour prior (fitted to successful episodes) at s_n (..., S)."""
        shape = s_n.shape
        return self.prior(s_n.reshape(1, -1, shape[-1]))[0].reshape(*shape[:-1], self.action_dim)

    # ------------------------------------------------------------------ raw space
    @torch.no_grad()
    def rollout(self, s0: torch.Tensor, actions: torch.Tensor) -> dict[str, torch.Tensor]:
        """Open-loop imagination from raw states s0 (B, S) under raw actions (B, T, A), every member.

        Returns raw `states` (E, B, T+1, S), `success` probabilities (E, B, T) and `value` (E, B, T+1)."""
        e = self.cfg.ensemble
        s_n = self.norm_state(s0).unsqueeze(0).expand(e, -1, -1)
        a_n = self.norm_action(actions)
        states, succ, val = [s_n], [], [torch.sigmoid(self.value_logit(s_n))]
        for t in range(actions.shape[1]):
            s_n, logit = self.step_n(s_n, a_n[:, t].unsqueeze(0).expand(e, -1, -1))
            states.append(s_n)
            succ.append(torch.sigmoid(logit))
            val.append(torch.sigmoid(self.value_logit(s_n)))
        return {"states": self.denorm_state(torch.stack(states, 2)), "success": torch.stack(succ, 2),
                "value": torch.stack(val, 2)}
