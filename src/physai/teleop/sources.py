"""Teleoperation sources: one `TeleopSource` protocol, a registry, and the mapping from a source's
normalized input to a command in the robot's control mode.

A source (keyboard, gamepad, SpaceMouse, browser page, the scripted "human") reports each cycle what
the operator is doing as a `SourceInput`: whether it is connected, whether it asks for control, a
normalized twist (each axis in [-1, 1]) and gripper, or a complete action when it computes one itself
(the scripted expert). `CommandMapper` turns that into an action vector of the control mode the task
uses (`ee_delta` arms, one or two of them; `base_velocity` bases), so the same source serves
`physai teleop` and `physai run --intervene`. Sources never block: `poll` returns what arrived since
the last call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from physai.core.errors import ConfigError
from physai.core.registry import Registry

SOURCES: Registry[Callable[..., TeleopSource]] = Registry("teleop source")
"""Registered teleop sources by name (`keyboard`, `gamepad`, `spacemouse`, `browser`, `expert`)."""

TWIST_AXES = ("x", "y", "z", "roll", "pitch", "yaw")
"""The order of `SourceInput.twist`: linear x/y/z then angular about x/y/z (world frame)."""


def register_source(name: str) -> Callable:
    """Decorator registering a `TeleopSource` factory (a class or function taking keyword options)."""
    return SOURCES.register(name)


def make_source(name: str, **options: Any) -> TeleopSource:
    """Build the registered source `name` with its keyword options."""
    return SOURCES.get(name)(**options)


@dataclass(frozen=True)
class ControlContext:
    """What a source is told about the robot it will command when it is opened."""

    control: str
    """Control mode of the commands (`ee_delta`, `base_velocity`, ...)."""
    hz: float
    """Control rate (cycles per second)."""
    action_names: tuple[str, ...]
    """Names of the command elements."""
    action_low: np.ndarray
    """Lower bound per command element."""
    action_high: np.ndarray
    """Upper bound per command element."""
    cameras: tuple[str, ...] = ()
    """Cameras whose images appear in observations as `images/<camera>`."""
    env: Any = None
    """The simulated env when there is one (the scripted expert reads its privileged state); None on a
    real robot."""


@dataclass
class SourceInput:
    """What one source reports for one cycle."""

    connected: bool = True
    """False once the device is gone (unplugged, browser tab closed, terminal lost)."""
    engaged: bool = False
    """The operator asks to hold control (a dead-man button, the page's 'take over', the expert
    disagreeing with the policy)."""
    twist: np.ndarray = field(default_factory=lambda: np.zeros(6, np.float32))
    """Normalized motion command in [-1, 1] per axis, in `TWIST_AXES` order (0: hold still)."""
    gripper: float | None = None
    """Gripper closure wanted in [0, 1] (1 = closed); None keeps the last one."""
    arm: int | None = None
    """Which arm the twist moves on a multi-arm robot (None keeps the current one)."""
    action: np.ndarray | None = None
    """A complete command in the control mode (sources that compute one, e.g. the expert); when set,
    twist/gripper are ignored."""
    events: tuple[str, ...] = ()
    """Session events: `save` (end the episode and keep it), `discard` (end and drop it), `quit`."""
    seq: int | None = None
    """The sequence number of the newest operator message behind this input (browser latency)."""


class TeleopSource(Protocol):
    """One operator input device. `open` once, `reset` at each episode start, `poll` every control
    cycle (never blocks), `notify` when the arbiter grants, refuses or ends control, `close` at the end."""

    name: str

    def open(self, ctx: ControlContext) -> None: ...

    def reset(self) -> None: ...

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput: ...

    def notify(self, event: str, detail: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class MapperConfig:
    """How far a full-scale input moves the robot."""

    linear_speed: float = 0.15
    """TCP speed (m/s) at full deflection (the supervisor's collaborative cap still applies)."""
    angular_speed: float = 0.8
    """Wrist rotation speed (rad/s) at full deflection."""
    base_fraction: float = 0.6
    """Base velocity at full deflection, as a fraction of the command bound."""


class CommandMapper:
    """Turns `SourceInput` into commands of one control mode; `hold()` is the command that keeps the
    robot where it is (zero deltas, the gripper as last commanded; zero base velocity)."""

    def __init__(self, ctx: ControlContext, config: MapperConfig | None = None) -> None:
        self.ctx, self.cfg = ctx, config or MapperConfig()
        names = list(ctx.action_names)
        self.n = len(names)
        self.arm = 0
        if ctx.control == "ee_delta":
            prefixes = [n[: -len("ee.dx")] for n in names if n.endswith("ee.dx")]
            if not prefixes:
                raise ConfigError(f"ee_delta commands {names} have no '<prefix>ee.dx' channel to teleoperate")
            self.arms = []
            for p in prefixes:
                idx = [names.index(f"{p}ee.{a}") for a in ("dx", "dy", "dz", "drx", "dry", "drz")]
                grip = names.index(f"{p}gripper") if f"{p}gripper" in names else None
                self.arms.append((p, idx, grip))
            self.grip = [0.0] * len(self.arms)
        elif ctx.control == "base_velocity":
            self.base = [names.index(n) for n in names if n.split(".")[-1] in ("vx", "vy", "yaw_rate")]
            if len(self.base) != 3:
                raise ConfigError(f"base_velocity commands {names} lack vx/vy/yaw_rate channels")
        else:
            raise ConfigError(
                f"teleoperation drives ee_delta arms and base_velocity bases; this robot takes "
                f"{ctx.control!r} commands (make the task's env with control='ee_delta' where it has one)"
            )

    def hold(self) -> np.ndarray:
        a = np.zeros(self.n, np.float32)
        if self.ctx.control == "ee_delta":
            for (_, _, g), w in zip(self.arms, self.grip, strict=True):
                if g is not None:
                    a[g] = w
        return a

    def observe_action(self, action: np.ndarray) -> None:
        """Follow the gripper of commands others wrote (the policy's), so a takeover keeps the grasp."""
        if self.ctx.control == "ee_delta":
            for k, (_, _, g) in enumerate(self.arms):
                if g is not None:
                    self.grip[k] = float(action[g])

    def command(self, inp: SourceInput) -> np.ndarray:
        """The command for `inp` (a complete `inp.action` is clipped to the bounds and used as is)."""
        lo, hi = self.ctx.action_low, self.ctx.action_high
        if inp.action is not None:
            a = np.clip(np.asarray(inp.action, np.float32).reshape(self.n), lo, hi)
            self.observe_action(a)
            return a
        tw = np.clip(np.nan_to_num(np.asarray(inp.twist, np.float64).reshape(6)), -1.0, 1.0)
        dt = 1.0 / self.ctx.hz
        if self.ctx.control == "base_velocity":
            a = np.zeros(self.n, np.float32)
            bound = np.maximum(np.abs(lo), np.abs(hi))
            for i, v in zip(self.base, (tw[0], tw[1], tw[5]), strict=True):
                a[i] = v * self.cfg.base_fraction * bound[i]
            return np.clip(a, lo, hi)
        if inp.arm is not None:
            self.arm = int(inp.arm) % len(self.arms)
        if inp.gripper is not None:
            self.grip[self.arm] = float(np.clip(inp.gripper, 0.0, 1.0))
        a = self.hold()
        _, idx, _ = self.arms[self.arm]
        a[idx[:3]] = tw[:3] * self.cfg.linear_speed * dt
        a[idx[3:]] = tw[3:] * self.cfg.angular_speed * dt
        return np.clip(a, lo, hi)


def context_from_env(env: Any) -> ControlContext:
    """The `ControlContext` of a `PhysaiEnv`."""
    spec = env.action_spec
    return ControlContext(
        control=env.control,
        hz=float(env.metadata["render_fps"]),
        action_names=tuple(spec.names),
        action_low=np.asarray(spec.low, np.float32),
        action_high=np.asarray(spec.high, np.float32),
        cameras=tuple(env.camera_names) if "images" in env.obs_keys else (),
        env=env,
    )


class ScriptedSource:
    """A source replaying a list of `SourceInput`s, one per poll (then disconnected, or the last one
    repeated with `hold_last`); for tests and demonstrations of the arbiter's rules."""

    def __init__(self, inputs: list[SourceInput], name: str = "scripted", hold_last: bool = False) -> None:
        self.name, self.inputs, self.hold_last = name, list(inputs), hold_last
        self.i = 0
        self.events: list[tuple[str, str]] = []
        self.closed = False

    def open(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    def reset(self) -> None:
        pass

    def poll(self, obs: dict, proposal: np.ndarray | None) -> SourceInput:
        if self.i < len(self.inputs):
            self.i += 1
            return self.inputs[self.i - 1]
        if self.hold_last and self.inputs:
            return self.inputs[-1]
        return SourceInput(connected=False)

    def notify(self, event: str, detail: str) -> None:
        self.events.append((event, detail))

    def close(self) -> None:
        self.closed = True
