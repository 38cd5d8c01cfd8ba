"""`quadruped`: a 12-DoF legged robot the size of a Jindo dog, with a built-in trot gait controller.

Body 0.6 m long, about 16 kg in all; each leg has hip abduction (about x), hip pitch and knee (about
y) joints, 0.22 m thigh and calf, driven by stiff position servos (PD) with Go1-class torque limits.
Legs in order FL, FR, RL, RR; joints per leg `<leg>_hip`, `<leg>_thigh`, `<leg>_knee`.

Control modes:
- `joint_pos`: 12 absolute joint targets (rad), legs in order, each hip/thigh/knee.
- `base_velocity`: (vx, vy, yaw_rate) in the body heading frame (m/s, m/s, rad/s); the trot gait in
  `physai.sim.gait` turns it into joint targets.

With `QuadrupedConfig(report_action=True)` both modes get one more action element, `report` in
[0, 1]; the robot only latches it (`report_raised()`) for tasks that need an operator signal (e.g. a
hazard report) — it does not move anything.

State: joint positions (12), joint velocities (12), joint torques (12), base height, base orientation
quaternion (wxyz), base linear velocity in the heading frame (3), base angular velocity (body, 3),
base xy position and yaw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from physai.core.specs import ArraySpec
from physai.embodiments.arm7 import lookat_xyaxes
from physai.embodiments.base import Embodiment, SafetyLimits, register_embodiment
from physai.sim.gait import LEGS, GaitConfig, TrotGait
from physai.sim.geometry import quat_yaw, yaw_wxyz
from physai.sim.scene import GEOM, OBJECT_GROUP

ROBOT_GROUP = 2
HIP_POS = np.array([[0.22, 0.12, 0.0], [0.22, -0.12, 0.0], [-0.22, 0.12, 0.0], [-0.22, -0.12, 0.0]])
L_THIGH, L_CALF, FOOT_R = 0.22, 0.22, 0.022
JOINT_LOWER = np.tile([-0.8, -1.2, -2.7], 4)
JOINT_UPPER = np.tile([0.8, 2.8, -0.5], 4)
JOINT_VEL = np.tile([21.0, 21.0, 14.0], 4)
JOINT_ACC = np.tile([300.0, 300.0, 300.0], 4)
JOINT_EFFORT = np.tile([33.5, 33.5, 45.0], 4)
KP, KV = 250.0, 6.0
STAND_HEIGHT = 0.30
VX_RANGE, VY_RANGE, WZ_RANGE = (-0.6, 1.0), (-0.4, 0.4), (-1.2, 1.2)


@dataclass
class QuadrupedConfig:
    """Options of the quadruped."""

    report_action: bool = False
    """Append a `report` element in [0, 1] to every control mode's action (latched, moves nothing)."""
    height: float = STAND_HEIGHT
    """Nominal standing hip height (m)."""


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A slice when the ids are contiguous (cheaper to index with), else the ids themselves."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def roll_pitch_of(quat: np.ndarray) -> tuple[float, float]:
    w, x, y, z = quat.tolist() if isinstance(quat, np.ndarray) else quat
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(min(1.0, max(-1.0, 2 * (w * y - z * x))))
    return roll, pitch


