"""The browser teleop source: an HTTP page (virtual joystick and buttons) and a websocket, served from
the robot's machine so it works headless through a forwarded port (`ssh -L 8765:localhost:8765`).

Page -> server, JSON text messages of at most `max_message` bytes:
`{"type": "cmd", "seq": N, "twist": [x, y, z, roll, pitch, yaw], "engage": bool}` (each axis in
[-1, 1]; the page sends one on every change and every 100 ms while a control is held),
`{"type": "button", "name": "gripper"|"next_arm"|"save"|"discard"|"quit"}`. Anything else (not JSON,
binary, too large, unknown type, wrong field types, non-finite numbers) is answered with
`{"type": "error", ...}` and ignored: the session goes on. A second page connected at the same time
only watches. Server -> page: `hello`, `status` (per shown step: label, holder, the newest command
sequence applied, `moved_seq` -- the newest applied sequence when the robot was measured moving -- and
`moving`), `event` (granted/denied/released/lost...), `error`, and binary camera frames (one byte camera
index + JPEG). A closed page is a disconnected device: the arbiter holds the robot.
"""

from __future__ import annotations

import asyncio
import http
import io
import json
import math
import threading
from importlib import resources

import numpy as np
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from physai.core.errors import ConfigError
from physai.teleop.sources import ControlContext, SourceInput, register_source

BUTTONS = ("gripper", "next_arm", "save", "discard", "quit")
MAX_MESSAGE = 4096
"""Largest message (bytes) the page may send; larger ones are refused with an error reply."""
HARD_LIMIT = 1 << 20
"""The websocket library closes a connection that sends more than this in one message (1009)."""


def page_html() -> str:
    return resources.files("physai.teleop").joinpath("page.html").read_text()


def parse_message(raw: str | bytes, max_message: int = MAX_MESSAGE) -> dict:
    """Validate one message from the page; raises ValueError naming what is wrong."""
    if isinstance(raw, bytes):
        raise ValueError("binary messages are not accepted; send JSON text")
    if len(raw.encode()) > max_message:
        raise ValueError(f"message of {len(raw.encode())} bytes exceeds the {max_message}-byte limit")
    try:
        msg = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ValueError("a message is a JSON object with a string 'type'")
    kind = msg["type"]
    if kind == "cmd":
        tw, seq, eng = msg.get("twist"), msg.get("seq"), msg.get("engage", True)
        if (
            not isinstance(tw, list)
            or len(tw) != 6
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in tw
            )
        ):
            raise ValueError("'twist' must be a list of 6 finite numbers")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("'seq' must be a non-negative integer")
        if not isinstance(eng, bool):
            raise ValueError("'engage' must be true or false")
        return {
            "type": "cmd",
            "seq": seq,
            "twist": [max(-1.0, min(1.0, float(v))) for v in tw],
            "engage": eng,
        }
    if kind == "button":
        if msg.get("name") not in BUTTONS:
            raise ValueError(f"unknown button {msg.get('name')!r}; valid: {list(BUTTONS)}")
        return {"type": "button", "name": msg["name"]}
    if kind == "ping":
        return {"type": "ping", "t": msg.get("t")}
    raise ValueError(f"unknown message type {kind!r}; valid: cmd, button, ping")


