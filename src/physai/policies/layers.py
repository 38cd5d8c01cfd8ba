"""Building blocks shared by the policies: image encoder, hashed text encoder, MLP, time embedding."""

from __future__ import annotations

import math

import torch
from torch import nn

from physai.core.tokenizer import hash_tokens


def mlp(d_in: int, hidden: int, d_out: int, layers: int = 2, dropout: float = 0.0) -> nn.Sequential:
    """`layers` hidden Linear+GELU (+LayerNorm) blocks, then a Linear to `d_out`."""
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.LayerNorm(hidden), nn.GELU()]
        if dropout > 0:
            mods.append(nn.Dropout(dropout))
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


def transformer_encoder(d: int, heads: int, ff: int, dropout: float, layers: int) -> nn.TransformerEncoder:
    """The policies' transformer encoder: pre-norm, GELU, batch first (act, flow, vla)."""
    layer = nn.TransformerEncoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=True,
                                       activation="gelu")
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def transformer_decoder(d: int, heads: int, ff: int, dropout: float, layers: int) -> nn.TransformerDecoder:
    """The matching decoder (act's action queries attending to the encoded observation)."""
    layer = nn.TransformerDecoderLayer(d, heads, ff, dropout, batch_first=True, norm_first=True,
                                       activation="gelu")
    return nn.TransformerDecoder(layer, layers)


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of flow time t in [0, 1], (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * 100.0 * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def conv_gn(c_in: int, c_out: int, kernel: int, stride: int) -> list[nn.Module]:
    """Conv (same padding) + GroupNorm(8) + GELU, as a list to splice into an `nn.Sequential`."""
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)
    return [conv, nn.GroupNorm(8, c_out), nn.GELU()]


class ImageEncoder(nn.Module):
    """A small conv net for one camera: float (B, 3, H, W) in [0, 1] -> an 8x-downsampled token grid."""

    def __init__(self, d_out: int, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            *conv_gn(3, c, 5, 2),
            *conv_gn(c, 2 * c, 3, 2),
            *conv_gn(2 * c, 2 * c, 3, 2),
            nn.Conv2d(2 * c, 2 * c, 3, stride=1, padding=1),
        )
        self.to_token = nn.Linear(2 * c, d_out)

    def tokens(self, img: torch.Tensor) -> torch.Tensor:
        f = self.net((img - 0.5) / 0.25)  # (B, C, h, w)
        return self.to_token(f.flatten(2).transpose(1, 2))


class KeypointEncoder(nn.Module):
    """A conv net + spatial soft-argmax for one camera: float (B, 3, H, W) in [0, 1] -> vector (B, d).

    The net keeps a 4x-downsampled map; each of `keypoints` channels becomes a softmax over the image
    (learned temperature) whose expected (x, y) is a keypoint. The vector is a projection of the
    keypoints and the channels' spatial means (what is visible). Keypoints localize objects well from
    few demonstrations and give one compact feature per camera instead of a token grid.
    """

    def __init__(self, d_out: int, channels: int = 32, keypoints: int = 32) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            *conv_gn(3, c, 5, 2), *conv_gn(c, c, 3, 2), *conv_gn(c, c, 3, 1), nn.Conv2d(c, keypoints, 1)
        )
        self.log_temp = nn.Parameter(torch.zeros(()))
        self.out = nn.Linear(3 * keypoints, d_out)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        f = self.net((img - 0.5) / 0.25)
        _, _, h, w = f.shape
        attn = torch.softmax(f.flatten(2) / self.log_temp.exp(), dim=-1)  # (B, K, h*w)
        ys = torch.linspace(-1, 1, h, device=f.device)
        xs = torch.linspace(-1, 1, w, device=f.device)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        kx = attn @ gx.reshape(-1, 1)
        ky = attn @ gy.reshape(-1, 1)
        return self.out(torch.cat([kx[..., 0], ky[..., 0], f.mean((2, 3))], dim=-1))


