"""A trot gait controller for 12-DoF quadrupeds: Raibert foot placement + analytical leg IK.

The controller turns a body-velocity command (vx, vy in m/s, yaw rate in rad/s, body yaw frame) into
12 joint position targets that the robot's joint PD servos track. Each control step it

1. advances a gait clock (diagonal pairs FL+RR / FR+RL alternate, 50% duty),
2. plans every foot in a *horizontal* frame (body yaw only, gravity-aligned): stance feet slide
   backwards under the body at the commanded ground velocity of their hip; swing feet travel to a
   Raibert landing point `v_hip * T_stance / 2 + k (v_measured - v_cmd)` along a raised arc,
3. rotates the plan into the body frame with the measured roll/pitch (so a tilted body is levelled
   by lengthening the low legs), and
4. solves each leg analytically (abduction about x, hip and knee pitch about y).

The leg model: a hip (abduction) joint at `hip_pos`, the thigh and calf of lengths `l1`, `l2` in the
abducted sagittal plane; hip pitch `q1` > 0 swings the foot backwards, the knee `q2` < 0 (knee
behind the foot, like most commercial quadrupeds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LEGS = ("FL", "FR", "RL", "RR")
TROT_OFFSETS = np.array([0.0, 0.5, 0.5, 0.0])  # gait phase offset per leg (diagonal pairs)
_OFFSETS = tuple(TROT_OFFSETS.tolist())  # the same as Python floats for the per-step scalar loop


@dataclass
class GaitConfig:
    """Parameters of the trot gait."""

    hip_pos: np.ndarray = field(
        default_factory=lambda: np.array(
            [[0.22, 0.12, 0.0], [0.22, -0.12, 0.0], [-0.22, 0.12, 0.0], [-0.22, -0.12, 0.0]]
        )
    )
    """Hip (abduction joint) positions in the body frame, one row per leg in `LEGS` order (m)."""
    l1: float = 0.22
    """Thigh length (m)."""
    l2: float = 0.22
    """Calf length, knee to foot centre (m)."""
    height: float = 0.30
    """Commanded hip height above the feet (m)."""
    period: float = 0.36
    """Gait cycle duration (s); each foot is in stance for half of it."""
    step_height: float = 0.07
    """Swing foot clearance at mid-swing (m)."""
    raibert_gain: float = 0.06
    """Landing-point correction per unit velocity error (s)."""
    stance_width: float = 0.0
    """Extra lateral foot offset outward from the hip (m)."""
    attitude_gain: float = 0.0
    """How much of the measured roll/pitch the stance plan compensates (0..1)."""
    accel: float = 1.5
    """Maximum rate of change of the commanded planar speed (m/s^2); smooths steps in the command."""
    yaw_accel: float = 4.0
    """Maximum rate of change of the commanded yaw rate (rad/s^2)."""
    speed_ki: float = 1.5
    """Integral gain (1/s) of the outer loop that scales the stride until measured speed matches."""
    speed_bias_max: float = 0.35
    """Largest stride-velocity correction the outer loop may add (m/s, and rad/s for yaw)."""


def leg_ik(foot: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Joint angles (abduction, hip pitch, knee) that put the foot at `foot` (hip frame, m).

    `foot` is (3,) or (n, 3); the result has the same shape. Unreachable targets are pulled onto the
    workspace boundary rather than rejected.
    """
    foot = np.asarray(foot, dtype=float)
    x, y, z = foot[..., 0], foot[..., 1], foot[..., 2]
    q0 = np.arctan2(y, -z)
    h = np.hypot(y, z)  # leg length projected on the abducted plane
    d = np.clip(np.hypot(x, h), abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3)
    q2 = -np.arccos(np.clip((d * d - l1 * l1 - l2 * l2) / (2 * l1 * l2), -1.0, 1.0))
    beta = np.arctan2(l2 * np.sin(q2), l1 + l2 * np.cos(q2))
    return np.stack([q0, np.arctan2(-x, h) - beta, q2], axis=-1)


