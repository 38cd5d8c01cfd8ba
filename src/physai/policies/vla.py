"""`vla`: one language-conditioned model for many tasks and robots.

Instruction text -> a small learned hashed word/bigram encoder (no download), or a frozen pretrained
static sentence encoder read from a local folder (`text_encoder=DIR`, physai.policies.text); each
embodiment (state and action layout) has its own linear adapters into the shared transformer width; a
shared transformer trunk reads [text tokens, embodiment token, state token, time token, image tokens,
noisy action tokens]; a flow-matching head predicts the velocity of the action chunk, decoded by the
embodiment's adapter.
Trained on several datasets at once; `select_embodiment` / `select_task` pick the adapter at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from physai.core.errors import ConfigError
from physai.policies.base import Policy, PolicyConfig, register_policy
from physai.policies.flow import integrate
from physai.policies.layers import (
    HashedTextEncoder,
    ImageEncoder,
    conv_grid,
    masked_mean,
    mlp,
    time_embedding,
)
from physai.policies.spec import IOSpec
from physai.policies.text import PretrainedTextEncoder, read_local_encoder


@dataclass
class VLAConfig(PolicyConfig):
    """Options of the VLA policy."""

    d_model: int = 128
    """Shared transformer width (every adapter maps into it)."""
    n_heads: int = 4
    """Attention heads."""
    n_layers: int = 4
    """Trunk layers."""
    ff_dim: int = 512
    """Feed-forward width."""
    dropout: float = 0.0
    """Dropout inside the trunk."""
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
    text_vocab: list[str] | None = None
    """Vocabulary of the pretrained encoder, filled from the folder so a checkpoint loads without it."""
    text_dim: int = 0
    """Width of the pretrained encoder's embeddings (filled from the folder)."""


@register_policy("vla")
class VLAPolicy(Policy):
    """Multi-task, multi-embodiment, instruction-conditioned flow-matching transformer."""

    config_cls = VLAConfig
    multi_embodiment = True
    uses_instruction = True

    def __init__(self, config: VLAConfig, specs: list[IOSpec], stats: list[dict] | None = None) -> None:
        super().__init__(config, specs, stats)
        d = config.d_model
        self.text = self._text_encoder(config)
        self.embodiment = nn.Embedding(len(specs), d)
        self.state_in = nn.ModuleList([nn.Linear(s.state_dim, d) for s in specs])
        self.tactile_in = nn.ModuleList([nn.Linear(max(s.tactile_dim, 1), d) for s in specs])
        self.action_in = nn.ModuleList([nn.Linear(s.action_dim, d) for s in specs])
        self.action_out = nn.ModuleList([nn.Linear(d, s.action_dim) for s in specs])
        cams = {tuple(s.cameras) for s in specs}
        sizes = {s.image_size for s in specs if s.cameras}
        if len(cams) > 1 or len(sizes) > 1:
            raise ConfigError(
                "vla image tokens need the same cameras and image size in every dataset; got "
                f"{sorted(cams)} / {sorted(sizes)}; pass use_images=false or record alike"
            )
        cameras = specs[0].cameras
        self.cam = ImageEncoder(d) if cameras else None
        n_img = conv_grid(specs[0].image_size) if cameras else 1
        self.cam_pos = nn.Parameter(torch.randn(max(len(cameras), 1), n_img, d) * 0.02)
        self.time = mlp(d, d, d, layers=1)
        self.text_pos = nn.Parameter(torch.randn(config.text_max_tokens, d) * 0.02)
        self.fixed_pos = nn.Parameter(torch.randn(4, d) * 0.02)
        self.act_pos = nn.Parameter(torch.randn(config.chunk_size, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            config.n_heads,
            config.ff_dim,
            config.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.trunk = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    @staticmethod
    def _text_encoder(config: VLAConfig) -> nn.Module:
        if config.text_encoder == "hashed":
            return HashedTextEncoder(config.d_model, config.text_buckets, config.text_max_tokens)
        if config.text_vocab is None:  # building from the folder (training); a checkpoint carries both
            vocab, table = read_local_encoder(config.text_encoder)
            config.text_vocab, config.text_dim = vocab, int(table.shape[1])
            enc = PretrainedTextEncoder(config.d_model, vocab, config.text_dim, config.text_max_tokens)
            enc.table.copy_(table[: len(vocab)])
            return enc
        vocab, dim = config.text_vocab, config.text_dim
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

    def _context(self, nb: dict) -> tuple[torch.Tensor, torch.Tensor]:
        e, b = nb["e"], nb["state"].shape[0]
        ids = nb["task_ids"] if "task_ids" in nb else self.text_ids(nb["task"])
        txt, txt_pad = self.text(ids)
        txt = txt + self.text_pos[: txt.shape[1]]
        emb = self.embodiment.weight[e].expand(b, -1)
        toks = [emb, self.state_in[e](nb["state"])]
        toks.append(self.tactile_in[e](nb["tactile"]) if "tactile" in nb else torch.zeros_like(emb))
        fixed = torch.stack(toks, dim=1) + self.fixed_pos[:3]
        parts, pads = [txt, fixed], [txt_pad, torch.zeros(b, 3, dtype=torch.bool, device=txt.device)]
        if self.cam is not None:
            for i, img in enumerate(nb["images"]):
                t = self.cam.tokens(img) + self.cam_pos[i]
                parts.append(t)
                pads.append(torch.zeros(b, t.shape[1], dtype=torch.bool, device=txt.device))
        return torch.cat(parts, dim=1), torch.cat(pads, dim=1)

    def _velocity(
        self, ctx: torch.Tensor, ctx_pad: torch.Tensor, e: int, x: torch.Tensor, t: torch.Tensor
    ) -> torch.Tensor:
        b = x.shape[0]
        te = self.time(time_embedding(t, self.config.d_model))[:, None] + self.fixed_pos[3]
        acts = self.action_in[e](x) + self.act_pos + te
        h = torch.cat([ctx, te, acts], dim=1)
        pad = torch.cat([ctx_pad, torch.zeros(b, 1 + x.shape[1], dtype=torch.bool, device=x.device)], dim=1)
        h = self.trunk(h, src_key_padding_mask=pad)
        return self.action_out[e](self.norm(h[:, -x.shape[1] :]))

    def loss(self, nb: dict) -> tuple[torch.Tensor, dict[str, float]]:
        x1 = nb["action"]
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=x1.device)
        xt = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
        ctx, pad = self._context(nb)
        v = self._velocity(ctx, pad, nb["e"], xt, t)
        loss = masked_mean((v - (x1 - x0)) ** 2, nb["action_is_pad"])
        return loss, {"mse": float(loss.detach())}

    def sample(self, nb: dict) -> torch.Tensor:
        ctx, pad = self._context(nb)
        e = nb["e"]
        shape = (ctx.shape[0], self.config.chunk_size, self.specs[e].action_dim)
        random = self.config.inference_noise == "random" and not nb.get("deterministic", False)
        x = torch.randn(shape, device=ctx.device) if random else torch.zeros(shape, device=ctx.device)
        return integrate(lambda xx, tt: self._velocity(ctx, pad, e, xx, tt), x, self.config.num_steps)
