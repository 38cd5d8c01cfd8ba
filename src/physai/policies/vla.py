"""`vla`: one language-conditioned model for many tasks and robots.

Instruction text -> a small learned hashed word/bigram encoder (no download), or a frozen pretrained
static sentence encoder read from a local folder (`text_encoder=DIR`, physai.policies.text), pooled into
one text token. Each embodiment (state and action layout) has its own linear adapters into the shared
widths. A shared transformer trunk reads [readout, text, embodiment, state, tactile, image tokens] once
per observation; its readout token conditions a flow-matching head (a FiLM residual MLP over the action
chunk in the shared padded action width, like `flow`'s), which is integrated with `num_steps` Euler
steps and decoded by the embodiment's action adapter. The trunk runs once per observation, not once per
integration step: that is what makes it trainable on a CPU.
Trained on several datasets at once; `select_embodiment` / `select_task` pick the adapter at inference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from physai.core.errors import ConfigError
from physai.policies.base import Policy, PolicyConfig, register_policy
from physai.policies.features import NOISY_STATE
from physai.policies.flow import ResBlock, integrate, rtc_guide
from physai.policies.layers import (
    HashedTextEncoder,
    ImageEncoder,
    conv_grid,
    masked_mean,
    mlp,
    pool_text,
    time_embedding,
    transformer_encoder,
)
from physai.policies.spec import IOSpec
from physai.policies.text import PretrainedTextEncoder, read_local_encoder


@dataclass(frozen=True)
class VLAConfig(PolicyConfig):
    """Options of the VLA policy."""

    d_model: int = 128
    """Shared transformer width (every state/text/image adapter maps into it)."""
    n_heads: int = 4
    """Attention heads."""
    n_layers: int = 3
    """Trunk layers."""
    ff_dim: int = 512
    """Feed-forward width of the trunk."""
    dropout: float = 0.0
    """Dropout inside the trunk."""
    hidden_dim: int = 512
    """Width of the flow head's residual MLP."""
    head_layers: int = 3
    """Residual blocks of the flow head."""
    action_width: int = 32
    """Shared padded action width: every embodiment's action adapter maps each chunk step into it."""
    num_steps: int = 10
    """Euler integration steps at inference."""
    text_buckets: int = 4096
    """Hash buckets of the instruction encoder."""
    text_max_tokens: int = 24
    """Words + bigrams kept per instruction."""
    inference_noise: str = "zeros"
    """'zeros' (deterministic) or 'random' start of the flow integration."""
    text_encoder: str = "hashed"
    """'hashed' (learned word/bigram encoder, no download) or a LOCAL folder with a pretrained static
    sentence encoder (model.safetensors 'embeddings' + tokenizer.json/vocab.txt; see physai.policies.text)."""
    temporal_ensemble: float | None = 0.01
    """Predict every step and average overlapping chunks with weights exp(-coef*i) (None: chunk queue)."""
    angle_features: bool = True
    """Add sin/cos of every heading in the state (quaternion yaw, '.yaw' scalars) and of twice it."""
    exclude_state: list[str] | None = dataclasses.field(default_factory=lambda: list(NOISY_STATE))
    """Leave out state elements whose name contains one of these (default: wrist force/torque)."""
    text_dropout: float = 0.5
    """Training only: probability that a sample's instruction token is zeroed. Where the state already
    says what to do, the instruction strings act as episode handles the model memorizes; 0.5 took
    single-task pick-place from 56% to 86% and the 5-task mean from 65.6% to 76% (docs/BENCHMARKS.md).
    Never applied at inference. Use 0 where the instruction alone decides what to do."""
    state_skip: bool = True
    """Also condition the flow head on the state directly (a per-embodiment MLP added to the trunk's
    readout), as `flow` does; without it the state reaches the head only through the trunk."""

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.text_dropout < 1.0:
            raise ConfigError(f"vla text_dropout={self.text_dropout}; use a probability in [0, 1)")


