"""`humanoid-upper`: a GR-1-like humanoid upper body on a pedestal, facing a table along +x.

Kinematics (all frames aligned with the world in the zero pose, arms hanging down):
- waist: `waist_yaw` (+z) then `waist_pitch` (+y, positive leans forward) on a 0.82 m pedestal;
- two 7-DoF arms (`left/`, `right/`, shoulders 0.35 m above the waist, 0.2 m either side):
  `shoulder_pitch` (+y, negative raises the arm forward), `shoulder_roll` (+x, outward positive on the
  left, negative on the right), `shoulder_yaw` (along the upper arm), `elbow` (+y, negative flexes),
  `wrist_yaw` (along the forearm), `wrist_pitch` (+y), `wrist_roll` (+x); upper arm 0.26 m, forearm
  0.22 m (GR-1 proportions);
- a parallel two-finger hand per arm (one grasp DoF: two slide joints driven together, 9 cm opening),
  its tool centre point (`<side>/tcp`) 0.12 m past the wrist, a wrist camera and a wrist F/T sensor;
- a head camera (`head`) above the shoulders, looking down at the table.

Joint limits follow the Fourier GR-1's published ranges; the wrist pitch/roll are widened to 1 rad so
that the hand can point forward over the table (side grasps) with the forearm level. Joints are
stiff position servos with gravity compensation.

Control modes:
- `joint_pos`: 2 waist + 7 left + 7 right absolute joint targets (rad), then the left and right grasp
  closure in [0, 1] (1 = closed) — 18 values.
- `ee_delta`: per hand (left, then right) a TCP displacement (m, world frame), a rotation vector
  (rad, world frame) and a grasp closure — 14 values; the waist holds its pose. As in `arm7`, the
  deltas add up on a commanded TCP pose leashed to the measured one and a damped-least-squares IK step
  turns it into joint targets. Experts steer with `command_twist_to(side, pos, quat)`.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.core.specs import ArraySpec
from physai.embodiments.arm7 import Arm7, lookat_xyaxes
from physai.embodiments.base import Embodiment, SafetyLimits, register_embodiment
from physai.sim.binding import MjBound
from physai.sim.ik import PoseLeash
from physai.sim.scene import GEOM, OBJECT_GROUP

ROBOT_GROUP = 2
SIDES = ("left", "right")
ARM_JOINTS = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_yaw", "wrist_pitch",
              "wrist_roll")
_AXES = ([0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0])
WAIST_JOINTS = ("waist_yaw", "waist_pitch")
WAIST_LOWER = np.array([-1.05, -0.52])
WAIST_UPPER = np.array([1.05, 1.22])
WAIST_VEL = np.array([2.0, 2.0])
WAIST_ACC = np.array([8.0, 8.0])
WAIST_EFFORT = np.array([80.0, 120.0])
# left arm; the right arm mirrors shoulder roll, shoulder yaw, wrist yaw and wrist roll
LEFT_LOWER = np.array([-2.79, -0.57, -2.62, -2.35, -2.97, -1.0, -1.0])
LEFT_UPPER = np.array([1.92, 3.11, 2.62, 0.05, 2.97, 1.0, 1.0])
_MIRROR = np.array([1, -1, -1, 1, -1, 1, -1], dtype=float)
ARM_VEL = np.array([3.0, 3.0, 3.5, 3.5, 4.0, 4.0, 4.0])
ARM_ACC = np.array([15.0, 15.0, 20.0, 20.0, 25.0, 25.0, 25.0])
ARM_EFFORT = np.array([48.0, 48.0, 28.0, 28.0, 10.0, 6.0, 6.0])
_KP = np.array([1200.0, 1200.0, 800.0, 800.0, 300.0, 300.0, 300.0])

PEDESTAL_Z = 0.68  # waist joint height (m): shoulders ~0.3 m above a 0.75 m table
SHOULDER = np.array([0.0, 0.2, 0.35])  # left shoulder from the waist (m)
UPPER_ARM = 0.26
FOREARM = 0.22
TCP_OFFSET = 0.12  # wrist centre to the point between the fingertips
FINGER_MAX = 0.045  # per finger: 9 cm opening
# home: TCPs at (0.4, +-0.2, 0.96), 0.21 m above a 0.75 m table, fingers pointing forward (+x)
HOME_LEFT = np.array([-0.516, 0.035, -0.027, -2.119, 0.069, 0.912, 0.067])
HOME_WAIST = np.array([0.0, 0.15])
POS_LEASH, ROT_LEASH, Q_LEASH = 0.1, 0.5, 0.3
IK_DAMPING, NULLSPACE_GAIN = 0.05, 0.2
PAD_FRICTION = [1.5, 0.02, 0.001]
PAD_SOLREF = [0.005, 1.0]
PAD_SOLIMP = [0.9, 0.95, 0.001, 0.5, 2.0]


def arm_limits(side: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) joint limits of one arm."""
    if side == "left":
        return LEFT_LOWER.copy(), LEFT_UPPER.copy()
    a, b = LEFT_LOWER * _MIRROR, LEFT_UPPER * _MIRROR
    return np.minimum(a, b), np.maximum(a, b)