def leg_fk(q: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Foot position in the hip frame for joint angles `q` (inverse of `leg_ik`)."""
    q0, q1, q2 = q
    x = -l1 * np.sin(q1) - l2 * np.sin(q1 + q2)
    zp = -l1 * np.cos(q1) - l2 * np.cos(q1 + q2)
    return np.array([x, -zp * np.sin(q0), zp * np.cos(q0)])


def _leg_ik_scalar(x: float, y: float, z: float, l1: float, l2: float, out: list[float]) -> None:
    """`leg_ik` for one leg with `math` (about 10x faster than numpy on a single leg)."""
    h = math.hypot(y, z)
    d = min(l1 + l2 - 1e-3, max(abs(l1 - l2) + 1e-3, math.hypot(x, h)))
    q2 = -math.acos(min(1.0, max(-1.0, (d * d - l1 * l1 - l2 * l2) / (2 * l1 * l2))))
    beta = math.atan2(l2 * math.sin(q2), l1 + l2 * math.cos(q2))
    out += (math.atan2(y, -z), math.atan2(-x, h) - beta, q2)


def _rot_rp(roll: float, pitch: float) -> np.ndarray:
    """Rotation matrix of a body with `roll` and `pitch` (yaw removed): R = Ry(pitch) @ Rx(roll)."""
    cr, sr, cp, sp = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    return ry @ rx


class TrotGait:
    """Stateful trot controller; call `reset()` when the robot is placed, then `step()` every control step."""

    def __init__(self, config: GaitConfig | None = None) -> None:
        self.cfg = config or GaitConfig()
        self.reset()

    def reset(self) -> None:
        """Clock to zero, command to zero, every foot at its nominal stance point."""
        self.t = 0.0
        self.cmd = [0.0, 0.0, 0.0]
        nominal = self.cfg.hip_pos[:, :2].copy()
        nominal[:, 1] += np.sign(nominal[:, 1]) * self.cfg.stance_width
        self.nominal = nominal.tolist()  # python floats: the per-step loop is scalar math
        self.feet = nominal.tolist()  # planned foot xy (horizontal frame, relative to body origin)
        self.liftoff = nominal.tolist()
        self.was_stance = [True] * 4
        self._hips = self.cfg.hip_pos.tolist()
        self.bias = [0.0, 0.0, 0.0]  # outer-loop (vx, vy, yaw rate) correction of the planned stride

    def phases(self) -> np.ndarray:
        """Gait phase of each leg in [0, 1): stance in [0, 0.5), swing in [0.5, 1)."""
        return (self.t / self.cfg.period + TROT_OFFSETS) % 1.0

    def step(
        self,
        command: np.ndarray,
        dt: float,
        lin_vel: np.ndarray | Sequence[float],
        roll: float,
        pitch: float,
        yaw_rate: float = 0.0,
    ) -> np.ndarray:
        """Joint targets (12, legs in `LEGS` order, each abduction/hip/knee) for the next `dt` seconds.

        `command` = (vx, vy, yaw_rate) in the body yaw frame; `lin_vel` = measured (vx, vy) in the same
        frame; `roll`, `pitch` = measured body attitude (rad); `yaw_rate` = measured (rad/s).
        Written with scalar math over the four legs: it runs every control step and must stay cheap
        next to `mj_step` (numpy's per-call overhead dominates on 4-element arrays).
        """
        cfg, cmd, bias = self.cfg, self.cmd, self.bias
        lims = (cfg.accel * dt, cfg.accel * dt, cfg.yaw_accel * dt)
        meas = (float(lin_vel[0]), float(lin_vel[1]), float(yaw_rate))
        com = command.tolist() if isinstance(command, np.ndarray) else [float(c) for c in command]
        # min(hi, max(lo, v)) is spelled `v = v if v > lo else lo; v = v if v < hi else hi` below:
        # the same selection as the builtins, without their call overhead
        for k in range(3):
            lim, dv = lims[k], com[k] - cmd[k]
            dv = dv if dv > -lim else -lim
            cmd[k] += dv if dv < lim else lim
        self.t += dt
        activity = min(1.0, max(math.hypot(cmd[0], cmd[1]) / 0.1, abs(cmd[2]) / 0.2))
        decay, bmax, ki = 0.6 + 0.4 * activity, cfg.speed_bias_max, cfg.speed_ki
        for k in range(3):
            b = bias[k] + activity * ki * (cmd[k] - meas[k]) * dt
            b = b if b > -bmax else -bmax
            bias[k] = (b if b < bmax else bmax) * decay
        vx, vy, wz = cmd[0] + bias[0], cmd[1] + bias[1], cmd[2] + bias[2]
        errx, erry = meas[0] - cmd[0], meas[1] - cmd[1]
        errx = errx if errx > -0.5 else -0.5
        errx = errx if errx < 0.5 else 0.5
        erry = erry if erry > -0.5 else -0.5
        erry = erry if erry < 0.5 else 0.5
        gain = activity * cfg.raibert_gain
        period, height = cfg.period, cfg.height
        lift_amp = activity * cfg.step_height
        feet = []
        cycle = self.t / period
        nominal, was_stance, liftoff = self.nominal, self.was_stance, self.liftoff
        for i in range(4):
            nx, ny = nominal[i]
            vlx, vly = vx - wz * ny, vy + wz * nx  # hip velocity over the ground
            ph = (cycle + _OFFSETS[i]) % 1.0
            f = self.feet[i]
            lift = 0.0
            if ph < 0.5:  # stance: the foot moves back at the hip's ground velocity
                f[0] -= vlx * dt
                f[1] -= vly * dt
                was_stance[i] = True
            else:
                if was_stance[i]:
                    liftoff[i] = list(f)
                    was_stance[i] = False
                s = (ph - 0.5) / 0.5  # swing progress 0..1
                w = s * s * (3 - 2 * s)  # smoothstep horizontal interpolation
                lx = nx + vlx * period / 4 + gain * errx  # Raibert landing point
                ly = ny + vly * period / 4 + gain * erry
                lo = liftoff[i]
                f[0] = (1 - w) * lo[0] + w * lx
                f[1] = (1 - w) * lo[1] + w * ly
                lift = lift_amp * math.sin(math.pi * s)
            feet.append((f[0], f[1], lift - height))
        if cfg.attitude_gain:
            rot = _rot_rp(cfg.attitude_gain * roll, cfg.attitude_gain * pitch)
            feet = (np.array(feet) @ rot).tolist()  # row-wise R^T @ foot
        # `_leg_ik_scalar` per leg, inlined with its constants hoisted (same arithmetic, same order)
        q: list[float] = []
        l1, l2 = cfg.l1, cfg.l2
        d_max, d_min = l1 + l2 - 1e-3, abs(l1 - l2) + 1e-3
        l1sq, l2sq, den = l1 * l1, l2 * l2, 2 * l1 * l2
        hypot, atan2 = math.hypot, math.atan2
        for (fx, fy, fz), (hx, hy, hz) in zip(feet, self._hips, strict=True):
            x, y, z = fx - hx, fy - hy, fz - hz
            h = hypot(y, z)
            d = hypot(x, h)
            d = d if d > d_min else d_min
            d = d if d < d_max else d_max
            c = (d * d - l1sq - l2sq) / den
            c = c if c > -1.0 else -1.0
            q2 = -math.acos(c if c < 1.0 else 1.0)
            beta = atan2(l2 * math.sin(q2), l1 + l2 * math.cos(q2))
            q += (atan2(y, -z), atan2(-x, h) - beta, q2)
        return np.array(q)

    def stand_pose(self) -> np.ndarray:
        """Joint angles with every foot under its nominal stance point at `height`."""
        q = np.zeros(12)
        for i in range(4):
            foot = np.array([*self.nominal[i], -self.cfg.height]) - self.cfg.hip_pos[i]
            q[3 * i : 3 * i + 3] = leg_ik(foot, self.cfg.l1, self.cfg.l2)
        return q