@register_policy("vla")
class VLAPolicy(Policy[VLAConfig]):
    """Multi-task, multi-embodiment, instruction-conditioned transformer with a flow-matching head."""

    config_cls = VLAConfig
    rtc = "inpaint"
    multi_embodiment = True
    uses_instruction = True

    def __init__(self, config: VLAConfig, specs: list[IOSpec], stats: list[dict] | None = None,
                 learned: dict | None = None) -> None:
        super().__init__(config, specs, stats, learned)
        d, w = config.d_model, config.action_width
        self.text = self._text_encoder(config, self.learned)
        self.embodiment = nn.Embedding(len(specs), d)
        self.readout = nn.Parameter(torch.randn(d) * 0.02)
        self.state_in = nn.ModuleList([mlp(self.state_in_dim(e), d, d, layers=2) for e in range(len(specs))])
        self.state_skip = (
            nn.ModuleList([mlp(self.state_in_dim(e), d, d, layers=1) for e in range(len(specs))])
            if config.state_skip
            else None
        )
        self.tactile_in = nn.ModuleList([nn.Linear(max(s.tactile_dim, 1), d) for s in specs])
        self.action_in = nn.ModuleList([nn.Linear(s.action_dim, w) for s in specs])
        self.action_out = nn.ModuleList([nn.Linear(w, s.action_dim) for s in specs])
        cams = {tuple(s.cameras) for s in specs}
        sizes = {s.image_size for s in specs if s.cameras}
        if len(cams) > 1 or len(sizes) > 1:
            raise ConfigError(
                "vla image tokens need the same cameras and image size in every dataset; got "
                f"{sorted(cams)} / {sorted(sizes, key=str)}; pass use_images=false or record alike"
            )
        cameras = specs[0].cameras
        self.cam = ImageEncoder(d) if cameras else None
        n_img = conv_grid(specs[0].image_size or (0, 0)) if cameras else 1
        self.cam_pos = nn.Parameter(torch.randn(max(len(cameras), 1), n_img, d) * 0.02)
        self.fixed_pos = nn.Parameter(torch.randn(5, d) * 0.02)
        self.trunk = transformer_encoder(d, config.n_heads, config.ff_dim, config.dropout, config.n_layers)
        self.norm = nn.LayerNorm(d)
        self.time = mlp(d, d, d, layers=1)
        h, n = config.hidden_dim, config.chunk_size * w
        self.head_in = nn.Linear(n + d, h)
        self.head = nn.ModuleList([ResBlock(h, d) for _ in range(config.head_layers)])
        self.head_out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, n))

    @staticmethod
    def _text_encoder(config: VLAConfig, learned: dict) -> HashedTextEncoder | PretrainedTextEncoder:
        """The instruction encoder. A pretrained one is read from its folder when the model is built
        for training; its vocabulary and width go into `learned` (the checkpoint), so a saved policy
        loads without the folder."""
        if config.text_encoder == "hashed":
            return HashedTextEncoder(config.d_model, config.text_buckets, config.text_max_tokens)
        if "text_vocab" not in learned:
            vocab, table = read_local_encoder(config.text_encoder)
            learned.update(text_vocab=list(vocab), text_dim=int(table.shape[1]))
            enc = PretrainedTextEncoder(config.d_model, vocab, int(table.shape[1]), config.text_max_tokens)
            with torch.no_grad():
                enc.table.copy_(table[: len(vocab)])
            return enc
        vocab, dim = learned["text_vocab"], int(learned["text_dim"])
        return PretrainedTextEncoder(config.d_model, vocab, dim, config.text_max_tokens)

    def select_task(self, env_task: str) -> None:
        """Pick the adapter of the dataset recorded on `env_task`."""
        tasks = [s.env_task for s in self.specs]
        if env_task not in tasks:
            raise ConfigError(f"vla was not trained on task {env_task!r}; its datasets come from {tasks}")
        self._embodiment = tasks.index(env_task)
        self.reset()

    def text_ids(self, texts: list[str]) -> torch.Tensor:
        return self.text.token_ids(texts, self.fixed_pos.device)

    def _context(self, nb: dict) -> torch.Tensor:
        """The trunk's readout for one batch of observations: (B, d_model)."""
        e, b = nb["e"], nb["state"].shape[0]
        ids = nb["task_ids"] if "task_ids" in nb else self.text_ids(nb["task"])
        text = pool_text(*self.text(ids))  # one pooled text token
        if self.training and self.config.text_dropout > 0:
            text = text * (torch.rand(b, 1, device=text.device) >= self.config.text_dropout).to(text.dtype)
        emb = self.embodiment.weight[e].expand(b, -1)
        tac = self.tactile_in[e](nb["tactile"]) if "tactile" in nb else torch.zeros_like(emb)
        toks = [self.readout.expand(b, -1), text, emb, self.state_in[e](nb["state"]), tac]
        parts = [torch.stack(toks, dim=1) + self.fixed_pos]
        if self.cam is not None:
            for i, img in enumerate(nb["images"]):
                parts.append(self.cam.tokens(img) + self.cam_pos[i])
        ctx = self.norm(self.trunk(torch.cat(parts, dim=1))[:, 0])
        return ctx + self.state_skip[e](nb["state"]) if self.state_skip is not None else ctx

    def _velocity(self, ctx: torch.Tensor, e: int, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = ctx + self.time(time_embedding(t, self.config.d_model))
        h = self.head_in(torch.cat([self.action_in[e](x).flatten(1), c], dim=-1))
        for blk in self.head:
            h = blk(h, c)
        y = self.head_out(h).view(x.shape[0], x.shape[1], self.config.action_width)
        return self.action_out[e](y)

    def loss(self, nb: dict) -> tuple[torch.Tensor, dict[str, float]]:
        x1 = nb["action"]
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=x1.device)
        xt = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
        v = self._velocity(self._context(nb), nb["e"], xt, t)
        loss = masked_mean((v - (x1 - x0)) ** 2, nb["action_is_pad"])
        return loss, {"mse": float(loss.detach())}

    def sample(self, nb: dict) -> torch.Tensor:
        ctx = self._context(nb)
        e = nb["e"]
        shape = (ctx.shape[0], self.config.chunk_size, self.specs[e].action_dim)
        random = self.config.inference_noise == "random" and not nb.get("deterministic", False)
        x = torch.randn(shape, device=ctx.device) if random else torch.zeros(shape, device=ctx.device)
        guide = rtc_guide(self, nb)
        return integrate(lambda xx, tt: self._velocity(ctx, e, xx, tt), x, self.config.num_steps, guide)
