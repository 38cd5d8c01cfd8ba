"""`arm7`: a 7-DoF arm with a parallel two-finger gripper, Franka-Panda-like kinematics and limits.

Link frames follow the Panda's published kinematics (0.333 / 0.316 / 0.0825 / 0.384 / 0.088 / 0.107 m);
joint position, velocity and torque limits are the Panda's datasheet values. Joints are driven by
stiff position servos with gravity compensation, like a torque-controlled arm running an impedance
controller.

Control modes:
- `joint_pos`: 7 absolute joint targets (rad) + gripper closure in [0, 1] (1 = closed).
- `ee_delta`: TCP displacement (dx, dy, dz in m, world frame), rotation vector (rad, world frame),
  gripper closure in [0, 1]. The deltas add up on a commanded TCP pose (leashed to the measured one,
  so a blocked arm pushes with bounded force); joint targets for that pose come from a
  damped-least-squares IK step on the commanded joints that respects joint limits. Experts steer with
  `command_twist_to`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from physai.core.specs import ArraySpec
from physai.embodiments.base import Embodiment, SafetyLimits, register_embodiment
from physai.sim.ik import DLSIK, PoseLeash, quat_error
from physai.sim.scene import GEOM, OBJECT_GROUP

ROBOT_GROUP = 2  # robot geoms collide with objects (group 1) but not with each other

JOINT_LOWER = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
JOINT_UPPER = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
JOINT_VEL = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
JOINT_ACC = np.array([15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
JOINT_EFFORT = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
FINGER_MAX = 0.04  # m per finger; 8 cm total opening
TCP_OFFSET = 0.1034  # m from the hand flange to the point between the fingertips
POS_LEASH = 0.1  # m: the commanded TCP position never leads the measured one by more
ROT_LEASH = 0.5  # rad: same for orientation
Q_LEASH = 0.3  # rad: joint commands stay this close to the measured joints
IK_ITERS = 1  # IK Newton steps per control step (the residual is corrected on the next step)
# Finger pads: stiff contacts (solref time constant 5 ms) so round objects squeezed between the flat
# pads do not sink into them and roll out of the grasp while lifting (the default 20 ms lets them).
PAD_FRICTION = [1.5, 0.02, 0.001]
PAD_CONDIM = 4
PAD_SOLREF = [0.005, 1.0]
PAD_SOLIMP = [0.9, 0.95, 0.001, 0.5, 2.0]

# (pos, quat) of link i relative to link i-1 (Panda convention); quats are normalised below.
_LINKS = [
    ([0, 0, 0.333], [1, 0, 0, 0]),
    ([0, 0, 0], [1, -1, 0, 0]),
    ([0, -0.316, 0], [1, 1, 0, 0]),
    ([0.0825, 0, 0], [1, 1, 0, 0]),
    ([-0.0825, 0.384, 0], [1, -1, 0, 0]),
    ([0, 0, 0], [1, 1, 0, 0]),
    ([0.088, 0, 0], [1, 1, 0, 0]),
]
_LINK_RADIUS = [0.07, 0.065, 0.065, 0.06, 0.06, 0.055, 0.05]
_LINK_MASS = [4.0, 4.0, 3.0, 3.0, 2.5, 1.5, 0.8]


def _unit(q: Sequence[float]) -> list[float]:
    a = np.asarray(q, dtype=float)
    return (a / np.linalg.norm(a)).tolist()


def lookat_xyaxes(pos: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0, 0, 1.0])) -> list[float]:
    """MuJoCo camera `xyaxes` for a camera at `pos` looking at `target`."""
    fwd = np.asarray(target, float) - np.asarray(pos, float)
    fwd /= np.linalg.norm(fwd)
    x = np.cross(fwd, up)
    x /= np.linalg.norm(x)
    y = np.cross(x, fwd)
    return [*x.tolist(), *y.tolist()]


@dataclass
class Arm7Config:
    """Placement and naming of one arm."""

    base_pos: tuple[float, float, float] = (0.0, 0.0, 0.4)
    """Position of the arm base in the world (m)."""
    base_yaw: float = 0.0
    """Heading of the arm base about +z (rad); 0 faces +x."""
    prefix: str = ""
    """Prefix for every name (e.g. 'left/') so several arms can share a scene."""
    scene_camera: bool = True
    """Add the world-fixed 'scene' camera looking at the workspace in front of the arm."""


@register_embodiment("arm7")
class Arm7(Embodiment):
    """Franka-like 7-DoF arm with a two-finger gripper, wrist camera and wrist force/torque sensor."""

    control_modes = ("ee_delta", "joint_pos")
    description = "7-DoF arm, two-finger gripper, wrist camera, wrist F/T (Franka-like)"

    def __init__(self, config: Arm7Config | None = None, **kwargs: object) -> None:
        self.config = config or Arm7Config(**kwargs)  # type: ignore[arg-type]
        self.p = self.config.prefix

    # ---------------------------------------------------------------- build
    def build(self, spec: mujoco.MjSpec) -> None:
        p, cfg = self.p, self.config
        yaw = cfg.base_yaw
        base = spec.worldbody.add_body(name=f"{p}link0", pos=list(cfg.base_pos),
                                       quat=[np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
        base.add_geom(type=GEOM.mjGEOM_CYLINDER, size=[0.08, 0.06], pos=[0, 0, 0.06],
                      rgba=[0.25, 0.25, 0.28, 1], contype=0, conaffinity=0)
        parent = base
        for i, (pos, quat) in enumerate(_LINKS):
            body = parent.add_body(name=f"{p}link{i + 1}", pos=pos, quat=_unit(quat), gravcomp=1.0)
            body.add_joint(name=f"{p}joint{i + 1}", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1],
                           range=[JOINT_LOWER[i], JOINT_UPPER[i]], armature=0.1, damping=1.0,
                           limited=mujoco.mjtLimited.mjLIMITED_TRUE)
            # a capsule from this frame to the next frame's origin (or a sphere for coincident frames)
            nxt = np.array(_LINKS[i + 1][0] if i + 1 < len(_LINKS) else [0, 0, 0.107], dtype=float)
            rgba = [0.92, 0.92, 0.94, 1] if i % 2 == 0 else [0.3, 0.3, 0.34, 1]
            common = dict(rgba=rgba, contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP, mass=_LINK_MASS[i])
            if np.linalg.norm(nxt) > 1e-6:
                body.add_geom(type=GEOM.mjGEOM_CAPSULE, fromto=[0, 0, 0, *nxt.tolist()],
                              size=[_LINK_RADIUS[i] * 0.8, 0, 0], **common)
            else:
                body.add_geom(type=GEOM.mjGEOM_SPHERE, size=[_LINK_RADIUS[i], 0, 0], **common)
            parent = body
        hand = parent.add_body(name=f"{p}hand", pos=[0, 0, 0.107], quat=[0.9238795, 0, 0, -0.3826834],
                               gravcomp=1.0)
        hand.add_geom(type=GEOM.mjGEOM_BOX, size=[0.02, 0.09, 0.025], pos=[0, 0, 0.03],
                      rgba=[0.92, 0.92, 0.94, 1], contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP, mass=0.6)
        hand.add_site(name=f"{p}tcp", pos=[0, 0, TCP_OFFSET], size=[0.006, 0, 0], rgba=[1, 0, 0, 0.5],
                      group=4)
        hand.add_site(name=f"{p}ft", pos=[0, 0, 0], size=[0.01, 0, 0], group=4)
        hand.add_camera(name=f"{p}wrist", pos=[0.07, 0, 0.0], xyaxes=[0, 1, 0, 0.94, 0, 0.34], fovy=80)
        for side, sign in (("left", 1), ("right", -1)):
            f = hand.add_body(name=f"{p}finger_{side}", pos=[0, 0, 0.0584], gravcomp=1.0)
            f.add_joint(name=f"{p}finger_{side}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, sign, 0],
                        range=[0, FINGER_MAX], armature=0.01, damping=2.0)
            f.add_geom(name=f"{p}pad_{side}", type=GEOM.mjGEOM_BOX, size=[0.018, 0.006, 0.0325],
                       pos=[0, sign * 0.006, 0.0325], rgba=[0.2, 0.2, 0.22, 1], mass=0.05,
                       contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP, friction=PAD_FRICTION,
                       condim=PAD_CONDIM, priority=2, solref=PAD_SOLREF, solimp=PAD_SOLIMP)
        for i in range(7):
            kp, kv = (4500.0, 225.0) if i < 4 else (2000.0, 100.0)
            self._position_actuator(spec, f"{p}joint{i + 1}", kp, kv, (JOINT_LOWER[i], JOINT_UPPER[i]),
                                    JOINT_EFFORT[i])
        for side in ("left", "right"):
            self._position_actuator(spec, f"{p}finger_{side}", 400.0, 20.0, (0.0, FINGER_MAX), 30.0)
        spec.add_sensor(name=f"{p}wrist_force", type=mujoco.mjtSensor.mjSENS_FORCE,
                        objtype=mujoco.mjtObj.mjOBJ_SITE, objname=f"{p}ft")
        spec.add_sensor(name=f"{p}wrist_torque", type=mujoco.mjtSensor.mjSENS_TORQUE,
                        objtype=mujoco.mjtObj.mjOBJ_SITE, objname=f"{p}ft")
        if cfg.scene_camera:
            c, s = np.cos(yaw), np.sin(yaw)
            bx, by, bz = cfg.base_pos
            target = np.array([bx + 0.5 * c, by + 0.5 * s, bz])
            cam = np.array([bx + 1.45 * c, by + 1.45 * s, bz + 0.75])
            spec.worldbody.add_camera(name=f"{p}scene", pos=cam.tolist(), xyaxes=lookat_xyaxes(cam, target),
                                      fovy=50)

    @staticmethod
    def _position_actuator(spec: mujoco.MjSpec, joint: str, kp: float, kv: float,
                           ctrlrange: tuple[float, float], effort: float) -> None:
        act = spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        act.gainprm[0] = kp
        act.biasprm[:3] = [0.0, -kp, -kv]
        act.ctrlrange = list(ctrlrange)
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-effort, effort]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE

    # ---------------------------------------------------------------- bind / state
    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        p = self.p
        self.model, self.data = model, data
        joints = [model.joint(f"{p}joint{i + 1}") for i in range(7)]
        self.qpos_ids = np.array([model.jnt_qposadr[j.id] for j in joints])
        self.dof_ids = np.array([model.jnt_dofadr[j.id] for j in joints])
        fingers = [model.joint(f"{p}finger_{s}") for s in ("left", "right")]
        self.finger_qpos = np.array([model.jnt_qposadr[j.id] for j in fingers])
        self.arm_act = np.array([model.actuator(f"{p}joint{i + 1}").id for i in range(7)])
        self.finger_act = np.array([model.actuator(f"{p}finger_{s}").id for s in ("left", "right")])
        self.tcp_site = model.site(f"{p}tcp").id
        self.hand_body = model.body(f"{p}hand").id
        fs, ts = model.sensor(f"{p}wrist_force"), model.sensor(f"{p}wrist_torque")
        self.force_adr = int(model.sensor_adr[fs.id])
        self.torque_adr = int(model.sensor_adr[ts.id])
        self.pad_geoms = np.array([model.geom(f"{p}pad_{s}").id for s in ("left", "right")])
        self.ik = DLSIK(model, f"{p}tcp", self.dof_ids, self.qpos_ids, JOINT_LOWER, JOINT_UPPER, q_rest=HOME)
        self._kin = mujoco.MjData(model)  # scratch data for forward kinematics of the commanded joints
        self.q_cmd = HOME.copy()
        self._pose_cmd: tuple[np.ndarray, np.ndarray] | None = None
        # preallocated buffers for the per-step ee_delta solve and state read-out
        self._q1, self._q3 = np.empty(4), np.empty(4)
        self._leash = PoseLeash(POS_LEASH, ROT_LEASH)
        self._err, self._y6, self._jac = np.empty(6), np.empty(6), np.empty((6, 7))
        self._err_p, self._err_r = self._err[:3], self._err[3:]  # views, written in place
        self._jfull = np.zeros((6, model.nv))  # mj_jacSite writes its rows 0-2 (jacp) and 3-5 (jacr)
        self._jacp, self._jacr = self._jfull[:3], self._jfull[3:]
        self._diag = np.diag_indices(6)
        # the arm's joints are consecutive in qpos/qvel (built in one chain): slices beat index arrays
        assert np.all(np.diff(self.qpos_ids) == 1) and np.all(np.diff(self.dof_ids) == 1)
        self._qsl = slice(int(self.qpos_ids[0]), int(self.qpos_ids[-1]) + 1)
        self._dsl = slice(int(self.dof_ids[0]), int(self.dof_ids[-1]) + 1)
        self._state = np.empty(32, np.float32)
        self._f0, self._f1 = int(self.finger_qpos[0]), int(self.finger_qpos[1])
        self._asl = (slice(int(self.arm_act[0]), int(self.arm_act[-1]) + 1)
                     if np.all(np.diff(self.arm_act) == 1) else self.arm_act)
        self._fsl = (slice(int(self.finger_act[0]), int(self.finger_act[-1]) + 1)
                     if np.all(np.diff(self.finger_act) == 1) else self.finger_act)
        self._jjt, self._jn = np.empty((6, 6)), np.empty(6)
        self._dq, self._n = np.empty(7), np.empty(7)
        self._damp = np.eye(6) * self.ik.damping ** 2
        self._max_step: tuple[float, np.ndarray] | None = None
        self._qc = self._lo = self._hi = HOME.copy()  # ee_delta seed and leash, set by _ee_begin

    def reset_pose(self, data: mujoco.MjData, q: np.ndarray | None = None) -> None:
        q = HOME if q is None else np.asarray(q)
        data.qpos[self.qpos_ids] = q
        data.qvel[self.dof_ids] = 0
        data.qpos[self.finger_qpos] = FINGER_MAX
        data.ctrl[self.arm_act] = q
        data.ctrl[self.finger_act] = FINGER_MAX
        self.q_cmd = q.copy()
        self._pose_cmd = None  # re-read from the arm on the next ee_delta command

    def joint_names(self) -> list[str]:
        return [f"{self.p}joint{i + 1}" for i in range(7)]

    def state_names(self) -> list[str]:
        p = self.p
        names = [f"{p}joint{i + 1}.pos" for i in range(7)] + [f"{p}joint{i + 1}.vel" for i in range(7)]
        names += [f"{p}gripper.width"] + [f"{p}ee.pos.{a}" for a in "xyz"]
        names += [f"{p}ee.quat.{a}" for a in "wxyz"]
        names += [f"{p}wrist.force.{a}" for a in "xyz"] + [f"{p}wrist.torque.{a}" for a in "xyz"]
        return names

    def state(self) -> np.ndarray:
        self._fill_state(self._state)
        return self._state[:28].copy()

    def _fill_state(self, out: np.ndarray) -> None:
        """Write `state()` into `out[:28]` (multi-arm robots fill their own buffer, no copies)."""
        d = self.data
        out[0:7] = d.qpos[self._qsl]
        out[7:14] = d.qvel[self._dsl]
        qpos = d.qpos
        out[14] = qpos[self._f0] + qpos[self._f1]
        out[15:18] = d.site_xpos[self.tcp_site]
        mujoco.mju_mat2Quat(self._q3, d.site_xmat[self.tcp_site])
        out[18:22] = self._q3
        out[22:25] = d.sensordata[self.force_adr:self.force_adr + 3]
        out[25:28] = d.sensordata[self.torque_adr:self.torque_adr + 3]

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World position and quaternion (wxyz) of the tool centre point."""
        return self.ik.site_pose(self.data)

    def gripper_width(self) -> float:
        """Distance between the finger pads (m)."""
        return float(self.data.qpos[self.finger_qpos].sum())

    def ee_positions(self) -> np.ndarray:
        return self.data.site_xpos[self.tcp_site][None].copy()

    def tcp_frames(self) -> list[tuple[str, str]]:
        return [(f"{self.p}tcp", f"{self.p}hand")]

    def wrist_wrenches(self) -> np.ndarray:
        return self.wrist_wrench()[None]

    def wrist_wrench(self) -> np.ndarray:
        """Force (3, N) and torque (3, Nm) at the wrist sensor, sensor frame."""
        d = self.data
        return np.concatenate([d.sensordata[self.force_adr:self.force_adr + 3],
                               d.sensordata[self.torque_adr:self.torque_adr + 3]])

    # ---------------------------------------------------------------- control
    def action_spec(self, mode: str) -> ArraySpec:
        self.check_mode(mode)
        p = self.p
        if mode == "joint_pos":
            low = np.append(JOINT_LOWER, 0.0).astype(np.float32)
            high = np.append(JOINT_UPPER, 1.0).astype(np.float32)
            names = tuple(f"{p}joint{i + 1}" for i in range(7)) + (f"{p}gripper",)
            return ArraySpec((8,), "float32", low, high, names)
        low = np.array([-0.05] * 3 + [-0.25] * 3 + [0.0], dtype=np.float32)
        high = np.array([0.05] * 3 + [0.25] * 3 + [1.0], dtype=np.float32)
        names = tuple(f"{p}ee.{n}" for n in ("dx", "dy", "dz", "drx", "dry", "drz")) + (f"{p}gripper",)
        return ArraySpec((7,), "float32", low, high, names)

    def apply_action(self, action: np.ndarray, mode: str, control_dt: float) -> None:
        if mode == "joint_pos":
            d = self.data
            q = d.qpos[self._qsl]  # a view: only read before the next mj_step
            if self._max_step is None or self._max_step[0] != control_dt:
                self._max_step = (control_dt, JOINT_VEL * control_dt)
            max_step = self._max_step[1]
            target = np.clip(action[:7], JOINT_LOWER, JOINT_UPPER)
            target = q + np.clip(target - q, -max_step, max_step)
            self._pose_cmd = None
            self._command(target, action)
        else:
            self._ee_begin(action)
            mujoco.mj_kinematics(self.model, self._kin)
            mujoco.mj_comPos(self.model, self._kin)
            self._ee_end(action)

    def _command(self, target: np.ndarray, action: np.ndarray) -> None:
        d = self.data
        self.q_cmd = target
        d.ctrl[self._asl] = target
        d.ctrl[self._fsl] = FINGER_MAX * (1.0 - float(action[-1]))

    def _ee_begin(self, action: np.ndarray) -> None:
        """ee_delta, first half: update the commanded pose, put the joint seed into the scratch data.

        Then the caller runs `mj_kinematics` + `mj_comPos` on `self._kin` (robots with several arms
        share one scratch data and one pass) and calls `_ee_end`.
        """
        self._qc = self._pose_and_seed(np.asarray(action, dtype=float), self.data.qpos[self._qsl])
        self._kin.qpos[self._qsl] = self._qc

    def _ee_end(self, action: np.ndarray) -> None:
        """ee_delta, second half: IK step(s) from the computed kinematics, then the actuator commands."""
        self._command(self._ik_steps(self._qc), action)

    def _pose_and_seed(self, twist: np.ndarray, q: np.ndarray) -> np.ndarray:
        """ee_delta: add the twist to the commanded TCP pose; return the IK seed (joint command clamped
        to the leash around the measured joints `q`). `_ik_steps` then solves joint targets for the pose.

        The commanded pose (not the lagging measured one) integrates the deltas, so a sequence of
        deltas adds up exactly and a zero delta holds still. It is leashed to within `POS_LEASH` /
        `ROT_LEASH` of the measured TCP and the joint command to within `Q_LEASH` of the measured
        joints, so a blocked arm pushes with bounded force and does not lunge when released.
        This runs every control step, so it avoids allocations it can (it is most of the env overhead).
        """
        if self._pose_cmd is None:
            self._pose_cmd = self.tcp_pose()
        pos_cmd, quat_cmd = self._pose_cmd  # updated in place below
        d = self.data
        self._leash.advance(pos_cmd, quat_cmd, twist[:6].tolist(), d.site_xpos[self.tcp_site],
                            d.site_xmat[self.tcp_site])
        lo = q - Q_LEASH
        np.maximum(lo, self.ik.lower, out=lo)
        hi = q + Q_LEASH
        np.minimum(hi, self.ik.upper, out=hi)
        self._lo, self._hi = lo, hi
        return np.minimum(np.maximum(self.q_cmd, lo), hi)

    def _ik_steps(self, qc: np.ndarray) -> np.ndarray:
        """`IK_ITERS` Newton steps from seed `qc`; `self._kin` already holds its kinematics.

        Damped-least-squares IK on the commanded joints (kinematics only):
        dq = n + J^T (J J^T + l^2 I)^-1 (e - J n), n = k (q_rest - q): the task-space step plus a
        pull towards the rest pose projected (up to damping) into the null space.
        """
        kin, m, ik, err, jac = self._kin, self.model, self.ik, self._err, self._jac
        site, buf, rot, lo, hi = self.tcp_site, self._q3, self._q1, self._lo, self._hi
        pos_cmd, quat_cmd = self._pose_cmd  # type: ignore[misc]
        for it in range(IK_ITERS):
            if it:
                kin.qpos[self._qsl] = qc
                mujoco.mj_kinematics(m, kin)
                mujoco.mj_comPos(m, kin)
            np.subtract(pos_cmd, kin.site_xpos[site], out=self._err_p)
            mujoco.mju_mat2Quat(buf, kin.site_xmat[site])
            mujoco.mju_negQuat(rot, buf)
            mujoco.mju_mulQuat(buf, quat_cmd, rot)
            mujoco.mju_quat2Vel(self._err_r, buf, 1.0)
            mujoco.mj_jacSite(m, kin, self._jacp, self._jacr, site)
            jac[:] = self._jfull[:, self._dsl]
            n = self._n
            mujoco.mju_sub(n, HOME, qc)
            mujoco.mju_scl(n, n, ik.nullspace_gain)
            jjt, jn, dq = self._jjt, self._jn, self._dq
            mujoco.mju_mulMatMatT(jjt, jac, jac)  # mju_* beat numpy's per-call overhead at 6x7
            jjt += self._damp
            mujoco.mju_cholFactor(jjt, 0.0)  # 6x6 SPD: far cheaper than np.linalg.solve here
            mujoco.mju_mulMatVec(jn, jac, n)
            err -= jn
            mujoco.mju_cholSolve(self._y6, jjt, err)
            n += qc
            mujoco.mju_mulMatTVec(dq, jac, self._y6)
            n += dq
            qc = np.minimum(np.maximum(n, lo), hi)
        return qc

    def commanded_tcp(self) -> tuple[np.ndarray, np.ndarray]:
        """The TCP pose the ee_delta controller is steering to (the measured pose before any command)."""
        if self._pose_cmd is None:
            self._pose_cmd = self.tcp_pose()
        return self._pose_cmd[0].copy(), self._pose_cmd[1].copy()

    def twist_to(self, pos: np.ndarray, quat: np.ndarray | None = None) -> np.ndarray:
        """The (dpos, drot) twist that moves the TCP from where it is to `pos`/`quat`."""
        return self._twist(self.tcp_pose(), pos, quat)

    def command_twist_to(self, pos: np.ndarray, quat: np.ndarray | None = None) -> np.ndarray:
        """The ee_delta action (dpos, drot) that moves the *commanded* TCP pose to `pos`/`quat`.

        Experts should steer with this rather than `twist_to`: ee_delta integrates the commanded
        pose, so deltas computed from the lagging measured pose would overshoot.
        """
        return self._twist(self.commanded_tcp(), pos, quat)

    @staticmethod
    def _twist(cur: tuple[np.ndarray, np.ndarray], pos: np.ndarray, quat: np.ndarray | None) -> np.ndarray:
        cur_p, cur_q = cur
        drot = np.zeros(3) if quat is None else quat_error(np.asarray(quat, float), cur_q)
        return np.concatenate([np.asarray(pos, float) - cur_p, drot])

    def cameras(self) -> list[str]:
        cams = [f"{self.p}wrist"]
        return ([f"{self.p}scene"] if self.config.scene_camera else []) + cams

    def sensors(self) -> dict[str, str]:
        return {f"{self.p}wrist_force": "force", f"{self.p}wrist_torque": "torque"}

    def safety_limits(self) -> SafetyLimits:
        return SafetyLimits(
            joint_names=tuple(self.joint_names()), joint_pos_lower=JOINT_LOWER.copy(),
            joint_pos_upper=JOINT_UPPER.copy(), joint_vel_max=JOINT_VEL.copy(),
            joint_acc_max=JOINT_ACC.copy(),
            joint_effort_max=JOINT_EFFORT.copy(), ee_speed_max=1.7, ee_speed_collaborative=0.25,
            force_max=60.0, torque_max=10.0,
            workspace_low=np.array([-1.0, -1.0, 0.0]), workspace_high=np.array([1.5, 1.5, 1.6]),
        )
