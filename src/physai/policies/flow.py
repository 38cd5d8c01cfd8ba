"""`flow`: a flow-matching action head over an action chunk (the diffusion-policy family).

Training regresses the velocity x1 - x0 of the straight path from noise x0 ~ N(0, I) to the normalized
action chunk x1; inference integrates it with `num_steps` Euler steps from a fixed start (zeros by
default, so the policy and its export are deterministic).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from physai.policies.base import Policy, PolicyConfig, register_policy
from physai.policies.features import NOISY_STATE
from physai.policies.layers import ObsVector, masked_mean, mlp, time_embedding, transformer_encoder
from physai.policies.spec import IOSpec


@dataclass(frozen=True)
class FlowConfig(PolicyConfig):
    """Options of the flow-matching policy."""

    backbone: str = "mlp"
    """Velocity network: 'mlp' (residual MLP over the flattened chunk, fast on CPU) or 'transformer'."""
    hidden_dim: int = 512
    """Width of the residual MLP backbone."""
    d_model: int = 128
    """Transformer width of the velocity network (and of the condition/time embeddings)."""
    n_heads: int = 4
    """Attention heads."""
    n_layers: int = 3
    """Transformer layers over the action tokens."""
    ff_dim: int = 512
    """Feed-forward width."""
    dropout: float = 0.0
    """Dropout inside the transformer."""
    num_steps: int = 10
    """Euler integration steps at inference."""
    image_feature_dim: int = 64
    """Keypoint feature size per camera."""
    temporal_ensemble: float | None = 0.01
    """Predict every step and average overlapping chunks with weights exp(-coef*i) (None: chunk queue)."""
    inference_noise: str = "zeros"
    """Start of the integration at inference: 'zeros' (deterministic) or 'random' (a sample per call)."""
    angle_features: bool = True
    """Add sin/cos of every heading in the state (quaternion yaw, '.yaw' scalars) and of twice it."""
    exclude_state: list[str] | None = dataclasses.field(default_factory=lambda: list(NOISY_STATE))
    """Leave out state elements whose name contains one of these (default: wrist force/torque)."""

    def validate(self) -> None:
        super().validate()
        if self.backbone not in ("mlp", "transformer"):
            from physai.core.errors import ConfigError

            raise ConfigError(f"backbone must be 'mlp' or 'transformer', got {self.backbone!r}")
        if self.inference_noise not in ("zeros", "random"):
            from physai.core.errors import ConfigError

            raise ConfigError(f"inference_noise must be 'zeros' or 'random', got {self.inference_noise!r}")


class VelocityNet(nn.Module):
    """(noisy chunk, time, condition vector) -> velocity, a transformer over the H action tokens."""

    def __init__(self, cond_dim: int, action_dim: int, chunk: int, cfg: FlowConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cond = mlp(cond_dim, d, d, layers=1)
        self.time = mlp(d, d, d, layers=1)
        self.act_in = nn.Linear(action_dim, d)
        self.pos = nn.Parameter(torch.randn(chunk + 2, d) * 0.02)
        self.trunk = transformer_encoder(d, cfg.n_heads, cfg.ff_dim, cfg.dropout, cfg.n_layers)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, action_dim)
        self.d = d

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.cond(cond)
        te = self.time(time_embedding(t, self.d))
        toks = self.act_in(x) + (c + te)[:, None]
        h = torch.cat([c[:, None], te[:, None], toks], dim=1) + self.pos
        return self.out(self.norm(self.trunk(h)[:, 2:]))


class ResBlock(nn.Module):
    def __init__(self, dim: int, cond: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.film = nn.Linear(cond, 2 * dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(c).chunk(2, dim=-1)
        return h + self.ff(self.norm(h) * (1 + scale) + shift)


class MLPVelocityNet(nn.Module):
    """(noisy chunk, time, condition vector) -> velocity, a FiLM-conditioned residual MLP over the chunk."""

    def __init__(self, cond_dim: int, action_dim: int, chunk: int, cfg: FlowConfig) -> None:
        super().__init__()
        d, h = cfg.d_model, cfg.hidden_dim
        self.cond = mlp(cond_dim, d, d, layers=1)
        self.time = mlp(d, d, d, layers=1)
        self.inp = nn.Linear(chunk * action_dim + d, h)
        self.blocks = nn.ModuleList([ResBlock(h, d) for _ in range(cfg.n_layers)])
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, chunk * action_dim))
        self.d, self.shape = d, (chunk, action_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.cond(cond) + self.time(time_embedding(t, self.d))
        h = self.inp(torch.cat([x.flatten(1), c], dim=-1))
        for blk in self.blocks:
            h = blk(h, c)
        return self.out(h).view(x.shape[0], *self.shape)


def integrate(
    v_fn, x: torch.Tensor, steps: int, guide: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """Euler integration of dx/dt = v_fn(x, t) from t = 0 to 1.

    `guide` = (target (B, H, A), weights (B, H) in [0, 1]): real-time chunking's inpainting of the
    committed actions (normalized) into the new chunk. At each step the velocity is corrected so that
    the chunk the step predicts, x1 = x + (1 - t) v, moves toward the target by the weights:
    v += w (target - x1) / (1 - t). This is the guidance of Black et al. 2025 with the network's Jacobian
    in the vector-Jacobian product replaced by the identity (no backpropagation through the network, so
    it exports to ONNX and costs nothing), which makes it a guided replacement on the predicted end
    point; the unguided steps still see the guided ones through the network. Steps of weight 1 end
    exactly at the target (the caller also copies them, so the frozen prefix is bit-exact).
    """
    dt = 1.0 / steps
    for i in range(steps):
        t = torch.full((x.shape[0],), i * dt, device=x.device)
        v = v_fn(x, t)
        if guide is not None:
            target, w = guide
            x1 = x + (1 - i * dt) * v
            v = v + w[..., None] * (target - x1) / (1 - i * dt)
        x = x + dt * v
    return x


def rtc_guide(policy, nb: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The normalized (target, weights) of a batch carrying `rtc_prefix` (raw, (B, H, A)) and
    `rtc_weights` ((B, H)), or None without them."""
    if "rtc_prefix" not in nb:
        return None
    e = nb.get("e", 0)
    w = torch.clamp(nb["rtc_weights"].float(), 0.0, 1.0)
    return policy.action_norm[e](nb["rtc_prefix"].float()), w


