"""Policy server protocol: metadata, infer with concurrent clients (batched), bad inputs, auth, health."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from physai.core.errors import ConfigError
from physai.deploy import msgpack_numpy as mp
from physai.deploy import signing
from physai.deploy.client import PolicyClient, ServerError
from physai.deploy.package import load_package
from physai.deploy.server import PolicyServer, ServerConfig, ServerThread

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(tiny_package, keys):
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    srv = ServerThread(
        PolicyServer(pkg, ServerConfig(port=0, token=TOKEN, max_batch=8, max_wait_ms=5, rate_limit_hz=1000))
    ).start()
    yield srv, pkg
    srv.stop()


def uri(srv) -> str:
    return f"ws://127.0.0.1:{srv.port}"


def test_metadata_and_concurrent_batched_inference(server):
    srv, pkg = server
    rng = np.random.default_rng(0)
    states = rng.normal(size=(16, 12)).astype(np.float32)
    expect = pkg.infer_batch([states])
    results: dict[int, np.ndarray] = {}
    sizes: list[int] = []

    def client(i: int) -> None:
        c = PolicyClient(uri(srv), api_key=TOKEN)
        assert c.metadata["observation_spec"]["state"]["shape"] == [12]
        assert c.metadata["action_spec"]["shape"] == [4, 3]
        for _ in range(3):
            rep = c.infer({"state": states[i], "prompt": "pick"})
            sizes.append(rep["server_timing"]["batch_size"])
        results[i] = rep["actions"]
        c.close()

    ts = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert len(results) == 16
    for i in range(16):
        assert results[i].shape == (4, 3) and results[i].dtype == np.float32
        np.testing.assert_allclose(results[i], expect[i], atol=1e-5)
    assert max(sizes) > 1, "concurrent requests should be batched"


@pytest.mark.parametrize(
    "payload,reason",
    [
        (mp.packb({"state": np.zeros(11, np.float32)}), "shape"),
        (mp.packb({"state": np.zeros(12, np.float64)}), "dtype"),
        (mp.packb({"state": np.zeros(12, np.float32), "evil": 1}), "unknown"),
        (mp.packb({}), "missing"),
        (mp.packb({"state": np.full(12, np.nan, np.float32)}), "NaN"),
        (mp.packb([1, 2, 3]), "map"),
        (b"\xc1\xff\x00garbage", "malformed"),
        (
            mp.packb({"state": {b"__ndarray__": True, b"data": b"x" * 48, b"dtype": "|O", b"shape": [12]}}),
            "not allowed",
        ),
        (
            mp.packb({"state": {b"__ndarray__": True, b"data": b"x" * 7, b"dtype": "<f4", b"shape": [12]}}),
            "bytes",
        ),
        ("text frame", "binary"),
    ],
    ids=[
        "shape",
        "dtype",
        "unknown-key",
        "missing-key",
        "nan",
        "not-a-map",
        "garbage",
        "object-dtype",
        "short-data",
        "text",
    ],
)
def test_bad_requests_are_refused_and_others_keep_working(server, payload, reason):
    srv, _ = server
    bad = PolicyClient(uri(srv), api_key=TOKEN)
    with pytest.raises(ServerError, match=reason):
        bad.infer_raw(payload)
    with pytest.raises(ConnectionClosed) as exc:
        bad.ws.recv(timeout=5)
    assert exc.value.rcvd.code == 1008
    good = PolicyClient(uri(srv), api_key=TOKEN)
    assert good.infer({"state": np.zeros(12, np.float32)})["actions"].shape == (4, 3)
    good.close()


def test_oversized_message_closes_with_1009(server):
    srv, _ = server
    c = PolicyClient(uri(srv), api_key=TOKEN)
    c.ws.send(b"\x00" * (srv.server.max_message + 10))
    with pytest.raises(ConnectionClosed) as exc:
        c.ws.recv(timeout=5)
    assert exc.value.rcvd.code == 1009


def test_auth_health_and_config_refusals(server, tiny_package, keys):
    srv, pkg = server
    with pytest.raises(InvalidStatus) as exc:
        PolicyClient(uri(srv))
    assert exc.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        PolicyClient(uri(srv), api_key="wrong")
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=5) as r:
        assert r.status == 200
    with pytest.raises(ConfigError, match="token"):
        PolicyServer(pkg, ServerConfig())
    with pytest.raises(ConfigError, match="loopback"):
        PolicyServer(pkg, ServerConfig(host="0.0.0.0", insecure_local=True))


def test_rate_limit_and_insecure_local(tiny_package, keys):
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    srv = ServerThread(
        PolicyServer(pkg, ServerConfig(port=0, insecure_local=True, rate_limit_hz=3, max_batch=1))
    ).start()
    try:
        c = PolicyClient(uri(srv))
        with pytest.raises(ServerError, match="rate limit"):
            for _ in range(10):
                c.infer({"state": np.zeros(12, np.float32)})
    finally:
        srv.stop()


class Broken:
    """A package whose inference raises (e.g. an accelerator fault)."""

    def __init__(self, pkg) -> None:
        self._pkg = pkg

    def __getattr__(self, k):
        return getattr(self._pkg, k)

    def infer_batch(self, arrays):
        raise RuntimeError("accelerator fault")


def test_internal_error_closes_1011_and_shutdown_closes_1001(tiny_package, keys):
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    srv = ServerThread(PolicyServer(Broken(pkg), ServerConfig(port=0, insecure_local=True))).start()
    try:
        c = PolicyClient(uri(srv))
        with pytest.raises(ServerError, match="accelerator fault"):
            c.infer({"state": np.zeros(12, np.float32)})
        with pytest.raises(ConnectionClosed) as exc:
            c.ws.recv(timeout=5)
        assert exc.value.rcvd.code == 1011
        idle = PolicyClient(uri(srv))  # the server still accepts and greets new clients
        assert idle.metadata["embodiment"] == "toy"
    finally:
        srv.stop()
    with pytest.raises(ConnectionClosed) as exc:
        idle.ws.recv(timeout=5)
    assert exc.value.rcvd.code == 1001, "graceful shutdown says 'going away'"


def handshake_status(port: int, auth_lines: list[bytes]) -> int:
    """Send a websocket upgrade with raw `Authorization` header lines; return the HTTP status."""
    req = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + b"".join(b"Authorization: " + a + b"\r\n" for a in auth_lines)
        + b"\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req)
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(1024)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "auth",
    [
        [b"Api-Key " + "s3cret-tök€n".encode()],  # non-ASCII (UTF-8 bytes)
        [b"Api-Key s3cret-t\xf6ken"],  # non-ASCII (a Latin-1 byte)
        ["Api-Key 令牌".encode()],
        [b"Api-Key "],  # empty
        [b"Api-Key"],
        [b""],
        [b"Basic " + TOKEN.encode()],  # wrong scheme
        [TOKEN.encode()],
        [b"Api-Key wrong"],  # wrong value
        [b"Api-Key " + TOKEN.encode() + b"x"],
        [b"Api-Key " + TOKEN.encode(), b"Api-Key " + TOKEN.encode()],  # two headers
        [],  # none
    ],
    ids=[
        "utf8",
        "latin1",
        "cjk",
        "empty",
        "scheme-only",
        "blank",
        "basic",
        "no-scheme",
        "wrong",
        "longer",
        "twice",
        "missing",
    ],
)
def test_bad_tokens_get_401_never_500(server, auth):
    srv, _ = server
    assert handshake_status(srv.port, auth) == 401
    assert handshake_status(srv.port, [b"Bearer " + TOKEN.encode()]) == 101


def test_token_config_refusals(tiny_package, keys):
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    for cfg, match in [
        (ServerConfig(token=""), "non-empty"),
        (ServerConfig(token="tök"), "printable ASCII"),
        (ServerConfig(tokens=("a", "has space")), r"tokens\[1\]"),
        (ServerConfig(token="a", tokens=("a",)), "twice"),
        (ServerConfig(token="a", max_connections=4, max_connections_per_token=5), "per_token"),
        (ServerConfig(token="a", max_connections_per_token=0), "per_token"),
    ]:
        with pytest.raises(ConfigError, match=match):
            PolicyServer(pkg, cfg)
    assert PolicyServer(pkg, ServerConfig(tokens=("a", "b", "c", "d"))).per_token_cap == 64
    assert PolicyServer(pkg, ServerConfig(token="a")).per_token_cap == 256


def test_one_token_cannot_take_every_connection(tiny_package, keys):
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    cfg = ServerConfig(
        port=0, token="alpha", tokens=("beta",), max_connections=3, max_connections_per_token=2
    )
    srv = ServerThread(PolicyServer(pkg, cfg)).start()
    opened = []
    try:
        opened += [PolicyClient(uri(srv), api_key="alpha") for _ in range(2)]
        with pytest.raises(InvalidStatus) as exc:
            PolicyClient(uri(srv), api_key="alpha")
        assert exc.value.response.status_code == 429
        assert b"max_connections_per_token=2" in exc.value.response.body
        opened.append(PolicyClient(uri(srv), api_key="beta"))  # another token still connects
        assert opened[-1].infer({"state": np.zeros(12, np.float32)})["actions"].shape == (4, 3)
        with pytest.raises(InvalidStatus) as exc:  # the total cap still holds
            PolicyClient(uri(srv), api_key="beta")
        assert exc.value.response.status_code == 503
        opened.pop(0).close()  # a closed connection frees its token's slot
        for _ in range(50):
            if srv.server._per_token[0] < 2:
                break
            time.sleep(0.02)
        opened.append(PolicyClient(uri(srv), api_key="alpha"))
    finally:
        for c in opened:
            c.close()
        srv.stop()
    assert srv.server._active == 0 and srv.server._per_token == [0, 0]
