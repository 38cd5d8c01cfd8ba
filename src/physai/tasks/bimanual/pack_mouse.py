"""`bimanual/pack-mouse`: one arm puts a computer mouse into an open box, the other closes the hinged lid.

The box is a free body (floor, four walls) standing just short of a marked target area (along -x); its
lid hangs on a hinge along the box's back (+y) edge and starts open, leaning back past vertical against
its stop. The left arm packs the mouse, the right arm closes the lid, then the left arm slides the closed
box into the area. Success needs all three at once: the mouse inside the box volume, the lid closed
(hinge angle below `LID_CLOSED`), and the whole box footprint inside the target area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.bimanual import Bimanual
from physai.sim.geometry import grasp_yaw, quat_yaw, yaw_wxyz
from physai.sim.scene import GEOM, add_free_object, add_marker, add_open_box, set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.bimanual.common import TABLE_Z, body_geoms, build_table, pads_on, two_arm_steer

MOUSE_HALF = (0.028, 0.05, 0.018)  # ellipsoid semi-axes; the mouse's long axis is its local y
BOX_HALF = (0.09, 0.075, 0.035)  # outer half sizes of the box (m)
BOX_WALL = 0.008
LID_T = 0.004  # half thickness of the lid plate
LID_OPEN = 1.95  # rad: the lid's stop when open (leaning back past vertical)
LID_CLOSED = 0.1  # rad: hinge angle below which the lid counts as closed
AREA_MARGIN = 0.035  # m the target area extends beyond the box on each side


@dataclass
class PackMouseConfig(TaskConfig):
    """Options of bimanual/pack-mouse."""

    mouse_x: tuple[float, float] = (0.05, 0.28)
    """Range of the mouse's initial x (m)."""
    mouse_y: tuple[float, float] = (-0.24, -0.155)
    """Range of the mouse's initial y (m, the left arm's side)."""
    area_x: tuple[float, float] = (0.12, 0.24)
    """Range of the target area's centre x (m)."""
    area_y: tuple[float, float] = (0.0, 0.05)
    """Range of the target area's centre y (m)."""
    box_push: tuple[float, float] = (0.05, 0.08)
    """Range of the box's initial distance short of the area centre along -x (m); (0, 0) starts it inside."""
    box_offset: float = 0.008
    """Largest offset of the box from the area centre along y (m)."""
    box_yaw: float = 0.12
    """Largest box heading (rad)."""


