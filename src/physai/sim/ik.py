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
