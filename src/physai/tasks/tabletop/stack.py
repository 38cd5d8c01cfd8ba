"""`tabletop/stack`: put the named cube on top of the other named cube."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7
from physai.sim.geometry import grasp_yaw, quat_yaw
from physai.sim.ik import quat_error
from physai.sim.scene import GEOM, add_free_object, add_table, set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.tabletop.common import (
    PARK,
    TABLE_CENTER,
    TABLE_HALF,
    TABLE_Z,
    WaypointArm,
    sample_positions,
)

CUBE_HALF = 0.02
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.12, 1),
    "green": (0.15, 0.7, 0.25, 1),
    "blue": (0.15, 0.3, 0.85, 1),
    "yellow": (0.95, 0.8, 0.1, 1),
    "orange": (0.95, 0.5, 0.1, 1),
}


def cube_joint(colour: str) -> str:
    return f"cube_{colour}"


@dataclass
class StackConfig(TaskConfig):
    """Options of tabletop/stack."""

    n_distractors: int = 1
    """Other cubes on the table besides the two named ones."""
    xy_tolerance: float = 0.02
    """How far (m) the top cube's centre may be from the bottom cube's centre, horizontally."""


@register_task("tabletop/stack")
class Stack(Task):
    """Two of five coloured cubes are named; the first must end resting on the second, released."""

    instructions = (
        "stack the {top} cube on the {bottom} cube",
        "put the {top} cube on top of the {bottom} cube",
        "place the {top} cube onto the {bottom} cube",
        "pick up the {top} cube and stack it on the {bottom} one",
    )
    default_max_steps = 120
    config_cls = StackConfig
    config: StackConfig
    robot: Arm7

    def build(self, spec: mujoco.MjSpec) -> None:
        add_table(spec, "table", TABLE_CENTER, TABLE_HALF, TABLE_Z)
        for i, colour in enumerate(COLOURS):
            add_free_object(spec, cube_joint(colour), GEOM.mjGEOM_BOX, [CUBE_HALF] * 3, COLOURS[colour],
                            mass=0.08, pos=tuple(PARK + [0, 0.1 * i, 0]))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        names = list(COLOURS)
        self.top, self.bottom = names[0], names[1]
        self._dof = {c: int(model.jnt_dofadr[model.joint(cube_joint(c)).id]) for c in names}
        self._qadr = {c: int(model.jnt_qposadr[model.joint(cube_joint(c)).id]) for c in names}

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        names = list(COLOURS)
        for i, c in enumerate(names):
            set_free_pose(m, d, cube_joint(c), PARK + [0, 0.1 * i, CUBE_HALF])
        n = 2 + self.config.n_distractors
        chosen = [names[i] for i in rng.choice(len(names), size=n, replace=False)]
        self.top, self.bottom = chosen[0], chosen[1]
        for c, xy in zip(chosen, sample_positions(rng, n, min_dist=0.1), strict=True):
            set_free_pose(m, d, cube_joint(c), np.array([xy[0], xy[1], TABLE_Z + CUBE_HALF]),
                          yaw=rng.uniform(-np.pi, np.pi))

    def instruction_fields(self) -> dict[str, str]:
        return {"top": self.top, "bottom": self.bottom}

    def pose(self, colour: str) -> np.ndarray:
        a = self._qadr[colour]
        return self.data.qpos[a:a + 7].copy()

    def success(self) -> bool:
        top, bottom = self.pose(self.top)[:3], self.pose(self.bottom)[:3]
        d = self.data
        speed = float(np.linalg.norm(d.qvel[self._dof[self.top]:self._dof[self.top] + 3]))
        on_top = (np.linalg.norm(top[:2] - bottom[:2]) < self.config.xy_tolerance
                  and abs(top[2] - bottom[2] - 2 * CUBE_HALF) < 0.006
                  and bottom[2] < TABLE_Z + CUBE_HALF + 0.005)
        return bool(on_top and speed < 0.05 and self.robot.gripper_width() > 0.05)

    def grasp_yaw(self) -> float:
        """The top cube's heading reduced by its quarter-turn symmetry to [-pi/4, pi/4): the smallest
        wrist turn (from home) that puts the fingers on two of its faces."""
        return grasp_yaw(quat_yaw(self.pose(self.top)[3:]), np.pi / 2)

    def state_names(self) -> list[str]:
        return [f"{o}.{k}.{a}" for o in ("top", "bottom") for k, axes in (("pos", "xyz"), ("quat", "wxyz"))
                for a in axes] + ["top.grasp.yaw"]

    def state(self) -> np.ndarray:
        """Both cubes' poses, then `grasp_yaw` (a function of the top cube's quaternion, given
        explicitly: a quarter-turn-periodic function of four numbers is hard to learn from 50 demos)."""
        return np.concatenate([self.pose(self.top), self.pose(self.bottom), [self.grasp_yaw()]]).astype(
            np.float32)

    def make_expert(self) -> Expert:
        return StackExpert(self)


class StackExpert(Expert[Stack]):
    """Above the top cube, straight down, close, lift, carry it over the bottom cube, lower it on, open,
    go up.

    Written to be imitated from the state observation (the way `bimanual/pack-mouse`'s expert is):
    every phase change is decided by what the state shows (TCP pose, gripper width, the two cubes'
    poses, `Stack.grasp_yaw`) -- no wait timers, no orientation frozen at grasp time -- the targets are
    recomputed from the current state every step, and the arm steers the *measured* TCP
    (`WaypointArm.measured_gain`): each action removes a fixed fraction of the remaining error, so it is
    a smooth function of the observation. The carry and the descent aim the *held cube* (not the TCP)
    over the bottom cube, so a grasp offset does not become a placement error. A cube that leaves the
    hand, or falls off, sends it back to the start. The fingers open while the held cube is still being
    lowered, `DROP` above its place (see there). Each phase change is decided on the state *before*
    acting, so a state always gets the action of the phase it shows. (The timer-driven version that
    steered the commanded pose, which leads the measured one by 2-3 cm and so stops dead while the arm
    catches up: act 5%, flow 39%, mlp 23%; see docs/BENCHMARKS.md.)
    """

    GAIN = 0.4  # fraction of the measured TCP error each action removes (see `WaypointArm.measured_gain`)
    CARRY_Z = TABLE_Z + 0.16  # m: TCP height of the carry from one cube to the other
    GRASP_Z = TABLE_Z + CUBE_HALF + 0.008  # m: TCP height of the grasp (the pads reach 2 cm below the
    # TCP: any lower and they drag on the table, so the fingers close slowly)
    GAP = 0.004  # m the held cube's underside stays above the bottom cube's top when it is let go
    GRASPED = 0.045  # m: gripper width below which the fingers hold the cube (0.04 on it, 0.08 open)
    EMPTY = 0.03  # m: gripper width below which the fingers closed on nothing
    OPENED = 0.06  # m: gripper width above which the cube is let go
    HELD = 0.03  # m: the top cube counts as in the hand while its centre is this close to the TCP
    ABOVE = 0.012  # m: TCP distance to the point above the top cube that starts the descent
    AT_GRASP = 0.008  # m: TCP distance to the grasp point that starts closing
    ALIGNED = 0.006  # m: horizontal error of the held cube over the bottom cube that ends the carry
    DROP = 0.02  # m: height of the held cube above its place (itself `GAP` above the bottom cube) at
    # which the fingers open while still lowering: episodes end at the first successful step, so opening
    # only once the cube rests there would leave one 'open' frame per demo after many near-identical
    # 'hold' frames, which a policy does not learn (it holds the placed cube forever)
    YAW_OK = 0.05  # rad: wrist heading error that allows the descent

    def __init__(self, task: Stack) -> None:
        super().__init__(task)
        self.ctl = WaypointArm(task.robot, measured_gain=self.GAIN)

    def reset(self) -> None:
        self.ctl.reset()
        self.phase = 0

    def grasp_quat(self) -> np.ndarray:
        """Wrist orientation that puts the fingers on two faces of the top cube (smallest turn)."""
        t = self.task
        return self.ctl.down_quat(t.grasp_yaw())

    def grasp_point(self) -> np.ndarray:
        t = self.task
        top = t.pose(t.top)[:3]
        return np.array([top[0], top[1], self.GRASP_Z])

    def holding(self) -> bool:
        """Observable: the fingers are closed on the top cube and it moves with the TCP."""
        t = self.task
        tcp = self.ctl.arm.tcp_pose()[0]
        return (self.EMPTY < t.robot.gripper_width() < self.GRASPED
                and float(np.linalg.norm(t.pose(t.top)[:3] - tcp)) < self.HELD)

    def place_error(self) -> np.ndarray:
        """Where the held cube must move (m, world) to rest `GAP` above the bottom cube's centre."""
        t = self.task
        top, bottom = t.pose(t.top)[:3], t.pose(t.bottom)[:3]
        return bottom + [0.0, 0.0, 2 * CUBE_HALF + self.GAP] - top

    def stacked(self) -> bool:
        """Observable: the top cube rests on the bottom cube (as far as the success test needs)."""
        err = self.place_error()
        return float(np.linalg.norm(err[:2])) < 0.015 and abs(err[2] - self.GAP) < 0.005

    def _done(self, tcp: np.ndarray, quat: np.ndarray) -> bool:
        """Whether the current state ends phase `phase`."""
        t = self.task
        C, width = self.ctl, t.robot.gripper_width()
        g = self.grasp_point()
        if self.phase == 0:  # above the cube, wrist turned, fingers open
            turned = float(np.linalg.norm(quat_error(self.grasp_quat(), quat))) < self.YAW_OK
            above = np.array([g[0], g[1], self.CARRY_Z])
            return C.dist(above) < self.ABOVE and turned and width > self.OPENED
        if self.phase == 1:  # at the grasp point
            return C.dist(g) < self.AT_GRASP
        if self.phase == 2:  # the fingers hold it
            return self.holding()
        if self.phase == 3:  # lifted
            return tcp[2] > self.CARRY_Z - 0.02
        if self.phase == 4:  # the held cube over the bottom cube
            return float(np.linalg.norm(self.place_error()[:2])) < self.ALIGNED
        if self.phase == 5:  # it hangs over the bottom cube, low enough to let go
            err = self.place_error()
            return float(np.linalg.norm(err[:2])) < self.ALIGNED and -err[2] < self.DROP
        if self.phase == 6:  # the fingers are open
            return width > self.OPENED
        return False

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        C = self.ctl
        tcp, quat = C.arm.tcp_pose()
        if ((self.phase == 2 and t.robot.gripper_width() < self.EMPTY)
                or (3 <= self.phase <= 5 and not self.holding()) or (self.phase == 7 and not self.stacked())):
            self.phase = 0  # closed on nothing, the cube slipped out, or it fell off: start over
        while self.phase < 7 and self._done(tcp, quat):  # decide on this state, then act
            self.phase += 1
        g = self.grasp_point()
        if self.phase == 0:  # above the top cube, wrist turned to its faces
            return C.action(np.array([g[0], g[1], self.CARRY_Z]), self.grasp_quat(), 0.0)
        if self.phase == 1:  # straight down around it
            return C.action(g, self.grasp_quat(), 0.0, max_lin=0.03)
        if self.phase == 2:  # close until the fingers hold it
            return C.action(g, self.grasp_quat(), 1.0)
        if self.phase == 3:  # lift straight up
            return C.action(np.array([tcp[0], tcp[1], self.CARRY_Z]), None, 1.0, max_lin=0.03)
        if self.phase == 4:  # carry the held cube over the bottom cube
            err = self.place_error()
            return C.action(np.array([tcp[0] + err[0], tcp[1] + err[1], self.CARRY_Z]), None, 1.0,
                            max_lin=0.035)
        if self.phase == 5:  # lower it until it hangs just above the bottom cube
            return C.action(tcp + self.place_error(), None, 1.0, max_lin=0.025)
        if self.phase == 6:  # let go while still lowering
            return C.action(tcp + self.place_error(), None, 0.0, max_lin=0.025)
        return C.action(np.array([tcp[0], tcp[1], self.CARRY_Z]), None, 0.0, max_lin=0.03)  # back up