def arm_home(side: str) -> np.ndarray:
    return HOME_LEFT.copy() if side == "left" else HOME_LEFT * _MIRROR


def _servo(spec: mujoco.MjSpec, joint: str, kp: float, ctrlrange: tuple[float, float], effort: float) -> None:
    act = spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
    act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
    act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
    act.gainprm[0] = kp
    act.biasprm[:3] = [0.0, -kp, -2 * np.sqrt(kp) * 1.5]
    act.ctrlrange = list(ctrlrange)
    act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    act.forcerange = [-effort, effort]
    act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


class HumanoidArm(MjBound):
    """One 7-DoF arm with its hand: ids, the leashed ee_delta pose tracker, grasp, TCP and wrist sensor."""

    def __init__(self, side: str) -> None:
        self.side = side
        self.p = f"{side}/"
        self.lower, self.upper = arm_limits(side)
        self.home = arm_home(side)

    def build(self, spec: mujoco.MjSpec, torso: mujoco.MjsBody) -> None:
        p, s = self.p, (1.0 if self.side == "left" else -1.0)
        parent = torso
        offsets: tuple[list[float], ...] = (
            [0, s * SHOULDER[1], SHOULDER[2]], [0, 0, 0], [0, 0, 0], [0, 0, -UPPER_ARM], [0, 0, 0],
            [0, 0, -FOREARM], [0, 0, 0])
        for i, (name, axis, off) in enumerate(zip(ARM_JOINTS, _AXES, offsets, strict=True)):
            body = parent.add_body(name=f"{p}{name}_link", pos=list(off), gravcomp=1.0)
            body.add_joint(name=f"{p}{name}", type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis,
                           range=[self.lower[i], self.upper[i]], armature=0.05, damping=1.0,
                           limited=mujoco.mjtLimited.mjLIMITED_TRUE)
            common = dict(contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP, rgba=[0.88, 0.88, 0.9, 1])
            if name == "shoulder_pitch":
                body.add_geom(type=GEOM.mjGEOM_SPHERE, size=[0.055, 0, 0], mass=0.8, **common)
            elif name == "shoulder_yaw":
                body.add_geom(type=GEOM.mjGEOM_CAPSULE, fromto=[0, 0, -0.03, 0, 0, -UPPER_ARM + 0.03],
                              size=[0.042, 0, 0], mass=1.5, **common)
            elif name == "wrist_yaw":
                body.add_geom(type=GEOM.mjGEOM_CAPSULE, fromto=[0, 0, -0.03, 0, 0, -FOREARM + 0.03],
                              size=[0.035, 0, 0], mass=1.0, **{**common, "rgba": [0.3, 0.3, 0.34, 1]})
            else:
                body.add_geom(type=GEOM.mjGEOM_SPHERE, size=[0.03, 0, 0], mass=0.2, contype=0, conaffinity=0,
                              rgba=[0.3, 0.3, 0.34, 1])
            parent = body
        hand = parent.add_body(name=f"{p}hand", gravcomp=1.0)
        hand.add_geom(type=GEOM.mjGEOM_BOX, size=[0.025, 0.055, 0.03], pos=[0, 0, -0.04],
                      rgba=[0.25, 0.25, 0.28, 1], contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP, mass=0.4)
        hand.add_site(name=f"{p}tcp", pos=[0, 0, -TCP_OFFSET], size=[0.006, 0, 0], rgba=[1, 0, 0, 0.5],
                      group=4)
        hand.add_site(name=f"{p}ft", pos=[0, 0, 0], size=[0.01, 0, 0], group=4)
        # looks along the fingers (-z) from the back of the hand, up = +x
        hand.add_camera(name=f"{p}wrist", pos=[-0.06, 0, -0.03], xyaxes=[0, -1, 0, 0.94, 0, -0.34], fovy=80)
        for fs, sign in (("a", 1), ("b", -1)):
            f = hand.add_body(name=f"{p}finger_{fs}", pos=[0, 0, -0.07], gravcomp=1.0)
            f.add_joint(name=f"{p}finger_{fs}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=[0, sign, 0],
                        range=[0, FINGER_MAX], armature=0.01, damping=2.0)
            f.add_geom(name=f"{p}pad_{fs}", type=GEOM.mjGEOM_BOX, size=[0.02, 0.006, 0.035],
                       pos=[0, sign * 0.006, -0.035], rgba=[0.2, 0.2, 0.22, 1], mass=0.05,
                       contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP, friction=PAD_FRICTION, condim=4,
                       priority=2, solref=PAD_SOLREF, solimp=PAD_SOLIMP)
        for i, name in enumerate(ARM_JOINTS):
            _servo(spec, f"{p}{name}", _KP[i], (self.lower[i], self.upper[i]), ARM_EFFORT[i])
        for fs in ("a", "b"):
            _servo(spec, f"{p}finger_{fs}", 400.0, (0.0, FINGER_MAX), 30.0)
        spec.add_sensor(name=f"{p}wrist_force", type=mujoco.mjtSensor.mjSENS_FORCE,
                        objtype=mujoco.mjtObj.mjOBJ_SITE, objname=f"{p}ft")
        spec.add_sensor(name=f"{p}wrist_torque", type=mujoco.mjtSensor.mjSENS_TORQUE,
                        objtype=mujoco.mjtObj.mjOBJ_SITE, objname=f"{p}ft")

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData, kin: mujoco.MjData) -> None:
        p = self.p
        self.model, self.data, self._kin = model, data, kin
        joints = [model.joint(f"{p}{n}").id for n in ARM_JOINTS]
        self.qpos_ids = np.array([model.jnt_qposadr[j] for j in joints])
        self.dof_ids = np.array([model.jnt_dofadr[j] for j in joints])
        self.finger_qpos = np.array([model.jnt_qposadr[model.joint(f"{p}finger_{f}").id] for f in "ab"])
        self.arm_act = np.array([model.actuator(f"{p}{n}").id for n in ARM_JOINTS])
        self.finger_act = np.array([model.actuator(f"{p}finger_{f}").id for f in "ab"])
        self.tcp_site = model.site(f"{p}tcp").id
        self.force_adr = int(model.sensor_adr[model.sensor(f"{p}wrist_force").id])
        self.torque_adr = int(model.sensor_adr[model.sensor(f"{p}wrist_torque").id])
        self.pad_geoms = np.array([model.geom(f"{p}pad_{f}").id for f in "ab"])
        self.hand_body = model.body(f"{p}hand").id
        # the per-step hot path uses slices (the arm is built as one chain: consecutive joints and
        # actuators) and preallocated buffers with MuJoCo's small-matrix functions: numpy's per-call
        # overhead dominates on 3- to 7-vectors
        self._qsl, self._dsl = _slice(self.qpos_ids), _slice(self.dof_ids)
        self._asl, self._fsl = _slice(self.arm_act), _slice(self.finger_act)
        self._f0, self._f1 = int(self.finger_qpos[0]), int(self.finger_qpos[1])
        self._q1, self._q3 = np.empty(4), np.empty(4)
        self._leash = PoseLeash(POS_LEASH, ROT_LEASH)
        self._err = np.empty(6)
        self._err_p, self._err_r = self._err[:3], self._err[3:]  # views, written in place
        self._jfull = np.zeros((6, model.nv))  # mj_jacSite writes rows 0-2 (jacp) and 3-5 (jacr)
        self._jacp, self._jacr = self._jfull[:3], self._jfull[3:]
        self._jac, self._jjt = np.empty((6, 7)), np.empty((6, 6))
        self._y6, self._jn = np.empty(6), np.empty(6)
        self._n, self._dq = np.empty(7), np.empty(7)
        self._damp = np.eye(6) * IK_DAMPING ** 2
        self._qc, self._lo, self._hi = np.empty(7), np.empty(7), np.empty(7)
        self.q_cmd = self.home.copy()
        self._pose_cmd: tuple[np.ndarray, np.ndarray] | None = None
        # IK stays a little inside the joint limits
        self._ik_lo, self._ik_hi = self.lower + 0.02, self.upper - 0.02

    def reset_pose(self, data: mujoco.MjData) -> None:
        data.qpos[self.qpos_ids] = self.home
        data.qvel[self.dof_ids] = 0
        data.qpos[self.finger_qpos] = FINGER_MAX
        data.ctrl[self.arm_act] = self.home
        data.ctrl[self.finger_act] = FINGER_MAX
        self.q_cmd = self.home.copy()
        self._pose_cmd = None

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World position and quaternion (wxyz) of the tool centre point."""
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.tcp_site])
        return self.data.site_xpos[self.tcp_site].copy(), quat

    def gripper_width(self) -> float:
        qpos = self.data.qpos
        return float(qpos[self._f0] + qpos[self._f1])

    def wrench(self) -> np.ndarray:
        d = self.data
        return np.concatenate([d.sensordata[self.force_adr:self.force_adr + 3],
                               d.sensordata[self.torque_adr:self.torque_adr + 3]])

    def _fill_state(self, out: np.ndarray) -> None:
        """Write this hand's 14 state values (width, TCP pos, quat, force, torque) into `out`."""
        d, site = self.data, self.tcp_site
        qpos = d.qpos
        out[0] = qpos[self._f0] + qpos[self._f1]
        out[1:4] = d.site_xpos[site]
        mujoco.mju_mat2Quat(self._q3, d.site_xmat[site])
        out[4:8] = self._q3
        out[8:11] = d.sensordata[self.force_adr:self.force_adr + 3]
        out[11:14] = d.sensordata[self.torque_adr:self.torque_adr + 3]

    def set_grasp(self, closure: float) -> None:
        self.data.ctrl[self._fsl] = FINGER_MAX * (1.0 - closure)

    def command_joints(self, target: np.ndarray, control_dt: float) -> None:
        q = self.data.qpos[self.qpos_ids]
        max_step = ARM_VEL * control_dt
        target = np.clip(target, self.lower, self.upper)
        self.q_cmd = q + np.clip(target - q, -max_step, max_step)
        self.data.ctrl[self.arm_act] = self.q_cmd
        self._pose_cmd = None

    def commanded_tcp(self) -> tuple[np.ndarray, np.ndarray]:
        """The TCP pose the ee_delta controller is steering to (the measured pose before any command)."""
        if self._pose_cmd is None:
            self._pose_cmd = self.tcp_pose()
        return self._pose_cmd[0].copy(), self._pose_cmd[1].copy()

    def command_twist(self, twist: np.ndarray, control_dt: float) -> None:
        """ee_delta: integrate the twist on the leashed commanded pose, then one DLS IK step.

        `self._kin` must hold the measured waist pose (`HumanoidUpper.apply_action` copies `qpos`).
        """
        self._ee_begin(np.asarray(twist, dtype=float).tolist())
        mujoco.mj_kinematics(self.model, self._kin)
        mujoco.mj_comPos(self.model, self._kin)
        self._ee_end()

    def _ee_begin(self, twist: list[float]) -> None:
        """ee_delta, first half: update the commanded pose, put the IK seed into the scratch data.

        The deltas add up on the commanded TCP pose, which is leashed to within `POS_LEASH` /
        `ROT_LEASH` of the measured one; the seed is the last joint command clamped to `Q_LEASH`
        around the measured joints. Then the caller runs `mj_kinematics` + `mj_comPos` on the
        scratch data (one pass serves both arms: their chains are independent) and calls `_ee_end`.
        """
        if self._pose_cmd is None:
            self._pose_cmd = self.tcp_pose()
        pos_cmd, quat_cmd = self._pose_cmd  # updated in place below
        d, site = self.data, self.tcp_site
        self._leash.advance(pos_cmd, quat_cmd, twist, d.site_xpos[site], d.site_xmat[site])
        q = d.qpos[self._qsl]  # a view: read before the next mj_step
        lo, hi, qc = self._lo, self._hi, self._qc
        np.subtract(q, Q_LEASH, out=lo)
        np.maximum(lo, self._ik_lo, out=lo)
        np.add(q, Q_LEASH, out=hi)
        np.minimum(hi, self._ik_hi, out=hi)
        np.maximum(self.q_cmd, lo, out=qc)
        np.minimum(qc, hi, out=qc)
        self._kin.qpos[self._qsl] = qc

    def _ee_end(self) -> None:
        """ee_delta, second half: one damped-least-squares IK step from the scratch kinematics.

        dq = n + J^T (J J^T + l^2 I)^-1 (e - J n), n = 0.2 (q_home - q): the task-space step plus a
        pull towards the home pose projected (up to damping) into the null space.
        """
        m, kin, site = self.model, self._kin, self.tcp_site
        pos_cmd, quat_cmd = self._pose_cmd  # type: ignore[misc]
        buf, rot, err, jac, qc = self._q3, self._q1, self._err, self._jac, self._qc
        np.subtract(pos_cmd, kin.site_xpos[site], out=self._err_p)
        mujoco.mju_mat2Quat(buf, kin.site_xmat[site])
        mujoco.mju_negQuat(rot, buf)
        mujoco.mju_mulQuat(buf, quat_cmd, rot)
        mujoco.mju_quat2Vel(self._err_r, buf, 1.0)
        mujoco.mj_jacSite(m, kin, self._jacp, self._jacr, site)
        jac[:] = self._jfull[:, self._dsl]
        n, jjt, jn, dq = self._n, self._jjt, self._jn, self._dq
        mujoco.mju_sub(n, self.home, qc)
        mujoco.mju_scl(n, n, NULLSPACE_GAIN)
        mujoco.mju_mulMatMatT(jjt, jac, jac)
        jjt += self._damp
        mujoco.mju_cholFactor(jjt, 0.0)  # 6x6 SPD: far cheaper than np.linalg.solve here
        mujoco.mju_mulMatVec(jn, jac, n)
        err -= jn
        mujoco.mju_cholSolve(self._y6, jjt, err)
        mujoco.mju_mulMatTVec(dq, jac, self._y6)
        dq += n
        dq += qc
        q_cmd = np.maximum(dq, self._lo)
        np.minimum(q_cmd, self._hi, out=q_cmd)
        self.q_cmd = q_cmd
        self.data.ctrl[self._asl] = q_cmd

    def command_twist_to(self, pos: np.ndarray, quat: np.ndarray | None = None) -> np.ndarray:
        """The (dpos, drot) that moves the *commanded* TCP pose to `pos`/`quat` (see `Arm7`)."""
        return Arm7._twist(self.commanded_tcp(), pos, quat)