@register_source("browser")
class BrowserSource:
    """Serves the teleop page on `host:port` (port 0: any free port, see `url`)."""

    def __init__(
        self,
        name: str = "browser",
        host: str = "127.0.0.1",
        port: int = 8765,
        engaged: bool = True,
        frame_every: int = 2,
        max_message: int = MAX_MESSAGE,
        jpeg_quality: int = 80,
    ) -> None:
        self.name, self.host, self.port = name, host, port
        self.start_engaged, self.frame_every, self.max_message = engaged, max(1, frame_every), max_message
        self.jpeg_quality = jpeg_quality
        self._lock = threading.Lock()
        self._client: ServerConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.rejected = 0
        self.stats = {"messages": 0, "rejected": 0, "connections": 0, "frames_sent": 0}
        self._twist = np.zeros(6, np.float32)
        self._engage = engaged
        self._seq: int | None = None
        self._buttons: list[str] = []
        self._connected = False
        self._ever = False
        self._shown = 0
        self._last_pos: np.ndarray | None = None
        self._moved_seq: int | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self, ctx: ControlContext) -> None:
        self.ctx = ctx
        self._thread = threading.Thread(target=self._run, name="physai-teleop-browser", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            err = self._error
            if isinstance(err, OSError):
                raise ConfigError(
                    f"cannot serve the teleop page on {self.host}:{self.port}: {err.strerror or err}; "
                    "pick another --port"
                ) from None
            raise ConfigError(f"the teleop page server did not start: {err}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._http,
            max_size=HARD_LIMIT,
            ping_interval=5,
            ping_timeout=5,
        ) as server:
            self.port = server.sockets[0].getsockname()[1] if server.sockets else self.port
            self._ready.set()
            await self._stop.wait()

    def _http(self, connection: ServerConnection, request):
        path = request.path.split("?")[0]
        if path == "/ws":
            return None
        if path in ("/", "/index.html"):
            body = page_html().encode()
            headers = Headers(
                [
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                ]
            )
            return Response(200, "OK", headers, body)
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")

    async def _send(self, ws: ServerConnection, doc: dict | bytes) -> None:
        try:
            await ws.send(doc if isinstance(doc, bytes) else json.dumps(doc))
        except ConnectionClosed:
            pass

    async def _handler(self, ws: ServerConnection) -> None:
        self.stats["connections"] += 1
        with self._lock:
            operator = self._client is None
            if operator:
                self._client, self._connected, self._ever = ws, True, True
                self._engage = self.start_engaged
        ctx = self.ctx
        await self._send(
            ws,
            {
                "type": "hello",
                "role": "operator" if operator else "viewer",
                "control": ctx.control,
                "cameras": list(ctx.cameras),
                "hz": ctx.hz,
                "max_message": self.max_message,
                "engaged": self.start_engaged,
            },
        )
        try:
            async for raw in ws:
                self.stats["messages"] += 1
                try:
                    msg = parse_message(raw, self.max_message)
                except ValueError as exc:
                    self.stats["rejected"] += 1
                    await self._send(ws, {"type": "error", "reason": str(exc)})
                    continue
                if msg["type"] == "ping":
                    await self._send(ws, {"type": "pong", "t": msg["t"]})
                    continue
                if not operator:
                    await self._send(
                        ws, {"type": "error", "reason": "another page is driving; this one only watches"}
                    )
                    continue
                with self._lock:
                    if msg["type"] == "cmd":
                        self._twist = np.asarray(msg["twist"], np.float32)
                        self._engage = msg["engage"]
                        self._seq = msg["seq"]
                    else:
                        self._buttons.append(msg["name"])
        except ConnectionClosed:
            pass
        finally:
            if operator:
                with self._lock:
                    self._client, self._connected = None, False
                    self._twist = np.zeros(6, np.float32)

    def reset(self) -> None:
        with self._lock:
            self._buttons.clear()
        self._last_pos, self._moved_seq = None, None

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        with self._lock:
            connected = self._connected
            buttons, self._buttons = self._buttons, []
            twist, engage, seq = self._twist.copy(), self._engage, self._seq
        if not connected:
            # never connected yet: waiting for the operator (not a lost device); gone after connecting: lost
            return SourceInput(connected=not self._ever, engaged=False)
        grip = arm = None
        events = []
        for b in buttons:
            if b == "gripper":
                g = getattr(self, "_grip", 0.0)
                self._grip = grip = 0.0 if g > 0.5 else 1.0
            elif b == "next_arm":
                self._arm = arm = getattr(self, "_arm", 0) + 1
            else:
                events.append(b)
        return SourceInput(engaged=engage, twist=twist, gripper=grip, arm=arm, events=tuple(events), seq=seq)

    def notify(self, event: str, detail: str) -> None:
        self._push({"type": "event", "event": event, "detail": detail})

    def _push(self, doc: dict | bytes) -> None:
        ws, loop = self._client, self._loop
        if ws is None or loop is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._send(ws, doc), loop)
        except RuntimeError:  # the loop is shutting down
            pass

    def show(self, obs: dict, status: dict, seq: int | None) -> None:
        """Called after every step: send the status (with motion for latency) and, every `frame_every`
        steps, the camera frames."""
        pos = _positions(obs, self.ctx)
        moving = False
        if pos is not None and self._last_pos is not None:
            moving = bool(np.max(np.abs(pos - self._last_pos)) > 5e-4)
            if moving and seq is not None:
                self._moved_seq = seq
        self._last_pos = pos
        self._push(
            {"type": "status", **status, "applied_seq": seq, "moved_seq": self._moved_seq, "moving": moving}
        )
        self._shown += 1
        if self._client is None or self._shown % self.frame_every:
            return
        for i, cam in enumerate(self.ctx.cameras):
            img = obs.get(f"images/{cam}")
            if img is not None:
                self._push(bytes([i]) + _jpeg(img, self.jpeg_quality))
                self.stats["frames_sent"] += 1

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)


def _positions(obs: dict, ctx: ControlContext) -> np.ndarray | None:
    """The measured positions that show motion: the TCP position elements of the state (`*ee.pos.*`),
    else the base's, else the whole state."""
    state = obs.get("state")
    if state is None:
        return None
    names = list(getattr(ctx.env, "state_names", []) or [])
    idx = [i for i, n in enumerate(names) if ".pos." in n and (n.split("/")[-1].startswith(("ee.", "base.")))]
    return np.asarray(state, np.float64)[idx] if idx else np.asarray(state, np.float64)


def _jpeg(img: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(img, np.uint8)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
