"""msgpack with numpy arrays, wire-compatible with openpi's `openpi_client.msgpack_numpy`.

An array travels as a map `{b"__ndarray__": True, b"data": raw bytes, b"dtype": dtype.str, b"shape":
shape}` and a numpy scalar as `{b"__npgeneric__": True, b"data": item, b"dtype": dtype.str}`. Decoding
never unpickles: object, void and complex dtypes are refused, only an allow-list of dtypes is built,
and the byte count must match the shape.
"""

from __future__ import annotations

import msgpack
import numpy as np

ALLOWED_DTYPES = frozenset(
    np.dtype(t).str
    for t in (
        "float16",
        "float32",
        "float64",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint16",
        "uint32",
        "bool",
    )
)
MAX_DIMS = 8


class DecodeError(ValueError):
    """A message that is not valid msgpack-numpy (names the problem)."""


def _pack_default(obj: object) -> object:
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in ("V", "O", "c"):
        raise ValueError(f"unsupported dtype {obj.dtype}")
    if isinstance(obj, np.ndarray):
        return {
            b"__ndarray__": True,
            b"data": np.ascontiguousarray(obj).tobytes(),
            b"dtype": obj.dtype.str,
            b"shape": list(obj.shape),
        }
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    return obj


def _get(obj: dict, key: str) -> object:
    return obj[key.encode()] if key.encode() in obj else obj[key]


def _hook(obj: dict) -> object:
    if b"__ndarray__" in obj or "__ndarray__" in obj:
        try:
            dtype, shape, data = _get(obj, "dtype"), _get(obj, "shape"), _get(obj, "data")
        except KeyError as exc:
            raise DecodeError(f"ndarray map lacks {exc}") from None
        if isinstance(dtype, bytes):
            dtype = dtype.decode()
        if dtype not in ALLOWED_DTYPES:
            raise DecodeError(f"array dtype {dtype!r} is not allowed; allowed: {sorted(ALLOWED_DTYPES)}")
        if (
            not isinstance(shape, (list, tuple))
            or len(shape) > MAX_DIMS
            or not all(isinstance(s, int) and 0 <= s < 2**31 for s in shape)
        ):
            raise DecodeError(f"array shape {shape!r} is invalid")
        dt = np.dtype(dtype)
        if not isinstance(data, bytes) or len(data) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise DecodeError(
                f"array data has {len(data) if isinstance(data, bytes) else 'no'} bytes, "
                f"expected {int(np.prod(shape))} x {dt.itemsize} for shape {tuple(shape)}"
            )
        return np.frombuffer(data, dtype=dt).reshape(shape)
    if b"__npgeneric__" in obj or "__npgeneric__" in obj:
        dtype = _get(obj, "dtype")
        if isinstance(dtype, bytes):
            dtype = dtype.decode()
        if dtype not in ALLOWED_DTYPES:
            raise DecodeError(f"scalar dtype {dtype!r} is not allowed")
        return np.dtype(dtype).type(_get(obj, "data"))
    return obj


def packb(obj: object) -> bytes:
    """Encode `obj` (dicts, lists, str, numbers, numpy arrays and scalars)."""
    return msgpack.packb(obj, default=_pack_default, use_bin_type=True)


def unpackb(data: bytes, max_size: int = 64 * 2**20) -> object:
    """Decode one message; raises DecodeError for malformed input or disallowed content."""
    if len(data) > max_size:
        raise DecodeError(f"message of {len(data)} bytes exceeds the limit of {max_size}")
    try:
        return msgpack.unpackb(
            data,
            object_hook=_hook,
            raw=False,
            strict_map_key=False,
            max_bin_len=max_size,
            max_str_len=max_size,
            max_array_len=2**20,
            max_map_len=2**16,
        )
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises several exception types for malformed input
        raise DecodeError(f"malformed msgpack message: {type(exc).__name__}: {exc}") from None