def _slice(ids: np.ndarray) -> slice | np.ndarray:
    """A slice over `ids` when they are consecutive (cheaper indexing), else the index array."""
    if np.all(np.diff(ids) == 1):
        return slice(int(ids[0]), int(ids[-1]) + 1)
    return ids


@register_embodiment("humanoid-upper")
class HumanoidUpper(Embodiment):
    """GR-1-like upper body: waist yaw/pitch, two 7-DoF arms, two-finger hands, head and wrist cameras."""

    control_modes = ("ee_delta", "joint_pos")
    description = "humanoid upper body on a pedestal: waist 2 + 2x7-DoF arms + 2 grasps, head/wrist cameras"

    def __init__(self) -> None:
        self.arms = {s: HumanoidArm(s) for s in SIDES}

    def build(self, spec: mujoco.MjSpec) -> None:
        wb = spec.worldbody
        wb.add_geom(name="pedestal", type=GEOM.mjGEOM_CYLINDER, size=[0.1, (PEDESTAL_Z - 0.05) / 2, 0],
                    pos=[-0.05, 0, (PEDESTAL_Z - 0.05) / 2], rgba=[0.3, 0.3, 0.33, 1], contype=0,
                    conaffinity=0)
        yaw = wb.add_body(name="waist_yaw_link", pos=[0, 0, PEDESTAL_Z], gravcomp=1.0)
        yaw.add_joint(name="waist_yaw", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1],
                      range=[WAIST_LOWER[0], WAIST_UPPER[0]], armature=0.1, damping=2.0)
        yaw.add_geom(type=GEOM.mjGEOM_SPHERE, size=[0.07, 0, 0], mass=3.0, rgba=[0.3, 0.3, 0.33, 1],
                     contype=0, conaffinity=0)
        torso = yaw.add_body(name="torso", gravcomp=1.0)
        torso.add_joint(name="waist_pitch", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 1, 0],
                        range=[WAIST_LOWER[1], WAIST_UPPER[1]], armature=0.1, damping=2.0)
        torso.add_geom(type=GEOM.mjGEOM_BOX, size=[0.09, 0.15, 0.16], pos=[-0.03, 0, 0.2], mass=12.0,
                       rgba=[0.88, 0.88, 0.9, 1], contype=0, conaffinity=0)
        torso.add_geom(type=GEOM.mjGEOM_CAPSULE, fromto=[-0.03, -0.18, 0.35, -0.03, 0.18, 0.35],
                       size=[0.045, 0, 0], mass=1.0, rgba=[0.3, 0.3, 0.34, 1], contype=0, conaffinity=0)
        head = torso.add_body(name="head", pos=[0.0, 0, 0.5])
        head.add_geom(type=GEOM.mjGEOM_ELLIPSOID, size=[0.08, 0.07, 0.1], mass=1.5, rgba=[0.88, 0.88, 0.9, 1],
                      contype=0, conaffinity=0)
        head.add_geom(type=GEOM.mjGEOM_BOX, size=[0.01, 0.05, 0.02], pos=[0.075, 0, 0.01], mass=0.05,
                      rgba=[0.1, 0.1, 0.12, 1], contype=0, conaffinity=0)
        cam = np.array([0.09, 0.0, 0.02])
        # looks at the table ~0.45 m in front of the robot
        target = np.array([0.45, 0.0, -0.5])
        head.add_camera(name="head", pos=cam.tolist(), xyaxes=lookat_xyaxes(cam, target), fovy=75)
        for i, name in enumerate(WAIST_JOINTS):
            _servo(spec, name, 3000.0, (WAIST_LOWER[i], WAIST_UPPER[i]), WAIST_EFFORT[i])
        for arm in self.arms.values():
            arm.build(spec, torso)
        camp = np.array([1.45, -0.55, 1.6])
        wb.add_camera(name="scene", pos=camp.tolist(), xyaxes=lookat_xyaxes(camp, np.array([0.35, 0, 0.85])),
                      fovy=55)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.model, self.data = model, data
        self._kin = mujoco.MjData(model)
        wj = [model.joint(n).id for n in WAIST_JOINTS]
        self.waist_qpos = np.array([model.jnt_qposadr[j] for j in wj])
        self.waist_dof = np.array([model.jnt_dofadr[j] for j in wj])
        self.waist_act = np.array([model.actuator(n).id for n in WAIST_JOINTS])
        for arm in self.arms.values():
            arm.bind(model, data, self._kin)
        self.waist_cmd = HOME_WAIST.copy()
        self._wqsl, self._wdsl = _slice(self.waist_qpos), _slice(self.waist_dof)
        self._wasl = _slice(self.waist_act)
        self._state = np.empty(60, np.float32)

    def reset_pose(self, data: mujoco.MjData) -> None:
        data.qpos[self.waist_qpos] = HOME_WAIST
        data.qvel[self.waist_dof] = 0
        data.ctrl[self.waist_act] = HOME_WAIST
        self.waist_cmd = HOME_WAIST.copy()
        for arm in self.arms.values():
            arm.reset_pose(data)

    def joint_names(self) -> list[str]:
        return list(WAIST_JOINTS) + [f"{s}/{n}" for s in SIDES for n in ARM_JOINTS]

    def state_names(self) -> list[str]:
        joints = self.joint_names()
        names = [f"{j}.pos" for j in joints] + [f"{j}.vel" for j in joints]
        for s in SIDES:
            names += [f"{s}/gripper.width"] + [f"{s}/ee.pos.{a}" for a in "xyz"]
            names += [f"{s}/ee.quat.{a}" for a in "wxyz"]
            names += [f"{s}/wrist.force.{a}" for a in "xyz"] + [f"{s}/wrist.torque.{a}" for a in "xyz"]
        return names

    def state(self) -> np.ndarray:
        d, out = self.data, self._state  # filled in place, slice by slice (no index arrays)
        left, right = self.arms["left"], self.arms["right"]
        out[0:2] = d.qpos[self._wqsl]
        out[2:9] = d.qpos[left._qsl]
        out[9:16] = d.qpos[right._qsl]
        out[16:18] = d.qvel[self._wdsl]
        out[18:25] = d.qvel[left._dsl]
        out[25:32] = d.qvel[right._dsl]
        left._fill_state(out[32:46])
        right._fill_state(out[46:60])
        return out.copy()

    def action_spec(self, mode: str) -> ArraySpec:
        self.check_mode(mode)
        if mode == "joint_pos":
            lows = [WAIST_LOWER] + [self.arms[s].lower for s in SIDES] + [[0.0, 0.0]]
            highs = [WAIST_UPPER] + [self.arms[s].upper for s in SIDES] + [[1.0, 1.0]]
            names = tuple(self.joint_names()) + ("left/gripper", "right/gripper")
            return ArraySpec((18,), "float32", np.concatenate(lows).astype(np.float32),
                             np.concatenate(highs).astype(np.float32), names)
        low = np.tile(np.array([-0.05] * 3 + [-0.25] * 3 + [0.0]), 2).astype(np.float32)
        high = np.tile(np.array([0.05] * 3 + [0.25] * 3 + [1.0]), 2).astype(np.float32)
        names = tuple(f"{s}/{n}" for s in SIDES for n in ("ee.dx", "ee.dy", "ee.dz", "ee.drx", "ee.dry",
                                                           "ee.drz", "gripper"))
        return ArraySpec((14,), "float32", low, high, names)

    def apply_action(self, action: np.ndarray, mode: str, control_dt: float) -> None:
        d = self.data
        if mode == "joint_pos":
            q = d.qpos[self.waist_qpos]
            step = WAIST_VEL * control_dt
            target = np.clip(action[:2], WAIST_LOWER, WAIST_UPPER)
            self.waist_cmd = q + np.clip(target - q, -step, step)
            d.ctrl[self.waist_act] = self.waist_cmd
            for i, s in enumerate(SIDES):
                self.arms[s].command_joints(np.asarray(action[2 + 7 * i:9 + 7 * i], float), control_dt)
                self.arms[s].set_grasp(float(action[16 + i]))
            return
        d.ctrl[self._wasl] = self.waist_cmd  # the waist holds
        kin = self._kin
        kin.qpos[:] = d.qpos
        # both arms' IK seeds into the scratch data, one kinematics pass, both solves (the arms'
        # chains are independent, so this equals one pass per arm)
        a = np.asarray(action, dtype=float).tolist()
        left, right = self.arms["left"], self.arms["right"]
        left._ee_begin(a[0:6])
        right._ee_begin(a[7:13])
        mujoco.mj_kinematics(self.model, kin)
        mujoco.mj_comPos(self.model, kin)
        left._ee_end()
        right._ee_end()
        left.set_grasp(a[6])
        right.set_grasp(a[13])

    def tcp_pose(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        return self.arms[side].tcp_pose()

    def command_twist_to(self, side: str, pos: np.ndarray, quat: np.ndarray | None = None) -> np.ndarray:
        """ee_delta (dpos, drot) for `side` that moves its commanded TCP pose to `pos`/`quat`."""
        return self.arms[side].command_twist_to(pos, quat)

    def gripper_width(self, side: str) -> float:
        return self.arms[side].gripper_width()

    def ee_positions(self) -> np.ndarray:
        return np.vstack([self.data.site_xpos[self.arms[s].tcp_site] for s in SIDES])

    def tcp_frames(self) -> list[tuple[str, str]]:
        return [(f"{s}/tcp", f"{s}/hand") for s in SIDES]

    def wrist_wrenches(self) -> np.ndarray:
        return np.stack([self.arms[s].wrench() for s in SIDES])

    def cameras(self) -> list[str]:
        return ["head", "left/wrist", "right/wrist", "scene"]

    def sensors(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in SIDES:
            out[f"{s}/wrist_force"], out[f"{s}/wrist_torque"] = "force", "torque"
        return out

    def safety_limits(self) -> SafetyLimits:
        arms = [self.arms[s] for s in SIDES]
        cat = np.concatenate
        return SafetyLimits(
            joint_names=tuple(self.joint_names()),
            joint_pos_lower=cat([WAIST_LOWER] + [a.lower for a in arms]),
            joint_pos_upper=cat([WAIST_UPPER] + [a.upper for a in arms]),
            joint_vel_max=cat([WAIST_VEL, ARM_VEL, ARM_VEL]),
            joint_acc_max=cat([WAIST_ACC, ARM_ACC, ARM_ACC]),
            joint_effort_max=cat([WAIST_EFFORT, ARM_EFFORT, ARM_EFFORT]), ee_speed_max=1.5,
            ee_speed_collaborative=0.25, force_max=50.0, torque_max=8.0,
            workspace_low=np.array([-0.3, -0.8, 0.7]), workspace_high=np.array([1.0, 0.8, 1.8]),
            tracking_time=0.07,  # softer servos than arm7 (kv = 3 sqrt(kp)); see bench/safety_motion.py
        )
