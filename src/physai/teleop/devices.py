"""Local input devices: the terminal keyboard (raw tty, no dependency), a gamepad (pygame, optional) and
a 3Dconnexion SpaceMouse (hidapi, optional). A missing optional library or device is a `ConfigError`
that says what to install or plug in; a device that vanishes mid-session reports `connected=False`
(the arbiter then holds the robot)."""

from __future__ import annotations

import os
import select
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from physai.core.errors import ConfigError
from physai.teleop.sources import ControlContext, SourceInput, register_source

KEYS: dict[str, tuple[int, float]] = {
    "w": (0, 1.0),
    "s": (0, -1.0),
    "a": (1, 1.0),
    "d": (1, -1.0),
    "r": (2, 1.0),
    "f": (2, -1.0),
    "j": (3, 1.0),
    "l": (3, -1.0),
    "i": (4, 1.0),
    "k": (4, -1.0),
    "q": (5, 1.0),
    "e": (5, -1.0),
    "\x1b[A": (0, 1.0),
    "\x1b[B": (0, -1.0),
    "\x1b[D": (1, 1.0),
    "\x1b[C": (1, -1.0),
}
"""Key -> (twist axis, direction): w/s x, a/d y, r/f z, j/l roll, i/k pitch, q/e yaw; arrows x/y."""

KEY_HELP = (
    "w/s a/d r/f: move x/y/z, j/l i/k q/e: roll/pitch/yaw, space: gripper, tab: next arm, "
    "t: take/hand back control, enter: save episode, backspace: discard, esc: quit"
)


def _optional(module: str, what: str, install: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"the {what} source needs the optional package {install!r}, which is not installed: "
            f"pip install {install} (or use --source keyboard or --source browser)"
        ) from None


