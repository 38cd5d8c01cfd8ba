"""A minimal policy-server client with the same wire behaviour as openpi's `WebsocketClientPolicy`."""

from __future__ import annotations

import numpy as np
from websockets.sync.client import connect

from physai.core.errors import PhysaiError
from physai.deploy import msgpack_numpy as mp


class ServerError(PhysaiError):
    """The server answered with an error (text frame) or closed the connection."""


class PolicyClient:
    """`PolicyClient("ws://127.0.0.1:8000", api_key=...)`; `.metadata`; `.infer(obs) -> {"actions": ...}`."""

    def __init__(self, uri: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
        self.ws = connect(
            uri, compression=None, max_size=None, additional_headers=headers, open_timeout=timeout
        )
        self.metadata = mp.unpackb(self.ws.recv(timeout=timeout))

    def infer_raw(self, payload: bytes | str, timeout: float = 10.0) -> dict:
        """Send an already packed message (for protocol tests)."""
        self.ws.send(payload)
        rep = self.ws.recv(timeout=timeout)
        if isinstance(rep, str):
            raise ServerError(rep)
        return mp.unpackb(rep)

    def infer(
        self,
        obs: dict[str, np.ndarray | str],
        timeout: float = 10.0,
        committed: np.ndarray | None = None,
        delay: int | None = None,
    ) -> dict:
        """Actions for `obs`. Against a server in 'rtc' execution, pass what this client has committed:
        `committed` (n, A), the actions it will execute from this observation's cycle on, and `delay`,
        the control periods it expects the answer to take (the first `delay` actions come back equal to
        `committed`'s)."""
        if committed is not None:
            rtc: dict = {"committed_actions": np.asarray(committed, np.float32)}
            rtc["inference_delay"] = int(delay or 0)
            obs = {**obs, **rtc}
        return self.infer_raw(mp.packb(obs), timeout)

    def close(self) -> None:
        self.ws.close()