@register_policy("flow")
class FlowPolicy(Policy[FlowConfig]):
    """Flow matching over the action chunk, conditioned on the observation vector."""

    config_cls = FlowConfig
    rtc = "inpaint"

    def __init__(self, config: FlowConfig, specs: list[IOSpec], stats: list[dict] | None = None,
                 learned: dict | None = None) -> None:
        super().__init__(config, specs, stats, learned)
        s = specs[0]
        self.obs = ObsVector(self.state_in_dim(), len(s.cameras), s.tactile_dim, config.image_feature_dim)
        net = MLPVelocityNet if config.backbone == "mlp" else VelocityNet
        self.velocity = net(self.obs.dim, s.action_dim, config.chunk_size, config)

    def loss(self, nb: dict) -> tuple[torch.Tensor, dict[str, float]]:
        x1 = nb["action"]
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=x1.device)
        xt = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
        v = self.velocity(xt, t, self.obs(nb))
        loss = masked_mean((v - (x1 - x0)) ** 2, nb["action_is_pad"])
        return loss, {"mse": float(loss.detach())}

    def sample(self, nb: dict) -> torch.Tensor:
        cond = self.obs(nb)
        shape = (cond.shape[0], self.config.chunk_size, self.specs[0].action_dim)
        random = self.config.inference_noise == "random" and not nb.get("deterministic", False)
        x = torch.randn(shape, device=cond.device) if random else torch.zeros(shape, device=cond.device)
        guide = rtc_guide(self, nb)
        return integrate(lambda xx, tt: self.velocity(xx, tt, cond), x, self.config.num_steps, guide)