@register_source("keyboard")
class KeyboardSource:
    """The terminal as a keyboard (raw mode, restored on close). Motion keys act while they repeat:
    a key counts as held for `hold_s` after each press (the terminal's auto-repeat refreshes it)."""

    def __init__(
        self,
        name: str = "keyboard",
        fd: int | None = None,
        engaged: bool = True,
        hold_s: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.start_engaged, self.hold_s, self.clock = engaged, hold_s, clock
        self._saved: Any = None
        self.messages: list[str] = []

    def open(self, ctx: ControlContext) -> None:
        if os.isatty(self.fd):
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        self.reset()
        self.arm = 0

    def reset(self) -> None:
        self.engaged = self.start_engaged
        self.until = np.zeros(6)
        self.dirs = np.zeros(6)
        self.gripper = 0.0
        self.connected = True
        self._buf = ""

    def _read(self) -> str:
        chars = ""
        while self.connected and select.select([self.fd], [], [], 0)[0]:
            b = os.read(self.fd, 64)
            if not b:  # end of input: the terminal (or pipe) is gone
                self.connected = False
                break
            chars += b.decode("utf-8", "replace")
        return chars

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        now = self.clock()
        data = self._buf + self._read()
        self._buf = ""
        events: list[str] = []
        arm: int | None = None
        grip: float | None = None
        i = 0
        while i < len(data):
            seq = data[i : i + 3] if data[i] == "\x1b" else data[i]
            if data[i] == "\x1b" and len(data) - i < 3 and i + 1 < len(data) and data[i + 1] == "[":
                self._buf = data[i:]  # an arrow key split across reads
                break
            if seq in KEYS:
                ax, sgn = KEYS[seq]
                self.dirs[ax], self.until[ax] = sgn, now + self.hold_s
                i += len(seq)
                continue
            ch = data[i]
            i += 1
            if ch == " ":
                self.gripper = 0.0 if self.gripper > 0.5 else 1.0
                grip = self.gripper
            elif ch == "\t":
                self.arm += 1
                arm = self.arm
            elif ch == "t":
                self.engaged = not self.engaged
            elif ch in "\r\n":
                events.append("save")
            elif ch in "\x7f\x08":
                events.append("discard")
            elif ch == "\x1b":
                events.append("quit")
        twist = np.where(self.until > now, self.dirs, 0.0).astype(np.float32)
        return SourceInput(
            connected=self.connected,
            engaged=self.engaged and self.connected,
            twist=twist,
            gripper=grip,
            arm=arm,
            events=tuple(events),
        )

    def notify(self, event: str, detail: str) -> None:
        self.messages.append(f"{event}: {detail}")
        if event == "denied":
            self.engaged = False

    def close(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None


@register_source("gamepad")
class GamepadSource:
    """A gamepad through pygame's joystick API. Left stick: x/y, right stick: z and yaw, triggers:
    roll; A: gripper, LB held: control (interventions), X: next arm, Start: save, Back: discard."""

    def __init__(
        self, name: str = "gamepad", index: int = 0, engaged: bool = True, deadzone: float = 0.1
    ) -> None:
        self.name, self.index, self.start_engaged, self.deadzone = name, index, engaged, deadzone
        self.pg = _optional("pygame", "gamepad", "pygame")

    def open(self, ctx: ControlContext) -> None:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        self.pg.display.init()
        self.pg.joystick.init()
        if self.pg.joystick.get_count() <= self.index:
            raise ConfigError(
                f"no gamepad #{self.index} found ({self.pg.joystick.get_count()} connected); plug one in "
                "or use --source keyboard / --source browser"
            )
        self.js = self.pg.joystick.Joystick(self.index)
        self.js.init()
        self.connected, self.gripper, self.arm = True, 0.0, 0
        self.prev: dict[int, bool] = {}
        self.reset()

    def reset(self) -> None:
        self.prev = {}

    def _pressed(self, b: int) -> bool:
        now = bool(self.js.get_numbuttons() > b and self.js.get_button(b))
        edge = now and not self.prev.get(b, False)
        self.prev[b] = now
        return edge

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        for ev in self.pg.event.get():
            if ev.type == getattr(self.pg, "JOYDEVICEREMOVED", -1):
                self.connected = False
        if not self.connected:
            return SourceInput(connected=False)
        ax = [self.js.get_axis(i) if i < self.js.get_numaxes() else 0.0 for i in range(6)]
        tw = np.array([-ax[1], -ax[0], -ax[4], (ax[5] - ax[2]) / 2, 0.0, -ax[3]], np.float32)
        tw[np.abs(tw) < self.deadzone] = 0.0
        grip = arm = None
        if self._pressed(0):
            self.gripper = 0.0 if self.gripper > 0.5 else 1.0
            grip = self.gripper
        if self._pressed(2):
            self.arm += 1
            arm = self.arm
        events = tuple(e for b, e in ((7, "save"), (6, "discard")) if self._pressed(b))
        engaged = self.start_engaged or bool(self.js.get_numbuttons() > 4 and self.js.get_button(4))
        return SourceInput(engaged=engaged, twist=tw, gripper=grip, arm=arm, events=events)

    def notify(self, event: str, detail: str) -> None:
        pass

    def close(self) -> None:
        self.pg.joystick.quit()


SPACEMOUSE_VENDORS = (0x256F, 0x046D)
"""3Dconnexion's USB vendor ids (current, and the older Logitech-made devices)."""


def parse_spacemouse(report: bytes, axes: np.ndarray, scale: float = 350.0) -> int | None:
    """Update `axes` (x, y, z, roll, pitch, yaw in [-1, 1]) from one HID report; returns the button
    bitmask for a button report, else None. Report 1 carries translation (or all six axes on newer
    devices), 2 rotation, 3 buttons; values are little-endian int16."""
    if not report:
        return None
    rid, body = report[0], bytes(report[1:])
    if rid in (1, 2) and len(body) >= 6:
        n = 6 if rid == 1 and len(body) >= 12 else 3
        vals = np.array(struct.unpack(f"<{n}h", body[: 2 * n]), np.float64) / scale
        start = 0 if rid == 1 else 3
        axes[start : start + n] = np.clip(vals, -1.0, 1.0)
        return None
    if rid == 3 and body:
        return int.from_bytes(body[:4].ljust(4, b"\0"), "little")
    return None


@register_source("spacemouse")
class SpaceMouseSource:
    """A 3Dconnexion SpaceMouse through hidapi (`hid`). Left button: gripper; right button held:
    control (interventions). The device's axes map to the TCP twist (z up, y left)."""

    def __init__(self, name: str = "spacemouse", engaged: bool = True) -> None:
        self.name, self.start_engaged = name, engaged
        self.hid = _optional("hid", "spacemouse", "hidapi")

    def open(self, ctx: ControlContext) -> None:
        devs = [d for d in self.hid.enumerate() if d.get("vendor_id") in SPACEMOUSE_VENDORS]
        if not devs:
            raise ConfigError(
                "no 3Dconnexion SpaceMouse found over USB HID; plug one in (and allow access "
                "to its /dev/hidraw node) or use --source keyboard / --source browser"
            )
        self.dev = self.hid.device()
        self.dev.open_path(devs[0]["path"])
        self.dev.set_nonblocking(True)
        self.connected, self.gripper, self.buttons = True, 0.0, 0
        self.reset()

    def reset(self) -> None:
        self.axes = np.zeros(6)

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        grip = None
        try:
            while self.connected:
                rep = self.dev.read(13)
                if not rep:
                    break
                b = parse_spacemouse(bytes(rep), self.axes)
                if b is not None:
                    if b & 1 and not self.buttons & 1:
                        self.gripper = 0.0 if self.gripper > 0.5 else 1.0
                        grip = self.gripper
                    self.buttons = b
        except OSError:
            self.connected = False
        if not self.connected:
            return SourceInput(connected=False)
        tw = self.axes * np.array([1, -1, -1, 1, -1, -1])
        return SourceInput(
            engaged=self.start_engaged or bool(self.buttons & 2), twist=tw.astype(np.float32), gripper=grip
        )

    def notify(self, event: str, detail: str) -> None:
        pass

    def close(self) -> None:
        self.dev.close()
