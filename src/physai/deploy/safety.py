"""The safety supervisor: sits between every policy and every driver; no command gets past it unchecked.

Configured from the embodiment's `SafetyLimits`. Rules, in the order they apply each cycle:

- latched stop (e-stop, protective stop, watchdog, repeated NaN): output the stop command until
  `reset()`; after `reset()` the supervisor *holds* until `enable()` — a reset never restarts motion;
- state monitors: wrist force/torque and tactile force above threshold, non-finite state -> protective stop;
- non-finite action (NaN/inf): hold the last safe command, and after `nan_hold_cycles` in a row stop;
- `joint_pos`: joint position clamp (with margin), velocity and acceleration rate limits, with a
  braking bound so the arm can always stop before a joint limit without exceeding the acceleration;
- `ee_delta`: workspace box on the commanded TCP target and TCP speed cap (0.25 m/s in collaborative
  mode, ISO 10218 reduced speed), other channels (gripper) clamped to the action bounds;
- `joint_pos` TCP monitor: the measured TCP leaving the workspace box or exceeding the speed cap (with a
  margin) is a protective stop, since joint targets cannot be shaped in Cartesian space without a model;
- inference deadline watchdog: `watchdog(late)` each cycle; N consecutive late cycles -> controlled stop.

Every intervention is logged (time, rule, values before/after) in memory and, with `log_path`, as JSONL.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physai.core.errors import ConfigError
from physai.embodiments.base import SafetyLimits

RUNNING, HOLDING, STOPPED = "running", "holding", "stopped"


@dataclass
class SupervisorConfig:
    """Knobs of the safety supervisor (limits themselves come from the embodiment)."""

    collaborative: bool = True
    """Cap TCP speed at the collaborative limit (ISO 10218 reduced speed) instead of the normal one."""
    joint_margin: float = 0.0
    """Keep joint targets this far inside the position limits (rad or m)."""
    watchdog_cycles: int = 3
    """Consecutive cycles with a missed inference deadline that trigger a controlled stop."""
    nan_hold_cycles: int = 2
    """Consecutive non-finite actions answered by holding before the supervisor stops."""
    monitor_margin: float = 0.01
    """joint_pos mode: measured TCP this far (m) outside the workspace box is a protective stop."""
    monitor_speed_factor: float = 1.2
    """joint_pos mode: measured TCP speed above this multiple of the cap is a protective stop."""
    log_path: Path | None = None
    """JSONL file for interventions (None: keep them in memory only)."""
    max_log: int = 10000
    """Interventions kept in memory."""


@dataclass
class RobotState:
    """What the supervisor watches each cycle (from the driver)."""

    joint_pos: np.ndarray
    """Measured joint positions, in `SafetyLimits.joint_names` order."""
    ee_pos: np.ndarray | None = None
    """TCP positions (n_ee, 3), world frame."""
    wrench: np.ndarray | None = None
    """Wrist force (3) and torque (3) per end effector, (n_ee, 6)."""
    tactile: np.ndarray | None = None
    """Tactile forces per taxel (N)."""


def _finite(x: np.ndarray | None) -> bool:
    return x is None or bool(np.all(np.isfinite(x)))


class SafetySupervisor:
    """Filters commands for one robot in one control mode at a fixed period `dt`."""

    def __init__(
        self,
        limits: SafetyLimits,
        mode: str,
        dt: float,
        action_names: list[str],
        action_low: np.ndarray,
        action_high: np.ndarray,
        config: SupervisorConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in ("joint_pos", "ee_delta"):
            raise ConfigError(f"the safety supervisor supports joint_pos and ee_delta commands, not {mode!r}")
        if dt <= 0:
            raise ConfigError(f"control period dt must be > 0, got {dt}")
        self.limits, self.mode, self.dt = limits, mode, float(dt)
        self.cfg = config or SupervisorConfig()
        self.clock = clock
        self.names = list(action_names)
        self.low = np.asarray(action_low, dtype=np.float64)
        self.high = np.asarray(action_high, dtype=np.float64)
        n = len(self.names)
        if self.low.shape != (n,) or self.high.shape != (n,):
            raise ConfigError(f"action bounds must have {n} elements (one per action name)")
        self.ee_cap = limits.ee_speed_collaborative if self.cfg.collaborative else limits.ee_speed_max
        self._layout()
        self.state = HOLDING
        self.stop_reason: str | None = None
        self.log: list[dict] = []
        self._lock = threading.RLock()  # estop() may come from a signal handler on this thread
        self._nan_count = 0
        self._late_count = 0
        self._last: np.ndarray | None = None
        self._q = self._v = None
        self._ee_prev: np.ndarray | None = None
        self._logf = open(self.cfg.log_path, "a") if self.cfg.log_path else None  # noqa: SIM115

    # ------------------------------------------------------------------ layout
    def _layout(self) -> None:
        jn = list(self.limits.joint_names)
        if self.mode == "joint_pos":
            idx = []
            for j in jn:
                if j not in self.names:
                    raise ConfigError(
                        f"joint {j!r} of the safety limits is not an action channel; action names: "
                        f"{self.names}"
                    )
                idx.append(self.names.index(j))
            self.joint_idx = np.array(idx)
            self.lo = self.limits.joint_pos_lower + self.cfg.joint_margin
            self.hi = self.limits.joint_pos_upper - self.cfg.joint_margin
            self.vmax = np.asarray(self.limits.joint_vel_max, float)
            self.amax = np.asarray(self.limits.joint_acc_max, float)
            self.other_idx = np.array([i for i in range(len(self.names)) if i not in idx], dtype=int)
        else:
            groups: dict[str, list[int]] = {}
            for i, nm in enumerate(self.names):
                for k, ax in enumerate(("ee.dx", "ee.dy", "ee.dz")):
                    if nm.endswith(ax):
                        groups.setdefault(nm[: -len(ax)], [0, 0, 0])[k] = i
            if not groups:
                raise ConfigError(f"ee_delta action names carry no 'ee.dx/dy/dz' channels: {self.names}")
            self.ee_groups = [np.array(v) for v in groups.values()]
            lin = {int(i) for g in self.ee_groups for i in g}
            self.rot_idx = np.array(
                [i for i, nm in enumerate(self.names) if nm.endswith(("ee.drx", "ee.dry", "ee.drz"))],
                dtype=int,
            )
            self.other_idx = np.array(
                [i for i in range(len(self.names)) if i not in lin and i not in set(self.rot_idx.tolist())],
                dtype=int,
            )

    # ------------------------------------------------------------------ control API
    def start(self, state: RobotState) -> None:
        """Arm the supervisor at the measured state (holding; call `enable()` to pass policy commands)."""
        with self._lock:
            if self.mode == "joint_pos":
                self._q = np.asarray(state.joint_pos, float).copy()
                self._v = np.zeros_like(self._q)
            self._last = self._hold_vector(state)
            if self.state != STOPPED:
                self.state = HOLDING

    def enable(self) -> None:
        """Let policy commands through (only from HOLDING; a latched stop needs `reset()` first)."""
        with self._lock:
            if self.state == STOPPED:
                raise ConfigError(f"the supervisor is stopped ({self.stop_reason}); call reset() first")
            self.state = RUNNING
            self._nan_count = self._late_count = 0

    def estop(self, reason: str = "api") -> None:
        """Emergency stop: latches until `reset()`."""
        self._latch("estop", reason)

    def reset(self) -> None:
        """Clear a latched stop; the robot keeps holding until `enable()` (reset never restarts motion)."""
        with self._lock:
            if self.state == STOPPED:
                self._record("reset", self.stop_reason, None)
            self.state, self.stop_reason = HOLDING, None
            self._nan_count = self._late_count = 0

    def watchdog(self, late: bool) -> None:
        """Report whether this cycle missed its inference deadline; N in a row -> controlled stop."""
        self._late_count = self._late_count + 1 if late else 0
        if late:
            self._record("deadline_miss", self._late_count, None)
        if self._late_count >= self.cfg.watchdog_cycles and self.state == RUNNING:
            self._latch("watchdog", f"{self._late_count} consecutive late cycles")

    @property
    def stopped(self) -> bool:
        return self.state == STOPPED

    def at_rest(self) -> bool:
        """True when the last command asks for no motion (joint velocities zero / zero TCP twist)."""
        if self._last is None:
            return True
        if self.mode == "joint_pos":
            return bool(np.all(np.abs(self._v) < 1e-9))
        lin = np.concatenate([self._last[g] for g in self.ee_groups] + [self._last[self.rot_idx]])
        return bool(np.all(lin == 0))

    # ------------------------------------------------------------------ the filter
    def filter(self, action: np.ndarray | None, state: RobotState) -> np.ndarray:
        """The command to send this cycle for the policy's `action` (None: nothing new -> hold)."""
        if self._last is None:
            self.start(state)
        self._monitor(state)
        with self._lock:
            st = self.state
        if st != RUNNING or action is None:
            return self._emit(self._brake_command(state))
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (len(self.names),) or not np.all(np.isfinite(a)):
            self._nan_count += 1
            self._record(
                "non_finite_action" if a.shape == (len(self.names),) else "bad_shape",
                a.tolist() if a.size < 64 else f"shape {a.shape}",
                "hold",
            )
            if self._nan_count > self.cfg.nan_hold_cycles:
                self._latch("non_finite_action", f"{self._nan_count} invalid actions in a row")
            return self._emit(self._brake_command(state))
        self._nan_count = 0
        out = self._clamp_joint(a) if self.mode == "joint_pos" else self._clamp_ee(a, state)
        if len(self.other_idx):
            o = out[self.other_idx]
            c = np.clip(o, self.low[self.other_idx], self.high[self.other_idx])
            if np.any(c != o):
                self._record("action_bounds", o.tolist(), c.tolist())
            out[self.other_idx] = c
        return self._emit(out)

    def _emit(self, cmd: np.ndarray) -> np.ndarray:
        self._last = cmd.copy()
        return cmd.astype(np.float32)

    def _monitor(self, state: RobotState) -> None:
        L = self.limits
        if not (
            _finite(state.joint_pos)
            and _finite(state.ee_pos)
            and _finite(state.wrench)
            and _finite(state.tactile)
        ):
            self._latch("non_finite_state", "robot state contains NaN/inf")
            return
        if state.wrench is not None:
            w = np.asarray(state.wrench, float).reshape(-1, 6)
            f, t = np.linalg.norm(w[:, :3], axis=1).max(), np.linalg.norm(w[:, 3:], axis=1).max()
            if f > L.force_max:
                self._latch("wrist_force", f"{f:.1f} N > {L.force_max} N")
            if t > L.torque_max:
                self._latch("wrist_torque", f"{t:.2f} Nm > {L.torque_max} Nm")
        if self.mode == "joint_pos" and state.ee_pos is not None:
            # joint commands cannot be shaped in Cartesian space without a model, so the TCP is
            # monitored: leaving the workspace box or moving faster than the cap is a protective stop
            ee = np.asarray(state.ee_pos, float).reshape(-1, 3)
            m = self.cfg.monitor_margin
            if np.any(ee < L.workspace_low - m) or np.any(ee > L.workspace_high + m):
                self._latch(
                    "workspace_measured", f"TCP at {np.round(ee, 3).tolist()} outside the workspace box"
                )
            if self._ee_prev is not None and self._ee_prev.shape == ee.shape:
                speed = float(np.linalg.norm(ee - self._ee_prev, axis=1).max()) / self.dt
                if speed > self.ee_cap * self.cfg.monitor_speed_factor:
                    self._latch("ee_speed_measured", f"TCP speed {speed:.3f} m/s > {self.ee_cap} m/s")
            self._ee_prev = ee.copy()
        if state.tactile is not None and L.tactile_force_max is not None:
            m = float(np.max(state.tactile)) if np.size(state.tactile) else 0.0
            if m > L.tactile_force_max:
                self._latch("tactile_force", f"{m:.2f} N > {L.tactile_force_max} N")

    # ------------------------------------------------------------------ joint_pos
    def _brake_bound(self, dist: np.ndarray) -> np.ndarray:
        """Largest speed from which the arm stops within `dist` at `amax`, decelerating in steps of dt."""
        a, dt = self.amax, self.dt
        d = np.maximum(dist - a * dt * dt / 8.0, 0.0)
        return np.sqrt((a * dt / 2) ** 2 + 2 * a * d) - a * dt / 2

    def _step_joints(self, q_des: np.ndarray) -> np.ndarray:
        q, v, dt = self._q, self._v, self.dt
        v_des = (q_des - q) / dt
        v_hi = np.minimum.reduce(
            [self.vmax, v + self.amax * dt, self._brake_bound(np.maximum(self.hi - q, 0))]
        )
        v_lo = np.maximum.reduce(
            [-self.vmax, v - self.amax * dt, -self._brake_bound(np.maximum(q - self.lo, 0))]
        )
        v_new = np.minimum(np.maximum(v_des, v_lo), v_hi)
        q_new = np.clip(q + v_new * dt, self.lo, self.hi)
        self._v = (q_new - q) / dt
        self._q = q_new
        return q_new

    def _clamp_joint(self, a: np.ndarray) -> np.ndarray:
        out = a.copy()
        want = a[self.joint_idx]
        got = self._step_joints(np.clip(want, self.lo, self.hi))
        if np.any(np.abs(got - want) > 1e-9):
            rule = "joint_position" if np.any((want < self.lo) | (want > self.hi)) else "joint_rate"
            self._record(rule, want.tolist(), got.tolist())
        out[self.joint_idx] = got
        return out

    # ------------------------------------------------------------------ ee_delta
    def _clamp_ee(self, a: np.ndarray, state: RobotState) -> np.ndarray:
        out = a.copy()
        ee = None if state.ee_pos is None else np.asarray(state.ee_pos, float).reshape(-1, 3)
        cap = self.ee_cap * self.dt
        for k, g in enumerate(self.ee_groups):
            dp = np.clip(out[g], self.low[g], self.high[g])
            if ee is not None and k < len(ee):
                target = np.clip(ee[k] + dp, self.limits.workspace_low, self.limits.workspace_high)
                if np.any(np.abs(target - (ee[k] + dp)) > 1e-12):
                    self._record("workspace", (ee[k] + dp).tolist(), target.tolist())
                dp = target - ee[k]
            n = float(np.linalg.norm(dp))
            if n > cap:
                self._record("ee_speed", n / self.dt, self.ee_cap)
                dp = dp * (cap / n) * (1 - 1e-9)
            out[g] = dp
        r = self.rot_idx
        out[r] = np.clip(out[r], self.low[r], self.high[r])  # rotation: clamp to the action bounds
        return out

    # ------------------------------------------------------------------ stop / hold
    def _hold_vector(self, state: RobotState) -> np.ndarray:
        if self.mode == "joint_pos":
            cmd = np.clip((self.low + self.high) / 2, self.low, self.high)
            cmd[self.joint_idx] = np.clip(np.asarray(state.joint_pos, float), self.lo, self.hi)
            return cmd
        cmd = np.zeros(len(self.names))
        cmd[self.other_idx] = np.clip(0.0, self.low[self.other_idx], self.high[self.other_idx])
        return cmd

    def _brake_command(self, state: RobotState) -> np.ndarray:
        """Controlled stop / hold: decelerate joints at the acceleration limit; zero TCP motion."""
        last = self._last.copy()
        if self.mode == "joint_pos":
            v = self._v
            v_new = np.sign(v) * np.maximum(np.abs(v) - self.amax * self.dt, 0.0)
            q_new = np.clip(self._q + v_new * self.dt, self.lo, self.hi)
            self._v, self._q = (q_new - self._q) / self.dt, q_new
            last[self.joint_idx] = q_new
            return last
        for g in self.ee_groups:
            last[g] = 0.0
        last[self.rot_idx] = 0.0  # zero TCP motion; the gripper keeps its last command
        return last

    # ------------------------------------------------------------------ log
    def _latch(self, rule: str, detail: object) -> None:
        with self._lock:
            if self.state == STOPPED:
                return
            self.state, self.stop_reason = STOPPED, f"{rule}: {detail}"
        self._record(rule, detail, "stop")

    def _record(self, rule: str, before: object, after: object) -> None:
        entry = {"t": self.clock(), "rule": rule, "before": _jsonable(before), "after": _jsonable(after)}
        if len(self.log) < self.cfg.max_log:
            self.log.append(entry)
        if self._logf is not None:
            self._logf.write(json.dumps(entry) + "\n")
            self._logf.flush()

    def summary(self) -> dict:
        """Counts of interventions per rule, the state and the stop reason."""
        counts: dict[str, int] = {}
        for e in self.log:
            counts[e["rule"]] = counts.get(e["rule"], 0) + 1
        return {"state": self.state, "stop_reason": self.stop_reason, "interventions": counts}

    def close(self) -> None:
        if self._logf is not None:
            self._logf.close()
            self._logf = None


def _jsonable(x: object) -> object:
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    return x
