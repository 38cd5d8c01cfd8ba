"""A network driver: the runtime on one machine drives a robot-side agent on another over TCP.

Wire format: each message is a 4-byte big-endian length followed by a msgpack-numpy map. Requests are
`{"op": "hello"|"read"|"write"|"stop"|"disconnect", ...}`; replies `{"ok": true, ...}` or
`{"ok": false, "error": "..."}`. The agent serves one runtime at a time, requires the shared token
when one is set (and refuses to listen beyond loopback without one), and stops the robot when the link
drops or goes silent for `idle_timeout` seconds. A client must complete its hello within
`handshake_timeout` seconds; a malformed or refused hello is answered with an error and closed, and no
session, however it ends, takes down the accept loop.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import struct
import threading
import time
from collections import deque

import numpy as np

from physai.core.errors import ConfigError
from physai.deploy import msgpack_numpy as mp
from physai.deploy.drivers.base import DriverInfo, Reading
from physai.deploy.safety import RobotState
from physai.embodiments.base import SafetyLimits

MAX_MESSAGE = 16 * 2**20
MAX_HELLO = 64 * 2**10  # an unauthenticated client may not make the agent buffer more than this
MAX_ERRORS = 100  # DriverAgent.errors keeps the most recent session errors only


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1); False for "", 0.0.0.0, names."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_msg(sock: socket.socket, obj: object) -> None:
    data = mp.packb(obj)
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock: socket.socket, max_size: int = MAX_MESSAGE, deadline: float | None = None) -> object:
    """Read one message; `deadline` (time.monotonic()) bounds the whole read, not each recv call."""
    head = _recv_exact(sock, 4, deadline)
    (n,) = struct.unpack(">I", head)
    if n > max_size:
        raise mp.DecodeError(f"message of {n} bytes exceeds the limit of {max_size}")
    return mp.unpackb(_recv_exact(sock, n, deadline), max_size=max_size)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


def _try_send(conn: socket.socket, obj: object) -> None:
    """Best-effort reply on a session that is being closed (the peer may already be gone)."""
    try:
        conn.settimeout(0.5)
        send_msg(conn, obj)
    except OSError:
        pass


def _info_to_wire(info: DriverInfo) -> dict:
    return {
        "embodiment": info.embodiment,
        "control": info.control,
        "hz": info.hz,
        "state_names": info.state_names,
        "action_names": info.action_names,
        "action_low": np.asarray(info.action_low, np.float64),
        "action_high": np.asarray(info.action_high, np.float64),
        "cameras": info.cameras,
        "image_size": list(info.image_size) if info.image_size else None,
        "tactile_dim": int(info.tactile_dim),
        "safety_limits": info.safety_limits.to_dict(),
    }


def _info_from_wire(d: dict) -> DriverInfo:
    lim = dict(d["safety_limits"])
    for k, v in lim.items():
        if isinstance(v, list) and k != "joint_names":
            lim[k] = np.asarray(v, float)
    lim["joint_names"] = tuple(lim["joint_names"])
    return DriverInfo(
        embodiment=d["embodiment"],
        control=d["control"],
        hz=float(d["hz"]),
        state_names=list(d["state_names"]),
        action_names=list(d["action_names"]),
        action_low=np.asarray(d["action_low"]),
        action_high=np.asarray(d["action_high"]),
        safety_limits=SafetyLimits(**lim),
        cameras=list(d["cameras"]),
        image_size=(int(d["image_size"][0]), int(d["image_size"][1])) if d.get("image_size") else None,
        tactile_dim=int(d.get("tactile_dim") or 0),
    )


def _reading_to_wire(r: Reading) -> dict:
    rs = r.robot
    return {
        "obs": r.obs,
        "joint_pos": rs.joint_pos,
        "ee_pos": rs.ee_pos,
        "wrench": rs.wrench,
        "tactile": rs.tactile,
        "stamp": rs.stamp,
        "base_pose": rs.base_pose,
        "base_vel": rs.base_vel,
        "success": r.success,
        "done": r.done,
    }


class SessionError(Exception):
    """A session the agent ends on purpose: the message is sent to the client before closing."""


class DriverAgent:
    """Robot-side agent: exposes a local driver on `host:port` to one remote runtime at a time.

    `token`: shared secret the runtime must present in its hello (required unless `host` is loopback).
    `idle_timeout`: seconds of silence from an authenticated runtime after which the robot is stopped.
    `handshake_timeout`: seconds a new client has to complete its hello before it is dropped.
    """

    def __init__(
        self,
        driver,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        idle_timeout: float = 1.0,
        handshake_timeout: float = 2.0,
    ) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise ConfigError(
                f"the robot agent token must be a non-empty string, got {type(token).__name__} "
                f"of length {len(token) if isinstance(token, (str, bytes)) else '-'}; put it in --token-file"
            )
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"refusing to expose the robot on {host!r} without a token: anyone who reaches that "
                f"address could command the robot; pass --token-file (DriverAgent(token=...)) or bind "
                f"127.0.0.1"
            )
        if not handshake_timeout > 0 or not idle_timeout > 0:
            raise ConfigError(
                f"handshake_timeout ({handshake_timeout}) and idle_timeout ({idle_timeout}) must be > 0 s"
            )
        self.driver, self.idle_timeout, self.handshake_timeout = driver, idle_timeout, handshake_timeout
        self.token = token
        self._token = None if token is None else token.encode("utf-8", "surrogatepass")
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.info: DriverInfo | None = None
        self.errors: deque[str] = deque(maxlen=MAX_ERRORS)

    @property
    def serving(self) -> bool:
        """Whether the accept loop is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> DriverAgent:
        """Connect the local driver and serve in a background thread."""
        try:
            self.info = self.driver.connect()
        except BaseException:
            self.sock.close()
            raise
        self._thread = threading.Thread(target=self._serve, name="driver-agent", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set() or self.sock.fileno() == -1:
                    break  # closed by close()
                self._error(exc)  # e.g. ECONNABORTED, EMFILE: keep serving
                time.sleep(0.05)
                continue
            self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        """Run one session; whatever happens in it, the robot is stopped and the accept loop goes on."""
        reply = None
        try:
            with conn:
                try:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._session(conn)
                except SessionError as exc:
                    self._error(exc)
                    reply = str(exc)
                except (ConnectionError, TimeoutError) as exc:
                    self._error(exc)  # the link dropped or went silent: nobody to answer
                except Exception as exc:
                    self._error(exc)
                    reply = f"agent error: {type(exc).__name__}: {str(exc)[:200]}"
                self._stop_robot()  # before answering: the client may act on the answer at once
                if reply is not None:
                    _try_send(conn, {"ok": False, "error": reply})
        except Exception as exc:
            self._error(exc)
            self._stop_robot()

    def _stop_robot(self) -> None:
        """Link lost or closed: the robot holds still."""
        try:
            self.driver.stop()
        except Exception as exc:
            self._error(exc)

    def _error(self, exc: BaseException) -> None:
        self.errors.append(f"{type(exc).__name__}: {str(exc)[:500]}")

    def _hello(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + self.handshake_timeout
        try:
            hello = recv_msg(conn, MAX_HELLO, deadline)
        except TimeoutError:
            raise SessionError(
                f"no hello within the handshake timeout of {self.handshake_timeout:g} s"
            ) from None
        except mp.DecodeError as exc:
            raise SessionError(f"malformed hello: {exc}") from None
        if not isinstance(hello, dict) or hello.get("op") != "hello":
            raise SessionError("expected a hello message first: {'op': 'hello', 'token': '...'}")
        if self._token is not None:
            tok = hello.get("token")
            if not isinstance(tok, str) or not hmac.compare_digest(
                tok.encode("utf-8", "surrogatepass"), self._token
            ):
                raise SessionError("bad or missing token")

    def _session(self, conn: socket.socket) -> None:
        self._hello(conn)
        info = self.info
        if info is None:
            raise SessionError("the agent's driver is not connected")
        conn.settimeout(self.idle_timeout)
        send_msg(conn, {"ok": True, "info": _info_to_wire(info)})
        while not self._stop.is_set():
            try:
                msg = recv_msg(conn)
            except mp.DecodeError as exc:
                raise SessionError(f"malformed message: {exc}") from None
            if not isinstance(msg, dict):
                msg = {}
            op = msg.get("op")
            if op == "read":
                send_msg(conn, {"ok": True, "reading": _reading_to_wire(self.driver.read())})
            elif op == "write":
                cmd = msg.get("command")
                n = len(info.action_names)
                if not isinstance(cmd, np.ndarray) or cmd.shape != (n,) or not np.all(np.isfinite(cmd)):
                    self.driver.stop()
                    send_msg(
                        conn, {"ok": False, "error": f"command must be a finite float array of shape ({n},)"}
                    )
                    continue
                self.driver.write(cmd)
                send_msg(conn, {"ok": True})
            elif op == "stop":
                self.driver.stop()
                send_msg(conn, {"ok": True})
            elif op == "disconnect":
                send_msg(conn, {"ok": True})
                return
            else:
                send_msg(conn, {"ok": False, "error": f"unknown op {repr(op)[:80]}"})

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.driver.disconnect()


class NetworkDriver:
    """Runtime-side `RobotDriver` that talks to a `DriverAgent`."""

    def __init__(self, host: str, port: int, token: str | None = None, timeout: float = 2.0) -> None:
        self.host, self.port, self.token, self.timeout = host, port, token, timeout
        self.sock: socket.socket | None = None

    def _call(self, msg: dict) -> dict:
        if self.sock is None:
            raise ConfigError("the network driver is not connected; call connect() first")
        send_msg(self.sock, msg)
        rep = recv_msg(self.sock)
        if not isinstance(rep, dict) or not rep.get("ok"):
            err = rep.get("error") if isinstance(rep, dict) else rep
            raise ConfigError(f"robot agent at {self.host}:{self.port} refused {msg.get('op')!r}: {err}")
        return rep

    def connect(self) -> DriverInfo:
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ConfigError(f"cannot reach the robot agent at {self.host}:{self.port}: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _info_from_wire(self._call({"op": "hello", "token": self.token or ""})["info"])

    def read(self) -> Reading:
        r = self._call({"op": "read"})["reading"]
        return Reading(
            obs=dict(r["obs"]),
            robot=RobotState(
                joint_pos=r["joint_pos"],
                ee_pos=r["ee_pos"],
                wrench=r["wrench"],
                tactile=r["tactile"],
                stamp=r.get("stamp"),
                base_pose=r.get("base_pose"),
                base_vel=r.get("base_vel"),
            ),
            success=bool(r["success"]),
            done=bool(r["done"]),
        )

    def write(self, command: np.ndarray) -> None:
        self._call({"op": "write", "command": np.asarray(command, np.float32)})

    def stop(self) -> None:
        if self.sock is not None:
            self._call({"op": "stop"})

    def disconnect(self) -> None:
        if self.sock is not None:
            try:
                self._call({"op": "disconnect"})
            except (OSError, ConfigError):
                pass
            self.sock.close()
            self.sock = None
