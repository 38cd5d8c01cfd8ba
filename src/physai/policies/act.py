"""`act`: Action Chunking Transformer (Zhao et al. 2023) — transformer encoder-decoder over observation
tokens, a CVAE latent during training (z = 0 at inference), chunked actions, temporal ensembling.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from physai.core.errors import ConfigError
from physai.core.specs import IMAGE_LABEL_TAG
from physai.policies.base import Policy, PolicyConfig, register_policy
from physai.policies.features import NOISY_STATE
from physai.policies.layers import (
    HashedTextEncoder,
    ImageEncoder,
    KeypointEncoder,
    QueryKeypointEncoder,
    conv_grid,
    masked_mean,
    pool_text,
    soft_cell_kl,
    transformer_decoder,
    transformer_encoder,
)
from physai.policies.spec import IOSpec

KL_WEIGHT = 10.0
"""Weight of the CVAE's KL term (the ACT paper's; the auxiliary losses weigh 1)."""


@dataclass(frozen=True)
class ACTConfig(PolicyConfig):
    """Options of the ACT policy."""

    chunk_size: int = 20
    """Actions predicted per inference (H)."""
    n_action_steps: int = 10
    """Actions executed per chunk when temporal ensembling is off."""
    temporal_ensemble: float | None = 0.01
    """Predict every step and average overlapping chunks with weights exp(-coef*i) (None: chunk queue)."""
    d_model: int = 64
    """Transformer width (small by default: state-based tasks, CPU training budgets)."""
    n_heads: int = 4
    """Attention heads."""
    n_encoder_layers: int = 2
    """Observation encoder layers."""
    n_decoder_layers: int = 1
    """Action decoder layers (the original ACT effectively uses 1)."""
    ff_dim: int = 256
    """Feed-forward width inside the transformer."""
    dropout: float = 0.1
    """Dropout inside the transformer."""
    use_vae: bool = True
    """Train with the CVAE latent (style variable); off: a deterministic encoder-decoder."""
    latent_dim: int = 16
    """Size of the CVAE latent z."""
    vae_encoder_layers: int = 1
    """Layers of the CVAE posterior encoder (training only)."""
    angle_features: bool = True
    """Add sin/cos of every heading in the state (quaternion yaw, '.yaw' scalars) and of twice it."""
    exclude_state: list[str] | None = dataclasses.field(default_factory=lambda: list(NOISY_STATE))
    """Leave out state elements whose name contains one of these (default: wrist force/torque)."""
    image_features: str = "keypoints"
    """Per camera: 'keypoints' (one token from a spatial soft-argmax conv net, compact), 'query' (one
    token per query of a `QueryKeypointEncoder`: small-receptive-field pixel features attended by
    learned queries and, with use_instruction, queries made from the instruction; finds the named
    object in layouts it has not seen) or 'grid' (the 8x-downsampled conv feature map as tokens, as in
    ACT)."""
    use_instruction: bool = False
    """Add one token for the episode's instruction (learned hashed words/bigrams, no download). Needed
    when the instruction decides what to do and the state does not say it, e.g. which object to pick
    when the policy sees images instead of the target's pose."""
    text_buckets: int = 1024
    """Hash buckets of the instruction encoder (with use_instruction)."""
    text_max_tokens: int = 24
    """Words + bigrams kept per instruction (with use_instruction)."""
    aux_state: list[str] | None = None
    """Training-only auxiliary targets: exact names of state elements (e.g. 'target.pos.x') the encoder
    must also predict (MSE on the normalized values), from a privileged dataset whose object state is
    dropped from the inputs with `exclude_state`. An image policy learns where things are from the
    labels instead of from the action loss alone. Never an input; unused at inference."""
    image_queries: int = 8
    """Learned queries per camera (image_features='query')."""
    image_text_queries: int = 4
    """Queries made from the instruction per camera (image_features='query', with use_instruction)."""
    query_appearance: bool = True
    """Query tokens also carry the attended pixel features; off: only where each query looks (its
    expected point and spread), so the policy must act on places, not on what the scene looks like."""
    aux_keypoints: list[str] | None = None
    """Training-only, with image_features='query': names of task keypoints (e.g. 'target', 'tray')
    whose image coordinates a dataset recorded with `image_labels=True` holds as
    `<name>.px.<camera>.x/y`. The k-th name supervises the k-th instruction query (with
    use_instruction; else the k-th learned query) of every camera: its attention over the feature map
    is trained towards the labelled point (the 2 x 2 cells around it, weighted so that their expected
    centre is the point; skipped while the point is outside the image). The encoder learns to find
    the named object in layouts it has not seen, which 50 demos of action loss alone do not teach it.
    The labels must be excluded from the inputs (e.g. `exclude_state` '.px.'); they are not shifted
    with `image_shift`, so keep that 0 or small."""
    token_keypoints: int | None = None
    """With aux_keypoints: only the queries of the first this many keypoints become tokens the policy
    reads; the other supervised queries only train the pixel features (e.g. on every object kind,
    while the policy reads where the named object and the tray are). None: every query is a token."""

    def validate(self) -> None:
        super().validate()
        if self.image_features not in ("keypoints", "query", "grid"):
            raise ConfigError(
                f"act image_features={self.image_features!r}; use 'keypoints', 'query' or 'grid'"
            )
        if self.aux_keypoints and self.image_features != "query":
            raise ConfigError(
                f"act aux_keypoints needs image_features='query' (it supervises the query attention), "
                f"not {self.image_features!r}"
            )
        n_kp = len(self.aux_keypoints or [])
        if self.token_keypoints is not None and not 1 <= self.token_keypoints <= n_kp:
            raise ConfigError(
                f"act token_keypoints={self.token_keypoints} needs 1..len(aux_keypoints) ({n_kp}) "
                "supervised queries to read"
            )
        if self.image_queries < 0 or self.image_text_queries < 0 or (
            self.image_features == "query"
            and self.image_queries + (self.image_text_queries if self.use_instruction else 0) == 0
        ):
            raise ConfigError(
                f"act image_queries={self.image_queries}, image_text_queries={self.image_text_queries}: "
                "use counts >= 0 with at least one query in all (text queries need use_instruction)"
            )
        bad = [n for n in self.aux_state or [] if not any(x in n for x in (self.exclude_state or []))]
        bad += [f"{k}{IMAGE_LABEL_TAG}<camera>" for k in self.aux_keypoints or []
                if not any(x in f"{k}{IMAGE_LABEL_TAG}camera.x" for x in (self.exclude_state or []))]
        if bad:
            raise ConfigError(
                f"act aux_state {bad} would also be policy inputs, which makes the auxiliary loss "
                "trivial; add them (or a prefix such as 'target.') to exclude_state"
            )


