"""Instruction tokenizers outside the model (the policy contract's `tokenizer`): hashed words and bigrams,
or greedy WordPiece over a vocabulary. Pure Python, so a package's caller needs no torch."""

from __future__ import annotations

import re
import zlib

from physai.core.errors import ConfigError

_PIECE = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[a-z0-9]+")


def hash_tokens(text: str, n_buckets: int, max_tokens: int) -> list[int]:
    """Words and word bigrams of `text`, hashed (crc32, stable across runs) into 1..n_buckets-1; 0 pads."""
    words = _WORD.findall(text.lower())
    grams = words + [a + "_" + b for a, b in zip(words, words[1:], strict=False)]
    ids = [1 + zlib.crc32(g.encode()) % (n_buckets - 1) for g in grams][:max_tokens]
    return ids + [0] * (max_tokens - len(ids))


def wordpiece(text: str, vocab: dict[str, int], max_tokens: int) -> list[int]:
    """Token ids of `text` (greedy longest-match WordPiece), at most `max_tokens`."""
    unk = vocab.get("[UNK]")
    ids: list[int] = []
    for word in _PIECE.findall(text.lower()):
        start, pieces = 0, []
        while start < len(word):
            end = len(word)
            while end > start:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in vocab:
                    pieces.append(vocab[sub])
                    break
                end -= 1
            if end == start:  # no piece fits: the whole word is unknown
                pieces = [unk] if unk is not None else []
                break
            start = end
        ids.extend(pieces)
    return ids[:max_tokens]


def pad(ids: list[int], n: int, pad: int) -> list[int]:
    return ids + [pad] * (n - len(ids))


def tokenize(tokenizer: dict, text: str) -> list[int]:
    """Token ids of `text` as the contract's `tokenizer` says (what the policy's text encoder computes)."""
    kind, n = tokenizer.get("kind"), int(tokenizer["max_tokens"])
    if kind == "hashed":
        return hash_tokens(text, int(tokenizer["n_buckets"]), n)
    if kind == "wordpiece":
        vocab = {t: i for i, t in enumerate(tokenizer["vocab"]) if t}
        return pad(wordpiece(text, vocab, n), n, -1)
    raise ConfigError(f"unknown tokenizer kind {kind!r}; this physai knows 'hashed' and 'wordpiece'")


def tokenizer_vocab_size(tokenizer: dict) -> int:
    """Number of valid token ids (ids are in [0, size); wordpiece pads with -1)."""
    return int(tokenizer["n_buckets"]) if tokenizer.get("kind") == "hashed" else len(tokenizer["vocab"])
