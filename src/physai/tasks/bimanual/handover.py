"""`bimanual/handover`: the left arm picks a bar and hands it mid-air to the right arm, which places it.

The bar starts on the left arm's side of the table; the target zone is on the right arm's side, out of
the left arm's comfortable reach. Success requires that the right arm really took the bar over (it was
once held by the right gripper alone, above the table) and that the bar rests in the zone, released.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.sim.scene import GEOM, add_free_object, add_marker, set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.bimanual.common import (
    TABLE_Z,
    body_geoms,
    build_table,
    contact_pairs,
    pads_on,
    two_arm_steer,
)
from physai.tasks.tabletop.common import grasp_yaw, quat_yaw

BAR_HALF = (0.018, 0.08, 0.018)  # m; the bar's long axis is its local y
GRIP_OFFSET = 0.045  # m from the bar centre to each arm's grasp point along the bar
ZONE_HALF = 0.05  # m, half side of the square target zone
HANDOVER_Z = TABLE_Z + 0.25  # height of the mid-air exchange


@dataclass
class HandoverConfig(TaskConfig):
    """Options of bimanual/handover."""

    bar_x: tuple[float, float] = (0.02, 0.25)
    """Range of the bar's initial x (m)."""
    bar_y: tuple[float, float] = (-0.2, -0.1)
    """Range of the bar's initial y (m, the left arm's side)."""
    bar_yaw: float = 0.5
    """Largest deviation of the bar's heading from the y axis (rad)."""
    target_x: tuple[float, float] = (0.02, 0.25)
    """Range of the target zone's centre x (m)."""
    target_y: tuple[float, float] = (0.1, 0.2)
    """Range of the target zone's centre y (m, the right arm's side)."""


@register_task("bimanual/handover")
class Handover(Task):
    """Left arm picks the bar, right arm takes it over in the air and places it on the green zone."""

    embodiment_name = "bimanual"
    instructions = (
        "hand the {object} over to the other arm and put it on the green square",
        "pick up the {object} with the left arm, pass it to the right arm, and place it on the target",
        "pass the {object} between the arms and set it down on the green zone",
        "use both arms: hand over the {object} and leave it on the green patch",
    )
    default_max_steps = 140
    config_cls = HandoverConfig
    object_name = "orange bar"

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)
        add_free_object(spec, "bar", GEOM.mjGEOM_BOX, list(BAR_HALF), (0.95, 0.5, 0.1, 1), mass=0.1,
                        pos=(0.1, -0.2, TABLE_Z + BAR_HALF[2]))
        add_marker(spec, "target", (ZONE_HALF, ZONE_HALF), (0.2, 0.75, 0.3, 1), pos=(0.1, 0.2, TABLE_Z))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.target_mocap = int(model.body("target").mocapid[0])
        self.bar_geoms = body_geoms(model, "bar")
        self.bar_dof = int(model.jnt_dofadr[model.joint("bar").id])
        self._bar_q = int(model.jnt_qposadr[model.joint("bar").id])  # cached: read every step
        self._state = np.empty(10, np.float32)
        self.handed_over = False

    def reset(self, rng: np.random.Generator) -> None:
        cfg: HandoverConfig = self.config  # type: ignore[assignment]
        pos = np.array([rng.uniform(*cfg.bar_x), rng.uniform(*cfg.bar_y), TABLE_Z + BAR_HALF[2]])
        set_free_pose(self.model, self.data, "bar", pos, yaw=rng.uniform(-cfg.bar_yaw, cfg.bar_yaw))
        self.data.mocap_pos[self.target_mocap] = [rng.uniform(*cfg.target_x), rng.uniform(*cfg.target_y),
                                                  TABLE_Z + 0.0008]
        self.handed_over = False

    def instruction_fields(self) -> dict[str, str]:
        return {"object": self.object_name}

    # ------------------------------------------------------------ state and success
    def bar_pose(self) -> np.ndarray:
        """Position (3) and quaternion (4) of the bar."""
        return self.data.qpos[self._bar_q:self._bar_q + 7].copy()  # = free_pose(model, data, "bar")

    def target_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.target_mocap].copy()

    def _grip_counts(self) -> tuple[int, int]:
        pairs = contact_pairs(self.data)  # read once for both arms
        return (pads_on(self.data, self.robot.left, self.bar_geoms, pairs),  # type: ignore[attr-defined]
                pads_on(self.data, self.robot.right, self.bar_geoms, pairs))  # type: ignore[attr-defined]

    def success(self) -> bool:
        left, right = self._grip_counts()
        pos = self.bar_pose()[:3]
        if right == 2 and left == 0 and pos[2] > TABLE_Z + 0.1:
            self.handed_over = True  # the right gripper alone holds the bar in the air
        if not self.handed_over or left or right:
            return False
        speed = float(np.linalg.norm(self.data.qvel[self.bar_dof:self.bar_dof + 3]))
        off = np.abs(pos[:2] - self.target_pos()[:2])
        return bool(np.all(off < ZONE_HALF) and pos[2] < TABLE_Z + BAR_HALF[2] + 0.01 and speed < 0.05)

    def state_names(self) -> list[str]:
        return ([f"bar.pos.{a}" for a in "xyz"] + [f"bar.quat.{a}" for a in "wxyz"]
                + [f"target.pos.{a}" for a in "xy"] + ["bar.handed_over"])

    def state(self) -> np.ndarray:
        out, q = self._state, self._bar_q
        out[:7] = self.data.qpos[q:q + 7]
        out[7:9] = self.data.mocap_pos[self.target_mocap, :2]
        out[9] = float(self.handed_over)
        return out.copy()

    def make_expert(self) -> Expert:
        return HandoverExpert(self)