class QueryKeypointEncoder(nn.Module):
    """Where in one camera image are the things the queries ask for: (B, 3, H, W) -> tokens (B, Q, d).

    Per-pixel features (at half resolution) come from a conv net with a small (5 px) receptive field,
    so they describe colour and local texture, not the layout of the scene: a net that cannot see the
    layout cannot memorize it. Each query (learned ones, plus ones made from the instruction when
    `d_text` > 0) scores every pixel; the softmax over the image gives the query's expected (x, y), its
    spread (second moments: size and orientation) and the attended features. The instruction queries
    are what find "the blue block" among the objects on the table.
    """

    def __init__(self, d_out: int, d_text: int = 0, channels: int = 32, queries: int = 8,
                 text_queries: int = 4, appearance: bool = True) -> None:
        super().__init__()
        c = channels
        self.appearance = appearance
        self.net = nn.Sequential(*conv_gn(3, c, 5, 2), *conv_gn(c, c, 1, 1), nn.Conv2d(c, c, 1))
        self.queries = nn.Parameter(torch.randn(queries, c))
        self.text_queries = text_queries if d_text else 0
        self.from_text = nn.Linear(d_text, text_queries * c) if d_text else None
        self.log_temp = nn.Parameter(torch.zeros(()))
        self.out = nn.Linear(5 + c, d_out)
        self.n_learned = queries
        self.n_queries = queries + self.text_queries

    def forward(self, img: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        return self.locate(img, text)[0]

    def locate(
        self, img: torch.Tensor, text: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens (B, Q, d), each query's expected point (B, Q, 2) (x, y: -1 at the image's left/top
        edge, 1 at its right/bottom edge, as `physai.sim.projection`) and its attention logits over the
        feature map (B, Q, h, w), half the image's size (learned queries first, then the text ones)."""
        f = self.net((img - 0.5) / 0.25)  # (B, C, H, W)
        b, c, h, w = f.shape
        q = self.queries.expand(b, -1, -1)
        if self.from_text is not None:
            if text is None:
                raise ValueError("QueryKeypointEncoder was built with d_text > 0 and needs the text vector")
            q = torch.cat([q, self.from_text(text).view(b, self.text_queries, c)], dim=1)
        flat = f.flatten(2)  # (B, C, HW)
        logits = q @ flat / (math.sqrt(c) * self.log_temp.exp())  # (B, Q, HW)
        attn = torch.softmax(logits, dim=-1)
        gy, gx = torch.meshgrid(torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=f.device),
                                torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=f.device), indexing="ij")
        g = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)  # (HW, 2)
        mean = attn @ g  # (B, Q, 2)
        second = attn @ torch.stack([g[:, 0] ** 2, g[:, 1] ** 2, g[:, 0] * g[:, 1]], dim=-1)
        spread = second - torch.stack([mean[..., 0] ** 2, mean[..., 1] ** 2, mean[..., 0] * mean[..., 1]], -1)
        feats = attn @ flat.transpose(1, 2) if self.appearance else attn.new_zeros(b, attn.shape[1], c)
        return self.out(torch.cat([mean, 10.0 * spread, feats], dim=-1)), mean, logits.view(b, -1, h, w)


