"""Client for the openpi policy-server websocket protocol (and physai's own `physai serve`).

Protocol (Physical-Intelligence/openpi, `openpi_client/websocket_client_policy.py`): a plain websocket;
on connect the server sends one msgpack-packed metadata dict; then for every packed observation dict the
client sends, the server answers a packed dict with `actions`, a float array (H, A), optionally with
`server_timing`. On an error the server sends the traceback as a text frame and closes with 1011.
NumPy arrays use openpi's msgpack-numpy convention: `{b"__ndarray__": True, b"data": bytes,
b"dtype": dtype.str, b"shape": shape}` (scalars: `{b"__npgeneric__": True, b"data", b"dtype"}`).

`RemotePolicy` executes the H actions of a chunk one per control step and queries again when the
chunk is used up, so a remote policy is benchmarked exactly like a local one.
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np

from physai.core.errors import ConfigError, PhysaiError
from physai.deploy import msgpack_numpy

API_KEY_ENV = "PHYSAI_API_KEY"
"""Environment variable holding the token sent as `Authorization: Api-Key <token>` (openpi's header)."""


class RemotePolicyError(PhysaiError, RuntimeError):
    """The remote policy server failed, answered something invalid, or could not be reached."""


# msgpack with numpy arrays in the openpi convention: the one validated codec the server uses too
# (allow-listed dtypes, byte counts checked against shapes, size limits, never unpickles).
packb = msgpack_numpy.packb
unpackb = msgpack_numpy.unpackb


# ------------------------------------------------------------------ client
def connect(uri: str, api_key: str | None = None, timeout_s: float = 10.0):
    """Open a websocket to `uri` and read the server metadata; returns (connection, metadata).

    Raises `RemotePolicyError` naming the address when nothing answers within `timeout_s`.
    """
    from websockets.exceptions import InvalidHandshake, WebSocketException
    from websockets.sync.client import connect as ws_connect

    if not uri.startswith(("ws://", "wss://")):
        raise ConfigError(f"remote policy address {uri!r} must start with ws:// or wss://")
    api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
    try:
        conn = ws_connect(uri, compression=None, max_size=None, open_timeout=timeout_s,
                          additional_headers=headers)
    except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as exc:
        raise RemotePolicyError(f"cannot reach the remote policy at {uri}: {exc}; start the server "
                                f"(e.g. `physai serve --port ...`) or fix the address") from None
    try:
        first = conn.recv(timeout=timeout_s)
    except (TimeoutError, WebSocketException) as exc:
        conn.close()
        raise RemotePolicyError(f"the server at {uri} sent no metadata after connecting ({exc}); "
                                "is it an openpi-protocol policy server?") from None
    if isinstance(first, str):
        conn.close()
        raise RemotePolicyError(f"the server at {uri} refused the connection: {first.strip()[:500]}")
    meta = unpackb(first)
    if not isinstance(meta, dict):
        conn.close()
        raise RemotePolicyError(f"the server at {uri} sent metadata of type {type(meta).__name__}, "
                                "expected a dict")
    return conn, meta


class RemotePolicy:
    """A policy served over the openpi websocket protocol, with client-side action chunking.

    `action_dim` is the env's action width: a reply whose `actions` is not (H, action_dim) raises
    `RemotePolicyError` naming the received shape (that episode errors; the run goes on).
    """

    def __init__(self, uri: str, action_dim: int | None = None, api_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.uri = uri
        self.action_dim = action_dim
        self.timeout_s = timeout_s
        self._conn, self.metadata = connect(uri, api_key, timeout_s=min(timeout_s, 10.0))
        self._queue: deque[np.ndarray] = deque()
        self.server_timing: list[dict] = []

    def infer(self, obs: dict) -> dict:
        """One round trip: send `obs`, return the server's reply dict."""
        from websockets.exceptions import ConnectionClosed

        try:
            self._conn.send(packb(obs))
            reply = self._conn.recv(timeout=self.timeout_s)
        except ConnectionClosed as exc:
            raise RemotePolicyError(f"the server at {self.uri} closed the connection "
                                    f"(code {exc.rcvd.code if exc.rcvd else 'none'})") from None
        except TimeoutError:
            raise RemotePolicyError(f"the server at {self.uri} did not answer within "
                                    f"{self.timeout_s} s") from None
        if isinstance(reply, str):
            raise RemotePolicyError(f"error in the policy server at {self.uri}:\n{reply.strip()[-2000:]}")
        out = unpackb(reply)
        if not isinstance(out, dict) or "actions" not in out:
            keys = sorted(out) if isinstance(out, dict) else type(out).__name__
            raise RemotePolicyError(f"the server at {self.uri} answered without 'actions' (got {keys})")
        return out

    def reset(self) -> None:
        self._queue.clear()

    def act(self, obs: dict) -> np.ndarray:
        if not self._queue:
            out = self.infer(obs)
            actions = np.asarray(out["actions"])
            if actions.ndim != 2 or actions.shape[0] < 1 or (self.action_dim is not None
                                                               and actions.shape[1] != self.action_dim):
                raise RemotePolicyError(
                    f"the server at {self.uri} answered actions of shape {actions.shape}, expected "
                    f"(H, {self.action_dim if self.action_dim is not None else 'A'}) with H >= 1")
            if isinstance(out.get("server_timing"), dict):
                self.server_timing.append(out["server_timing"])
            self._queue.extend(actions.astype(np.float32))
        return self._queue.popleft()

    def close(self) -> None:
        self._conn.close()
