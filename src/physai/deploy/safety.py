"""The safety supervisor: sits between every policy and every driver; no command gets past it unchecked.

Configured from the embodiment's `SafetyLimits` and its kinematics (`RobotKinematics`: FK and Jacobians
of each tool's TCP and flange on a standalone model of the robot, never the simulator's live state).
The limits hold on the robot's *motion*, in every control mode, at the loop's real period. Rules, in
the order they apply each cycle:

- re-sync: on `start()` and on the first cycle after `reset()` / `enable()` the joint command restarts
  from the measured joints at rest; a joint found outside its limit (or margin) is ramped back inside
  at most at the velocity and acceleration limits, never stepped;
- latched stop (e-stop, protective stop, watchdog, repeated NaN, stale state, late read): output the
  stop command until `reset()`; after `reset()` the supervisor *holds* until `enable()`;
- state monitors -> protective stop: non-finite state; wrist force/torque and tactile force above
  threshold; a state whose `stamp` has not advanced for `stale_cycles` cycles; measured TCP speed above
  `monitor_speed_factor` x the cap (every mode); in `joint_pos` the measured TCP leaving the workspace;
- non-finite or mis-shaped actions: hold; more than `nan_hold_cycles` of them within `nan_window`
  cycles (not only in a row) -> protective stop;
- `joint_pos`: joint position clamp (with margin), velocity and acceleration limits with a braking
  bound; then, from the Jacobian at the commanded joints, the step is scaled so the predicted TCP and
  flange speed stays under the cap; the commanded TCP stays in the workspace box (by FK); the
  commanded TCP may lead the measured one by at most `lead` (a blocked arm is not wound up);
- `ee_delta`: the supervisor integrates the commanded TCP pose itself (as the robot does) and
  applies the workspace box to it; each step is scaled, linear and rotational parts together, so the
  predicted speed of every point within the tool's lever (TCP to flange) stays under the cap,
  |dp| + r |dr| <= cap dt; and so the commanded pose leads the measured one by at most `lead`;
- `ee_delta` on joint increments (hand16: channel `<p>.d<a>` adds to joint `<p>_<a>`, other channels
  named after joints are absolute targets): the supervisor mirrors the robot's integrated joint
  command and applies the `joint_pos` rules to it (fingertips among the tool frames); gripping frames
  (past `SafetyLimits.leashed_frames`) in contact (tactile) may lead by `grip_lead`;
- `base_velocity`: a speed governor on the measured travel speed, the base speed and yaw-rate caps,
  acceleration ramps, and the base workspace box on the integrated commanded base position (braking
  from the nearer of the commanded and measured base; a base past a face is steered back in); the
  commanded position stays within `base_lead` of the measured one. Monitors: the measured travel
  speed over `SafetyLimits.base_speed_window` above `monitor_speed_factor` x the cap, the measured base
  outside the box by `base_monitor_margin`, a missing base pose (the feet are not TCPs: no TCP monitor);
- stop command: `joint_pos` decelerates the joint command at the acceleration limit (so do the hand's
  joint increments), `base_velocity` ramps the velocity to zero at the base's limits; `ee_delta`
  pulls the commanded pose to within `hold_lead` of the measured one (little residual lead drives the
  arm); both also pull a commanded pose that leads the measured one by more than `lead` back to it.

`lead` = min(cap x `lead_time`, `lead_max`): how far the servo chases a target is what makes the arm
move, so the lead bounds the speed of an arm that lags or is blocked and then released.

Every intervention is logged (time, rule, values before/after) in memory and, with `log_path`, as JSONL.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from physai.core.errors import ConfigError, SafetyError
from physai.core.jsonsafe import json_safe
from physai.embodiments.base import SafetyLimits

if TYPE_CHECKING:
    from physai.embodiments.kinematics import RobotKinematics

RUNNING, HOLDING, STOPPED = "running", "holding", "stopped"
MODES = ("joint_pos", "ee_delta", "base_velocity")


@dataclass(frozen=True)
class SupervisorConfig:
    """Knobs of the safety supervisor (limits themselves come from the embodiment)."""

    collaborative: bool = True
    """Cap TCP speed at the collaborative limit (ISO 10218 reduced speed) instead of the normal one."""
    joint_margin: float = 0.0
    """Keep joint targets this far inside the position limits (rad or m)."""
    watchdog_cycles: int = 3
    """Consecutive cycles with a missed inference deadline that trigger a controlled stop."""
    nan_hold_cycles: int = 2
    """Invalid (non-finite / mis-shaped) actions within `nan_window` cycles answered by holding; one
    more is a protective stop."""
    nan_window: int = 50
    """Cycles over which invalid actions are counted (intermittent NaNs add up, not only runs)."""
    stale_cycles: int = 3
    """Consecutive cycles whose `RobotState.stamp` did not advance that trigger a protective stop
    (0 disables the check and then a state without a stamp is accepted)."""
    lead_time: float | None = None
    """The commanded TCP (and flange) may lead the measured one by at most cap x this (s), so a lagging
    or blocked arm, released, moves at about the cap. None: the robot's `SafetyLimits.tracking_time`."""
    joint_lead_periods: float = 1.0
    """joint_pos: the joint command stays within this many periods at the velocity limit of the
    measured joints (1: what the built-in robots' own clamp executes, so the supervisor shapes the
    command the robot really runs)."""
    lead_max: float = 0.04
    """Upper bound on that lead (m), below the robots' own command leash (0.1 m / 0.5 rad)."""
    hold_lead: float = 0.005
    """ee_delta stop/hold: the commanded pose is pulled to within this (m) of the measured one, so
    little of a lead is left to drive the arm; no closer (that would chase the IK residual and creep)."""
    monitor_margin: float = 0.01
    """joint_pos mode: measured TCP this far (m) outside the workspace box is a protective stop."""
    monitor_speed_factor: float = 1.1
    """Measured TCP speed above this multiple of the cap is a protective stop (every mode)."""
    kinematics_tolerance: float = 0.02
    grip_lead: float = 0.03
    """Gripping frames (past `SafetyLimits.leashed_frames`: a hand's fingertips) in contact (their part
    of `RobotState.tactile` above `grip_contact`) may lead their measured position by up to this (m, at
    least their free-motion lead): enough to press and hold a grasp, also while the hand carries it; in
    free motion they lead by at most cap x `SafetyLimits.grip_tracking_time`, so a lagging finger is
    not wound up. A finger released from a press may snap: the measured-speed monitor then stops it."""
    grip_contact: float = 0.05
    """A gripping frame whose part of `RobotState.tactile` reads more than this (N) is in contact."""
    base_lead: float = 0.2
    """base_velocity: the integrated commanded base position stays within this (m) of the measured
    one (pulled back beyond it), so a base that lags, slips or is blocked does not wind the workspace
    bookkeeping up."""
    base_governor_target: float = 0.8
    """base_velocity: the speed governor lowers the command while the measured travel speed (over half
    `SafetyLimits.base_speed_window`) is above this fraction of the cap, and raises it back below."""
    base_governor_gain: float = 3.0
    """base_velocity: how fast (1/s per unit of speed error over the cap) the governor moves."""
    base_brake_fraction: float = 0.5
    """base_velocity: the commanded velocity toward a face of the base workspace box is bounded so the
    base stops inside braking at this fraction of `SafetyLimits.base_acc_max` (a walking base stops
    later than its command)."""
    base_return_time: float = 0.5
    """base_velocity: a measured base past a face of the base workspace box is steered back in, at
    (distance past the face) / this (s), at most the speed cap."""
    base_monitor_margin: float = 0.2
    """base_velocity: the measured base this far (m) outside the base workspace box is a protective
    stop. A walking base does not stop exactly where told: at a face the quadruped's trot drifts up to
    ~0.13 m past it (bench/safety_motion.py), and is steered back in."""
    """At start, FK of the measured joints must put the TCP this close (m) to the reported TCP."""
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
    stamp: float | None = None
    """Time of the measurement (s, the robot's monotonic clock); a stamp that stops advancing is a
    frozen state. None: the driver gives no stamp (refused unless `stale_cycles=0`)."""
    base_pose: np.ndarray | None = None
    """Mobile base: measured (x, y, yaw), world frame (m, rad); required for `base_velocity`."""
    base_vel: np.ndarray | None = None
    """Mobile base: measured (vx, vy) in the heading frame and yaw rate (m/s, rad/s); informational
    (the speed monitor differentiates `base_pose` over the stamps, over the limits' window)."""


