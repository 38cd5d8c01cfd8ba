"""The browser source over a real websocket: the page is served, commands arrive, malformed and
oversized messages are refused while the session goes on, a second page only watches, a closed page
is a lost device."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect

from physai.teleop import ControlContext
from physai.teleop.browser import MAX_MESSAGE, BrowserSource, parse_message

NAMES = ("ee.dx", "ee.dy", "ee.dz", "ee.drx", "ee.dry", "ee.drz", "gripper")
CTX = ControlContext("ee_delta", 20.0, NAMES, -np.ones(7, np.float32), np.ones(7, np.float32))


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{bad", "not JSON"),
        (b"\x00\x01", "binary"),
        ("[1, 2]", "JSON object"),
        ('{"type": "warp"}', "unknown message type"),
        ('{"type": "cmd", "seq": 1, "twist": [1, 2, 3]}', "6 finite numbers"),
        ('{"type": "cmd", "seq": 1, "twist": [0, 0, 0, 0, 0, NaN]}', "6 finite numbers"),
        ('{"type": "cmd", "seq": -1, "twist": [0, 0, 0, 0, 0, 0]}', "non-negative"),
        ('{"type": "cmd", "seq": 1, "twist": [0, 0, 0, 0, 0, 0], "engage": "yes"}', "true or false"),
        ('{"type": "button", "name": "selfdestruct"}', "unknown button"),
        ('{"type": "ping", "pad": "' + "x" * MAX_MESSAGE + '"}', "exceeds"),
    ],
)
def test_parse_message_refuses(raw, why) -> None:
    with pytest.raises(ValueError, match=why):
        parse_message(raw)


def test_parse_message_clips_twist() -> None:
    m = parse_message('{"type": "cmd", "seq": 3, "twist": [2, -5, 0, 0, 0, 0.5]}')
    assert m == {"type": "cmd", "seq": 3, "twist": [1.0, -1.0, 0.0, 0.0, 0.0, 0.5], "engage": True}


def _poll_until(src: BrowserSource, pred, timeout: float = 5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        inp = src.poll({}, None)
        if pred(inp):
            return inp
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def test_websocket_session_survives_bad_input() -> None:
    src = BrowserSource(port=0)
    src.open(CTX)
    try:
        page = urllib.request.urlopen(src.url, timeout=5).read().decode()
        assert "virtual joystick" in page and "/ws" in page
        assert src.poll({}, None).connected  # nobody connected yet: waiting, not lost

        async def talk() -> list[dict]:
            replies = []
            async with (
                connect(f"ws://127.0.0.1:{src.port}/ws") as ws,
                connect(f"ws://127.0.0.1:{src.port}/ws") as viewer,
            ):
                replies.append(json.loads(await ws.recv()))
                assert json.loads(await viewer.recv())["role"] == "viewer"
                for bad in ("{bad", "x" * (8 * MAX_MESSAGE), b"\x00" * 10, '{"type": "cmd"}'):
                    await ws.send(bad)
                    replies.append(json.loads(await ws.recv()))
                await viewer.send(json.dumps({"type": "cmd", "seq": 1, "twist": [-1, 0, 0, 0, 0, 0]}))
                replies.append(json.loads(await viewer.recv()))
                await ws.send(json.dumps({"type": "cmd", "seq": 7, "twist": [1, 0, 0, 0, 0, 0]}))
                await ws.send(json.dumps({"type": "button", "name": "save"}))
                inp = await asyncio.to_thread(_poll_until, src, lambda i: "save" in i.events)
                replies.append({"polled": inp})
            return replies

        replies = asyncio.run(talk())
        assert replies[0]["type"] == "hello" and replies[0]["role"] == "operator"
        assert [r["type"] for r in replies[1:5]] == ["error"] * 4
        assert "exceeds" in replies[2]["reason"] and "binary" in replies[3]["reason"]
        assert "only watches" in replies[5]["reason"]
        inp = replies[6]["polled"]
        assert inp.engaged and inp.twist[0] == 1.0 and inp.events == ("save",)  # the session went on
        gone = _poll_until(src, lambda i: not i.connected)  # the page closed: a lost device
        assert not gone.engaged and src.stats["rejected"] == 4
    finally:
        src.close()


def test_busy_port_is_a_clear_error() -> None:
    from physai.core.errors import ConfigError

    a = BrowserSource(port=0)
    a.open(CTX)
    try:
        b = BrowserSource(port=a.port)
        with pytest.raises(ConfigError, match="pick another --port"):
            b.open(CTX)
    finally:
        a.close()
