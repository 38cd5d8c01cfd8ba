"""`franka:HOST`: a Franka arm (FR3 / Panda) over the libfranka protocol, through `franky-control`.

The robot's own 1 kHz controller runs inside libfranka/franky; this driver turns each supervised command
of the package (at the package's rate, 20-100 Hz) into a motion franky streams to it:

- `ee_delta` (dx, dy, dz, rotation vector, gripper): arm7's semantics — the deltas add up on a commanded
  TCP pose, leashed to within 0.1 m / 0.5 rad of the measured one (so a blocked or lagging arm never
  accumulates a lunge) — and the driver sends a `CartesianMotion` to that absolute pose. Each write
  replaces the running motion seamlessly (franky re-plans from the current velocity with its
  jerk-limited generator); if the runtime stops writing, the robot comes to rest at the last target.
- `joint_pos` (7 joint targets, gripper): a `JointMotion` to the absolute target, replaced every write.

With `DriverOptions(dry_run=True)` the robot is read every cycle but sent no motion (brakes on).

The robot's own velocity limits are lowered to the embodiment's TCP cap (collaborative unless
`collaborative=False`) so the 1 kHz generator enforces the same cap as the supervisor, on a second layer.

Every `read()` takes the robot's reported state (`q`, `dq`, `O_T_EE`, `O_F_ext_hat_K` and its clock): the
supervisor checks the measured joints and TCP, not a model. A robot clock that stops advancing while
connected (communication lost: libfranka's motion thread ends silently when the connection drops), or a
reported error (reflex, limit violation), is a fault: the driver stops commanding and reports it to
`on_fault(rule, reason)` (the CLI wires it to the supervisor, which latches a protective stop with the
reason); without a sink the frozen stamp makes the supervisor's stale-state monitor stop the loop.

Positions are reported in the policy's world frame: the robot base sits at `base_pos` (arm7's default
mount, so a policy trained on the sim sees the same `ee.pos`); `connect` refuses a robot whose reported
TCP does not match arm7's kinematics at its joints (wrong end-effector frame `F_T_EE`, wrong mount).
The state's `wrist.force/torque` elements are libfranka's estimated external wrench `O_F_ext_hat_K`
(base frame), not a wrist sensor reading.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np

from physai.core.contract import PolicyContract
from physai.core.errors import ConfigError
from physai.deploy.drivers.base import DriverInfo, Reading
from physai.deploy.drivers.schemes import ROBOT_SCHEMES, DriverOptions
from physai.deploy.safety import RobotState

EMBODIMENT = "arm7"


@dataclass(frozen=True)
class FrankaConfig:
    """How the driver talks to one Franka arm."""

    host: str
    """Robot (FCI) address, e.g. 172.16.0.2, or a franky-sim loopback address."""
    control: str = "ee_delta"
    """Command mode the package writes: 'ee_delta' or 'joint_pos' (arm7's modes)."""
    hz: float = 20.0
    """Rate the runtime writes at (the package's control rate)."""
    collaborative: bool = True
    """Lower the robot's own TCP velocity limit to the collaborative cap (else the embodiment's max)."""
    base_pos: tuple[float, float, float] = (0.0, 0.0, 0.4)
    """Robot base position in the policy's world frame (m); arm7's default mount."""
    pos_leash_m: float = 0.1
    """ee_delta: the commanded TCP position never leads the measured one by more (arm7's leash)."""
    rot_leash_rad: float = 0.5
    """ee_delta: same for the orientation."""
    comm_timeout_s: float = 0.1
    """The robot clock not advancing for this long (wall time) while connected is a communication fault."""
    dynamics_factor: float = 0.5
    """Franky's relative dynamics factor (scales velocity/acceleration/jerk limits of its generator)."""
    gripper: bool = True
    """Connect the Franka Hand (width read and commanded from a background thread)."""
    dry_run: bool = False
    """Read the robot but send it no motion (brakes on): commands are computed (the commanded pose is
    kept) and counted in `dry_writes`, the gripper is not moved."""
    tcp_tolerance_m: float = 0.02
    """Refuse to connect when the reported TCP is further than this from arm7's FK at the same joints
    (franky-sim's FR3 model and arm7 differ by up to ~1 cm across the workspace; a wrong end-effector
    frame or mount is off by 10 cm or more)."""


def _franky():
    try:
        import franky  # type: ignore[import-untyped, unused-ignore]
    except ModuleNotFoundError:
        raise ConfigError(
            "the franka: driver needs franky-control; install it with pip install 'physai[field]'"
        ) from None
    return franky


class _Gripper:
    """The Franka Hand on its own thread: polls the width, sends a move when the target changes."""

    def __init__(self, franky, host: str) -> None:
        self.g = franky.Gripper(host)
        self.max_width = float(self.g.max_width) or 0.08
        self.width = float(self.g.width)
        self.target: float | None = None
        self.error: str | None = None
        self._quit = threading.Event()
        self._t = threading.Thread(target=self._loop, name="physai-franka-gripper", daemon=True)
        self._t.start()

    def _loop(self) -> None:
        sent: float | None = None
        fut = None
        while not self._quit.wait(0.02):
            try:
                self.width = float(self.g.width)
                tgt = self.target
                if (
                    tgt is not None
                    and (sent is None or abs(tgt - sent) > 0.002)
                    and (fut is None or fut.wait(0))
                ):
                    fut, sent = self.g.move_async(tgt, 0.1), tgt
            except Exception as exc:
                self.error = f"gripper: {exc}"
                return

    def close(self) -> None:
        self._quit.set()
        self._t.join(timeout=1)


class FrankaDriver:
    """A Franka arm through franky: `connect` -> (`read`, `write`)* -> `stop` -> `disconnect`."""

    def __init__(self, config: FrankaConfig, on_fault: Callable[[str, str], None] | None = None) -> None:
        if config.control not in ("ee_delta", "joint_pos"):
            raise ConfigError(
                f"franka: control mode {config.control!r} is not supported; use ee_delta or joint_pos"
            )
        if not 0 < config.hz <= 1000:
            raise ConfigError(f"franka: rate {config.hz!r} Hz is outside (0, 1000]")
        self.cfg = config
        self.on_fault = on_fault
        """Called once with (rule, reason) when the robot faults (the CLI sets the supervisor's fault)."""
        self.fault: tuple[str, str] | None = None
        self.robot = None
        self._gripper: _Gripper | None = None
        self._base = np.asarray(config.base_pos, float)
        self._last_stamp: float | None = None
        self._last_advance = 0.0
        self._last_reading: Reading | None = None
        self.writes = 0
        self.dry_writes = 0
        self.commanded: tuple[np.ndarray, np.ndarray] | None = None
        """ee_delta: the commanded TCP (position in the policy's world frame, quaternion wxyz)."""

    # ----------------------------------------------------------------- protocol
    def connect(self) -> DriverInfo:
        from physai.embodiments import make_embodiment

        franky = _franky()
        cfg = self.cfg
        try:
            self.robot = robot = franky.Robot(cfg.host, realtime_config=franky.RealtimeConfig.Ignore)
            robot.recover_from_errors()
            robot.relative_dynamics_factor = cfg.dynamics_factor
        except Exception as exc:
            raise ConfigError(
                f"cannot connect to the Franka at {cfg.host}: {exc} (is FCI enabled / franky-sim running?)"
            ) from None
        emb = make_embodiment(EMBODIMENT, base_pos=tuple(cfg.base_pos), scene_camera=False)
        lim = emb.safety_limits()
        cap = (
            lim.ee_speed_collaborative
            if cfg.collaborative and lim.ee_speed_collaborative
            else lim.ee_speed_max
        )
        robot.translation_velocity_limit.set(min(float(cap), robot.translation_velocity_limit.max))
        kin = emb.kinematics()
        assert kin is not None  # arm7 declares its TCP frame
        st = robot.state
        q = np.asarray(st.q, float)
        tcp_fk = kin.tcp_pose(q)[0][0]
        tcp = np.asarray(st.O_T_EE.translation, float) + self._base
        if float(np.linalg.norm(tcp_fk - tcp)) > cfg.tcp_tolerance_m:
            raise ConfigError(
                f"the Franka at {cfg.host} reports its TCP at {np.round(tcp, 3).tolist()} but arm7's "
                f"kinematics put it at {np.round(tcp_fk, 3).tolist()} for the same joints; set the end "
                "effector (F_T_EE) to the Franka Hand's TCP (0.1034 m) and base_pos to the mount the policy "
                "was trained with"
            )
        if cfg.gripper:
            try:
                self._gripper = _Gripper(franky, cfg.host)
            except Exception as exc:
                raise ConfigError(
                    f"cannot connect to the Franka Hand at {cfg.host}: {exc} (or use gripper=0)"
                ) from None
        self._last_stamp, self._last_advance = None, time.monotonic()
        spec = emb.action_spec(cfg.control)
        return DriverInfo(
            embodiment=EMBODIMENT,
            control=cfg.control,
            hz=cfg.hz,
            state_names=emb.state_names(),
            action_names=list(spec.names),
            action_low=np.asarray(spec.low),
            action_high=np.asarray(spec.high),
            safety_limits=lim,
            cameras=[],
            image_size=None,
            kinematics=kin,
        )

    def read(self) -> Reading:
        robot = self._need()
        try:
            st = robot.state
        except Exception as exc:
            if self.fault is None:
                self._fault(
                    "communication", f"lost the Franka at {self.cfg.host}: {type(exc).__name__}: {exc}"
                )
            if self._last_reading is None:
                raise ConfigError(f"cannot read the Franka at {self.cfg.host}: {exc}") from None
            return self._last_reading  # the same stamp: the supervisor sees a frozen state, nothing new
        now = time.monotonic()
        stamp = float(st.time.to_sec())
        if self._last_stamp is None or stamp != self._last_stamp:
            self._last_stamp, self._last_advance = stamp, now
        elif self.fault is None and now - self._last_advance > self.cfg.comm_timeout_s:
            self._fault(
                "communication",
                f"no state from the Franka at {self.cfg.host} for "
                f"{now - self._last_advance:.3f} s (robot clock frozen at {stamp:.3f} s)",
            )
        if self.fault is None and (_any_error(st.current_errors) or st.robot_mode.name == "Reflex"):
            errs = st.current_errors if _any_error(st.current_errors) else st.last_motion_errors
            self._fault("robot_error", f"the Franka reported {st.robot_mode.name}: {errs!r}")
        if self._gripper is not None and self._gripper.error and self.fault is None:
            self._fault("gripper", self._gripper.error)
        q = np.asarray(st.q, float)
        dq = np.asarray(st.dq, float)
        pose = st.O_T_EE
        pos = np.asarray(pose.translation, float) + self._base
        x, y, z, w = np.asarray(pose.quaternion, float)  # franky: (x, y, z, w)
        wrench = np.asarray(st.O_F_ext_hat_K, float)
        width = self._gripper.width if self._gripper is not None else 0.0
        state = np.concatenate([q, dq, [width], pos, [w, x, y, z], wrench]).astype(np.float32)
        robot_state = RobotState(joint_pos=q, ee_pos=pos[None], wrench=wrench[None], stamp=stamp)
        self._last_reading = Reading(obs={"state": state}, robot=robot_state)
        return self._last_reading

    def write(self, command: np.ndarray) -> None:
        robot = self._need()
        if self.fault is not None:
            return  # a faulted robot gets no more motions (it is braking / stopped by itself)
        franky = _franky()
        a = np.asarray(command, float)
        if self.cfg.dry_run:
            if self.cfg.control == "ee_delta":
                self._advance(a[:3], a[3:6])
            self.dry_writes += 1
            return
        if self._gripper is not None:
            self._gripper.target = self._gripper.max_width * (1.0 - float(np.clip(a[-1], 0, 1)))
        try:
            if self.cfg.control == "ee_delta":
                pos, quat = self._advance(a[:3], a[3:6])
                x = [quat[1], quat[2], quat[3], quat[0]]  # franky: (x, y, z, w)
                target = franky.Affine(pos - self._base, x)
                motion = franky.CartesianMotion(
                    target, franky.ReferenceType.Absolute, return_when_finished=False
                )
            else:
                motion = franky.JointMotion(a[:7], return_when_finished=False)
            robot.move(motion, asynchronous=True)
            self.writes += 1
        except Exception as exc:
            self._fault("robot_error", f"the Franka refused a motion: {type(exc).__name__}: {exc}")

    def _advance(self, dp: np.ndarray, dr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add one ee_delta to the commanded pose and leash it to the measured TCP (arm7's semantics)."""
        last = self._last_reading
        if last is None:
            raise ConfigError("the franka driver was written to before its first read()")
        st = last.obs["state"]
        pm, qm = np.asarray(st[15:18], float), np.asarray(st[18:22], float)
        if self.commanded is None:
            self.commanded = (pm.copy(), qm.copy())
        p, q = self.commanded
        p = p + dp
        off = p - pm
        n = float(np.linalg.norm(off))
        if n > self.cfg.pos_leash_m:
            p = pm + off * (self.cfg.pos_leash_m / n)
        q = _qmul(_qexp(dr), q)
        err = _qlog(_qmul(q, _qconj(qm)))  # rotation from the measured to the commanded orientation
        ang = float(np.linalg.norm(err))
        if ang > self.cfg.rot_leash_rad:
            q = _qmul(_qexp(err * (self.cfg.rot_leash_rad / ang)), qm)
        self.commanded = (p, q / np.linalg.norm(q))
        return self.commanded

    def stop(self) -> None:
        """Bring the arm to rest: hold the measured pose (ee_delta) or joints (joint_pos)."""
        if self.robot is None or self.fault is not None or self.cfg.dry_run:
            return
        franky = _franky()
        try:
            if self.cfg.control == "ee_delta":
                self.commanded = None
                here = franky.CartesianMotion(self.robot.state.O_T_EE, franky.ReferenceType.Absolute)
                self.robot.move(here, asynchronous=True)
            else:
                self.robot.move(franky.JointMotion(np.asarray(self.robot.state.q, float)), asynchronous=True)
        except Exception as exc:
            self._fault("robot_error", f"the Franka refused the stop motion: {exc}")

    def disconnect(self) -> None:
        if self._gripper is not None:
            self._gripper.close()
            self._gripper = None
        if self.robot is not None:
            if self.fault is None:
                try:
                    self.robot.join_motion(1.0)
                except Exception:
                    pass
            self.robot = None

    # ----------------------------------------------------------------- helpers
    def _fault(self, rule: str, reason: str) -> None:
        self.fault = (rule, reason)
        if self.on_fault is not None:
            self.on_fault(rule, reason)

    def _need(self):
        if self.robot is None:
            raise ConfigError("the franka driver is not connected; call connect() first")
        return self.robot


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of wxyz quaternions."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def _qconj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def _qexp(v: np.ndarray) -> np.ndarray:
    """Rotation vector -> wxyz quaternion."""
    a = float(np.linalg.norm(v))
    if a < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate([[np.cos(a / 2)], np.sin(a / 2) * np.asarray(v, float) / a])


def _qlog(q: np.ndarray) -> np.ndarray:
    """wxyz quaternion -> rotation vector (the shorter way round)."""
    q = q if q[0] >= 0 else -q
    s = float(np.linalg.norm(q[1:]))
    if s < 1e-12:
        return np.zeros(3)
    return q[1:] / s * 2 * np.arctan2(s, q[0])


def _any_error(errors) -> bool:
    """A franky `Errors` with any flag set (the object itself is always truthy)."""
    return any(errors.__getstate__())


def parse_target(target: str, contract: PolicyContract | None) -> FrankaConfig:
    """`HOST[?key=value&...]` (keys: collaborative, gripper, dynamics, base=x,y,z) -> `FrankaConfig`,
    at the contract's control mode and rate."""
    host, _, query = target.partition("?")
    if not host:
        raise ConfigError("franka: needs the robot's address, e.g. franka:172.16.0.2 or franka:127.0.0.1")
    kw: dict = {"host": host}
    unknown = None
    if contract is not None:
        kw["control"], kw["hz"] = contract.control, float(contract.control_hz)
    for key, val in parse_qsl(query, keep_blank_values=True):
        try:
            if key in ("collaborative", "gripper"):
                kw[key] = val.lower() not in ("0", "false", "no")
            elif key == "dynamics":
                kw["dynamics_factor"] = float(val)
            elif key == "base":
                kw["base_pos"] = tuple(float(v) for v in val.split(","))
                if len(kw["base_pos"]) != 3:
                    raise ValueError(val)
            elif key == "control":
                kw["control"] = val
            elif key == "hz":
                kw["hz"] = float(val)
            else:
                unknown = key
        except ValueError:
            raise ConfigError(f"franka: bad value {val!r} for {key!r} in {target!r}") from None
    if unknown is not None:
        raise ConfigError(
            f"franka: unknown option {unknown!r} in {target!r}; use collaborative, gripper, dynamics, "
            "base, control, hz"
        )
    if not math.isfinite(kw.get("hz", 20.0)):
        raise ConfigError(f"franka: bad rate in {target!r}")
    return FrankaConfig(**kw)


@ROBOT_SCHEMES.register("franka")
def _open_franka(target: str, contract: PolicyContract | None, options: DriverOptions) -> FrankaDriver:
    cfg = parse_target(target, contract)
    if options.dry_run:
        import dataclasses

        cfg = dataclasses.replace(cfg, dry_run=True)
    return FrankaDriver(cfg)
