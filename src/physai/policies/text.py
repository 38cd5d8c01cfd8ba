"""Pretrained instruction encoder for `vla`, read from a LOCAL folder only (nothing is ever downloaded).

The folder holds a static sentence encoder (the model2vec layout, also what a distilled word-embedding
table exported to safetensors looks like):

- `model.safetensors` (or `embeddings.safetensors`) with a 2-D float tensor `embeddings` (V, D) — or a
  single 2-D tensor under any name;
- `tokenizer.json` (Hugging Face tokenizers layout, `model.vocab` as token -> id) or `vocab.txt` (one
  token per line, line number = id).

Text is lower-cased, split into words and punctuation, and each word is split greedily into the longest
vocabulary pieces (WordPiece, `##` continuations); unknown words map to `[UNK]` when the vocabulary has
it. The table is frozen and kept as a buffer, so the checkpoint (with the vocabulary in `config.json`)
loads without the folder; a learned linear projection maps it into the model width.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from physai.core.errors import ConfigError
from physai.core.tokenizer import pad as _pad
from physai.core.tokenizer import tokenize, tokenizer_vocab_size, wordpiece  # noqa: F401  (re-exported)


def read_local_encoder(path: str | Path) -> tuple[list[str], torch.Tensor]:
    """(vocabulary, embedding table (V, D) float32) of the encoder folder at `path`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path).expanduser()
    if not p.is_dir():
        raise ConfigError(
            f"text encoder {str(path)!r} is not a local folder; pass a folder with model.safetensors + "
            "tokenizer.json (or vocab.txt), or text_encoder=hashed (no download is ever made)"
        )
    weights = next((p / n for n in ("model.safetensors", "embeddings.safetensors") if (p / n).exists()), None)
    if weights is None:
        raise ConfigError(f"{p}: no model.safetensors or embeddings.safetensors with the embedding table")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{weights} cannot be read ({exc}); re-export the encoder") from None
    mats = {k: v for k, v in tensors.items() if v.ndim == 2 and v.is_floating_point()}
    table = tensors.get("embeddings", next(iter(mats.values())) if len(mats) == 1 else None)
    if table is None or table.ndim != 2:
        raise ConfigError(
            f"{weights}: expected a 2-D tensor 'embeddings' (vocab, dim), found {sorted(tensors)}"
        )
    if (p / "tokenizer.json").exists():
        try:
            vocab_map = json.loads((p / "tokenizer.json").read_text())["model"]["vocab"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{p / 'tokenizer.json'}: no model.vocab mapping ({exc!r})") from None
        if not isinstance(vocab_map, dict):
            raise ConfigError(f"{p / 'tokenizer.json'}: model.vocab must map token -> id (WordPiece/BPE)")
        vocab = [""] * (max(vocab_map.values(), default=-1) + 1)
        for tok, i in vocab_map.items():
            vocab[int(i)] = tok
    elif (p / "vocab.txt").exists():
        vocab = (p / "vocab.txt").read_text(encoding="utf-8").splitlines()
    else:
        raise ConfigError(f"{p}: no tokenizer.json or vocab.txt next to {weights.name}")
    if len(vocab) > table.shape[0]:
        raise ConfigError(
            f"{p}: the vocabulary has {len(vocab)} tokens but {weights.name} only {table.shape[0]} rows"
        )
    return vocab, table.float()


class PretrainedTextEncoder(nn.Module):
    """Frozen static token embeddings (from `read_local_encoder`) + a learned projection to `d_model`."""

    table: torch.Tensor

    def __init__(self, d_model: int, vocab: list[str], dim: int, max_tokens: int) -> None:
        super().__init__()
        self.max_tokens = max_tokens
        self.vocab = {t: i for i, t in enumerate(vocab) if t}
        self.register_buffer("table", torch.zeros(len(vocab), dim))
        self.proj = nn.Linear(dim, d_model)

    def token_ids(self, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
        """(B, max_tokens) long ids, -1 where padded."""
        rows = [_pad(wordpiece(t, self.vocab, self.max_tokens), self.max_tokens, -1) for t in texts]
        return torch.tensor(rows, dtype=torch.long, device=device)

    def tokenizer(self) -> dict:
        """How text becomes `token_ids` outside the model (the policy contract's `tokenizer`)."""
        vocab = [""] * int(self.table.shape[0])
        for tok, i in self.vocab.items():
            vocab[i] = tok
        return {"kind": "wordpiece", "vocab": vocab, "max_tokens": self.max_tokens}

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings (B, T, d) and a padding mask (B, T), True where padded."""
        return self.proj(self.table[ids.clamp(min=0)]), ids < 0
