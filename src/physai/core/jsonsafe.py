"""One JSON sanitizer: values from numpy, NaN/inf, bytes, tuples and foreign objects made into what a
JSON document can carry (fleet API errors, safety intervention logs, remote server metadata, package
metadata)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_DEPTH = 6
"""Nesting depth past which a bounded (`limit`) document is cut to strings."""


def json_default(o: Any) -> Any:
    """`json.dumps(default=...)` hook: numpy arrays and scalars as Python values; anything else raises
    TypeError naming its type (the document keeps `NaN`/`Infinity` as `json` writes them)."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def json_safe(o: Any, limit: int | None = None, _depth: int = 0) -> Any:
    """`o` as JSON-ready values: dict keys as strings, tuples as lists, numpy arrays and scalars as Python
    values, NaN/inf as the strings 'nan'/'inf'/'-inf', bytes as text (undecodable bytes replaced), any
    other object as `str(o)`.

    `limit` bounds an untrusted, possibly huge document: lists are cut to `limit` items, arrays of more
    than `limit` elements are described by shape and dtype, bytes by their size, and nesting deeper than
    `MAX_DEPTH` levels becomes a string."""
    if limit is not None and _depth > MAX_DEPTH:
        return str(o)
    if isinstance(o, dict):
        return {str(k): json_safe(v, limit, _depth + 1) for k, v in o.items()}
    if isinstance(o, list | tuple):
        items = o if limit is None else o[:limit]
        return [json_safe(v, limit, _depth + 1) for v in items]
    if isinstance(o, np.ndarray):
        if limit is not None and o.size > limit:
            return {"array_shape": list(o.shape), "dtype": str(o.dtype)}
        return json_safe(o.tolist(), limit, _depth)
    if isinstance(o, np.generic):
        return json_safe(o.item(), limit, _depth)
    if isinstance(o, float) and not math.isfinite(o):
        return repr(o)
    if isinstance(o, bytes):
        return f"<{len(o)} bytes>" if limit is not None else o.decode("utf-8", "replace")
    if o is None or isinstance(o, str | int | float | bool):
        return o
    return str(o)
