"""A network driver: the runtime on one machine drives a robot-side agent on another over TCP.

Wire format: each message is a 4-byte big-endian length followed by a msgpack-numpy map. Requests are
`{"op": "hello"|"read"|"write"|"stop"|"disconnect", ...}`; replies `{"ok": true, ...}` or
`{"ok": false, "error": "..."}`. The agent serves one runtime at a time, requires the shared token
when one is set, and stops the robot when the link drops or goes silent for `idle_timeout` seconds.
"""

from __future__ import annotations

import hmac
import socket
import struct
import threading

import numpy as np

from physai.core.errors import ConfigError
from physai.deploy import msgpack_numpy as mp
from physai.deploy.drivers.base import DriverInfo, Reading
from physai.deploy.safety import RobotState
from physai.embodiments.base import SafetyLimits

MAX_MESSAGE = 16 * 2**20


def send_msg(sock: socket.socket, obj: object) -> None:
    data = mp.packb(obj)
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_msg(sock: socket.socket) -> object:
    head = _recv_exact(sock, 4)
    (n,) = struct.unpack(">I", head)
    if n > MAX_MESSAGE:
        raise mp.DecodeError(f"message of {n} bytes exceeds {MAX_MESSAGE}")
    return mp.unpackb(_recv_exact(sock, n), max_size=MAX_MESSAGE)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


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
        "success": r.success,
        "done": r.done,
    }


class DriverAgent:
    """Robot-side agent: exposes a local driver on `host:port` to one remote runtime at a time."""

    def __init__(
        self,
        driver,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        idle_timeout: float = 1.0,
    ) -> None:
        self.driver, self.token, self.idle_timeout = driver, token, idle_timeout
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.info: DriverInfo | None = None
        self.errors: list[str] = []

    def start(self) -> DriverAgent:
        """Connect the local driver and serve in a background thread."""
        self.info = self.driver.connect()
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
            except OSError:
                break
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.settimeout(self.idle_timeout)
                try:
                    self._session(conn)
                except (ConnectionError, TimeoutError, OSError, mp.DecodeError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                finally:
                    self.driver.stop()  # link lost or closed: the robot holds still

    def _session(self, conn: socket.socket) -> None:
        hello = recv_msg(conn)
        if not isinstance(hello, dict) or hello.get("op") != "hello":
            send_msg(conn, {"ok": False, "error": "expected a hello message first"})
            return
        if self.token is not None and not hmac.compare_digest(str(hello.get("token", "")), self.token):
            send_msg(conn, {"ok": False, "error": "bad or missing token"})
            return
        send_msg(conn, {"ok": True, "info": _info_to_wire(self.info)})
        while not self._stop.is_set():
            msg = recv_msg(conn)
            op = msg.get("op") if isinstance(msg, dict) else None
            if op == "read":
                send_msg(conn, {"ok": True, "reading": _reading_to_wire(self.driver.read())})
            elif op == "write":
                cmd = msg.get("command")
                n = len(self.info.action_names)
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
                send_msg(conn, {"ok": False, "error": f"unknown op {op!r}"})

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
