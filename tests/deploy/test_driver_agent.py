"""The robot-side DriverAgent under hostile clients: malformed, unauthenticated or silent sessions are
answered and closed, the robot is stopped, and the next (valid) client is still served."""

from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from physai.cli.main import app
from physai.core.errors import ConfigError
from physai.deploy import msgpack_numpy as mp
from physai.deploy.drivers import DriverAgent, NetworkDriver, SimDriver
from physai.deploy.drivers.network import is_loopback, recv_msg, send_msg

TASK = "tabletop/pick-place"
TOKEN = "tok-ß"  # a non-ASCII shared token works too: tokens are compared as UTF-8 bytes


class Counting(SimDriver):
    """SimDriver that counts stop() calls (the agent stops the robot whenever a session ends)."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1
        super().stop()


@pytest.fixture(scope="module")
def agent():
    ag = DriverAgent(Counting(TASK, realtime=False), token=TOKEN, handshake_timeout=0.3).start()
    yield ag
    ag.close()


def raw(ag: DriverAgent, data: bytes = b"") -> object:
    """Open a raw connection, send `data`, and return the agent's reply (None if it just closed)."""
    with socket.create_connection(ag.address, timeout=5) as s:
        if data:
            s.sendall(data)
        try:
            return recv_msg(s)
        except ConnectionError:
            return None


def frame(obj: object) -> bytes:
    body = mp.packb(obj)
    return struct.pack(">I", len(body)) + body


def assert_still_serves(ag: DriverAgent) -> None:
    assert ag.serving
    drv = NetworkDriver(*ag.address, token=TOKEN)
    try:
        assert drv.connect().embodiment == "arm7"
        assert drv.read().obs["state"].ndim == 1
    finally:
        drv.disconnect()


@pytest.mark.parametrize(
    "data,reason",
    [
        (frame({"op": "hello", "token": "tök€n-令"}), "bad or missing token"),
        (frame({"op": "hello", "token": 12345}), "bad or missing token"),
        (frame({"op": "hello", "token": b"tok-\xc3\x9f"}), "bad or missing token"),
        (frame({"op": "hello"}), "bad or missing token"),
        (frame({"op": "read"}), "hello"),
        (frame(["hello", TOKEN]), "hello"),
        (frame("hello"), "hello"),
        (b"\xc1\xff\x00garbage", "exceeds"),
        (struct.pack(">I", 8) + b"\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1", "malformed"),
        (struct.pack(">I", 2**31), "exceeds"),
        (struct.pack(">I", 2**20) + b"x" * 16, "exceeds"),  # under MAX_MESSAGE, over the hello limit
        (struct.pack(">I", 100) + b"\x81", "handshake timeout"),  # a hello that never completes
    ],
    ids=[
        "non-ascii-token",
        "int-token",
        "bytes-token",
        "no-token",
        "not-hello",
        "list",
        "str",
        "garbage",
        "bad-msgpack",
        "oversize-prefix",
        "oversize-hello",
        "truncated",
    ],
)
def test_bad_hello_is_answered_closed_and_the_next_client_served(agent, data, reason):
    stops = agent.driver.stops
    rep = raw(agent, data)
    assert isinstance(rep, dict) and rep["ok"] is False and reason in rep["error"]
    assert agent.driver.stops > stops, "a session that ends abnormally stops the robot"
    assert_still_serves(agent)


def test_silent_client_is_dropped_after_the_handshake_timeout(agent):
    t0 = time.monotonic()
    rep = raw(agent)
    assert time.monotonic() - t0 < 3
    assert rep["ok"] is False and "handshake timeout" in rep["error"]
    assert_still_serves(agent)


def test_client_that_vanishes_mid_hello_and_driver_errors_do_not_end_the_loop(agent):
    with socket.create_connection(agent.address, timeout=5) as s:
        s.sendall(struct.pack(">I", 50))
    drv = NetworkDriver(*agent.address, token=TOKEN)
    drv.connect()
    read = agent.driver.read
    agent.driver.read = lambda: 1 / 0  # a fault inside a session
    try:
        with pytest.raises(ConfigError, match="ZeroDivisionError"):
            drv.read()
    finally:
        agent.driver.read = read
        drv.sock.close()
    assert_still_serves(agent)


def test_authenticated_session_survives_bad_messages(agent):
    drv = NetworkDriver(*agent.address, token=TOKEN)
    drv.connect()
    try:
        send_msg(drv.sock, [1, 2, 3])
        assert "unknown op" in recv_msg(drv.sock)["error"]
        with pytest.raises(ConfigError, match="finite"):
            drv.write(np.array([np.inf] * 7, np.float32))
        assert drv.read().obs["state"].ndim == 1
    finally:
        drv.disconnect()


def test_non_loopback_bind_without_a_token_is_refused():
    drv = Counting(TASK, realtime=False)
    for host in ("0.0.0.0", "", "::"):
        with pytest.raises(ConfigError, match="--token-file"):
            DriverAgent(drv, host=host)
    with pytest.raises(ConfigError, match="non-empty"):
        DriverAgent(drv, host="0.0.0.0", token="")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("robot.local")
    DriverAgent(drv, host="0.0.0.0", token="t").sock.close()  # with a token it binds


def test_cli_agent_refuses_a_public_bind_without_a_token(tmp_path):
    r = CliRunner().invoke(app, ["agent", "--robot", f"sim:{TASK}", "--host", "0.0.0.0", "--port", "0"])
    assert r.exit_code == 2 and "0.0.0.0" in r.output and "--token-file" in r.output
    (tmp_path / "tok").write_text("\n")
    r = CliRunner().invoke(
        app, ["agent", "--robot", f"sim:{TASK}", "--token-file", str(tmp_path / "tok"), "--port", "0"]
    )
    assert r.exit_code == 2 and "empty" in r.output