def _bar_axis(yaw: float) -> np.ndarray:
    """World direction of the bar's long (local y) axis for heading `yaw`."""
    return np.array([-np.sin(yaw), np.cos(yaw), 0.0])


class HandoverExpert(Expert):
    """Left: above the bar's left end, down, close, lift to the exchange point. Right: meet it there,
    grasp the right end; left opens and backs off; right carries the bar over the zone, lowers, releases."""

    def __init__(self, task: Handover) -> None:
        super().__init__(task)
        self.left, self.right = two_arm_steer(task.robot)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.left.reset()
        self.right.reset()
        self.phase, self.wait = 0, 0
        self.left_park = self.left.arm.tcp_pose()[0]
        self.right_park = self.right.arm.tcp_pose()[0]

    def _next(self, cond: bool) -> None:
        if cond:
            self.phase, self.wait = self.phase + 1, 0

    def act(self, obs: dict) -> np.ndarray:
        t: Handover = self.task  # type: ignore[assignment]
        L, R = self.left, self.right
        pose = t.bar_pose()
        bar, yaw = pose[:3], quat_yaw(pose[3:])
        g = grasp_yaw(yaw, np.pi)  # wrist heading that closes the fingers across the bar
        axis = _bar_axis(yaw)
        left_grip = bar - GRIP_OFFSET * axis
        right_grip = bar + GRIP_OFFSET * axis
        hand_pt = np.array([0.13, -GRIP_OFFSET, HANDOVER_Z])  # left TCP at the exchange
        grasp_z = TABLE_Z + 0.022
        ql, qr = L.down_quat(g), R.down_quat(g)
        right_wait = np.array([0.13, 0.16, HANDOVER_Z + 0.1])
        self.wait += 1
        p = self.phase
        if p == 0:  # left above its grasp point
            la = L.action(left_grip + [0, 0, 0.1], ql, 0.0)
            ra = R.action(right_wait, R.down_quat(0.0), 0.0)
            self._next(L.dist(left_grip + [0, 0, 0.1]) < 0.015)
        elif p == 1:  # down
            dest = np.array([left_grip[0], left_grip[1], grasp_z])
            la = L.action(dest, ql, 0.0, max_lin=0.03)
            ra = R.action(right_wait, R.down_quat(0.0), 0.0)
            self._next(L.dist(dest) < 0.008)
        elif p == 2:  # close
            la = L.action(np.array([left_grip[0], left_grip[1], grasp_z]), ql, 1.0)
            ra = R.action(right_wait, R.down_quat(0.0), 0.0)
            self._next(self.wait >= 6)
        elif p == 3:  # lift and bring the bar to the exchange point, turned along y
            la = L.action(hand_pt, L.down_quat(0.0), 1.0, max_lin=0.03)
            ra = R.action(right_wait, R.down_quat(0.0), 0.0)
            self._next(L.dist(hand_pt) < 0.012 and self.wait > 3)
        elif p == 4:  # right above the bar's right end
            dest = right_grip + [0, 0, 0.08]
            la = L.action(hand_pt, L.down_quat(0.0), 1.0)
            ra = R.action(dest, qr, 0.0)
            self._next(R.dist(dest) < 0.012)
        elif p == 5:  # right down onto the bar
            la = L.action(hand_pt, L.down_quat(0.0), 1.0)
            ra = R.action(right_grip, qr, 0.0, max_lin=0.025)
            self._next(R.dist(right_grip) < 0.008)
        elif p == 6:  # right closes
            la = L.action(hand_pt, L.down_quat(0.0), 1.0)
            ra = R.action(right_grip, qr, 1.0)
            self._next(self.wait >= 6)
        elif p == 7:  # left lets go
            la = L.action(hand_pt, L.down_quat(0.0), 0.0)
            ra = R.action(right_grip, qr, 1.0)
            self._next(self.wait >= 5)
        elif p == 8:  # left backs off, right carries the bar over the target
            la = L.action(self.left_park, L.down_quat(0.0), 0.0)
            tgt = t.target_pos()
            dest = np.array([tgt[0], tgt[1], HANDOVER_Z]) + GRIP_OFFSET * axis
            ra = R.action(dest, qr, 1.0, max_lin=0.03)
            self._next(R.dist(dest) < 0.015 and L.dist(self.left_park) < 0.1)
        elif p == 9:  # lower the bar onto the zone
            tgt = t.target_pos()
            dest = np.array([tgt[0], tgt[1], TABLE_Z + BAR_HALF[2] + 0.006]) + GRIP_OFFSET * axis
            la = L.action(self.left_park, L.down_quat(0.0), 0.0)
            ra = R.action(dest, qr, 1.0, max_lin=0.03)
            self.hold = dest
            self._next(R.dist(dest) < 0.008 or (bar[2] < TABLE_Z + BAR_HALF[2] + 0.012 and self.wait > 3))
        elif p == 10:  # release
            la = L.action(self.left_park, L.down_quat(0.0), 0.0)
            ra = R.action(self.hold, qr, 0.0)
            self._next(self.wait >= 5)
        else:  # back up
            la = L.action(self.left_park, L.down_quat(0.0), 0.0)
            ra = R.action(self.right_park, R.down_quat(0.0), 0.0, max_lin=0.02)
        return np.concatenate([la, ra])
