"""`mlp`: behaviour cloning of an action chunk with a plain MLP (the baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physai.policies.base import Policy, PolicyConfig, register_policy
from physai.policies.layers import ObsVector, masked_mean, mlp
from physai.policies.spec import IOSpec


@dataclass(frozen=True)
class MLPConfig(PolicyConfig):
    """Options of the MLP policy."""

    hidden_dim: int = 512
    """Width of the hidden layers."""
    n_layers: int = 3
    """Number of hidden layers."""
    dropout: float = 0.0
    """Dropout after each hidden layer."""
    image_feature_dim: int = 64
    """Keypoint feature size per camera."""


@register_policy("mlp")
class MLPPolicy(Policy[MLPConfig]):
    """Observation vector -> MLP -> H x A normalized actions, trained with a masked L1 loss."""

    config_cls = MLPConfig

    def __init__(self, config: MLPConfig, specs: list[IOSpec], stats: list[dict] | None = None,
                 learned: dict | None = None) -> None:
        super().__init__(config, specs, stats, learned)
        s = specs[0]
        self.obs = ObsVector(self.state_in_dim(), len(s.cameras), s.tactile_dim, config.image_feature_dim)
        self.net = mlp(
            self.obs.dim, config.hidden_dim, config.chunk_size * s.action_dim, config.n_layers, config.dropout
        )

    def _predict(self, nb: dict) -> torch.Tensor:
        out = self.net(self.obs(nb))
        return out.view(out.shape[0], self.config.chunk_size, self.specs[0].action_dim)

    def loss(self, nb: dict) -> tuple[torch.Tensor, dict[str, float]]:
        pred = self._predict(nb)
        loss = masked_mean((pred - nb["action"]).abs(), nb["action_is_pad"])
        return loss, {"l1": float(loss.detach())}

    def sample(self, nb: dict) -> torch.Tensor:
        return self._predict(nb)
