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

from dataclasses import dataclass, field

import numpy as np

LEGS = ("FL", "FR", "RL", "RR")
TROT_OFFSETS = np.array([0.0, 0.5, 0.5, 0.0])  # gait phase offset per leg (diagonal pairs)


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

    Unreachable targets are pulled onto the workspace boundary rather than rejected.
    """
    x, y, z = float(foot[0]), float(foot[1]), float(foot[2])
    q0 = np.arctan2(y, -z)
    h = np.hypot(y, z)  # leg length projected on the abducted plane
    d = np.hypot(x, h)
    d = float(np.clip(d, abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3))
    c2 = (d * d - l1 * l1 - l2 * l2) / (2 * l1 * l2)
    q2 = -np.arccos(np.clip(c2, -1.0, 1.0))
    phi = np.arctan2(-x, h)
    beta = np.arctan2(l2 * np.sin(q2), l1 + l2 * np.cos(q2))
    return np.array([q0, phi - beta, q2])


def leg_fk(q: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Foot position in the hip frame for joint angles `q` (inverse of `leg_ik`)."""
    q0, q1, q2 = q
    x = -l1 * np.sin(q1) - l2 * np.sin(q1 + q2)
    zp = -l1 * np.cos(q1) - l2 * np.cos(q1 + q2)
    return np.array([x, -zp * np.sin(q0), zp * np.cos(q0)])


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
        self.cmd = np.zeros(3)
        self.nominal = self.cfg.hip_pos[:, :2].copy()
        self.nominal[:, 1] += np.sign(self.nominal[:, 1]) * self.cfg.stance_width
        self.feet = self.nominal.copy()  # planned foot xy (horizontal frame, relative to body origin)
        self.liftoff = self.nominal.copy()
        self.was_stance = np.ones(4, dtype=bool)
        self.bias = np.zeros(3)  # outer-loop (vx, vy, yaw rate) correction of the planned stride

    def phases(self) -> np.ndarray:
        """Gait phase of each leg in [0, 1): stance in [0, 0.5), swing in [0.5, 1)."""
        return (self.t / self.cfg.period + TROT_OFFSETS) % 1.0

    def step(
        self,
        command: np.ndarray,
        dt: float,
        lin_vel: np.ndarray,
        roll: float,
        pitch: float,
        yaw_rate: float = 0.0,
    ) -> np.ndarray:
        """Joint targets (12, legs in `LEGS` order, each abduction/hip/knee) for the next `dt` seconds.

        `command` = (vx, vy, yaw_rate) in the body yaw frame; `lin_vel` = measured (vx, vy) in the same
        frame; `roll`, `pitch` = measured body attitude (rad); `yaw_rate` = measured (rad/s).
        """
        cfg = self.cfg
        cmd = np.asarray(command, dtype=float)
        dv = np.clip(cmd[:2] - self.cmd[:2], -cfg.accel * dt, cfg.accel * dt)
        self.cmd[:2] += dv
        self.cmd[2] += float(np.clip(cmd[2] - self.cmd[2], -cfg.yaw_accel * dt, cfg.yaw_accel * dt))
        self.t += dt
        activity = float(np.clip(max(np.hypot(*self.cmd[:2]) / 0.1, abs(self.cmd[2]) / 0.2), 0.0, 1.0))
        meas = np.array([lin_vel[0], lin_vel[1], yaw_rate])
        self.bias += activity * cfg.speed_ki * (self.cmd - meas) * dt
        self.bias = np.clip(self.bias, -cfg.speed_bias_max, cfg.speed_bias_max) * (0.6 + 0.4 * activity)
        vx, vy, wz = self.cmd + self.bias
        t_stance = cfg.period / 2
        ph = self.phases()
        lift = np.zeros(4)
        for i in range(4):
            px, py = self.nominal[i]
            v_leg = np.array([vx - wz * py, vy + wz * px])  # hip velocity over the ground
            if ph[i] < 0.5:  # stance: foot moves back at the hip's ground velocity
                self.feet[i] -= v_leg * dt
                self.was_stance[i] = True
            else:
                if self.was_stance[i]:
                    self.liftoff[i] = self.feet[i].copy()
                    self.was_stance[i] = False
                s = (ph[i] - 0.5) / 0.5  # swing progress 0..1
                err = np.asarray(lin_vel[:2], float) - self.cmd[:2]
                land = (
                    self.nominal[i]
                    + v_leg * t_stance / 2
                    + activity * cfg.raibert_gain * np.clip(err, -0.5, 0.5)
                )
                w = s * s * (3 - 2 * s)  # smoothstep horizontal interpolation
                self.feet[i] = (1 - w) * self.liftoff[i] + w * land
                lift[i] = activity * cfg.step_height * np.sin(np.pi * s)
        r = _rot_rp(cfg.attitude_gain * roll, cfg.attitude_gain * pitch)
        q = np.zeros(12)
        for i in range(4):
            foot_h = np.array([self.feet[i][0], self.feet[i][1], -cfg.height + lift[i]])
            foot_b = r.T @ foot_h  # planned foot in the (tilted) body frame
            hip_b = cfg.hip_pos[i]
            q[3 * i : 3 * i + 3] = leg_ik(foot_b - hip_b, cfg.l1, cfg.l2)
        return q

    def stand_pose(self) -> np.ndarray:
        """Joint angles with every foot under its nominal stance point at `height`."""
        q = np.zeros(12)
        for i in range(4):
            foot = np.array([*self.nominal[i], -self.cfg.height]) - self.cfg.hip_pos[i]
            q[3 * i : 3 * i + 3] = leg_ik(foot, self.cfg.l1, self.cfg.l2)
        return q
