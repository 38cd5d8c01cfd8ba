"""`hand16`: a four-finger, 16-DoF dexterous hand (Allegro-like) on a floating 6-DoF wrist, with tactile skin.

Kinematics: a 0.10 x 0.09 m palm; three fingers (index, middle, ring) on its front edge and an opposing
thumb on its back edge, each with four joints — abduction, then three flexion joints — and Allegro
link lengths (54 / 38.4 / 44 mm incl. the tip) and joint limits. Finger joints are position servos
with the Allegro's 0.7 Nm torque limit. The wrist is a gravity-compensated 6-DoF mount (x, y, z
slides, then yaw, pitch, roll hinges) driven by stiff servos, like a hand carried by an arm.
At home the palm faces down (-z) and the fingers point along +x.

Tactile layout — `tactile()` returns float32 of shape (4, 3, 4, 4) = (finger, segment, row, col):
- finger: 0 index, 1 middle, 2 ring, 3 thumb;
- segment: 0 proximal pad, 1 middle pad, 2 fingertip (distal link including the tip);
- row: position along the segment from its base (0) to its far end (3);
- col: position across the segment from its +y side (0) to its -y side (3) in the finger's frame.
Each taxel holds the summed contact normal force (N) of the contacts that fall inside its patch of
the segment's surface (computed from MuJoCo contacts with `mj_contactForce`).

Control modes:
- `joint_pos`: wrist (x, y, z in m relative to the mount; yaw, pitch, roll in rad) + 16 finger joints (rad).
- `ee_delta`: wrist displacement (dx, dy, dz in m; dyaw, dpitch, droll in rad) + 16 absolute finger joints.
  The six deltas are increments of the wrist *joint* commands `wrist_x/y/z` (slides along the world
  axes: the mount is not rotated) and `wrist_yaw/pitch/roll` (hinges about z, then the yawed y, then the
  pitched x: intrinsic z-y-x Euler angles, not a rotation vector), channel `wrist.d<a>` -> joint
  `wrist_<a>`; the safety supervisor parses them by that name rule. The commanded wrist is leashed to
  within 3 cm / 0.3 rad of the measured one and clipped to the wrist limits; fingers step at most
  `FINGER_VEL` x dt from the measured joints.

Tool frames (`tcp_frames()`, `ee_positions()`): the palm centre and the four fingertips.

State: 16 finger positions, 16 velocities, 16 joint torques (actuator forces, Nm), wrist pose (6),
palm position (3) and quaternion (wxyz), tactile sum per finger (4).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.core.specs import ArraySpec
from physai.embodiments.arm7 import lookat_xyaxes
from physai.embodiments.base import Embodiment, SafetyLimits, register_embodiment
from physai.sim.scene import GEOM, OBJECT_GROUP

ROBOT_GROUP = 2
FINGERS = ("index", "middle", "ring", "thumb")
SEGMENTS = ("proximal", "middle", "tip")
TAXEL_ROWS, TAXEL_COLS = 4, 4
LINKS = (0.054, 0.0384, 0.044)  # proximal, middle, distal incl. tip (m)
LINK_HALF_WIDTH, LINK_HALF_THICK = 0.0098, 0.009
FINGER_LOWER = np.array([-0.47, -0.196, -0.174, -0.227] * 3 + [-0.47, -0.196, -0.174, -0.227])
FINGER_UPPER = np.array([0.47, 1.61, 1.709, 1.618] * 3 + [0.47, 1.61, 1.709, 1.618])
FINGER_VEL = np.full(16, 6.0)
FINGER_EFFORT = np.full(16, 0.7)
FINGER_KP, FINGER_KV = 3.0, 0.08
WRIST_LOWER = np.array([-0.35, -0.35, -0.3, -np.pi, -1.0, -1.0])
WRIST_UPPER = np.array([0.35, 0.35, 0.3, np.pi, 1.0, 1.0])
WRIST_VEL = np.array([0.5, 0.5, 0.5, 2.0, 2.0, 2.0])
WRIST_EFFORT = np.array([200.0, 200.0, 200.0, 30.0, 30.0, 30.0])
WRIST_NAMES = ("wrist_x", "wrist_y", "wrist_z", "wrist_yaw", "wrist_pitch", "wrist_roll")
# finger base frames on the palm: position and yaw (the thumb faces the other three)
_BASES = ((0.05, 0.03, 0.0), (0.05, 0.0, 0.0), (0.05, -0.03, 0.0), (-0.05, 0.0, 0.0))
_BASE_YAW = (0.0, 0.0, 0.0, np.pi)


@dataclass
class Hand16Config:
    """Placement of the hand."""

    mount_pos: tuple[float, float, float] = (0.0, 0.0, 0.62)
    """World position of the wrist mount; wrist slides are relative to it (m)."""


def finger_joint_names() -> list[str]:
    return [f"{f}_j{k}" for f in FINGERS for k in range(4)]


@register_embodiment("hand16")
class Hand16(Embodiment):
    """16-DoF four-finger hand on a floating wrist with 4x4 taxel arrays on every finger segment."""

    control_modes = ("ee_delta", "joint_pos")
    description = "16-DoF four-finger hand (Allegro-like), floating wrist, 12 x 4x4 tactile arrays"

    def __init__(self, config: Hand16Config | None = None, **kwargs: object) -> None:
        self.config = config or Hand16Config(**kwargs)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- build
    @staticmethod
    def _servo(
        spec: mujoco.MjSpec, joint: str, kp: float, kv: float, lo: float, hi: float, eff: float
    ) -> None:
        act = spec.add_actuator(name=joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        act.gainprm[0] = kp
        act.biasprm[:3] = [0.0, -kp, -kv]
        act.ctrlrange = [lo, hi]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-eff, eff]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE

    def build(self, spec: mujoco.MjSpec) -> None:
        hinge, slide = mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE
        mount = spec.worldbody.add_body(name="wrist_mount", pos=list(self.config.mount_pos))
        parent = mount
        axes = ([1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0])
        for i, name in enumerate(WRIST_NAMES):
            body = parent.add_body(name=f"{name}_link", gravcomp=1.0)
            body.explicitinertial = True
            body.mass, body.inertia = 0.1, [1e-4, 1e-4, 1e-4]
            body.add_joint(
                name=name,
                type=slide if i < 3 else hinge,
                axis=axes[i],
                range=[WRIST_LOWER[i], WRIST_UPPER[i]],
                armature=0.05,
                damping=2.0,
            )
            parent = body
        palm = parent.add_body(name="palm", gravcomp=1.0)
        col = dict(contype=ROBOT_GROUP, conaffinity=OBJECT_GROUP)
        palm.add_geom(
            name="palm",
            type=GEOM.mjGEOM_BOX,
            size=[0.055, 0.045, 0.012],
            mass=0.35,
            rgba=[0.2, 0.2, 0.22, 1],
            **col,
        )
        palm.add_geom(
            type=GEOM.mjGEOM_CYLINDER,
            size=[0.03, 0.03, 0],
            pos=[0, 0, 0.04],
            mass=0.1,
            rgba=[0.6, 0.6, 0.62, 1],
            contype=0,
            conaffinity=0,
        )
        palm.add_site(name="palm_center", pos=[0, 0, -0.012], size=[0.005, 0, 0], group=4)
        palm.add_camera(name="wrist", pos=[-0.02, 0, -0.013], xyaxes=[0, -1, 0, 1, 0, 0], fovy=90)
        for f, fname in enumerate(FINGERS):
            yaw = _BASE_YAW[f]
            base = palm.add_body(
                name=f"{fname}_base",
                pos=list(_BASES[f]),
                quat=[np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)],
                gravcomp=1.0,
            )
            base.add_joint(
                name=f"{fname}_j0",
                type=hinge,
                axis=[0, 0, 1],
                range=[FINGER_LOWER[4 * f], FINGER_UPPER[4 * f]],
                armature=0.002,
                damping=0.02,
            )
            base.add_geom(
                type=GEOM.mjGEOM_BOX,
                size=[0.008, LINK_HALF_WIDTH, LINK_HALF_THICK],
                pos=[0.006, 0, 0],
                mass=0.02,
                rgba=[0.25, 0.25, 0.27, 1],
                contype=0,
                conaffinity=0,
            )
            parent, x = base, 0.014
            for s, seg in enumerate(SEGMENTS):
                body = parent.add_body(name=f"{fname}_{seg}", pos=[x, 0, 0], gravcomp=1.0)
                k = s + 1
                body.add_joint(
                    name=f"{fname}_j{k}",
                    type=hinge,
                    axis=[0, 1, 0],
                    range=[FINGER_LOWER[4 * f + k], FINGER_UPPER[4 * f + k]],
                    armature=0.002,
                    damping=0.02,
                )
                half = LINKS[s] / 2
                rgba = [0.95, 0.95, 0.95, 1] if s == 2 else [0.3, 0.3, 0.33, 1]
                body.add_geom(
                    name=f"{fname}_{seg}",
                    type=GEOM.mjGEOM_BOX,
                    size=[half, LINK_HALF_WIDTH, LINK_HALF_THICK],
                    pos=[half, 0, 0],
                    mass=0.03,
                    rgba=rgba,
                    friction=[1.2, 0.02, 0.001],
                    condim=4,
                    priority=2,
                    **col,
                )
                if s == 2:  # the fingertip: a tool frame for the safety supervisor
                    tip = [LINKS[s], 0, 0]
                    body.add_site(name=f"{fname}_tip_point", pos=tip, size=[0.004, 0, 0], group=4)
                parent, x = body, LINKS[s]
        for i, name in enumerate(WRIST_NAMES):
            kp, kv = (3000.0, 300.0) if i < 3 else (150.0, 15.0)
            self._servo(spec, name, kp, kv, WRIST_LOWER[i], WRIST_UPPER[i], WRIST_EFFORT[i])
        for j, name in enumerate(finger_joint_names()):
            self._servo(spec, name, FINGER_KP, FINGER_KV, FINGER_LOWER[j], FINGER_UPPER[j], FINGER_EFFORT[j])
        mx, my, mz = self.config.mount_pos
        cam = np.array([mx + 0.55, my - 0.45, mz + 0.15])
        spec.worldbody.add_camera(
            name="scene", pos=cam.tolist(), xyaxes=lookat_xyaxes(cam, np.array([mx, my, mz - 0.2])), fovy=50
        )

    # ---------------------------------------------------------------- bind / state
    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.model, self.data = model, data
        fj = [model.joint(n) for n in finger_joint_names()]
        wj = [model.joint(n) for n in WRIST_NAMES]
        self.finger_q = np.array([model.jnt_qposadr[j.id] for j in fj])
        self.finger_v = np.array([model.jnt_dofadr[j.id] for j in fj])
        self.wrist_q = np.array([model.jnt_qposadr[j.id] for j in wj])
        self.wrist_v = np.array([model.jnt_dofadr[j.id] for j in wj])
        self.finger_act = np.array([model.actuator(n).id for n in finger_joint_names()])
        self.wrist_act = np.array([model.actuator(n).id for n in WRIST_NAMES])
        self.palm_body = model.body("palm").id
        self.palm_site = model.site("palm_center").id
        self.tip_sites = np.array([model.site(f"{f}_tip_point").id for f in FINGERS])
        self._ee_sites = np.concatenate([[self.palm_site], self.tip_sites])
        self.pad_geoms = np.array([[model.geom(f"{f}_{s}").id for s in SEGMENTS] for f in FINGERS])
        self._pad_index = {int(g): (f, s) for f in range(4) for s in range(3) for g in [self.pad_geoms[f, s]]}
        self.hand_geoms = set(self._pad_index) | {model.geom("palm").id}
        self.wrist_cmd = np.zeros(6)
        self._force = np.zeros(6)

    def reset_pose(self, data: mujoco.MjData) -> None:
        data.qpos[self.wrist_q] = 0
        data.qvel[self.wrist_v] = 0
        data.qpos[self.finger_q] = 0
        data.qvel[self.finger_v] = 0
        data.ctrl[self.wrist_act] = 0
        data.ctrl[self.finger_act] = 0
        self.wrist_cmd = np.zeros(6)

    def state_names(self) -> list[str]:
        j = finger_joint_names()
        return (
            [f"{n}.pos" for n in j]
            + [f"{n}.vel" for n in j]
            + [f"{n}.torque" for n in j]
            + [f"{n}.pos" for n in WRIST_NAMES]
            + [f"palm.pos.{a}" for a in "xyz"]
            + [f"palm.quat.{a}" for a in "wxyz"]
            + [f"{f}.tactile_sum" for f in FINGERS]
        )

    def state(self) -> np.ndarray:
        d = self.data
        return np.concatenate(
            [
                d.qpos[self.finger_q],
                d.qvel[self.finger_v],
                d.actuator_force[self.finger_act],
                d.qpos[self.wrist_q],
                d.xpos[self.palm_body],
                d.xquat[self.palm_body],
                self.tactile().sum(axis=(1, 2, 3)),
            ]
        ).astype(np.float32)

    def finger_q_now(self) -> np.ndarray:
        return self.data.qpos[self.finger_q].copy()

    def wrist_pose(self) -> np.ndarray:
        """Measured wrist joint values (x, y, z, yaw, pitch, roll)."""
        return self.data.qpos[self.wrist_q].copy()

    def palm_pos(self) -> np.ndarray:
        """World position of the centre of the palm's underside."""
        return self.data.site_xpos[self.palm_site].copy()

    def ee_positions(self) -> np.ndarray:
        """The palm centre, then the four fingertips (index, middle, ring, thumb), world frame (5, 3)."""
        return self.data.site_xpos[self._ee_sites].copy()

    def tcp_frames(self) -> list[tuple[str, str]]:
        """The palm centre on the palm, then each fingertip on its distal link (`ee_positions()` order):
        the supervisor caps the predicted speed of all of them, the fingertips' lever included."""
        return [("palm_center", "palm")] + [(f"{f}_tip_point", f"{f}_tip") for f in FINGERS]

    # ---------------------------------------------------------------- tactile
    def tactile(self) -> np.ndarray:
        """Taxel normal forces (N), shape (finger, segment, row, col); layout in the module docstring."""
        m, d = self.model, self.data
        out = np.zeros((4, 3, TAXEL_ROWS, TAXEL_COLS), dtype=np.float32)
        if not d.ncon:
            return out
        pads = self._pad_index
        # one read of every contact's geom pair; only contacts on a pad touch the per-contact struct
        for i, (g1, g2) in enumerate(d.contact.geom.tolist()):
            if g1 not in pads and g2 not in pads:
                continue
            for g in (g1, g2):
                hit = pads.get(g)
                if hit is None:
                    continue
                mujoco.mj_contactForce(m, d, i, self._force)
                fn = float(self._force[0])
                if fn <= 0:
                    continue
                local = d.geom_xmat[g].reshape(3, 3).T @ (d.contact.pos[i] - d.geom_xpos[g])
                hx, hy = m.geom_size[g][0], m.geom_size[g][1]
                row = int(np.clip((local[0] + hx) / (2 * hx) * TAXEL_ROWS, 0, TAXEL_ROWS - 1))
                col = int(np.clip((hy - local[1]) / (2 * hy) * TAXEL_COLS, 0, TAXEL_COLS - 1))
                out[hit[0], hit[1], row, col] += fn
        return out

    def finger_forces(self) -> np.ndarray:
        """Total tactile normal force per finger (4,), N."""
        return self.tactile().sum(axis=(1, 2, 3))

    def sensors(self) -> dict[str, str]:
        return {f"{f}_{s}": "tactile" for f in FINGERS for s in SEGMENTS}

    # ---------------------------------------------------------------- control
    def action_spec(self, mode: str) -> ArraySpec:
        self.check_mode(mode)
        names = tuple(finger_joint_names())
        if mode == "joint_pos":
            low, high = (
                np.concatenate([WRIST_LOWER, FINGER_LOWER]),
                np.concatenate([WRIST_UPPER, FINGER_UPPER]),
            )
            return ArraySpec(
                (22,), "float32", low.astype(np.float32), high.astype(np.float32), WRIST_NAMES + names
            )
        step = np.array([0.03, 0.03, 0.03, 0.25, 0.25, 0.25])
        low, high = np.concatenate([-step, FINGER_LOWER]), np.concatenate([step, FINGER_UPPER])
        wn = ("wrist.dx", "wrist.dy", "wrist.dz", "wrist.dyaw", "wrist.dpitch", "wrist.droll")
        return ArraySpec((22,), "float32", low.astype(np.float32), high.astype(np.float32), wn + names)

    def apply_action(self, action: np.ndarray, mode: str, control_dt: float) -> None:
        d = self.data
        if mode == "joint_pos":
            wrist = np.asarray(action[:6], float)
        else:
            wrist = self.wrist_cmd + np.asarray(action[:6], float)
            # leash: the commanded wrist never leads the measured one by more than 3 cm / 0.3 rad
            now = d.qpos[self.wrist_q]
            wrist = np.clip(
                wrist, now - [0.03, 0.03, 0.03, 0.3, 0.3, 0.3], now + [0.03, 0.03, 0.03, 0.3, 0.3, 0.3]
            )
        self.wrist_cmd = np.clip(wrist, WRIST_LOWER, WRIST_UPPER)
        q = d.qpos[self.finger_q]
        step = FINGER_VEL * control_dt
        fingers = q + np.clip(np.clip(action[6:], FINGER_LOWER, FINGER_UPPER) - q, -step, step)
        d.ctrl[self.wrist_act] = self.wrist_cmd
        d.ctrl[self.finger_act] = fingers

    def cameras(self) -> list[str]:
        return ["scene", "wrist"]

    def safety_limits(self) -> SafetyLimits:
        lo = np.concatenate([WRIST_LOWER, FINGER_LOWER])
        hi = np.concatenate([WRIST_UPPER, FINGER_UPPER])
        return SafetyLimits(
            joint_names=WRIST_NAMES + tuple(finger_joint_names()),
            joint_pos_lower=lo,
            joint_pos_upper=hi,
            joint_vel_max=np.concatenate([WRIST_VEL, FINGER_VEL]),
            joint_acc_max=np.concatenate([np.full(6, 10.0), np.full(16, 60.0)]),
            joint_effort_max=np.concatenate([WRIST_EFFORT, FINGER_EFFORT]),
            ee_speed_max=0.5,
            ee_speed_collaborative=0.25,
            force_max=40.0,
            torque_max=5.0,
            tactile_force_max=8.0,
            workspace_low=np.array([-0.5, -0.5, 0.0]),
            workspace_high=np.array([0.5, 0.5, 1.2]),
            leashed_frames=1,  # the palm; the fingertips press past a contact to grip
            # finger servos: (kv + damping) / kp = 0.1 / 3 s, underdamped (zeta ~0.6): with the default
            # 0.05 s a finger at its lead bound overshot the cap by 13% (bench/safety_motion.py)
            grip_tracking_time=0.03,
        )