@register_embodiment("quadruped")
class Quadruped(Embodiment):
    """Jindo-dog-sized 12-DoF quadruped with a head camera and a trot gait controller."""

    control_modes = ("base_velocity", "joint_pos")
    description = "12-DoF quadruped (0.6 m, 16 kg), trot gait for base_velocity, head camera"

    def __init__(self, config: QuadrupedConfig | None = None, **kwargs: object) -> None:
        self.config = config or QuadrupedConfig(**kwargs)  # type: ignore[arg-type]
        self.gait = TrotGait(
            GaitConfig(hip_pos=HIP_POS.copy(), l1=L_THIGH, l2=L_CALF, height=self.config.height)
        )
        self.report = False

    # ---------------------------------------------------------------- build
    def build(self, spec: mujoco.MjSpec) -> None:
        trunk = spec.worldbody.add_body(name="trunk", pos=[0, 0, self.config.height + FOOT_R + 0.02])
        trunk.add_freejoint(name="root")
        col = dict(contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP)
        trunk.add_geom(
            name="trunk",
            type=GEOM.mjGEOM_BOX,
            size=[0.27, 0.09, 0.06],
            mass=10.0,
            rgba=[0.85, 0.6, 0.3, 1],
            **col,
        )
        trunk.add_geom(
            name="head",
            type=GEOM.mjGEOM_BOX,
            size=[0.05, 0.06, 0.05],
            pos=[0.31, 0, 0.05],
            mass=0.8,
            rgba=[0.8, 0.55, 0.28, 1],
            **col,
        )
        trunk.add_geom(
            type=GEOM.mjGEOM_SPHERE,
            size=[0.012, 0, 0],
            pos=[0.362, 0, 0.06],
            rgba=[0.1, 0.1, 0.1, 1],
            contype=0,
            conaffinity=0,
            mass=0.0,
        )
        trunk.add_site(name="imu", pos=[0, 0, 0], size=[0.01, 0, 0], group=4)
        trunk.add_camera(name="head", pos=[0.365, 0, 0.06], xyaxes=[0, -1, 0, 0.2, 0, 0.98], fovy=75)
        cam = np.array([-2.0, -1.5, 2.0])
        trunk.add_camera(
            name="scene",
            pos=cam.tolist(),
            xyaxes=lookat_xyaxes(cam, np.array([0.4, 0.3, -0.3])),
            fovy=60,
            mode=mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM,
        )
        for i, leg in enumerate(LEGS):
            side = 1.0 if leg[1] == "L" else -1.0
            hip = trunk.add_body(name=f"{leg}_hip", pos=HIP_POS[i].tolist())
            hip.add_joint(
                name=f"{leg}_hip",
                type=mujoco.mjtJoint.mjJNT_HINGE,
                axis=[1, 0, 0],
                range=[JOINT_LOWER[0], JOINT_UPPER[0]],
                armature=0.01,
                damping=0.1,
            )
            hip.add_geom(
                type=GEOM.mjGEOM_CYLINDER,
                size=[0.045, 0.025, 0],
                quat=[0.7071, 0.7071, 0, 0],
                mass=0.7,
                rgba=[0.25, 0.25, 0.28, 1],
                contype=0,
                conaffinity=0,
            )
            thigh = hip.add_body(name=f"{leg}_thigh", pos=[0, 0.0 * side, 0])
            thigh.add_joint(
                name=f"{leg}_thigh",
                type=mujoco.mjtJoint.mjJNT_HINGE,
                axis=[0, 1, 0],
                range=[JOINT_LOWER[1], JOINT_UPPER[1]],
                armature=0.01,
                damping=0.1,
            )
            thigh.add_geom(
                type=GEOM.mjGEOM_CAPSULE,
                fromto=[0, 0, 0, 0, 0, -L_THIGH],
                size=[0.025, 0, 0],
                mass=1.0,
                rgba=[0.3, 0.3, 0.33, 1],
                contype=0,
                conaffinity=0,
            )
            calf = thigh.add_body(name=f"{leg}_calf", pos=[0, 0, -L_THIGH])
            calf.add_joint(
                name=f"{leg}_knee",
                type=mujoco.mjtJoint.mjJNT_HINGE,
                axis=[0, 1, 0],
                range=[JOINT_LOWER[2], JOINT_UPPER[2]],
                armature=0.01,
                damping=0.1,
            )
            calf.add_geom(
                type=GEOM.mjGEOM_CAPSULE,
                fromto=[0, 0, 0, 0, 0, -L_CALF + FOOT_R],
                size=[0.015, 0, 0],
                mass=0.25,
                rgba=[0.2, 0.2, 0.22, 1],
                contype=0,
                conaffinity=0,
            )
            calf.add_geom(
                name=f"{leg}_foot",
                type=GEOM.mjGEOM_SPHERE,
                size=[FOOT_R, 0, 0],
                pos=[0, 0, -L_CALF],
                mass=0.05,
                rgba=[0.1, 0.1, 0.1, 1],
                friction=[1.0, 0.02, 0.001],
                condim=3,
                **col,
            )
        for i, leg in enumerate(LEGS):
            for k, part in enumerate(("hip", "thigh", "knee")):
                j = 3 * i + k
                act = spec.add_actuator(
                    name=f"{leg}_{part}", target=f"{leg}_{part}", trntype=mujoco.mjtTrn.mjTRN_JOINT
                )
                act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
                act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
                act.gainprm[0] = KP
                act.biasprm[:3] = [0.0, -KP, -KV]
                act.ctrlrange = [JOINT_LOWER[j], JOINT_UPPER[j]]
                act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
                act.forcerange = [-JOINT_EFFORT[j], JOINT_EFFORT[j]]
                act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        spec.add_sensor(
            name="imu_gyro",
            type=mujoco.mjtSensor.mjSENS_GYRO,
            objtype=mujoco.mjtObj.mjOBJ_SITE,
            objname="imu",
        )
        spec.add_sensor(
            name="imu_acc",
            type=mujoco.mjtSensor.mjSENS_ACCELEROMETER,
            objtype=mujoco.mjtObj.mjOBJ_SITE,
            objname="imu",
        )

    # ---------------------------------------------------------------- bind / state
    def joint_names(self) -> list[str]:
        return [f"{leg}_{p}" for leg in LEGS for p in ("hip", "thigh", "knee")]

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.model, self.data = model, data
        joints = [model.joint(n) for n in self.joint_names()]
        self.qpos_ids = np.array([model.jnt_qposadr[j.id] for j in joints])
        self.dof_ids = np.array([model.jnt_dofadr[j.id] for j in joints])
        self.act_ids = np.array([model.actuator(n).id for n in self.joint_names()])
        root = model.joint("root").id
        self.root_q, self.root_v = int(model.jnt_qposadr[root]), int(model.jnt_dofadr[root])
        self.trunk_body = model.body("trunk").id
        self.foot_geoms = np.array([model.geom(f"{leg}_foot").id for leg in LEGS])
        self._jq, self._jv, self._ja = (_as_slice(a) for a in (self.qpos_ids, self.dof_ids, self.act_ids))
        self._state = np.zeros(len(self.state_names()), dtype=np.float32)

    def reset_pose(self, data: mujoco.MjData) -> None:
        self.gait.reset()
        q = self.gait.stand_pose()
        data.qpos[self.root_q : self.root_q + 3] = [0, 0, self.config.height + FOOT_R]
        data.qpos[self.root_q + 3 : self.root_q + 7] = [1, 0, 0, 0]
        data.qvel[self.root_v : self.root_v + 6] = 0
        data.qpos[self.qpos_ids] = q
        data.qvel[self.dof_ids] = 0
        data.ctrl[self.act_ids] = q
        self.report = False

    def place(self, data: mujoco.MjData, xy: np.ndarray, yaw: float) -> None:
        """Move the standing robot to `xy` with heading `yaw` (call after `reset_pose`)."""
        data.qpos[self.root_q : self.root_q + 2] = xy
        data.qpos[self.root_q + 3 : self.root_q + 7] = [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]

    def base_pose(self) -> tuple[np.ndarray, float]:
        """Base position (3, world) and heading yaw (rad)."""
        q = self.data.qpos[self.root_q : self.root_q + 7]
        return q[:3].copy(), quat_yaw(q[3:7])

    def base_velocity(self) -> np.ndarray:
        """Base (vx, vy, vz) in the heading frame and yaw rate (world z), m/s and rad/s."""
        return np.array(self._base_velocity())

    def _base_velocity(self) -> tuple[float, float, float, float]:
        d = self.data
        vx, vy, vz = d.qvel[self.root_v : self.root_v + 3].tolist()
        yaw = quat_yaw(d.qpos[self.root_q + 3 : self.root_q + 7])
        c, s = math.cos(yaw), math.sin(yaw)
        wz = float(d.cvel[self.trunk_body][2])  # world-frame angular velocity (z)
        return c * vx + s * vy, -s * vx + c * vy, vz, wz

    def upright(self) -> float:
        """z component of the body's up axis (1 = level, <0.5 = fallen)."""
        return float(self.data.xmat[self.trunk_body][8])

    def fallen(self) -> bool:
        """True when the body is tipped past 60 degrees or the trunk is near the ground."""
        return self.upright() < 0.5 or float(self.data.qpos[self.root_q + 2]) < 0.15

    def state_names(self) -> list[str]:
        j = self.joint_names()
        return (
            [f"{n}.pos" for n in j]
            + [f"{n}.vel" for n in j]
            + [f"{n}.torque" for n in j]
            + ["base.height"]
            + [f"base.quat.{a}" for a in "wxyz"]
            + [f"base.linvel.{a}" for a in "xyz"]
            + [f"base.angvel.{a}" for a in "xyz"]
            + ["base.pos.x", "base.pos.y", "base.yaw"]
        )

    def state(self) -> np.ndarray:
        d, out = self.data, self._state
        rq, rv = self.root_q, self.root_v
        out[0:12] = d.qpos[self._jq]
        out[12:24] = d.qvel[self._jv]
        out[24:36] = d.actuator_force[self._ja]
        out[36:41] = d.qpos[rq + 2 : rq + 7]  # base height, quaternion
        # the rest in scalar math (one read per array; numpy is slow on 3-element pieces)
        x, y, _, w, qx, qy, qz = d.qpos[rq : rq + 7].tolist()
        yaw = yaw_wxyz(w, qx, qy, qz)
        vx, vy, vz, wx, wy, wz = d.qvel[rv : rv + 6].tolist()
        c, s = math.cos(yaw), math.sin(yaw)
        out[41:50] = (c * vx + s * vy, -s * vx + c * vy, vz, wx, wy, wz, x, y, yaw)
        return out.copy()

    # ---------------------------------------------------------------- control
    def action_spec(self, mode: str) -> ArraySpec:
        self.check_mode(mode)
        if mode == "joint_pos":
            low, high, names = JOINT_LOWER.copy(), JOINT_UPPER.copy(), tuple(self.joint_names())
        else:
            low = np.array([VX_RANGE[0], VY_RANGE[0], WZ_RANGE[0]])
            high = np.array([VX_RANGE[1], VY_RANGE[1], WZ_RANGE[1]])
            names = ("base.vx", "base.vy", "base.yaw_rate")
        if self.config.report_action:
            low, high, names = np.append(low, 0.0), np.append(high, 1.0), names + ("report",)
        return ArraySpec((len(names),), "float32", low.astype(np.float32), high.astype(np.float32), names)

    def apply_action(self, action: np.ndarray, mode: str, control_dt: float) -> None:
        d = self.data
        if self.config.report_action:
            self.report = bool(action[-1] > 0.5)
            action = action[:-1]
        if mode == "joint_pos":
            target = np.clip(action[:12], JOINT_LOWER, JOINT_UPPER)
        else:
            rq, rv = self.root_q, self.root_v
            w, x, y, z = d.qpos[rq + 3 : rq + 7].tolist()
            yaw = yaw_wxyz(w, x, y, z)
            roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))  # = roll_pitch_of
            pitch = math.asin(min(1.0, max(-1.0, 2 * (w * y - z * x))))
            vx, vy = d.qvel[rv : rv + 2].tolist()
            c, s = math.cos(yaw), math.sin(yaw)
            wz = float(d.cvel[self.trunk_body, 2])  # world-frame angular velocity (z)
            # the same as gait.step(action, dt, base_velocity()[:2], roll, pitch, base_velocity()[3])
            # the servos' ctrlrange clamps the targets to the joint limits
            target = self.gait.step(action, control_dt, (c * vx + s * vy, -s * vx + c * vy), roll, pitch,
                                    yaw_rate=wz)
        d.ctrl[self._ja] = target

    def report_raised(self) -> bool:
        """Whether the last action raised the `report` bit (robots built with `report_action`)."""
        return self.report

    def cameras(self) -> list[str]:
        return ["scene", "head"]

    def sensors(self) -> dict[str, str]:
        return {"imu_gyro": "gyro", "imu_acc": "accelerometer"}

    def ee_positions(self) -> np.ndarray:
        return self.data.geom_xpos[self.foot_geoms].copy()

    def safety_limits(self) -> SafetyLimits:
        return SafetyLimits(
            joint_names=tuple(self.joint_names()),
            joint_pos_lower=JOINT_LOWER.copy(),
            joint_pos_upper=JOINT_UPPER.copy(),
            joint_vel_max=JOINT_VEL.copy(),
            joint_acc_max=JOINT_ACC.copy(),
            joint_effort_max=JOINT_EFFORT.copy(),
            ee_speed_max=2.0,
            ee_speed_collaborative=0.5,
            force_max=400.0,
            torque_max=60.0,
            workspace_low=np.array([-20.0, -20.0, 0.0]),
            workspace_high=np.array([20.0, 20.0, 1.0]),
            base_speed_max=1.0,
            base_speed_collaborative=0.5,
            base_yaw_rate_max=1.2,
            # half the gait's own ramp (1.5 m/s^2): ramped faster, the gait overshoots its command
            base_acc_max=0.75,
            base_yaw_acc_max=2.0,
            base_speed_window=2 * self.gait.cfg.period,  # a trot's stride: both diagonal pairs
            base_workspace_low=np.array([-3.5, -3.5]),
            base_workspace_high=np.array([3.5, 3.5]),
        )