def _finite(x: np.ndarray | None) -> bool:
    """No NaN/inf in `x` (one reduction: NaN and inf propagate through a sum; a sum that overflows
    on absurd finite values also counts as non-finite)."""
    return x is None or math.isfinite(float(np.sum(x)))


def _max_norm(x: np.ndarray) -> float:
    """Largest Euclidean norm over the last axis (cheaper than np.linalg.norm on tiny arrays)."""
    return math.sqrt(float((x * x).sum(axis=-1).max()))


def _quat_err(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Rotation vector (world frame) that turns quaternion `current` into `target`."""
    neg, q, v = np.empty(4), np.empty(4), np.empty(3)
    mujoco.mju_negQuat(neg, current)
    mujoco.mju_mulQuat(q, target, neg)
    mujoco.mju_quat2Vel(v, q, 1.0)
    return v


def _rotate(quat: np.ndarray, rotvec: list[float]) -> None:
    """quat <- exp(rotvec) * quat in place, exactly as the robots integrate ee_delta rotations."""
    wx, wy, wz = rotvec
    angle = (wx * wx + wy * wy + wz * wz) ** 0.5
    if angle > 0:
        rot = np.empty(4)
        mujoco.mju_axisAngle2Quat(rot, np.array([wx / angle, wy / angle, wz / angle]), angle)
        mujoco.mju_mulQuat(quat, rot, quat)
    mujoco.mju_normalize4(quat)


def _max_scale(a: np.ndarray, b: np.ndarray, limit: float) -> float:
    """Largest s in [0, 1] with max_i |a_i + s b_i| <= limit (rows of a, b are 3-vectors); needs
    max_i |a_i| <= limit. Per row a quadratic in s."""
    bb = np.einsum("ij,ij->i", b, b)
    ab = np.einsum("ij,ij->i", a, b)
    aa = np.einsum("ij,ij->i", a, a)
    s = 1.0
    for i in range(len(a)):
        if bb[i] <= 0.0 or aa[i] + 2 * ab[i] + bb[i] <= limit * limit:
            continue
        disc = ab[i] * ab[i] - bb[i] * (aa[i] - limit * limit)
        s = min(s, max(0.0, (-ab[i] + math.sqrt(max(disc, 0.0))) / bb[i]))
    return s


class SafetySupervisor:
    """Filters commands for one robot in one control mode; `dt` is the nominal control period."""

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
        kinematics: RobotKinematics | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"the safety supervisor supports {', '.join(MODES)} commands, not {mode!r}")
        if dt <= 0:
            raise ConfigError(f"control period dt must be > 0, got {dt}")
        self.limits, self.mode, self.dt = limits, mode, float(dt)
        self.cfg = config or SupervisorConfig()
        self.clock = clock
        self.kin = kinematics
        self.names = list(action_names)
        self.low = np.asarray(action_low, dtype=np.float64)
        self.high = np.asarray(action_high, dtype=np.float64)
        n = len(self.names)
        if self.low.shape != (n,) or self.high.shape != (n,):
            raise ConfigError(f"action bounds must have {n} elements (one per action name)")
        self.ee_cap = limits.ee_speed_collaborative if self.cfg.collaborative else limits.ee_speed_max
        lead_time = limits.tracking_time if self.cfg.lead_time is None else self.cfg.lead_time
        self.lead = min(self.ee_cap * lead_time, self.cfg.lead_max)
        self.joint_delta = False  # ee_delta channels that are increments of named joints (hand16's wrist)
        self._layout()
        if kinematics is not None:
            if tuple(kinematics.joint_names) != tuple(limits.joint_names):
                raise ConfigError(
                    f"kinematics joints {kinematics.joint_names} differ from the safety limits' "
                    f"{limits.joint_names}; build them from the same embodiment"
                )
            self.lever = np.linalg.norm(kinematics.flange_offset, axis=1)
            nl = limits.leashed_frames
            nl = kinematics.n_ee if nl is None else max(1, min(int(nl), kinematics.n_ee))
            # per frame 1 / allowed lead: `lead` on the leashed frames, the free-motion lead on the
            # gripping frames (`grip_lead` while they touch: `_grip_leads`)
            self._n_leashed = nl
            gt = limits.grip_tracking_time
            self.grip_free_lead = self.lead if gt is None else min(self.ee_cap * gt, self.cfg.lead_max)
            self._inv_lead = np.full((kinematics.n_ee, 1), 1.0 / self.lead)
            self._inv_lead[nl:] = 1.0 / self.grip_free_lead
        if mode == "ee_delta":
            if kinematics is None:
                raise ConfigError(
                    "ee_delta commands need the robot's kinematics (RobotKinematics, e.g. "
                    "Embodiment.kinematics()) to bound the motion they cause; pass kinematics="
                )
            if not self.joint_delta and kinematics.n_ee != len(self.ee_groups):
                raise ConfigError(
                    f"the kinematics have {kinematics.n_ee} tool frames but the actions command "
                    f"{len(self.ee_groups)} end effectors ({self.names})"
                )
        self.state = HOLDING
        self.stop_reason: str | None = None
        self.log: list[dict] = []
        self._lock = threading.RLock()  # estop() may come from a signal handler on this thread
        self._bad: deque[int] = deque()
        self._cycle = 0
        self._late_count = 0
        self._last: np.ndarray | None = None
        self._q: np.ndarray = np.zeros(0)  # joint command (empty until the first re-sync)
        self._v: np.ndarray = np.zeros(0)
        self._tp: np.ndarray = np.zeros((0, 3))  # ee_delta: commanded TCP positions (n_ee, 3); empty: unset
        self._tq: np.ndarray = np.zeros((0, 4))  # ee_delta: commanded TCP orientations (n_ee, 4)
        self._ee_prev: np.ndarray | None = None
        self._stamp_prev: float | None = None
        self._stale = 0
        # base_velocity: commanded base position (world xy), last commanded planar velocity (heading
        # frame) and yaw rate, the speed governor's factor, the measured (t, xy) history and speeds
        self._bp: np.ndarray | None = None
        self._bv, self._bw, self._bg = np.zeros(2), 0.0, 1.0
        self._bhist: deque[tuple[float, np.ndarray]] = deque()
        self._bt = 0.0
        self._base_speed = self._base_speed_half = 0.0
        self._sync = True
        self._logf = open(self.cfg.log_path, "a") if self.cfg.log_path else None

    # ------------------------------------------------------------------ layout
    def _layout(self) -> None:
        jn = list(self.limits.joint_names)
        self.vmax = np.asarray(self.limits.joint_vel_max, float)
        self.amax = np.asarray(self.limits.joint_acc_max, float)
        self._amax2 = np.concatenate([self.amax, self.amax])
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
            self.other_idx = np.array([i for i in range(len(self.names)) if i not in idx], dtype=int)
        elif self.mode == "base_velocity":
            self._layout_base()
        elif not self._layout_joint_delta(jn):
            axes = ("ee.dx", "ee.dy", "ee.dz", "ee.drx", "ee.dry", "ee.drz")
            groups: dict[str, list[int]] = {}
            for i, nm in enumerate(self.names):
                for k, ax in enumerate(axes):
                    if nm.endswith(ax):
                        groups.setdefault(nm[: -len(ax)], [-1] * 6)[k] = i
            if not groups or any(min(g[:3]) < 0 for g in groups.values()):
                raise ConfigError(f"ee_delta action names carry no 'ee.dx/dy/dz' channels: {self.names}")
            if any(-1 in g[3:] and max(g[3:]) >= 0 for g in groups.values()):
                raise ConfigError(
                    f"ee_delta rotation channels must be all of ee.drx/dry/drz or none: {self.names}"
                )
            self.ee_groups = [np.array(g[:3]) for g in groups.values()]
            self.rot_groups = [np.array(g[3:]) if min(g[3:]) >= 0 else None for g in groups.values()]
            used = {int(i) for g in groups.values() for i in g if i >= 0}
            self.rot_idx = np.array(sorted(used - {int(i) for g in self.ee_groups for i in g}), dtype=int)
            self.other_idx = np.array([i for i in range(len(self.names)) if i not in used], dtype=int)

    def _layout_joint_delta(self, jn: list[str]) -> bool:
        """ee_delta whose Cartesian channels are increments of named joints (hand16: `wrist.dyaw` adds to
        the command of joint `wrist_yaw`): channel `<p>.d<a>` -> joint `<p>_<a>`, the other limited
        joints commanded absolutely by their own name. Such a command is a joint command the robot
        integrates; it is shaped as one (limits, rates, Jacobian speed cap, workspace box by FK)."""
        delta_of: dict[str, int] = {}
        for i, nm in enumerate(self.names):
            pre, sep, ax = nm.rpartition(".d")
            if sep and f"{pre}_{ax}" in jn:
                delta_of[f"{pre}_{ax}"] = i
        if not delta_of:
            return False
        abs_of = {nm: i for i, nm in enumerate(self.names) if nm in jn}
        missing = [j for j in jn if j not in delta_of and j not in abs_of]
        if missing:
            raise ConfigError(
                f"ee_delta joint increments {sorted(delta_of)} need every limited joint commanded, by "
                f"increment ('<p>.d<a>' for joint '<p>_<a>') or by name; missing {missing} in {self.names}"
            )
        self.joint_delta = True
        self.joint_idx = np.array([delta_of.get(j, abs_of.get(j)) for j in jn])
        self.delta_mask = np.array([j in delta_of for j in jn])
        self.lo = self.limits.joint_pos_lower + self.cfg.joint_margin
        self.hi = self.limits.joint_pos_upper - self.cfg.joint_margin
        used = {int(i) for i in self.joint_idx}
        self.other_idx = np.array([i for i in range(len(self.names)) if i not in used], dtype=int)
        self.ee_groups, self.rot_groups, self.rot_idx = [], [], np.zeros(0, dtype=int)
        return True

    def _layout_base(self) -> None:
        """base_velocity: channels `<p>.vx` (required), `<p>.vy`, `<p>.yaw_rate` (heading frame)."""
        L = self.limits

        def find(suffix: str) -> int | None:
            hits = [i for i, n in enumerate(self.names) if n == suffix or n.endswith("." + suffix)]
            if len(hits) > 1:
                raise ConfigError(f"base_velocity: several '{suffix}' channels in {self.names}")
            return hits[0] if hits else None

        self.base_idx = (find("vx"), find("vy"), find("yaw_rate"))
        if self.base_idx[0] is None:
            raise ConfigError(f"base_velocity action names carry no '.vx' channel: {self.names}")
        need = ("base_speed_max", "base_speed_collaborative", "base_yaw_rate_max")
        if any(getattr(L, k) is None for k in need):
            raise ConfigError(
                f"base_velocity commands need the robot's base limits ({', '.join(need)}) in its "
                "SafetyLimits; this robot declares none"
            )
        if (L.base_workspace_low is None) != (L.base_workspace_high is None):
            raise ConfigError("base_workspace_low and base_workspace_high come together")
        cap = L.base_speed_collaborative if self.cfg.collaborative else L.base_speed_max
        assert cap is not None and L.base_yaw_rate_max is not None  # checked above (`need`)
        self.base_cap = float(cap)
        self.base_yaw_max = float(L.base_yaw_rate_max)
        self.base_acc = float(L.base_acc_max) if L.base_acc_max is not None else self.base_cap
        used = {i for i in self.base_idx if i is not None}
        self.other_idx = np.array([i for i in range(len(self.names)) if i not in used], dtype=int)

    # ------------------------------------------------------------------ control API
    def start(self, state: RobotState) -> None:
        """Arm the supervisor at the measured state (holding; call `enable()` to pass policy commands).

        Refuses (SafetyError) a state it cannot supervise: ee_delta without a reported TCP position,
        kinematics that disagree with the reported TCP, or no `stamp` while `stale_cycles` > 0.
        """
        if state.stamp is None and self.cfg.stale_cycles > 0:
            raise SafetyError(
                "the driver's RobotState has no stamp, so a frozen state could not be detected; stamp "
                "each reading with its measurement time, or set SupervisorConfig(stale_cycles=0)"
            )
        q = np.asarray(state.joint_pos, float)
        if q.shape != (len(self.limits.joint_names),) or not np.all(np.isfinite(q)):
            raise SafetyError(
                f"measured joints {q.tolist()} are not {len(self.limits.joint_names)} finite values "
                f"({self.limits.joint_names})"
            )
        if self.mode == "base_velocity" and (
            state.base_pose is None or np.shape(state.base_pose) != (3,) or not _finite(state.base_pose)
        ):
            raise SafetyError(
                "a base_velocity policy needs the driver to report the base pose (RobotState.base_pose "
                "= finite x, y, yaw; world frame) to bound where the base goes and how fast"
            )
        if self.mode == "ee_delta" and state.ee_pos is None:
            raise SafetyError(
                "an ee_delta (Cartesian) policy needs the driver to report the TCP pose "
                "(RobotState.ee_pos is None); use a driver that reports it, or a joint_pos policy"
            )
        if self.kin is not None and state.ee_pos is not None:
            fk = self.kin.points(q)[:, 0]
            ee = np.asarray(state.ee_pos, float).reshape(-1, 3)
            err = float(np.abs(fk - ee).max()) if ee.shape == fk.shape else math.inf
            if err > self.cfg.kinematics_tolerance:
                raise SafetyError(
                    f"the kinematics put the TCP at {np.round(fk, 3).tolist()} but the robot reports "
                    f"{np.round(ee, 3).tolist()} ({err:.3f} m > {self.cfg.kinematics_tolerance} m); the "
                    "kinematics model does not match this robot (base placement? tool?)"
                )
        with self._lock:
            self._resync(state)
            self._last = self._hold_vector(state)
            if self.state != STOPPED:
                self.state = HOLDING

    def enable(self) -> None:
        """Let policy commands through (only from HOLDING; a latched stop needs `reset()` first).

        The next cycle re-syncs the command to the measured state."""
        with self._lock:
            if self.state == STOPPED:
                raise ConfigError(f"the supervisor is stopped ({self.stop_reason}); call reset() first")
            self.state = RUNNING
            self._bad.clear()
            self._late_count = 0
            self._sync = True

    def estop(self, reason: str = "api") -> None:
        """Emergency stop: latches until `reset()`."""
        self._latch("estop", reason)

    def fault(self, rule: str, detail: object) -> None:
        """A safety event found outside the supervisor (e.g. a late driver read): protective stop."""
        self._latch(rule, detail)

    def reset(self) -> None:
        """Clear a latched stop; the robot keeps holding until `enable()` (reset never restarts motion)."""
        with self._lock:
            if self.state == STOPPED:
                self._record("reset", self.stop_reason, None)
            self.state, self.stop_reason = HOLDING, None
            self._bad.clear()
            self._late_count = self._stale = 0
            self._sync = True

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

    @property
    def _kinematics(self) -> RobotKinematics:
        """The robot's kinematics; the modes that bound Cartesian motion are refused at start without."""
        if self.kin is None:
            raise SafetyError("this command mode needs the robot's kinematics (DriverInfo.kinematics)")
        return self.kin

    def at_rest(self) -> bool:
        """True when the last command asks for no motion: joint command at rest (joint_pos), or a zero
        twist (ee_delta: the commanded pose within `hold_lead` of the measured one)."""
        if self._last is None:
            return True
        if self.mode == "joint_pos" or self.joint_delta:
            return bool(np.all(np.abs(self._v) < 1e-9))
        if self.mode == "base_velocity":
            return bool(np.all(self._bv == 0) and self._bw == 0)
        lin = np.concatenate([self._last[g] for g in self.ee_groups])
        rot = self._last[self.rot_idx] if len(self.rot_idx) else np.zeros(1)
        return bool(np.all(lin == 0) and np.all(rot == 0))

    # ------------------------------------------------------------------ the filter
    def filter(self, action: np.ndarray | None, state: RobotState, dt: float | None = None) -> np.ndarray:
        """The command to send this cycle for the policy's `action` (None: nothing new -> hold).

        `dt`: the real time since the previous cycle (the runtime measures it); the supervisor uses
        the shorter of it and the nominal period, so a loop that runs fast cannot move the arm faster.
        """
        dt = self.dt if dt is None else min(max(float(dt), 1e-4), self.dt)
        if self._last is None:
            self.start(state)
        self._cycle += 1
        self._monitor(state, dt)
        with self._lock:
            st = self.state
            if self._sync and st != STOPPED:
                self._resync(state)
        if st != RUNNING or action is None:
            return self._emit(self._brake_command(state, dt))
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (len(self.names),) or not np.all(np.isfinite(a)):
            self._bad.append(self._cycle)
            while self._bad and self._bad[0] <= self._cycle - self.cfg.nan_window:
                self._bad.popleft()
            self._record(
                "non_finite_action" if a.shape == (len(self.names),) else "bad_shape",
                a.tolist() if a.size < 64 else f"shape {a.shape}",
                "hold",
            )
            if len(self._bad) > self.cfg.nan_hold_cycles:
                self._latch(
                    "non_finite_action",
                    f"{len(self._bad)} invalid actions within {self.cfg.nan_window} cycles",
                )
            return self._emit(self._brake_command(state, dt))
        if self.mode == "joint_pos" or self.joint_delta:
            out = self._clamp_joint(a, state, dt)
        elif self.mode == "base_velocity":
            out = self._clamp_base(a, state, dt)
        else:
            out = self._clamp_ee(a, state, dt)
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

    def _resync(self, state: RobotState) -> None:
        """Restart the command from the measured state: joints at rest where they are (even outside a
        limit: the step bounds ramp them back); the ee_delta pose is kept (it mirrors the robot's own
        commanded pose) and the stop command pulls it onto the measured one."""
        self._sync = False
        q = np.asarray(state.joint_pos, float).copy()
        if self.joint_delta and len(self._q):
            q[self.delta_mask] = self._q[self.delta_mask]  # mirrors the robot's own integrated command
        self._q, self._v = q, np.zeros_like(q)
        if self.mode == "ee_delta" and not self.joint_delta and not len(self._tp):
            self._tp, self._tq = self._kinematics.tcp_pose(q)
        if self.mode == "base_velocity" and state.base_pose is not None and _finite(state.base_pose):
            # the base's position command restarts where it is; the velocity command stays the last
            # one sent (the stop ramps it down), so a resync never steps it
            self._bp = np.asarray(state.base_pose, float)[:2].copy()

    def _monitor(self, state: RobotState, dt: float) -> None:  # noqa: C901  (too complex; split later, issue 19)
        L = self.limits
        if not (
            _finite(state.joint_pos)
            and _finite(state.ee_pos)
            and _finite(state.wrench)
            and _finite(state.tactile)
            and _finite(state.base_pose)
            and _finite(state.base_vel)
        ):
            self._latch("non_finite_state", "robot state contains NaN/inf")
            return
        stamp = state.stamp
        period = dt
        if stamp is not None:
            if self._stamp_prev is not None and stamp <= self._stamp_prev:
                self._stale += 1
                if self.cfg.stale_cycles and self._stale >= self.cfg.stale_cycles:
                    self._latch(
                        "stale_state", f"robot state stamp stuck at {stamp} for {self._stale} cycles"
                    )
                return  # nothing new to monitor
            if self._stamp_prev is not None:
                period = max(stamp - self._stamp_prev, 1e-6)
            self._stale = 0
            self._stamp_prev = stamp
        elif self.cfg.stale_cycles:
            self._latch("stale_state", "robot state without a stamp")
        if state.wrench is not None:
            w = np.asarray(state.wrench, float).reshape(-1, 6)
            f, t = _max_norm(w[:, :3]), _max_norm(w[:, 3:])
            if f > L.force_max:
                self._latch("wrist_force", f"{f:.1f} N > {L.force_max} N")
            if t > L.torque_max:
                self._latch("wrist_torque", f"{t:.2f} Nm > {L.torque_max} Nm")
        if self.mode == "base_velocity":
            self._monitor_base(state, period)
        ee = None
        if self.mode == "base_velocity":
            pass  # the reported points are feet: their swing is the gait's; the base is monitored
        elif state.ee_pos is not None:
            ee = np.asarray(state.ee_pos, float).reshape(-1, 3)
        elif self.kin is not None:
            ee = self.kin.points(np.asarray(state.joint_pos, float))[:, 0]
        if ee is not None:
            if self._ee_prev is not None and self._ee_prev.shape == ee.shape:
                pts = np.sqrt(((ee - self._ee_prev) ** 2).sum(axis=1)) / period
                speed = float(pts.max())
                if self.kin is not None and len(pts) == self.kin.n_ee:
                    self._grip_leads(state.tactile)
                if speed > self.ee_cap * self.cfg.monitor_speed_factor:
                    self._latch("ee_speed_measured", f"TCP speed {speed:.3f} m/s > {self.ee_cap} m/s")
            self._ee_prev = ee.copy()
            m = self.cfg.monitor_margin
            if (self.mode == "joint_pos" or self.joint_delta) and (
                np.any(ee < L.workspace_low - m) or np.any(ee > L.workspace_high + m)
            ):
                self._latch(
                    "workspace_measured", f"TCP at {np.round(ee, 3).tolist()} outside the workspace box"
                )
        if state.tactile is not None and L.tactile_force_max is not None:
            m = float(np.max(state.tactile)) if np.size(state.tactile) else 0.0
            if m > L.tactile_force_max:
                self._latch("tactile_force", f"{m:.2f} N > {L.tactile_force_max} N")

    def _grip_leads(self, tactile: np.ndarray | None) -> None:
        """A gripping frame (past `leashed_frames`: a fingertip) that touches (its part of the tactile
        array reads more than `grip_contact`) may lead by `grip_lead`, so a grasp can press; one in free
        motion by cap x `SafetyLimits.grip_tracking_time` (its servo's lag must not wind up). The
        tactile array's first axis runs over the gripping frames in `tcp_frames()` order (hand16:
        index, middle, ring, thumb); without tactile sensing no frame gets the grip lead."""
        nl, cfg = self._n_leashed, self.cfg
        n = self._kinematics.n_ee - nl
        grip = np.zeros(n, dtype=bool)
        if tactile is not None and np.shape(tactile) and np.shape(tactile)[0] == n:
            grip = np.asarray(tactile, float).reshape(n, -1).max(axis=1) > cfg.grip_contact
        free = self.grip_free_lead
        self._inv_lead[nl:, 0] = np.where(grip, 1.0 / max(free, cfg.grip_lead), 1.0 / free)

    def _monitor_base(self, state: RobotState, period: float) -> None:
        """Measured base travel speed over `base_speed_window` above `monitor_speed_factor` x the cap,
        or the measured base beyond the base workspace box by `base_monitor_margin`: protective stop.
        Also keeps the speed over half the window for the governor."""
        L = self.limits
        if state.base_pose is None:
            self._latch("base_state", "base_velocity needs RobotState.base_pose every cycle")
            return
        xy = np.asarray(state.base_pose, float)[:2].copy()
        self._bt = float(state.stamp) if state.stamp is not None else self._bt + period
        hist, win = self._bhist, max(L.base_speed_window, period)
        hist.append((self._bt, xy))
        while len(hist) > 2 and hist[1][0] <= self._bt - win - 1e-9:
            hist.popleft()

        def speed_over(w: float) -> tuple[float, float]:
            for t0, p0 in hist:
                if t0 >= self._bt - w - 1e-9:
                    el = self._bt - t0
                    return (math.hypot(*(xy - p0)) / el, el) if el > 0 else (0.0, 0.0)
            return 0.0, 0.0

        self._base_speed_half = speed_over(win / 2)[0]
        sp, el = speed_over(win)
        self._base_speed = sp
        lim = self.base_cap * self.cfg.monitor_speed_factor
        if el >= win / 2 - 1e-9 and sp > lim:
            self._latch(
                "base_speed_measured", f"base travel speed {sp:.3f} m/s over {el:.2f} s > {self.base_cap} m/s"
            )
        if L.base_workspace_low is not None and L.base_workspace_high is not None:
            m = self.cfg.base_monitor_margin
            if np.any(xy < L.base_workspace_low - m) or np.any(xy > L.base_workspace_high + m):
                self._latch("base_workspace_measured", f"base at {np.round(xy, 3).tolist()} outside the box")

    # ------------------------------------------------------------------ joint_pos
    def _brake_bound(self, dist: np.ndarray, dt: float) -> np.ndarray:
        """Largest speed from which the arm stops within `dist` at `amax`, decelerating in steps of dt."""
        a = self._amax2 if len(dist) == 2 * len(self.amax) else self.amax
        d = np.maximum(dist - a * dt * dt / 8.0, 0.0)
        return np.sqrt((a * dt / 2) ** 2 + 2 * a * d) - a * dt / 2

    def _joint_velocity(self, q_des: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Velocity toward `q_des` within the velocity, acceleration and braking bounds, and the bounds.

        A joint outside [lo, hi] (start beyond a limit or in the margin) may only move back inside."""
        q, v = self._q, self._v
        v_des = (q_des - q) / dt
        n = len(q)
        both = self._brake_bound(np.concatenate([np.maximum(self.hi - q, 0), np.maximum(q - self.lo, 0)]), dt)
        up, down = both[:n], both[n:]
        v_hi = np.minimum.reduce([self.vmax, v + self.amax * dt, up])
        v_lo = np.maximum.reduce([-self.vmax, v - self.amax * dt, -down])
        return np.minimum(np.maximum(v_des, v_lo), v_hi), v_lo, v_hi

    def _commit_joints(self, v_new: np.ndarray, dt: float) -> np.ndarray:
        q = self._q
        q_new = np.clip(q + v_new * dt, np.minimum(self.lo, q), np.maximum(self.hi, q))
        self._v = (q_new - q) / dt
        self._q = q_new
        return q_new

    def _box_excess(self, tcp: np.ndarray) -> float:
        """How far (m) the TCP positions `tcp` (n_ee, 3) lie outside the workspace box (0 inside)."""
        L = self.limits
        return float(np.maximum(np.maximum(L.workspace_low - tcp, tcp - L.workspace_high), 0.0).max())

    def _cartesian_joint_step(
        self, v_new: np.ndarray, v_lo: np.ndarray, v_hi: np.ndarray, pm: np.ndarray, dt: float
    ) -> np.ndarray:
        """Shape the joint velocity so the predicted TCP/flange speed J(q) v stays under the cap, the
        commanded TCP stays in the workspace box (and so does the point where the joints would stop,
        braking at the acceleration limit) and does not lead the measured points `pm` by more than
        `lead`. Candidates interpolate between the hardest allowed braking and `v_new`, so the
        acceleration limit holds unless even braking breaks a bound."""
        kin, cap, q, v, amax = self._kinematics, self.ee_cap, self._q, self._v, self.amax
        v_brk = np.clip(v - np.sign(v) * np.minimum(np.abs(v), amax * dt), v_lo, v_hi)
        jac = kin.jacobians(q).reshape(-1, 3, len(q))
        u_b, u1 = jac @ v_brk, jac @ v_new
        sp1 = float(np.sqrt(np.einsum("ij,ij->i", u1, u1).max()))
        if sp1 > cap:
            sp_b = float(np.sqrt(np.einsum("ij,ij->i", u_b, u_b).max()))
            if sp_b <= cap:
                v_cap = v_brk + _max_scale(u_b, u1 - u_b, cap * (1 - 1e-9)) * (v_new - v_brk)
            else:
                v_cap = v_brk * (cap / sp_b) * (1 - 1e-9)
            self._record("ee_speed", sp1, cap)
            v_new = v_cap
        p0 = kin.points(q)  # cached from the Jacobians
        out0 = self._box_excess(p0[:, 0])
        lead0 = self._lead_ratio(p0, pm)

        def stop_point(vv: np.ndarray) -> np.ndarray:
            return q + vv * dt + vv * np.abs(vv) / (2 * amax)

        out_stop0: list[float] = []  # computed on first need
        jt = jac.reshape(-1, 2, 3, len(q))[:, 0]  # TCP rows
        box_lo, box_hi = self.limits.workspace_low, self.limits.workspace_high

        def violation(vv: np.ndarray) -> str | None:
            qn = q + vv * dt
            p = kin.points(qn)
            tcp = p[:, 0]
            if self._box_excess(tcp) > out0 + 1e-9:
                return "workspace"
            if self._lead_ratio(p, pm) > max(1.0, lead0):
                return "following_error"
            qs = stop_point(vv)
            # fast path: the stop point is far inside the box (twice the linearised travel, +1 cm)
            slack = float(np.minimum(tcp - box_lo, box_hi - tcp).min())
            if slack > 2.0 * _max_norm(jt @ (qs - qn)) + 0.01:
                return None
            if not out_stop0:
                out_stop0.append(self._box_excess(kin.points(stop_point(v_brk))[:, 0]))
            if self._box_excess(kin.points(qs)[:, 0]) > max(out_stop0[0], 0.0) + 1e-9:
                return "workspace"
            return None

        rule = violation(v_new)
        if rule is not None:
            lo_s, hi_s = 0.0, 1.0
            for _ in range(8):  # bisection between braking and the wanted velocity
                mid = (lo_s + hi_s) / 2
                lo_s, hi_s = (mid, hi_s) if violation(v_brk + mid * (v_new - v_brk)) is None else (lo_s, mid)
            got = v_brk + lo_s * (v_new - v_brk)
            if lo_s == 0.0 and violation(v_brk) is not None:
                got = np.zeros_like(v)  # even braking breaks a bound: stand still (past the accel limit)
            self._record(rule, v_new.tolist(), got.tolist())
            v_new = got
        return v_new

    def _lead_ratio(self, p: np.ndarray, pm: np.ndarray) -> float:
        """Largest lead of the points `p` (n_ee, 2, 3) over the measured `pm`, as a fraction of each
        frame's allowed lead (1: at the bound)."""
        d = p - pm
        return math.sqrt(float(((d * d).sum(axis=-1) * self._inv_lead**2).max()))

    def _pull_back(
        self, q_new: np.ndarray, q_m: np.ndarray, pm: np.ndarray, q_prev: np.ndarray, dt: float
    ) -> np.ndarray:
        """A joint command leading the measured joints by more than `lead` (at the TCP/flange points
        `pm`) is pulled back toward them, at most at the velocity limit from the previous command
        `q_prev`: a lagging or blocked arm is never wound up."""
        lead = self._lead_ratio(self._kinematics.points(q_new), pm)
        if lead <= 1.0:
            return q_new
        f = 1.0 / lead
        for _ in range(4):  # FK is nonlinear: shrink until inside
            qn = q_m + (q_new - q_m) * f
            if self._lead_ratio(self._kinematics.points(qn), pm) <= 1.0 + 1e-6:
                break
            f *= 0.8
        self._record("following_error", round(lead * self.lead, 4), self.lead)
        return np.clip(qn, q_prev - self.vmax * dt, q_prev + self.vmax * dt)

    def _clamp_joint(self, a: np.ndarray, state: RobotState, dt: float) -> np.ndarray:
        out = a.copy()
        want = a[self.joint_idx].copy()
        if self.joint_delta:  # increments add to the command the robot integrates (mirrored in _q)
            dm = self.delta_mask
            di = self.joint_idx[dm]
            want[dm] = self._q[dm] + np.clip(a[di], self.low[di], self.high[di])
        v_new, v_lo, v_hi = self._joint_velocity(np.clip(want, self.lo, self.hi), dt)
        q_prev, q_m = self._q, np.asarray(state.joint_pos, float)
        # the robot executes a joint command only within `joint_lead_periods` x vmax dt of its measured
        # joints (the built-in robots clamp to that themselves): shape the command the robot will run
        reach = self.cfg.joint_lead_periods * self.vmax * dt
        m_lo = np.maximum((q_m - reach - q_prev) / dt, -self.vmax)
        m_hi = np.minimum((q_m + reach - q_prev) / dt, self.vmax)
        v_lo, v_hi = np.minimum(np.maximum(v_lo, m_lo), m_hi), np.maximum(np.minimum(v_hi, m_hi), m_lo)
        v_new = np.clip(v_new, v_lo, v_hi)
        if self.kin is not None:
            pm = self.kin.points(q_m)
            v_new = self._cartesian_joint_step(v_new, v_lo, v_hi, pm, dt)
            got = self._commit_joints(v_new, dt)
            pulled = self._pull_back(got, q_m, pm, q_prev, dt)
            if pulled is not got:
                self._q, self._v = pulled, (pulled - q_prev) / dt
                got = pulled
        else:
            got = self._commit_joints(v_new, dt)
        if np.any(np.abs(got - want) > 1e-9):
            rule = "joint_position" if np.any((want < self.lo) | (want > self.hi)) else "joint_rate"
            self._record(rule, want.tolist(), got.tolist())
        self._write_joints(out, got, q_prev, dt)
        return out

    def _write_joints(self, out: np.ndarray, q_new: np.ndarray, q_prev: np.ndarray, dt: float) -> None:
        """Write the joint command `q_new` into `out`: absolute joints as they are; joint increments
        (joint_delta) as q_new - q_prev in float32, within the action bounds, integrated on the
        mirrored command exactly as the robot integrates them (sum, then its joint-limit clip)."""
        if not self.joint_delta:
            out[self.joint_idx] = q_new
            return
        dm, L = self.delta_mask, self.limits
        di = self.joint_idx[dm]
        d32 = np.clip(q_new[dm] - q_prev[dm], self.low[di], self.high[di]).astype(np.float32)
        out[di] = d32
        q = q_new.copy()
        q[dm] = np.clip(q_prev[dm] + d32.astype(np.float64), L.joint_pos_lower[dm], L.joint_pos_upper[dm])
        out[self.joint_idx[~dm]] = q[~dm]
        self._q, self._v = q, (q - q_prev) / dt

    # ------------------------------------------------------------------ ee_delta
    def _ee_step(self, k: int, dp: np.ndarray, dr: np.ndarray, pm: np.ndarray, qm: np.ndarray, dt: float):
        """Shape end effector `k`'s (dp, dr): workspace box on the commanded pose, the speed of every
        point within the tool lever under the cap, the lead over the measured pose at most `lead`."""
        L, cap, r = self.limits, self.ee_cap, float(self.lever[k])
        pc, qc = self._tp[k], self._tq[k]
        want = pc + dp
        box = np.clip(want, L.workspace_low, L.workspace_high)
        if np.any(np.abs(box - want) > 1e-12):
            self._record("workspace", want.tolist(), box.tolist())
            dp = box - pc
        # predicted speed of the TCP and of any point within r of it (the flange): |dp| + r |dr| over dt
        v = (math.hypot(*dp) + r * math.hypot(*dr)) / dt
        s = 1.0
        if v > cap:
            self._record("ee_speed", v, cap)
            s = cap / v * (1 - 1e-9)
        # lead of the commanded pose over the measured one after this step (triangle bound)
        ep, er = pc - pm, _quat_err(qc, qm)
        lead0 = math.hypot(*ep) + r * math.hypot(*er)
        step = math.hypot(*dp) + r * math.hypot(*dr)
        if lead0 + s * step > self.lead:
            if lead0 <= self.lead:
                s = min(s, (self.lead - lead0) / step) if step > 0 else s
                self._record("following_error", lead0 + step, self.lead)
            else:  # the arm lags beyond the lead: pull the command back toward the measured pose
                self._record("following_error", lead0, self.lead)
                return self._pull_ee(k, pm, qm, self.lead)
        return dp * s, dr * s

    def _pull_ee(self, k: int, pm: np.ndarray, qm: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """(dp, dr) that bring end effector `k`'s commanded pose to within `limit` (m, TCP plus lever
        times angle) of the measured pose `pm`, `qm`, along the line between them; zero if it is."""
        pc, qc, r = self._tp[k], self._tq[k], float(self.lever[k])
        ep, er = pc - pm, _quat_err(qc, qm)
        lead = math.hypot(*ep) + r * math.hypot(*er)
        if lead <= limit:
            return np.zeros(3), np.zeros(3)
        f = limit / lead
        qt = qm.copy()
        _rotate(qt, (er * f).tolist())
        return pm + ep * f - pc, _quat_err(qt, qc)

    def _clamp_ee(self, a: np.ndarray, state: RobotState, dt: float) -> np.ndarray:
        out = a.copy()
        pm, qm = self._kinematics.tcp_pose(np.asarray(state.joint_pos, float))
        for k, g in enumerate(self.ee_groups):
            rg = self.rot_groups[k]
            dp = np.clip(out[g], self.low[g], self.high[g])
            dr = np.zeros(3) if rg is None else np.clip(out[rg], self.low[rg], self.high[rg])
            dp, dr = self._ee_step(k, dp, dr, pm[k], qm[k], dt)
            self._apply_ee(k, out, dp, dr)
        return out

    def _apply_ee(self, k: int, out: np.ndarray, dp: np.ndarray, dr: np.ndarray) -> None:
        """Write (dp, dr) into `out` as the robot will receive it (float32, within the action bounds and
        the workspace box) and integrate it on the commanded pose exactly as the robot does."""
        g, rg = self.ee_groups[k], self.rot_groups[k]
        pc = self._tp[k]
        dp = np.clip(dp, self.low[g], self.high[g])
        dp = np.clip(pc + dp, self.limits.workspace_low, self.limits.workspace_high) - pc
        dp32 = dp.astype(np.float32).astype(np.float64)
        # float32 rounding must not push the commanded pose out of the box
        dp32 = np.where(
            (pc + dp32 > self.limits.workspace_high) | (pc + dp32 < self.limits.workspace_low), 0.0, dp32
        )
        out[g] = dp32
        pc += dp32
        if rg is not None:
            dr32 = np.clip(dr, self.low[rg], self.high[rg]).astype(np.float32).astype(np.float64)
            out[rg] = dr32
            _rotate(self._tq[k], dr32.tolist())

    # ------------------------------------------------------------------ base_velocity
    def _base_read(self, a: np.ndarray) -> tuple[np.ndarray, float]:
        ix, iy, iw = self.base_idx
        lo, hi = self.low, self.high
        v = np.array([np.clip(a[ix], lo[ix], hi[ix]), 0.0 if iy is None else np.clip(a[iy], lo[iy], hi[iy])])
        w = 0.0 if iw is None else float(np.clip(a[iw], lo[iw], hi[iw]))
        return v, w

    def _clamp_base(self, a: np.ndarray, state: RobotState, dt: float) -> np.ndarray:
        """Speed governor, speed and yaw-rate caps, acceleration limits, then the braking bound of the
        base workspace box on the integrated commanded base position."""
        L, cfg = self.limits, self.cfg
        v, w = self._base_read(a)
        # governor: the robot's gait may walk faster than commanded; lower the command while the
        # measured travel speed is above target x cap, raise it back (never above the cap) below
        err = cfg.base_governor_target - self._base_speed_half / self.base_cap
        self._bg = min(1.0, max(0.2, self._bg + dt * cfg.base_governor_gain * err))
        cap = self.base_cap * self._bg
        n = math.hypot(*v)
        if n > cap:
            self._record("base_speed", round(n, 4), round(cap, 4))
            v = v * (cap / n)
        wmax = self.base_yaw_max
        if abs(w) > wmax:
            if abs(w) > wmax * (1 + 1e-6):  # not float32 rounding of a command at the cap
                self._record("base_yaw_rate", w, math.copysign(wmax, w))
            w = math.copysign(wmax, w)
        dv = v - self._bv
        n = math.hypot(*dv)
        if n > self.base_acc * dt:
            got = self._bv + dv * (self.base_acc * dt / n)
            self._record("base_acc", v.tolist(), got.tolist())
            v = got
        if L.base_yaw_acc_max is not None:
            dw = float(L.base_yaw_acc_max) * dt
            w = min(max(w, self._bw - dw), self._bw + dw)
        v = self._base_box(v, state, dt)
        return self._commit_base(a.copy(), v, w, state, dt)

    def _base_box(self, v: np.ndarray, state: RobotState, dt: float) -> np.ndarray:
        """Clip the world-frame velocity per axis so that, braking at `base_brake_fraction` x
        `base_acc_max` in steps of dt, the base stops inside the base workspace box (scalar math: two
        axes, every cycle)."""
        L = self.limits
        if L.base_workspace_low is None or L.base_workspace_high is None:
            return v
        if state.base_pose is None or self._bp is None:
            raise SafetyError("base_velocity: no measured base pose to bound the command by")
        bp = self._bp
        x, y, yaw = state.base_pose.tolist() if isinstance(state.base_pose, np.ndarray) else state.base_pose
        c, s = math.cos(yaw), math.sin(yaw)
        vx, vy = float(v[0]), float(v[1])
        vw = [c * vx - s * vy, s * vx + c * vy]
        # the base stops later than its command (the gait lags and overshoots): brake from whichever of
        # the commanded and the measured position is nearer each face, at a fraction of the ramp
        a = self.base_acc * self.cfg.base_brake_fraction
        k, cap = 1.0 / self.cfg.base_return_time, self.base_cap
        got = list(vw)
        for i, (pc, pm) in enumerate(((float(bp[0]), x), (float(bp[1]), y))):
            hi_d = float(L.base_workspace_high[i]) - max(pc, pm)
            lo_d = min(pc, pm) - float(L.base_workspace_low[i])
            # past a face (the gait does not walk exactly as told): steered back in
            up = max(hi_d * k, -cap) if hi_d < 0 else self._brake_dist(hi_d, a, dt)
            down = max(lo_d * k, -cap) if lo_d < 0 else self._brake_dist(lo_d, a, dt)
            got[i] = min(max(vw[i], -down), up)
        if abs(got[0] - vw[0]) > 1e-12 or abs(got[1] - vw[1]) > 1e-12:
            self._record("base_workspace", vw, got)
            v = np.array([c * got[0] + s * got[1], -s * got[0] + c * got[1]])
        return v

    @staticmethod
    def _brake_dist(dist: float, a: float, dt: float) -> float:
        """Largest speed from which a base stops within `dist` at deceleration `a`, in steps of dt."""
        d = max(dist - a * dt * dt / 8.0, 0.0)
        return math.sqrt((a * dt / 2) ** 2 + 2 * a * d) - a * dt / 2

    def _commit_base(
        self, out: np.ndarray, v: np.ndarray, w: float, state: RobotState, dt: float
    ) -> np.ndarray:
        """Write (v, w) as the robot receives them (float32), integrate the commanded base position with
        the measured heading, keep it within `base_lead` of the measured base and inside the box."""
        ix, iy, iw = self.base_idx
        v32 = v.astype(np.float32).astype(np.float64)
        if iy is None:
            v32[1] = 0.0
        w32 = float(np.float32(w))
        out[ix] = v32[0]
        if iy is not None:
            out[iy] = v32[1]
        if iw is not None:
            out[iw] = w32
        self._bv, self._bw = v32, w32
        pose = state.base_pose
        if pose is not None and _finite(pose) and self._bp is not None:
            pose = np.asarray(pose, float)
            c, s = math.cos(pose[2]), math.sin(pose[2])
            self._bp = self._bp + dt * np.array([c * v32[0] - s * v32[1], s * v32[0] + c * v32[1]])
            e = self._bp - pose[:2]
            n = math.hypot(*e)
            if n > self.cfg.base_lead:
                self._bp = pose[:2] + e * (self.cfg.base_lead / n)
            L = self.limits
            if L.base_workspace_low is not None:
                self._bp = np.clip(self._bp, L.base_workspace_low, L.base_workspace_high)
        return out

    def _brake_base(self, last: np.ndarray, state: RobotState, dt: float) -> np.ndarray:
        """Stop / hold: ramp the commanded velocity and yaw rate to zero at the acceleration limits
        (other channels keep their last command)."""
        n = math.hypot(*self._bv)
        a = self.base_acc * dt
        v = self._bv * (max(n - a, 0.0) / n) if n > 0 else self._bv
        ya = self.limits.base_yaw_acc_max
        dw = float(ya) * dt if ya is not None else abs(self._bw)
        w = math.copysign(max(abs(self._bw) - dw, 0.0), self._bw)
        if state.base_pose is not None and _finite(state.base_pose) and self._bp is not None:
            v = self._base_box(v, state, dt)
        return self._commit_base(last, v, w, state, dt)

    # ------------------------------------------------------------------ stop / hold
    def _hold_vector(self, state: RobotState) -> np.ndarray:
        if self.joint_delta:  # no increment; absolute joints where they are
            cmd = np.clip(np.zeros(len(self.names)), self.low, self.high)
            cmd[self.joint_idx[self.delta_mask]] = 0.0
            idx = self.joint_idx[~self.delta_mask]
            cmd[idx] = np.asarray(state.joint_pos, float)[~self.delta_mask]
            return cmd
        if self.mode == "joint_pos":
            cmd = np.clip((self.low + self.high) / 2, self.low, self.high)
            cmd[self.joint_idx] = np.asarray(state.joint_pos, float)  # where it is, even beyond a limit
            return cmd
        cmd = np.zeros(len(self.names))
        cmd[self.other_idx] = np.clip(0.0, self.low[self.other_idx], self.high[self.other_idx])
        return cmd

    def _brake_command(self, state: RobotState, dt: float) -> np.ndarray:
        """Controlled stop / hold: decelerate joints at the acceleration limit (joint_pos) or pull the
        commanded TCP pose onto the measured one (ee_delta); other channels keep their last command."""
        if self._last is None:  # start() sets it: a stop before start has nothing to brake
            raise SafetyError("the supervisor was never started; call start(state) first")
        last = self._last.copy()
        q_m = np.asarray(state.joint_pos, float)
        if self.mode == "base_velocity":
            return self._brake_base(last, state, dt)
        if self.mode == "joint_pos" or self.joint_delta:
            v = self._v
            v_new = np.sign(v) * np.maximum(np.abs(v) - self.amax * dt, 0.0)
            q_prev = self._q
            q_new = self._commit_joints(v_new, dt)
            if self.kin is not None and _finite(q_m):
                q_new = self._pull_back(q_new, q_m, self.kin.points(q_m), q_prev, dt)
                self._q, self._v = q_new, (q_new - q_prev) / dt
            self._write_joints(last, q_new, q_prev, dt)
            return last
        if not _finite(q_m):
            for k, g in enumerate(self.ee_groups):
                last[g] = 0.0
                if self.rot_groups[k] is not None:
                    last[self.rot_groups[k]] = 0.0
            return last
        pm, qm = self._kinematics.tcp_pose(q_m)
        for k in range(len(self.ee_groups)):
            self._apply_ee(k, last, *self._pull_ee(k, pm[k], qm[k], self.cfg.hold_lead))
        return last

    # ------------------------------------------------------------------ log
    def _latch(self, rule: str, detail: object) -> None:
        with self._lock:
            if self.state == STOPPED:
                return
            self.state, self.stop_reason = STOPPED, f"{rule}: {detail}"
        self._record(rule, detail, "stop")

    def _record(self, rule: str, before: object, after: object) -> None:
        entry = {"t": self.clock(), "rule": rule, "before": json_safe(before), "after": json_safe(after)}
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
