"""`bimanual/handover`: the left arm picks a bar and hands it mid-air to the right arm, which places it.

The bar starts on the left arm's side of the table; the target zone is on the right arm's side, out of
the left arm's comfortable reach. Success requires that the right arm really took the bar over (it was
once held by the right gripper alone, above the table) and that the bar rests in the zone, released.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.bimanual import Bimanual
from physai.sim.geometry import grasp_yaw, quat_yaw
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

    robot: Bimanual
    config: HandoverConfig

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
        cfg = self.config
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
        return (pads_on(self.data, self.robot.left, self.bar_geoms, pairs),
                pads_on(self.data, self.robot.right, self.bar_geoms, pairs))

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


def _funnel(dest: np.ndarray, cur: np.ndarray, slope: float, top: float) -> np.ndarray:
    """`dest` raised by `slope` times the TCP's horizontal distance from it (at most `top`): steering to
    it descends as the TCP closes in from above, with no phase switch between "above" and "down"."""
    h = float(np.hypot(*(dest[:2] - cur[:2])))
    return dest + [0.0, 0.0, min(top, slope * h)]


class HandoverExpert(Expert[Handover]):
    """Left: reach down onto the bar's left end, close, lift it to the exchange point turned along y,
    hold it there until the right hand has closed on the other end, open, back off. Right: wait above
    its side until the left hand presents the bar, reach down onto the bar's right end, close, hold
    until the left fingers are open, carry the bar down towards the zone, let go of it while still
    lowering it, once it is below `DROP` (8 cm) over its resting height, back up.

    Written to be imitated from the state observation, like `PackMouseExpert`: every phase change is
    decided by what the state shows (gripper widths, TCP and bar poses) -- no wait timers, no target
    remembered from an earlier step, no arm waiting on the other arm's phase counter -- and it is
    decided *before* acting, so a state always maps to the action of the phase it shows (deciding
    after acting would give two identical states two different actions at every switch). Each hand
    holds its hand-off state until the other hand has acted (left keeps its grip until the right grip
    is closed on the bar; right holds still until the left grip is open), so a policy that misses a
    hand-off sees the same state again. Reaches and the carry follow funnels (`_funnel`: the height
    above the goal shrinks with the horizontal distance to it) instead of separate "above"/"down"
    phases, and both arms steer the *measured* TCP (`Steer.measured_gain`), so the action is a smooth
    function of the observed poses.

    The release comes `DROP` above the table, crossed while the hand still moves down, not once the bar
    rests on it: an episode ends at its first successful step, so a release on the table left one frame
    of "open" per demo, right after near-identical frames of "hold" (an L1-trained chunk policy learns
    the median: act held the placed bar forever, 4%); a release crossed in motion is a distinct state
    and leaves 3 frames of opening and falling before the end. (The timer-driven version that steered the
    commanded pose: mlp 10%, act 3% on 100 episodes; see docs/BENCHMARKS.md.)
    """

    GAIN = 0.4  # fraction of the measured TCP error each action removes (see `Steer.measured_gain`)
    GRASPED = 0.05  # m: gripper width below which the fingers hold the bar (0.036 on it, 0.08 open)
    OPENED = 0.074  # m: gripper width above which the bar is let go
    EXCHANGE = np.array([0.13, -GRIP_OFFSET, HANDOVER_Z])  # left TCP at the exchange (bar centre y = 0)
    RIGHT_WAIT = np.array([0.13, 0.16, HANDOVER_Z + 0.1])  # right TCP until the bar is at the exchange
    GRASP_Z = TABLE_Z + 0.022  # TCP height of the left grasp on the table
    PLACE_Z = TABLE_Z + BAR_HALF[2] + 0.006  # TCP height that would set the held bar on the table
    DROP = 0.08  # m: let go of the bar while lowering it, this far above its resting height
    SLOPE = 3.0  # funnel: m of height above the goal per m of horizontal distance to it
    AT = 0.008  # m: TCP this close to a grasp point -> close the fingers

    def __init__(self, task: Handover) -> None:
        super().__init__(task)
        self.left, self.right = two_arm_steer(task.robot, self.GAIN)

    def reset(self) -> None:
        self.left.reset()
        self.right.reset()
        self.lp = self.rp = 0
        self.left_park = self.left.arm.tcp_pose()[0]
        self.right_park = self.right.arm.tcp_pose()[0]
        self.home_yaw = quat_yaw(self.left.home_quat)

    # ------------------------------------------------------------ what the state shows
    def _bar(self) -> tuple[np.ndarray, float]:
        pose = self.task.bar_pose()
        return pose[:3], quat_yaw(pose[3:])

    def _grips(self) -> tuple[np.ndarray, np.ndarray]:
        """World grasp points of the left and the right hand on the bar (its two ends)."""
        bar, yaw = self._bar()
        axis = _bar_axis(yaw)
        return bar - GRIP_OFFSET * axis, bar + GRIP_OFFSET * axis

    def _left_grasp(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Left grasp point on the table, wrist orientation for it, and the wrist's heading error."""
        _, yaw = self._bar()
        g = grasp_yaw(yaw, np.pi)  # wrist heading that closes the fingers across the bar
        hand = quat_yaw(self.left.arm.tcp_pose()[1]) - self.home_yaw
        err = abs((g - hand + np.pi) % (2 * np.pi) - np.pi)
        grip = self._grips()[0]
        return np.array([grip[0], grip[1], self.GRASP_Z]), self.left.down_quat(g), err

    def _zone(self) -> np.ndarray:
        """Right TCP spot that sets the held bar's centre on the zone's centre."""
        _, yaw = self._bar()
        tgt = self.task.target_pos()
        return np.array([tgt[0], tgt[1], self.PLACE_Z]) + GRIP_OFFSET * _bar_axis(yaw)

    def bar_presented(self) -> bool:
        """Hand-off to the right arm: the left fingers closed on the bar, held up at the exchange point."""
        bar, _ = self._bar()
        return (self.left.arm.gripper_width() < self.GRASPED and bar[2] > TABLE_Z + 0.15
                and self.left.dist(self.EXCHANGE) < 0.03)

    def right_holds(self) -> bool:
        """Hand-off back to the left arm: the right fingers closed on the bar's right end."""
        return (self.right.arm.gripper_width() < self.GRASPED
                and self.right.dist(self._grips()[1]) < 0.02)

    def left_released(self) -> bool:
        """The left fingers open (the right arm may carry the bar away)."""
        return self.left.arm.gripper_width() > self.OPENED

    def bar_placed(self) -> bool:
        """The bar lowered to `DROP` above its resting height, over the zone (the right hand lets go)."""
        bar, _ = self._bar()
        tgt = self.task.target_pos()
        return bar[2] < TABLE_Z + BAR_HALF[2] + self.DROP and float(np.hypot(*(bar[:2] - tgt[:2]))) < 0.015

    # ------------------------------------------------------------ left arm
    def _left_done(self) -> bool:
        """Whether the current state ends the left arm's phase `lp`."""
        L, lp = self.left, self.lp
        if lp == 0:  # reached the grasp point, wrist turned across the bar
            dest, _, err = self._left_grasp()
            return L.dist(dest) < self.AT and err < 0.1
        if lp == 1:  # fingers closed on the bar
            return L.arm.gripper_width() < self.GRASPED
        if lp == 2:  # presenting and the right hand has it
            return self.bar_presented() and self.right_holds()
        if lp == 3:
            return self.left_released()
        return False

    def _left(self) -> np.ndarray:
        L = self.left
        while self.lp < 4 and self._left_done():  # decide on this state, then act
            self.lp += 1
        if self.lp <= 1:  # reach down onto the bar's left end (funnel), then close on it
            dest, q, err = self._left_grasp()
            if self.lp == 0:
                goal = _funnel(dest, L.arm.tcp_pose()[0], self.SLOPE, 0.1) + [0, 0, min(0.1, 0.2 * err)]
                return L.action(goal, q, 0.0)
            return L.action(dest, q, 1.0)
        if self.lp == 2:  # lift it to the exchange point, turned along y; hold until the right hand has it
            return L.action(self.EXCHANGE, L.down_quat(0.0), 1.0, max_lin=0.03)
        if self.lp == 3:  # open until the fingers are clear of the bar
            return L.action(self.EXCHANGE, L.down_quat(0.0), 0.0)
        return L.action(self.left_park, L.down_quat(0.0), 0.0)  # back off home

    # ------------------------------------------------------------ right arm
    def _right_done(self) -> bool:
        """Whether the current state ends the right arm's phase `rp`."""
        R, rp = self.right, self.rp
        if rp == 0:
            return self.bar_presented()
        if rp == 1:  # at the bar's right end
            return R.dist(self._grips()[1]) < self.AT
        if rp == 2:  # holding it, and the left fingers are open
            return self.right_holds() and self.left_released()
        if rp == 3:
            return self.bar_placed()
        if rp == 4:
            return R.arm.gripper_width() > self.OPENED
        return False

    def _right(self) -> np.ndarray:
        R = self.right
        while self.rp < 5 and self._right_done():  # decide on this state, then act
            self.rp += 1
        _, yaw = self._bar()
        q = R.down_quat(grasp_yaw(yaw, np.pi))
        tcp = R.arm.tcp_pose()[0]
        if self.rp == 0:  # wait above its side until the left hand presents the bar
            return R.action(self.RIGHT_WAIT, R.down_quat(0.0), 0.0)
        if self.rp == 1:  # reach down onto the bar's right end (funnel)
            return R.action(_funnel(self._grips()[1], tcp, self.SLOPE, 0.08), q, 0.0)
        if self.rp == 2:  # close; hold still until the left fingers have let go
            return R.action(self._grips()[1], q, 1.0)
        if self.rp == 3:  # carry the bar down towards the zone (funnel from the exchange height)
            zone = self._zone()
            return R.action(_funnel(zone, tcp, self.SLOPE, HANDOVER_Z - self.PLACE_Z), q, 1.0, max_lin=0.03)
        if self.rp == 4:  # release (the hand keeps moving down) until the fingers are open
            return R.action(self._zone(), q, 0.0)
        return R.action(self.right_park, R.down_quat(0.0), 0.0, max_lin=0.02)  # back up home

    def act(self, obs: dict) -> np.ndarray:
        return np.concatenate([self._left(), self._right()])
