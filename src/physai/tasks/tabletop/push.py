"""`tabletop/push`: push the named object into the marked zone (without picking it up)."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from physai.sim.scene import add_marker, set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.tabletop.common import (
    OBJECTS,
    TABLE_Z,
    WaypointArm,
    build_table_and_objects,
    object_joint,
    park_all,
    quat_yaw,
    sample_positions,
)

# low objects only: the tall cylinder and block tip over under a flat pusher
PUSHABLE = tuple(k for k in OBJECTS if k.name in ("red cube", "yellow puck"))
ZONE_HALF = 0.05
PUSH_Z = TABLE_Z + 0.03  # TCP height while pushing: pad tips ~1 cm above the table (no table drag)


@dataclass
class PushConfig(TaskConfig):
    """Options of tabletop/push."""

    min_distance: float = 0.12
    """Smallest initial distance (m) between the object and the zone centre."""
    max_distance: float = 0.22
    """Largest initial distance (m) between the object and the zone centre."""


@register_task("tabletop/push")
class Push(Task):
    """One object (cube or puck) lies on the table; push it until it rests inside the zone.

    Success: the object's centre is inside the square zone and the object is (nearly) at rest.
    """

    instructions = (
        "push the {object} into the {zone} zone",
        "slide the {object} onto the {zone} square",
        "push the {object} to the {zone} target area",
        "move the {object} into the {zone} zone without picking it up",
    )
    default_max_steps = 150
    config_cls = PushConfig

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table_and_objects(spec, PUSHABLE)
        add_marker(spec, "zone", (ZONE_HALF, ZONE_HALF), (0.2, 0.75, 0.9, 0.6),
                   pos=(0.5, 0.0, TABLE_Z + 0.001))

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self.zone_mocap = model.body("zone").mocapid[0]
        self._dof = {k.name: int(model.jnt_dofadr[model.joint(object_joint(k)).id]) for k in PUSHABLE}
        self._qadr = {k.name: int(model.jnt_qposadr[model.joint(object_joint(k)).id]) for k in PUSHABLE}
        self.target = PUSHABLE[0]

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        park_all(m, d, PUSHABLE)
        self.target = PUSHABLE[int(rng.integers(len(PUSHABLE)))]
        for _ in range(1000):
            zone, obj = sample_positions(rng, 2, min_dist=self.config.min_distance)
            if np.linalg.norm(zone - obj) <= self.config.max_distance:
                break
        d.mocap_pos[self.zone_mocap] = [zone[0], zone[1], TABLE_Z + 0.001]
        set_free_pose(m, d, object_joint(self.target),
                      np.array([obj[0], obj[1], TABLE_Z + self.target.half_height]),
                      yaw=rng.uniform(-np.pi, np.pi))

    def instruction_fields(self) -> dict[str, str]:
        return {"object": self.target.name, "zone": "blue"}

    def zone_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self.zone_mocap].copy()

    def object_pose(self) -> np.ndarray:
        a = self._qadr[self.target.name]
        return self.data.qpos[a:a + 7].copy()

    def in_zone(self, pos: np.ndarray, margin: float = 0.0) -> bool:
        zone = self.data.mocap_pos[self.zone_mocap]
        lim = ZONE_HALF - margin
        return abs(pos[0] - zone[0]) < lim and abs(pos[1] - zone[1]) < lim

    def success(self) -> bool:  # runs every control step: plain float arithmetic, no temporaries
        d = self.data
        a = self._qadr[self.target.name]
        pos = d.qpos[a:a + 3]
        if not self.in_zone(pos) or abs(pos[2] - TABLE_Z - self.target.half_height) >= 0.01:
            return False
        dof = self._dof[self.target.name]
        vx, vy, vz = d.qvel[dof:dof + 3]
        return vx * vx + vy * vy + vz * vz < 0.05 ** 2

    def state_names(self) -> list[str]:
        return [f"object.pos.{a}" for a in "xyz"] + [f"object.quat.{a}" for a in "wxyz"] + \
               [f"zone.pos.{a}" for a in "xyz"]

    def state(self) -> np.ndarray:
        return np.concatenate([self.object_pose(), self.zone_pos()]).astype(np.float32)

    def make_expert(self) -> Expert:
        return PushExpert(self)


class PushExpert(Expert):
    """Fingers part-open across the push line behind the object, then push it along the line to the zone.

    The pusher is the two finger pads side by side, 3.2 cm apart (`GRIP`), their 3.6 cm long faces along
    the push line: the object's back edge settles into the gap between the two prongs, which keeps it
    centred (a flat pusher lets a puck roll off its face; this one holds pushes 3 cm off the line,
    where the flat broad pad face loses the object from 2.5 cm).

    Written to be imitated from the state observation, like `PackMouseExpert`: the action is a function
    of the current state alone (TCP, object and zone poses, wrist heading) -- no phase counter, no
    remembered retreat point -- and it steers the *measured* TCP (`WaypointArm.measured_gain`), so a
    policy that sees the same state can learn the same action. Every step it picks one of three modes
    from that state:

    - done (`object_placed`): the object is near the zone centre -> lift straight up, clear of it;
    - push (`in_push_pose`): the TCP is low, behind the object near the push line -> advance along the
      line through the object towards the zone (slower the further off the line), re-centring on it;
    - otherwise reach the point behind the object down a funnel (`_funnel`: the height above that point
      shrinks with the horizontal distance to it), so it lines up while high and descends as it closes
      in; when the object slipped off the pusher it rises first (`_lift_first`) and comes round again.
    (The phase-memory version that steered the commanded pose: see docs/BENCHMARKS.md.)
    """

    GAIN = 0.45  # fraction of the measured TCP error each reaching action removes (`measured_gain`):
    # low enough that the arm, which lags its command, settles on the funnel without overshoot (0.8: 2.7 cm)
    PUSH_GAIN = 0.8  # the same while pushing: firm re-centring behind the object
    GRIP = 0.6  # gripper closure while pushing (0 open, 1 closed): the pads 3.2 cm apart
    STANDOFF = 0.035  # m between the object's edge and the TCP at the start of a push
    LATERAL = 0.03  # m: sideways TCP offset from the push line beyond which the push is lost
    ALIGN = 0.025  # m: sideways offset at which the push stops advancing (only re-centres)
    LOW = 0.012  # m: TCP at most this far above PUSH_Z counts as low enough to push
    DONE = 0.012  # m: object centre this close to the zone centre -> stop pushing
    SLOPE = 3.0  # funnel: m of height above the point behind the object per m of horizontal distance
    TOP = 0.3  # m: the funnel's highest point above PUSH_Z
    SPEED = 0.008  # m per control step while pushing (the push target leads the TCP by SPEED / PUSH_GAIN)
    TURN_BIAS = 0.3  # rad: of the two equivalent wrist headings take the one nearer the wrist's heading
    # plus this, so from home a push along +-y (the commonest) turns the same way every time

    def __init__(self, task: Push) -> None:
        super().__init__(task)
        self.ctl = WaypointArm(task.robot, measured_gain=self.GAIN)
        self.push_ctl = WaypointArm(task.robot, measured_gain=self.PUSH_GAIN)

    def reset(self) -> None:
        self.ctl.reset()
        self.push_ctl.reset()
        self.home_yaw = quat_yaw(self.ctl.home_quat)

    # ------------------------------------------------------------ what the state shows
    def _line(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Object position, unit push direction (object -> zone centre, xy) and the distance to go."""
        t: Push = self.task  # type: ignore[assignment]
        obj = t.object_pose()[:3]
        to_zone = t.zone_pos()[:2] - obj[:2]
        dist = float(np.linalg.norm(to_zone))
        return obj, to_zone / max(dist, 1e-6), dist

    def _radius(self) -> float:
        k = self.task.target  # type: ignore[attr-defined]
        return max(k.size[0], k.size[1] if len(k.size) > 2 else 0.0)

    def tcp_on_line(self) -> tuple[float, float]:
        """The TCP's offset from the object along the push line (negative = behind) and across it."""
        obj, d, _ = self._line()
        rel = self.ctl.arm.tcp_pose()[0][:2] - obj[:2]
        return float(rel @ d), float(abs(rel[0] * d[1] - rel[1] * d[0]))

    def object_placed(self) -> bool:
        """The object's centre is near the zone's centre: stop pushing."""
        return self._line()[2] < self.DONE

    def in_push_pose(self) -> bool:
        """The TCP is low, behind the object (between the start point and the object's edge) and near the
        push line: pushing moves the object towards the zone."""
        r = self._radius()
        along, lateral = self.tcp_on_line()
        low = self.ctl.tcp_z() < PUSH_Z + self.LOW
        return low and lateral < self.LATERAL and -(r + self.STANDOFF + 0.01) < along < -r * 0.5

    def _funnel(self, dest: np.ndarray, tcp: np.ndarray) -> np.ndarray:
        """`dest` raised by SLOPE times the TCP's horizontal distance from it (at most TOP)."""
        h = float(np.hypot(*(dest[:2] - tcp[:2])))
        return dest + [0.0, 0.0, min(self.TOP, self.SLOPE * h)]

    @staticmethod
    def _lift_first(goal: np.ndarray, tcp: np.ndarray) -> np.ndarray:
        """`goal` with the horizontal move held back while the TCP is well below it (rise, then move)."""
        below = goal[2] - tcp[2]
        f = float(np.clip(1.0 - (below - 0.01) / 0.04, 0.0, 1.0))
        out = goal.copy()
        out[:2] = tcp[:2] + f * (goal[:2] - tcp[:2])
        return out

    def _wrist(self, d: np.ndarray) -> np.ndarray:
        """Pointing down with the closing axis across the push line (at home it is world -y, so the
        heading is the push direction's); the pads are symmetric, so of the two such headings the one
        nearer the wrist's current heading (+ TURN_BIAS): the wrist never turns more than ~90 degrees."""
        want = float(np.arctan2(d[1], d[0]))
        hand = quat_yaw(self.ctl.arm.tcp_pose()[1]) - self.home_yaw
        return self.ctl.down_quat(want + np.pi * np.round((hand + self.TURN_BIAS - want) / np.pi))

    def act(self, obs: dict) -> np.ndarray:
        obj, d, dist = self._line()
        q = self._wrist(d)
        tcp = self.ctl.arm.tcp_pose()[0]
        if self.object_placed():  # done: straight up, clear of the object (or hold where it is, if higher)
            up = np.array([tcp[0], tcp[1], max(float(tcp[2]), PUSH_Z + 0.1)])
            return self.ctl.action(up, q, self.GRIP, max_lin=0.02)
        if self.in_push_pose():  # advance along the line through the object towards the zone
            along, lateral = self.tcp_on_line()
            # forward only as far as the pusher is centred behind the object; always back onto the line
            step = min(self.SPEED / self.PUSH_GAIN, max(dist, 0.004)) * max(0.0, 1.0 - lateral / self.ALIGN)
            goal = obj[:2] + d * (along + step)
            return self.push_ctl.action(np.array([goal[0], goal[1], PUSH_Z]), q, self.GRIP, max_lin=0.03)
        behind = obj[:2] - d * (self._radius() + self.STANDOFF)
        goal = self._lift_first(self._funnel(np.array([behind[0], behind[1], PUSH_Z]), tcp), tcp)
        return self.ctl.action(goal, q, self.GRIP)