def _rotz(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@register_task("bimanual/pack-mouse")
class PackMouse(Task):
    """Left arm packs the mouse into the box; right arm closes the lid; the box ends in the blue area."""

    robot: Bimanual
    config: PackMouseConfig

    embodiment_name = "bimanual"
    instructions = (
        "put the computer mouse in the box and close the lid",
        "pack the mouse into the box, shut the lid, and slide the box onto the blue area",
        "place the mouse inside the open box, then close its lid",
        "use both arms to pack the mouse in the box, close it, and move it to the blue square",
    )
    default_max_steps = 170
    config_cls = PackMouseConfig

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)
        add_marker(spec, "area", (BOX_HALF[0] + AREA_MARGIN, BOX_HALF[1] + AREA_MARGIN), (0.25, 0.45, 0.9, 1),
                   pos=(0.18, 0.02, TABLE_Z))
        mouse = add_free_object(spec, "mouse", GEOM.mjGEOM_ELLIPSOID, list(MOUSE_HALF), (0.18, 0.18, 0.2, 1),
                                mass=0.08, pos=(0.15, -0.18, TABLE_Z + MOUSE_HALF[2]))
        dark = dict(contype=0, conaffinity=0, mass=0.0)
        for sx in (-1, 1):  # left/right buttons, split by the wheel
            mouse.add_geom(name=f"mouse_button{(sx + 1) // 2}", type=GEOM.mjGEOM_BOX,
                           size=[0.011, 0.016, 0.003], pos=[sx * 0.0125, 0.026, 0.0125], euler=[-0.35, 0, 0],
                           rgba=[0.55, 0.55, 0.6, 1], **dark)
        mouse.add_geom(name="mouse_wheel", type=GEOM.mjGEOM_CYLINDER, size=[0.006, 0.003, 0],
                       pos=[0, 0.03, 0.014], euler=[0, np.pi / 2, 0], rgba=[0.1, 0.1, 0.1, 1], **dark)
        box = spec.worldbody.add_body(name="box", pos=[0.18, 0.02, TABLE_Z])
        box.add_freejoint(name="box")
        add_open_box(box, "box", BOX_HALF, BOX_WALL, (0.78, 0.62, 0.42, 1), mass=0.4)
        hx, hy, hz = BOX_HALF
        lid = box.add_body(name="lid", pos=[0, hy, 2 * hz])
        lid.add_joint(name="lid_hinge", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[-1, 0, 0],
                      range=[0, LID_OPEN], limited=mujoco.mjtLimited.mjLIMITED_TRUE, damping=0.01,
                      armature=0.0005)
        lid.add_geom(name="lid_plate", type=GEOM.mjGEOM_BOX, size=[hx, hy, LID_T], pos=[0, -hy, LID_T],
                     rgba=[0.72, 0.56, 0.36, 1], mass=0.06, condim=3)
        lid.add_geom(name="lid_handle", type=GEOM.mjGEOM_BOX, size=[0.025, 0.006, 0.008],
                     pos=[0, -2 * hy + 0.015, 2 * LID_T + 0.008], rgba=[0.3, 0.2, 0.12, 1], mass=0.01)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.area_mocap = int(model.body("area").mocapid[0])
        self.mouse_geoms = body_geoms(model, "mouse")
        self.lid_qpos = int(model.jnt_qposadr[model.joint("lid_hinge").id])
        self.lid_dof = int(model.jnt_dofadr[model.joint("lid_hinge").id])
        self.mouse_dof = int(model.jnt_dofadr[model.joint("mouse").id])
        self._mouse_q = int(model.jnt_qposadr[model.joint("mouse").id])  # cached: read every step
        self._box_q = int(model.jnt_qposadr[model.joint("box").id])
        self._state = np.empty(14, np.float32)

    def reset(self, rng: np.random.Generator) -> None:
        cfg = self.config
        m, d = self.model, self.data
        area = np.array([rng.uniform(*cfg.area_x), rng.uniform(*cfg.area_y), TABLE_Z + 0.0008])
        d.mocap_pos[self.area_mocap] = area
        dx, dy = rng.uniform(*cfg.box_push), rng.uniform(-cfg.box_offset, cfg.box_offset)
        set_free_pose(m, d, "box", np.array([area[0] - dx, area[1] + dy, TABLE_Z]),
                      yaw=rng.uniform(-cfg.box_yaw, cfg.box_yaw))
        d.qpos[self.lid_qpos] = LID_OPEN
        d.qvel[self.lid_dof] = 0
        set_free_pose(m, d, "mouse", np.array([rng.uniform(*cfg.mouse_x), rng.uniform(*cfg.mouse_y),
                                               TABLE_Z + MOUSE_HALF[2]]), yaw=rng.uniform(-np.pi, np.pi))

    # ------------------------------------------------------------ geometry queries
    def mouse_pose(self) -> np.ndarray:
        return self.data.qpos[self._mouse_q:self._mouse_q + 7].copy()  # = free_pose(.., "mouse")

    def box_pose(self) -> tuple[np.ndarray, float]:
        """Box origin (centre of its floor's underside) and heading."""
        pose = self.data.qpos[self._box_q:self._box_q + 7].copy()  # = free_pose(.., "box")
        return pose[:3], quat_yaw(pose[3:])

    def lid_angle(self) -> float:
        """Hinge angle: 0 closed, `LID_OPEN` fully open."""
        return float(self.data.qpos[self.lid_qpos])

    def area_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.area_mocap].copy()

    def hinge_pos(self) -> np.ndarray:
        pos, yaw = self.box_pose()
        return pos + _rotz(yaw) @ np.array([0.0, BOX_HALF[1], 2 * BOX_HALF[2]])

    def mouse_in_box(self) -> bool:
        """Mouse centre inside the box's inner volume (box frame)."""
        # scalar math (checked every control step): _rotz(yaw).T @ (mouse - box)
        qpos = self.data.qpos
        bx, by, bz, w, x, y, z = qpos[self._box_q:self._box_q + 7].tolist()
        mx, my, mz = qpos[self._mouse_q:self._mouse_q + 3].tolist()
        yaw = yaw_wxyz(w, x, y, z)
        c, s = math.cos(yaw), math.sin(yaw)
        dx, dy = mx - bx, my - by
        lx, ly, lz = c * dx + s * dy, -s * dx + c * dy, mz - bz
        return (abs(lx) < BOX_HALF[0] - BOX_WALL and abs(ly) < BOX_HALF[1] - BOX_WALL
                and BOX_WALL < lz < 2 * BOX_HALF[2])

    def lid_closed(self) -> bool:
        return self.lid_angle() < LID_CLOSED

    def box_in_area(self) -> bool:
        """Every corner of the box footprint inside the target area."""
        pos, yaw = self.box_pose()
        hx, hy = BOX_HALF[:2]
        corners = np.array([[sx * hx, sy * hy, 0.0] for sx in (-1, 1) for sy in (-1, 1)]) @ _rotz(yaw).T
        half = np.array([hx + AREA_MARGIN, hy + AREA_MARGIN])
        upright = abs(self.box_tilt()) < 0.2
        return bool(upright and np.all(np.abs(corners[:, :2] + pos[:2] - self.area_pos()[:2]) < half))

    def box_tilt(self) -> float:
        """Angle between the box's up axis and world +z (rad)."""
        q = self.data.qpos[self._box_q + 3:self._box_q + 7].tolist()
        up_z = 1 - 2 * (q[1] ** 2 + q[2] ** 2)
        return float(np.arccos(np.clip(up_z, -1, 1)))

    def success(self) -> bool:
        if pads_on(self.data, self.robot.left, self.mouse_geoms):
            return False  # still holding the mouse
        return self.mouse_in_box() and self.lid_closed() and self.box_in_area()

    def state_names(self) -> list[str]:
        return ([f"mouse.pos.{a}" for a in "xyz"] + [f"mouse.quat.{a}" for a in "wxyz"]
                + [f"box.pos.{a}" for a in "xyz"] + ["box.yaw", "lid.angle"]
                + [f"area.pos.{a}" for a in "xy"])

    def state(self) -> np.ndarray:
        pos, yaw = self.box_pose()
        out, d = self._state, self.data
        out[:7] = d.qpos[self._mouse_q:self._mouse_q + 7]
        out[7:10] = pos
        out[10], out[11] = yaw, d.qpos[self.lid_qpos]
        out[12:14] = d.mocap_pos[self.area_mocap, :2]
        return out.copy()

    def make_expert(self) -> Expert:
        return PackMouseExpert(self)