def _encoder(cfg: ACTConfig, layers: int) -> nn.TransformerEncoder:
    return transformer_encoder(cfg.d_model, cfg.n_heads, cfg.ff_dim, cfg.dropout, layers)


@register_policy("act")
class ACTPolicy(Policy[ACTConfig]):
    """ACT: [z, state, tactile, image tokens] -> encoder; H learned queries -> decoder -> actions."""

    config_cls = ACTConfig

    def __init__(self, config: ACTConfig, specs: list[IOSpec], stats: list[dict] | None = None,
                 learned: dict | None = None) -> None:
        super().__init__(config, specs, stats, learned)
        s, d = specs[0], config.d_model
        self.uses_instruction = config.use_instruction
        self.state_in = nn.Linear(self.state_in_dim(), d)
        self.tactile_in = nn.Linear(s.tactile_dim, d) if s.tactile_dim else None
        self.latent_in = nn.Linear(config.latent_dim, d)
        self.text = (
            HashedTextEncoder(d, config.text_buckets, config.text_max_tokens)
            if config.use_instruction
            else None
        )
        n_fixed = 2 + (1 if s.tactile_dim else 0) + (1 if self.text is not None else 0)
        self.fixed_pos = nn.Parameter(torch.randn(n_fixed, d) * 0.02)
        self.image_features = config.image_features
        self.cams = nn.ModuleList([self._camera_encoder(config) for _ in s.cameras])
        n_img = 1  # tokens per camera ('keypoints')
        if not s.cameras:
            n_img = 0
        elif config.image_features == "grid":
            n_img = conv_grid(s.image_size or (0, 0))
        elif config.image_features == "query":
            n_img = int(typing.cast(QueryKeypointEncoder, self.cams[0]).n_queries)
        self.kp_query, self.kp_cols = self._keypoint_labels(config, s)
        self.token_queries = None  # with token_keypoints: the queries whose tokens the encoder reads
        if config.token_keypoints is not None and s.cameras:
            self.token_queries = self.kp_query[: config.token_keypoints]
            n_img = len(self.token_queries)
        self.img_pos = nn.Parameter(torch.randn(max(len(s.cameras), 1), max(n_img, 1), d) * 0.02)
        self.encoder = _encoder(config, config.n_encoder_layers)
        self.decoder = transformer_decoder(d, config.n_heads, config.ff_dim, config.dropout,
                                           config.n_decoder_layers)
        self.queries = nn.Parameter(torch.randn(config.chunk_size, d) * 0.02)
        self.head = nn.Linear(d, s.action_dim)
        self.final_norm = nn.LayerNorm(d)
        aux = config.aux_state or []
        missing = [n for n in aux if n not in s.state_names]
        if missing:
            raise ConfigError(
                f"act aux_state {missing} are not in the dataset's observation.state (it ends "
                f"{s.state_names[-6:]}); record the dataset privileged, or fix the names"
            )
        idx = torch.tensor([s.state_names.index(n) for n in aux], dtype=torch.long)
        self.register_buffer("aux_idx", idx, persistent=False)
        self.aux_head = None
        if aux:
            self.aux_head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, len(aux)))
        if config.use_vae:
            self.vae_cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
            self.vae_state = nn.Linear(self.state_in_dim(), d)
            self.vae_action = nn.Linear(s.action_dim, d)
            self.vae_pos = nn.Parameter(torch.randn(config.chunk_size + 2, d) * 0.02)
            self.vae_encoder = _encoder(config, config.vae_encoder_layers)
            self.vae_out = nn.Linear(d, 2 * config.latent_dim)

    def _keypoint_labels(self, config: ACTConfig, s: IOSpec) -> tuple[list[int], list[list[list[int]]]]:
        """Which query each aux keypoint supervises, and its label columns [keypoint][camera] = [x, y]."""
        names = config.aux_keypoints or []
        if not names:
            return [], []
        if not s.cameras:
            raise ConfigError("act aux_keypoints needs a dataset with cameras")
        enc = typing.cast(QueryKeypointEncoder, self.cams[0])
        pool = enc.text_queries if config.use_instruction else enc.n_learned
        if len(names) > pool:
            raise ConfigError(f"act aux_keypoints {names}: more than the {pool} queries that can take them")
        want = [f"{k}{IMAGE_LABEL_TAG}{cam}.{a}" for k in names for cam in s.cameras for a in "xy"]
        missing = [n for n in want if n not in s.state_names]
        if missing:
            raise ConfigError(
                f"act aux_keypoints: the dataset has no labels {missing[:4]}; record it with "
                "privileged=True, images and image_labels=True (the task must define these keypoints)"
            )
        idx = s.state_names.index
        cols = [[[idx(f"{k}{IMAGE_LABEL_TAG}{cam}.{a}") for a in "xy"] for cam in s.cameras] for k in names]
        first = enc.n_learned if config.use_instruction else 0
        return [first + i for i in range(len(names))], cols

    def _keypoint_loss(self, nb: dict, cam_logits: list[torch.Tensor]) -> torch.Tensor:
        """Mean divergence of each supervised query's attention from its labelled point (KL from the
        bilinear targets around the point)."""
        terms = []
        for k, q in enumerate(self.kp_query):
            for i, logits in enumerate(cam_logits):
                xy = nb["state_raw"][:, self.kp_cols[k][i]]
                if not bool((xy.abs() < 1).all(-1).any()):  # out of view in the whole batch
                    continue
                terms.append(soft_cell_kl(logits[:, q], xy))
        return torch.stack(terms).mean() if terms else torch.zeros((), device=nb["state"].device)

    def _camera_encoder(self, config: ACTConfig) -> nn.Module:
        d = config.d_model
        if config.image_features == "grid":
            return ImageEncoder(d)
        if config.image_features == "query":
            return QueryKeypointEncoder(
                d,
                d_text=d if config.use_instruction else 0,
                queries=config.image_queries,
                text_queries=config.image_text_queries,
                appearance=config.query_appearance,
            )
        return KeypointEncoder(d)

    def _camera_tokens(self, enc: Any, img: torch.Tensor, text: torch.Tensor | None,
                       logits: list[torch.Tensor]) -> torch.Tensor:
        if self.image_features == "grid":
            return enc.tokens(img)
        if self.image_features == "query":
            tokens, _, lg = enc.locate(img, text)
            logits.append(lg)
            return tokens if self.token_queries is None else tokens[:, self.token_queries]
        return enc(img)[:, None]

    def text_ids(self, texts: list[str]) -> torch.Tensor:
        """Instruction token ids (B, T) for `use_instruction` (zeros, unused, without it)."""
        if self.text is None:
            return torch.zeros(len(texts), 1, dtype=torch.long, device=self.queries.device)
        return self.text.token_ids(texts, self.queries.device)

    def _decode(self, nb: dict, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(normalized action chunk (B, H, A), encoder memory, per-camera query attention logits)."""
        toks = [self.latent_in(z), self.state_in(nb["state"])]
        if self.tactile_in is not None:
            toks.append(self.tactile_in(nb["tactile"]))
        text = None
        if self.text is not None:
            ids = nb["task_ids"] if "task_ids" in nb else self.text_ids(nb["task"])
            text = pool_text(*self.text(ids))
            toks.append(text)  # one pooled instruction token
        x = torch.stack(toks, dim=1) + self.fixed_pos
        cam_logits: list[torch.Tensor] = []
        if self.cams:
            imgs = [
                self._camera_tokens(enc, img, text, cam_logits) + self.img_pos[i]
                for i, (enc, img) in enumerate(zip(self.cams, nb["images"], strict=True))
            ]
            x = torch.cat([x, *imgs], dim=1)
        memory = self.encoder(x)
        q = self.queries.expand(x.shape[0], -1, -1)
        return self.head(self.final_norm(self.decoder(q, memory))), memory, cam_logits

    def loss(self, nb: dict) -> tuple[torch.Tensor, dict[str, float]]:
        b = nb["state"].shape[0]
        act, pad = nb["action"], nb["action_is_pad"]
        if self.config.use_vae:
            x = (
                torch.cat(
                    [
                        self.vae_cls.expand(b, -1, -1),
                        self.vae_state(nb["state"])[:, None],
                        self.vae_action(act),
                    ],
                    dim=1,
                )
                + self.vae_pos
            )
            mask = torch.cat([torch.zeros(b, 2, dtype=torch.bool, device=pad.device), pad], dim=1)
            h = self.vae_encoder(x, src_key_padding_mask=mask)[:, 0]
            mu, logvar = self.vae_out(h).chunk(2, dim=-1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(-1).mean()
        else:
            z = torch.zeros(b, self.config.latent_dim, device=act.device)
            kl = torch.zeros((), device=act.device)
        pred, memory, cam_logits = self._decode(nb, z)
        l1 = masked_mean((pred - act).abs(), pad)
        loss = l1 + KL_WEIGHT * kl
        info = {"l1": float(l1.detach()), "kl": float(kl.detach())}
        if self.aux_head is not None:
            aux = ((self.aux_head(memory.mean(1)) - nb["state_normed"][:, self.aux_idx]) ** 2).mean()
            loss = loss + aux
            info["aux"] = float(aux.detach())
        if self.kp_query:
            kp = self._keypoint_loss(nb, cam_logits)
            loss = loss + kp
            info["kp"] = float(kp.detach())
        return loss, info

    def sample(self, nb: dict) -> torch.Tensor:
        z = torch.zeros(nb["state"].shape[0], self.config.latent_dim, device=nb["state"].device)
        return self._decode(nb, z)[0]
