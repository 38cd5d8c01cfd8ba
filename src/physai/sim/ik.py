"""Damped-least-squares differential inverse kinematics on MuJoCo Jacobians."""

from __future__ import annotations

import mujoco
import numpy as np


def quat_error(target_wxyz: np.ndarray, current_wxyz: np.ndarray) -> np.ndarray:
    """Rotation vector (world frame) that turns `current` into `target`."""
    q = np.empty(4)
    neg = np.empty(4)
    mujoco.mju_negQuat(neg, current_wxyz)
    mujoco.mju_mulQuat(q, target_wxyz, neg)
    vel = np.empty(3)
    mujoco.mju_quat2Vel(vel, q, 1.0)
    return vel


class DLSIK:
    """Solves joint displacements that move a site by a desired 6-D twist.

    dq = J^T (J J^T + lambda^2 I)^-1 e  +  (I - J^+ J) k (q_rest - q),
    clipped so that q + dq stays inside joint limits (minus a margin) and |dq| <= max_step.
    """

    def __init__(self, model: mujoco.MjModel, site: str, dof_ids: np.ndarray, qpos_ids: np.ndarray,
                 lower: np.ndarray, upper: np.ndarray, q_rest: np.ndarray | None = None,
                 damping: float = 0.05, nullspace_gain: float = 0.2, limit_margin: float = 0.02) -> None:
        self.model = model
        self.site_id = model.site(site).id
        self.dof_ids = np.asarray(dof_ids)
        self.qpos_ids = np.asarray(qpos_ids)
        self.lower = np.asarray(lower) + limit_margin
        self.upper = np.asarray(upper) - limit_margin
        self.q_rest = None if q_rest is None else np.asarray(q_rest, dtype=float)
        self.damping = damping
        self.nullspace_gain = nullspace_gain
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def jacobian(self, data: mujoco.MjData) -> np.ndarray:
        """6 x n Jacobian of the site (linear; angular) over the controlled dofs."""
        mujoco.mj_jacSite(self.model, data, self._jacp, self._jacr, self.site_id)
        return np.vstack([self._jacp[:, self.dof_ids], self._jacr[:, self.dof_ids]])

    def solve(self, data: mujoco.MjData, twist: np.ndarray, max_step: np.ndarray | float = np.inf,
              q: np.ndarray | None = None) -> np.ndarray:
        """Joint targets q + dq for a desired site displacement `twist` = (dpos, drot)."""
        q = data.qpos[self.qpos_ids].copy() if q is None else q
        jac = self.jacobian(data)
        jjt = jac @ jac.T + (self.damping**2) * np.eye(6)
        dq = jac.T @ np.linalg.solve(jjt, twist)
        if self.q_rest is not None and self.nullspace_gain > 0:
            jpinv = jac.T @ np.linalg.inv(jjt)
            null = np.eye(len(q)) - jpinv @ jac
            dq += null @ (self.nullspace_gain * (self.q_rest - q))
        dq = np.clip(dq, -max_step, max_step)
        return np.clip(q + dq, self.lower, self.upper)

    def site_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """World position (3) and quaternion (wxyz) of the site."""
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, data.site_xmat[self.site_id])
        return data.site_xpos[self.site_id].copy(), quat


class PoseLeash:
    """Moves a commanded TCP pose by twists and keeps it on a leash to the measured site pose.

    The commanded pose leads the measured one by at most `pos_leash` metres and `rot_leash` radians,
    so an arm that is blocked never winds up an unbounded command. Scalar math on 3-vectors and
    preallocated buffers: this runs every control step.
    """

    def __init__(self, pos_leash: float, rot_leash: float) -> None:
        self.pos_leash, self.rot_leash = pos_leash, rot_leash
        self._rot, self._meas, self._err = np.empty(4), np.empty(4), np.empty(4)
        self._v3 = np.empty(3)

    def advance(self, pos_cmd: np.ndarray, quat_cmd: np.ndarray, twist: list[float],
                site_xpos: np.ndarray, site_xmat: np.ndarray) -> None:
        """Add `twist` (dx, dy, dz, wx, wy, wz as Python floats) to the pose in place, then leash it."""
        dx, dy, dz, wx, wy, wz = twist[:6]
        pos_cmd[0] += dx
        pos_cmd[1] += dy
        pos_cmd[2] += dz
        rot, meas, v3 = self._rot, self._meas, self._v3
        angle = (wx * wx + wy * wy + wz * wz) ** 0.5
        if angle > 0:
            v3[:] = (wx / angle, wy / angle, wz / angle)
            mujoco.mju_axisAngle2Quat(rot, v3, angle)
            mujoco.mju_mulQuat(quat_cmd, rot, quat_cmd)  # mju_mulQuat is safe in place
        px, py, pz = pos_cmd.tolist()
        sx, sy, sz = site_xpos.tolist()
        dist = ((px - sx) ** 2 + (py - sy) ** 2 + (pz - sz) ** 2) ** 0.5
        if dist > self.pos_leash:
            pos_cmd -= (pos_cmd - site_xpos) * (1.0 - self.pos_leash / dist)
        mujoco.mju_mat2Quat(meas, site_xmat)
        mujoco.mju_negQuat(rot, meas)
        mujoco.mju_mulQuat(self._err, quat_cmd, rot)
        mujoco.mju_quat2Vel(v3, self._err, 1.0)
        vx, vy, vz = v3.tolist()
        ang = (vx * vx + vy * vy + vz * vz) ** 0.5
        if ang > self.rot_leash:
            mujoco.mju_axisAngle2Quat(rot, v3 / ang, self.rot_leash)
            mujoco.mju_mulQuat(quat_cmd, rot, meas)
        mujoco.mju_normalize4(quat_cmd)