def point_cells(xy: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image points (B, 2) in [-1, 1] (`QueryKeypointEncoder.locate`'s convention) -> the row-major
    index of the (h, w) feature-map cell holding each one (B,), and whether it is inside the image."""
    col = ((xy[:, 0] + 1) / 2 * w).floor().clamp(0, w - 1).long()
    row = ((xy[:, 1] + 1) / 2 * h).floor().clamp(0, h - 1).long()
    return row * w + col, (xy.abs() < 1).all(-1)


def point_targets(xy: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image points (B, 2) in [-1, 1] -> a sub-cell target distribution over the (h, w) feature map:
    the row-major indices (B, 4) of the 2 x 2 cell centres around each point and their bilinear
    weights (B, 4), and whether the point is inside the image (B,). The distribution's expected cell
    centre is the point itself (away from the border), so attention trained on it (soft
    cross-entropy) places a query's expected point between cells, not only on a cell's centre."""
    u = ((xy[:, 0] + 1) / 2 * w - 0.5).clamp(0, w - 1)  # in cell-centre units
    v = ((xy[:, 1] + 1) / 2 * h - 0.5).clamp(0, h - 1)
    c0, r0 = u.floor().long().clamp(max=w - 2), v.floor().long().clamp(max=h - 2)
    fu, fv = u - c0, v - r0
    rows = torch.stack([r0, r0, r0 + 1, r0 + 1], -1)
    cols = torch.stack([c0, c0 + 1, c0, c0 + 1], -1)
    wts = torch.stack([(1 - fv) * (1 - fu), (1 - fv) * fu, fv * (1 - fu), fv * fu], -1)
    return rows * w + cols, wts, (xy.abs() < 1).all(-1)


def soft_cell_kl(logits: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """KL divergence from `point_targets` of points (B, 2) to the attention of logits (B, h, w)
    (the cross-entropy less the targets' own entropy, so 0 at the optimum), mean over the points
    inside the image (0 when there are none)."""
    idx, wts, seen = point_targets(xy, *logits.shape[-2:])
    if not bool(seen.any()):
        return logits.sum() * 0.0
    logp = torch.log_softmax(logits.flatten(1), -1).gather(1, idx)
    return (wts * (torch.log(wts.clamp(min=1e-12)) - logp)).sum(-1)[seen].mean()


class HashedTextEncoder(nn.Module):
    """A small learned instruction encoder over hashed words and bigrams; needs no download."""

    def __init__(self, d_model: int, n_buckets: int = 4096, max_tokens: int = 24) -> None:
        super().__init__()
        self.n_buckets, self.max_tokens = n_buckets, max_tokens
        self.embed = nn.Embedding(n_buckets, d_model, padding_idx=0)

    def token_ids(self, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
        ids = [hash_tokens(t, self.n_buckets, self.max_tokens) for t in texts]
        return torch.tensor(ids, dtype=torch.long, device=device)

    def tokenizer(self) -> dict:
        """How text becomes `token_ids` outside the model (the policy contract's `tokenizer`)."""
        return {"kind": "hashed", "n_buckets": self.n_buckets, "max_tokens": self.max_tokens}

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings (B, T, d) and a padding mask (B, T), True where padded."""
        return self.embed(ids), ids == 0


def pool_text(emb: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """Mean of token embeddings (B, T, d) over the unpadded tokens (`pad` True where padded) -> (B, d)."""
    keep = (~pad).to(emb.dtype)[..., None]
    return (emb * keep).sum(1) / keep.sum(1).clamp(min=1.0)


def conv_grid(image_size: tuple[int, int]) -> int:
    """Number of tokens `ImageEncoder.tokens` yields for an image of (H, W)."""
    h, w = image_size
    for _ in range(3):
        h, w = (h + 1) // 2, (w + 1) // 2
    return h * w


class ObsVector(nn.Module):
    """Normalized state, per-camera keypoint features and tactile -> one vector per sample."""

    def __init__(self, state_dim: int, n_cameras: int, tactile_dim: int, image_dim: int = 64) -> None:
        super().__init__()
        self.cams = nn.ModuleList([KeypointEncoder(image_dim) for _ in range(n_cameras)])
        self.dim = state_dim + n_cameras * image_dim + tactile_dim

    def forward(self, nb: dict) -> torch.Tensor:
        parts = [nb["state"]] + [enc(img) for enc, img in zip(self.cams, nb["images"], strict=True)]
        if "tactile" in nb:
            parts.append(nb["tactile"])
        return torch.cat(parts, dim=-1)


def masked_mean(err: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """Mean of `err` (B, H, A) with padded steps (`pad` (B, H) True) counted as zero, as in LeRobot.

    The denominator does not depend on the padding, so the mean over a global batch equals the mean of
    equal-sized shard means (what DDP computes).
    """
    return (err * (~pad).to(err.dtype)[..., None]).mean()
