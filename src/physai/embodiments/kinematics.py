"""Forward kinematics and Jacobians of a robot's tool frames, on a standalone model of the robot alone.

The safety supervisor predicts the Cartesian motion of every command from these before it is sent. It
must not depend on a simulator's live state (a real robot has none), so `RobotKinematics` owns its own
`MjModel` / `MjData`, built from the embodiment's own description (`Embodiment.kinematics()` builds
the robot into an empty `MjSpec`); a real-robot driver provides the same object for its robot.

Per end effector it tracks two points: the tool centre point (TCP, a site) and the flange (the origin
of the hand body the TCP hangs on). Rotating the tool about the TCP swings the flange on a lever of
`|flange - TCP|`, so both are bounded.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from physai.core.errors import ConfigError


class RobotKinematics:
    """FK and linear Jacobians of the TCP and flange of each end effector, over named joints."""

    def __init__(
        self, model: mujoco.MjModel, joint_names: Sequence[str], frames: Sequence[tuple[str, str]]
    ) -> None:
        if not frames:
            raise ConfigError("RobotKinematics needs at least one (tcp site, flange body) frame")
        self.model, self.data = model, mujoco.MjData(model)
        self.joint_names = tuple(joint_names)
        try:
            jids = [model.joint(j).id for j in self.joint_names]
            self.sites = np.array([model.site(s).id for s, _ in frames])
            self.bodies = np.array([model.body(b).id for _, b in frames])
        except KeyError as exc:
            raise ConfigError(
                f"the kinematics model lacks {exc}; joints {self.joint_names}, frames {list(frames)}"
            ) from None
        self.qadr = np.array([model.jnt_qposadr[j] for j in jids])
        self.dofs = np.array([model.jnt_dofadr[j] for j in jids])
        self.n_ee, self.nj = len(frames), len(jids)
        self._jp, self._jr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
        self._key: bytes | None = None  # the joints the data holds the kinematics of
        self._jac_done = False
        self._pts = np.empty((self.n_ee, 2, 3))
        mujoco.mj_kinematics(model, self.data)
        # the flange in the TCP frame: constant (both ride on the same body)
        self.flange_offset = np.stack(
            [
                self.data.site_xmat[s].reshape(3, 3).T @ (self.data.xpos[b] - self.data.site_xpos[s])
                for s, b in zip(self.sites, self.bodies, strict=True)
            ]
        )

    def _update(self, q: np.ndarray, jac: bool = False) -> None:
        q = np.asarray(q, dtype=float)
        key = q.tobytes()
        if key != self._key:
            self.data.qpos[self.qadr] = q
            mujoco.mj_kinematics(self.model, self.data)
            self._key, self._jac_done = key, False
        if jac and not self._jac_done:
            mujoco.mj_comPos(self.model, self.data)
            self._jac_done = True

    def points(self, q: np.ndarray) -> np.ndarray:
        """World positions (n_ee, 2, 3) of (TCP, flange) per end effector at joints `q`."""
        self._update(q)
        out = self._pts.copy()
        out[:, 0] = self.data.site_xpos[self.sites]
        out[:, 1] = self.data.xpos[self.bodies]
        return out

    def tcp_pose(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP positions (n_ee, 3) and orientations as quaternions wxyz (n_ee, 4) at joints `q`."""
        self._update(q)
        quat = np.empty((self.n_ee, 4))
        for k, s in enumerate(self.sites):
            mujoco.mju_mat2Quat(quat[k], self.data.site_xmat[s])
        return self.data.site_xpos[self.sites].copy(), quat

    def jacobians(self, q: np.ndarray) -> np.ndarray:
        """Linear Jacobians (n_ee, 2, 3, n_joints) of (TCP, flange) with respect to the named joints."""
        self._update(q, jac=True)
        m, d = self.model, self.data
        out = np.empty((self.n_ee, 2, 3, self.nj))
        for k in range(self.n_ee):
            mujoco.mj_jacSite(m, d, self._jp, None, int(self.sites[k]))
            out[k, 0] = self._jp[:, self.dofs]
            b = int(self.bodies[k])
            mujoco.mj_jac(m, d, self._jp, None, d.xpos[b], b)
            out[k, 1] = self._jp[:, self.dofs]
        return out