class PackMouseExpert(Expert[PackMouse]):
    """Left: pick the mouse across its width, turn it along the box, lower it in, release, hold above the
    box until the right hand is at the lid, then wait behind the box's -x wall. Right: wait outside the
    open lid until the mouse is packed, then push the lid over along an arc about the hinge, lift away
    while it falls shut. Left then slides the box along +x until its centre reaches the area's.

    Written to be imitated from the state observation: every phase change is decided by what the state
    shows (gripper opening, TCP and object poses, the lid angle) -- no timers, no sweep variable, no
    arm waiting on the other arm's phase counter -- the targets are recomputed from the current state
    every step, and the arms steer the *measured* TCP (`Steer.measured_gain`), so a policy that sees
    the same state can learn the same action. (The timer-driven version that steered the commanded
    pose: mlp 38-42%, act 19% on 100 episodes; this one: see docs/BENCHMARKS.md.)
    """

    GAIN = 0.4  # fraction of the measured TCP error each action removes (see `Steer.measured_gain`)
    ARC_R = 0.11  # m from the hinge along the lid where the right hand pushes
    CLEAR = 0.035  # m the TCP stays off the lid's outer surface
    SWEEP_LEAD = 0.3  # rad the push target leads the measured lid angle
    SWEEP_SPEED = 0.014  # m per control step of the TCP while pushing the lid
    SWEEP_END = 1.0  # rad: push the lid to here, past vertical; gravity closes the rest
    PUSH_STEP = 0.008  # m per control step while sliding the box
    GRASPED = 0.066  # m: left gripper width below which the fingers hold the mouse (0.055 on it)
    OPENED = 0.074  # m: left gripper width above which the mouse is let go (0.08 fully open)

    def __init__(self, task: PackMouse) -> None:
        super().__init__(task)
        self.left, self.right = two_arm_steer(task.robot, self.GAIN)

    def reset(self) -> None:
        self.left.reset()
        self.right.reset()
        self.lp = self.rp = 0
        self.left_park = self.left.arm.tcp_pose()[0]
        self.right_park = self.right.arm.tcp_pose()[0]
        self.home_yaw = quat_yaw(self.left.home_quat)

    def _lid_point(self, theta: float, clear: float) -> np.ndarray:
        """World TCP position `clear` off the lid's outer face, `ARC_R` along the lid at hinge angle theta."""
        t = self.task
        _, yaw = t.box_pose()
        d = np.array([0.0, -np.cos(theta), np.sin(theta)])
        n = np.array([0.0, np.sin(theta), np.cos(theta)])
        return t.hinge_pos() + _rotz(yaw) @ (self.ARC_R * d + clear * n)

    def _push_start(self, box: np.ndarray) -> np.ndarray:
        """TCP spot just behind the middle of the box's -x wall, at half wall height."""
        return np.array([box[0] - BOX_HALF[0] - 0.04, box[1], TABLE_Z + 0.04])

    def _left_width(self) -> float:
        return self.left.arm.gripper_width()

    def mouse_packed(self) -> bool:
        """Observable hand-off to the right arm: mouse in the box, left gripper open and its TCP held
        clear above the box. The left arm holds there until `lid_engaged`, so a policy that misses
        the moment sees the same hand-off state again on the next step (no deadlock)."""
        t = self.task
        box, _ = t.box_pose()
        return (t.mouse_in_box() and self._left_width() > self.OPENED
                and self.left.tcp_z() > box[2] + 2 * BOX_HALF[2] + 0.12)

    def lid_engaged(self) -> bool:
        """Observable hand-off back to the left arm: the right TCP at the lid, or the lid moving."""
        t = self.task
        lid = t.lid_angle()
        return lid < LID_OPEN - 0.1 or self.right.dist(self._lid_point(lid + 0.1, self.CLEAR)) < 0.03

    def _left(self) -> np.ndarray:
        t = self.task
        L = self.left
        pose = t.mouse_pose()
        mouse, myaw = pose[:3], quat_yaw(pose[3:])
        box, byaw = t.box_pose()
        q_grasp = L.down_quat(grasp_yaw(myaw, np.pi))
        if self.lp == 0:  # above the mouse
            dest = mouse + [0, 0, 0.1]
            a = L.action(dest, q_grasp, 0.0)
            nxt = L.dist(dest) < 0.012
        elif self.lp == 1:  # down
            dest = np.array([mouse[0], mouse[1], TABLE_Z + 0.024])
            a = L.action(dest, q_grasp, 0.0, max_lin=0.03)
            nxt = L.dist(dest) < 0.008
        elif self.lp == 2:  # close until the fingers hold it
            a = L.action(np.array([mouse[0], mouse[1], TABLE_Z + 0.024]), q_grasp, 1.0)
            nxt = self._left_width() < self.GRASPED
        elif self.lp in (3, 4, 5):  # lift, carry over the box, lower in: turn the mouse along the box
            hand = quat_yaw(L.arm.tcp_pose()[1]) - self.home_yaw
            carry = L.down_quat(hand + grasp_yaw(byaw + np.pi / 2 - myaw, np.pi))
            if self.lp == 3:
                dest = np.array([mouse[0], mouse[1], TABLE_Z + 0.2])
                a = L.action(dest, q_grasp, 1.0, max_lin=0.03)
                nxt = L.tcp_z() > TABLE_Z + 0.17
            elif self.lp == 4:  # over the box centre
                dest = box + _rotz(byaw) @ np.array([0, 0, 2 * BOX_HALF[2] + 0.1])
                a = L.action(dest, carry, 1.0, max_lin=0.035)
                nxt = L.dist(dest) < 0.012
            else:  # lower in; the mouse (what the state shows) must end over the box centre
                dest = box + np.array([0, 0, BOX_WALL + MOUSE_HALF[2] + 0.03])
                a = L.action(dest, carry, 1.0, max_lin=0.03)
                nxt = L.dist(dest) < 0.008
        elif self.lp == 6:  # release until the fingers are open
            dest = box + np.array([0, 0, BOX_WALL + MOUSE_HALF[2] + 0.03])
            a = L.action(dest, None, 0.0)
            nxt = self._left_width() > self.OPENED
        elif self.lp == 7:  # straight up out of the box; hold there until the right hand is at the lid
            dest = box + np.array([0, 0, 2 * BOX_HALF[2] + 0.15])
            a = L.action(dest, None, 0.0, max_lin=0.04)
            nxt = self.mouse_packed() and self.lid_engaged()
        elif self.lp == 8:  # out of the lid's way, behind and above the box; wait for the lid to shut
            dest = self._push_start(box) + [-0.06, 0, 0.16]
            a = L.action(dest, L.down_quat(0.0), 1.0)
            nxt = L.dist(dest) < 0.015 and t.lid_closed()
        elif self.lp == 9:  # down beside the middle of the -x wall
            dest = self._push_start(box)
            a = L.action(dest, L.down_quat(0.0), 1.0, max_lin=0.03)
            nxt = L.dist(dest) < 0.01
        elif self.lp == 10:  # slide the box along +x into the area
            dest = self._push_start(box) + [self.PUSH_STEP + 0.025, 0, 0]
            a = L.action(dest, L.down_quat(0.0), 1.0, max_lin=self.PUSH_STEP)
            nxt = box[0] >= t.area_pos()[0] - 0.004
        elif self.lp == 11:  # let go of the box: back off and up
            dest = np.array([box[0] - BOX_HALF[0] - 0.08, box[1], TABLE_Z + 0.2])
            a = L.action(dest, L.down_quat(0.0), 1.0, max_lin=0.03)
            nxt = L.dist(dest) < 0.02
        else:  # back home
            a = L.action(self.left_park, L.down_quat(0.0), 0.0)
            nxt = False
        if nxt:
            self.lp += 1
        return a

    def _right(self) -> np.ndarray:
        t = self.task
        R = self.right
        _, byaw = t.box_pose()
        q = R.down_quat(byaw)
        lid = t.lid_angle()
        if self.rp == 0:  # wait outside the open lid until the mouse is packed
            dest = self._lid_point(lid + 0.1, self.CLEAR + 0.05)
            a = R.action(dest, q, 1.0)
            nxt = R.dist(dest) < 0.015 and self.mouse_packed()
        elif self.rp == 1:  # close in on the lid
            dest = self._lid_point(lid + 0.1, self.CLEAR)
            a = R.action(dest, q, 1.0)
            nxt = R.dist(dest) < 0.012
        elif self.rp == 2:  # push the lid over, ahead of where it is; past vertical it falls shut
            dest = self._lid_point(max(lid - self.SWEEP_LEAD, self.SWEEP_END), self.CLEAR)
            a = R.action(dest, q, 1.0, max_lin=self.SWEEP_SPEED)
            nxt = lid <= self.SWEEP_END + 0.1
        elif self.rp == 3:  # up and off the lid
            dest = self._lid_point(self.SWEEP_END, self.CLEAR + 0.08)
            a = R.action(dest, q, 1.0, max_lin=0.03)
            nxt = R.dist(dest) < 0.02 or t.lid_closed()
        else:  # back home
            a = R.action(self.right_park, R.down_quat(0.0), 1.0, max_lin=0.03)
            nxt = False
        if nxt:
            self.rp += 1
        return a

    def act(self, obs: dict) -> np.ndarray:
        return np.concatenate([self._left(), self._right()])
