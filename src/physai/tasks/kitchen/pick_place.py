"""Kitchen pick-and-place on `arm7`: counter -> sink, cabinet -> counter, counter -> microwave.

Each reset arranges the kitchen as for the articulated tasks (the task's fixture plus distractors in
shuffled slots), opens the cabinet or microwave door for the tasks that reach inside, and puts one
item, drawn from the kinds that fit the task, at a random spot and heading. The experts read the
item's pose from the simulator:
- into the sink: a top-down grasp (wrist turned to the item's narrow side), carried high over every
  fixture and set down in the basin;
- out of the cabinet / into the microwave: a side grasp (fingers along +x, the palm centred on the
  cavity) because the cavity's ceiling leaves no room for a gripper pointing down. `arm7`'s base
  stands at counter height; it can hold the fingers level a few cm above the counter only with the
  hand rolled half a turn and only off to its right (y < -0.1; straight ahead, or unrolled, joints 2
  and 6 reach their limits), so these two tasks put their fixture in the right-hand slot.
Success needs the item at rest where it belongs and the gripper open (the robot let go of it).
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

import numpy as np

from physai.sim import geometry
from physai.tasks.base import Expert, register_task
from physai.tasks.kitchen.common import KitchenTask
from physai.tasks.kitchen.control import ArmDriver, rotate_quat
from physai.tasks.kitchen.scene import (
    CABINET_SHELF_Z,
    COUNTER_Z,
    FRONT_X,
    GEOMS,
    MW_CAVITY_Y,
    MW_CEIL_Z,
    MW_FLOOR_Z,
    OBJECTS,
    SIDE_OBJECTS,
    SINK_WALL,
    KitchenObject,
)

OPEN = 0.0
CLOSED = 1.0
RELEASED_WIDTH = 0.06
"""Gripper opening (m) above which the robot counts as having let go."""
STILL = 0.05
"""Item speed (m/s) below which it counts as at rest."""
MICROWAVE_OBJECTS = tuple(o for o in SIDE_OBJECTS if 2 * o.half_height <= 0.12)
"""Items short enough to be carried into the microwave cavity (its ceiling is `MW_CEIL_Z` up)."""
SINK_INNER = (GEOMS["sink"].depth / 2 - SINK_WALL, GEOMS["sink"].width / 2 - SINK_WALL)
"""Half extents (x, y) of the sink basin's inside."""


def grasp_yaw(kind: KitchenObject, yaw: float) -> float:
    """Wrist yaw for a top-down grasp that squeezes the item across its narrow side (the smallest turn).

    The fingers close along the item's y at yaw 0; turns by `yaw_symmetry` give the same grasp.
    """
    return geometry.grasp_yaw(yaw, kind.yaw_symmetry)


class KitchenPickPlace(KitchenTask):
    """Move one item between the counter and a fixture; `fields` name the item."""

    kinds: ClassVar[tuple[KitchenObject, ...]] = OBJECTS
    """Item kinds this task draws from."""
    door: ClassVar[str] = ""
    """Door joint opened at reset (the fixture's contents must be reachable)."""
    default_max_steps = 140

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        if self.door:
            self.kitchen.set_joint(self.door, rng.uniform(1.75, 1.95))
        self.obj = self.kinds[int(rng.integers(len(self.kinds)))]
        self.place_item(rng)
        self.fields = {"object": self.obj.name}

    def place_item(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def q(self) -> float:
        return self.kitchen.joint(self.door) if self.door else 0.0

    def item_pos(self) -> np.ndarray:
        return self.kitchen.object_pose(self.obj)[:3]

    def released(self) -> bool:
        return self.robot.gripper_width() > RELEASED_WIDTH

    def at_rest(self) -> bool:
        return self.kitchen.object_speed(self.obj) < STILL

    def state_names(self) -> list[str]:
        return ([f"{self.fixture}.pos.{a}" for a in "xyz"] + [f"item.pos.{a}" for a in "xyz"]
                + [f"item.quat.{a}" for a in "wxyz"] + ["item.kind"])

    def state(self) -> np.ndarray:
        kind = float(OBJECTS.index(self.obj))
        return np.concatenate([self.kitchen.origin[self.fixture], self.kitchen.object_pose(self.obj),
                               [kind]]).astype(np.float32)


# ---------------------------------------------------------------------------------------------- sink
@register_task("kitchen/pick-counter-to-sink")
class CounterToSink(KitchenPickPlace):
    """Pick the item off the counter and put it down inside the sink basin."""

    fixture = "sink"
    instructions = (
        "put the {object} in the sink",
        "pick up the {object} and place it in the sink",
        "move the {object} from the counter to the sink",
        "drop the {object} into the sink",
    )

    def place_item(self, rng: np.random.Generator) -> None:
        sink_y = self.kitchen.origin["sink"][1]
        for _ in range(100):  # on the counter strip, not right in front of the sink
            xy = np.array([rng.uniform(0.29, 0.33), rng.uniform(-0.35, 0.35)])  # the palm clears the handles
            if abs(xy[1] - sink_y) > 0.12:
                break
        self.kitchen.place_object(self.obj, xy, COUNTER_Z, rng.uniform(-np.pi, np.pi))

    def success(self) -> bool:
        p = self.item_pos()
        c = self.kitchen.world("sink", np.array([GEOMS["sink"].depth / 2, 0.0, 0.0]))
        inside = bool(np.all(np.abs(p[:2] - c[:2]) < SINK_INNER))
        below_rim = p[2] < COUNTER_Z + GEOMS["sink"].height
        return inside and below_rim and self.at_rest() and self.released()

    def make_expert(self) -> Expert:
        return SinkExpert(self)


class SinkExpert(Expert[CounterToSink]):
    """Top-down grasp, lift above the rims, carry over the basin centre, lower, open, back off up."""

    def __init__(self, task: CounterToSink) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)

    def reset(self) -> None:
        self.drv.reset()
        self.phase, self.wait = 0, 0
        t = self.task
        pose = t.kitchen.object_pose(t.obj)
        self.quat = self.drv.down(grasp_yaw(t.obj, geometry.quat_yaw(pose[3:])))
        self.carry_quat = self.drv.down(0.0)  # palm across the basin, clear of the faucet lever

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        drv, k = self.drv, t.obj
        obj = t.item_pos()
        gh = max(k.half_height, 2 * k.half_height - 0.04, 0.02)  # the palm stays above the item
        grasp = np.array([obj[0], obj[1], COUNTER_Z + gh])
        carry_z = COUNTER_Z + GEOMS["cabinet"].height + 0.03 + gh  # the item clears every fixture
        over = t.kitchen.world("sink", np.array([0.065, 0.0, 0.0]))  # front half: the palm clears the lever
        if self.phase == 0:  # high above the item (clear of the handles), then straight down
            tgt = np.array([grasp[0], grasp[1], max(carry_z, grasp[2] + 0.1)])
            a = drv.action(tgt, self.quat, OPEN)
            if drv.dist(tgt) < 0.015 and drv.rot_err(self.quat) < 0.08:
                self.phase = 1
        elif self.phase == 1:  # down around it
            a = drv.action(grasp, self.quat, OPEN, max_lin=0.02)
            self.wait += 1
            if drv.dist(grasp) < 0.008 or (drv.dist(grasp) < 0.02 and self.wait > 20):
                self.phase, self.wait = 2, 0
        elif self.phase == 2:  # close
            a = drv.action(grasp, self.quat, CLOSED)
            self.wait += 1
            if self.wait >= 8:
                self.phase = 3
        elif self.phase == 3:  # lift
            tgt = np.array([drv.pos()[0], drv.pos()[1], carry_z])
            a = drv.action(tgt, self.quat, CLOSED, max_lin=0.025)
            if drv.pos()[2] > carry_z - 0.015:
                self.phase = 4
        elif self.phase in (4, 5):  # over the basin, then down into it
            z = carry_z if self.phase == 4 else COUNTER_Z + SINK_WALL + gh + 0.02
            tgt = np.array([over[0], over[1], z])
            a = drv.action(tgt, self.carry_quat, CLOSED, max_lin=0.03 if self.phase == 4 else 0.02)
            if drv.dist(tgt) < (0.02 if self.phase == 4 else 0.01):
                self.phase, self.wait = self.phase + 1, 0
        elif self.phase == 6:  # open
            a = drv.action(drv.arm.commanded_tcp()[0], self.carry_quat, OPEN)
            self.wait += 1
            if self.wait >= 6:
                self.phase = 7
        else:  # back off up
            a = drv.action(np.array([over[0] - 0.05, over[1], carry_z + 0.05]), self.carry_quat, OPEN)
        return a


# ---------------------------------------------------------------------------------------------- side grasps
PT = TypeVar("PT", bound=KitchenPickPlace)


class SideGraspExpert(Expert[PT]):
    """Pick an item with the fingers pointing +x, carry it level, set it down, back out along -x.

    Subclasses give the pick-up and set-down points (item centre at rest) and how high to carry.
    """

    approach: ClassVar[float] = 0.12
    """How far in front (-x) of the item the hand lines up before moving in (m)."""

    def __init__(self, task: PT) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)

    def reset(self) -> None:
        self.drv.reset()
        # fingers along +x, rolled half a turn about x: the wrist then stays above the flange, so the
        # hand can work a few cm above the counter (unrolled, joints 2 and 6 hit their limits there)
        self.quat = rotate_quat(np.array([1.0, 0.0, 0.0]), np.pi, self.drv.forward())
        self.phase, self.wait = 0, 0

    def grasp_h(self) -> float:
        """Grasp height above the item's base: its middle, but clear of the surface below."""
        k: KitchenObject = self.task.obj
        return max(k.half_height, 0.035)

    def waypoints(self, obj: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(TCP at the grasp, TCP over the set-down spot, carry lift above the set-down surface)."""
        raise NotImplementedError

    def act(self, obs: dict) -> np.ndarray:  # noqa: C901  (too complex; split later, issue 19)
        t = self.task
        drv = self.drv
        obj = t.item_pos()
        grasp, place, lift = self.waypoints(obj)
        front = grasp - [self.approach, 0, 0]
        if self.phase == 0:  # turn the hand in the open, in front of the fixtures, level with the grasp
            tgt = np.array([min(front[0], self.lane_x()), front[1], front[2]])
            a = drv.action(tgt, self.quat, OPEN)
            self.wait += 1
            if (drv.dist(tgt) < 0.02 and drv.rot_err(self.quat) < 0.1) or self.wait > 40:
                self.phase = 1
        elif self.phase == 1:
            a = drv.action(front, self.quat, OPEN, max_lin=0.02)
            if drv.dist(front) < 0.015:
                self.phase = 2
        elif self.phase == 2:  # in
            tgt = grasp + [0.008, 0, 0]
            a = drv.action(tgt, self.quat, OPEN, max_lin=0.02)
            err = np.abs(drv.pos() - tgt)  # low down the arm sags a little: be lenient in z
            if np.all(err < [0.012, 0.012, 0.022]):
                self.phase, self.wait = 3, 0
        elif self.phase == 3:  # close
            a = drv.action(grasp + [0.008, 0, 0], self.quat, CLOSED)
            self.wait += 1
            if self.wait >= 8:
                self.phase = 4
        elif self.phase == 4:  # lift a little
            self.carry_z = grasp[2] + lift
            tgt = np.array([drv.pos()[0], drv.pos()[1], self.carry_z])
            a = drv.action(tgt, self.quat, CLOSED, max_lin=0.015)
            if drv.pos()[2] > self.carry_z - 0.008:
                self.phase = 5
        elif self.phase in (5, 6, 7):  # out along -x, over to the spot, in along +x
            plan = self.route(drv.pos(), place, self.carry_z)
            tgt = plan[self.phase - 5]
            a = drv.action(tgt, self.quat, CLOSED, max_lin=0.025)
            if drv.dist(tgt) < 0.012:
                self.phase += 1
        elif self.phase == 8:  # down onto the surface
            a = drv.action(place + [0, 0, 0.004], self.quat, CLOSED, max_lin=0.01)
            if drv.dist(place + [0, 0, 0.004]) < 0.008:
                self.phase, self.wait = 9, 0
        elif self.phase == 9:  # open
            a = drv.action(drv.arm.commanded_tcp()[0], self.quat, OPEN)
            self.wait += 1
            if self.wait >= 6:
                self.phase = 10
                self.retreat = drv.pos() - [0.16, 0, 0]
        elif self.phase == 10:  # straight back out
            a = drv.action(self.retreat, self.quat, OPEN, max_lin=0.02)
            if drv.dist(self.retreat) < 0.015:
                self.phase = 11
        else:
            a = drv.action(self.retreat + [0, 0, 0.08], self.quat, OPEN, max_lin=0.02)
        return a

    def route(self, here: np.ndarray, place: np.ndarray, carry_z: float) -> list[np.ndarray]:
        """Three waypoints at carry height: back out to the lane, along y, forward over the spot."""
        lane_x = min(self.lane_x(), place[0])
        return [np.array([lane_x, here[1] if self.phase == 5 else place[1], carry_z]),
                np.array([lane_x, place[1], carry_z]),
                np.array([place[0], place[1], carry_z])]

    def lane_x(self) -> float:
        """x of the lane in front of the fixtures where the hand travels sideways."""
        return FRONT_X - 0.14


# ---------------------------------------------------------------------------------------------- cabinet
@register_task("kitchen/pick-cabinet-to-counter")
class CabinetToCounter(KitchenPickPlace):
    """Take the item off the open cupboard's floor and set it down on the counter in front."""

    fixture = "cabinet"
    door = "cabinet_door"
    kinds = SIDE_OBJECTS
    target_slots = (0,)  # the side grasp needs the cupboard off to the side (straight ahead the wrist
    # cannot point forward), and in the left slot the open door would stand in the arm's path
    instructions = (
        "take the {object} out of the cabinet and put it on the counter",
        "move the {object} from the cupboard to the counter",
        "get the {object} out of the cabinet",
        "pick the {object} from the cabinet and place it on the counter",
    )

    def place_item(self, rng: np.random.Generator) -> None:
        # the palm (18 cm wide) fits between the cupboard walls (22 cm apart) only near the middle
        local = np.array([rng.uniform(0.1, 0.13), rng.uniform(-0.004, 0.004)])
        xy = self.kitchen.world("cabinet", np.append(local, 0.0))[:2]
        sym = self.obj.yaw_symmetry
        turns = sym * int(rng.integers(4)) + rng.uniform(-0.15, 0.15)  # narrow side across the fingers
        yaw = rng.uniform(-np.pi, np.pi) if sym == 0.0 else turns
        self.kitchen.place_object(self.obj, xy, COUNTER_Z + CABINET_SHELF_Z, yaw)
        cab_y = self.kitchen.origin["cabinet"][1]
        self.spot = np.array([rng.uniform(0.3, 0.36), cab_y + rng.uniform(-0.06, 0.06)])

    def success(self) -> bool:
        p = self.item_pos()
        on_counter = p[2] < COUNTER_Z + self.obj.half_height + 0.01 and p[0] < FRONT_X - 0.03
        return on_counter and self.at_rest() and self.released()

    def make_expert(self) -> Expert:
        return CabinetExpert(self)


class CabinetExpert(SideGraspExpert[CabinetToCounter]):
    def waypoints(self, obj: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        t = self.task
        base = COUNTER_Z + CABINET_SHELF_Z
        grasp = np.array([obj[0], t.kitchen.origin["cabinet"][1], base + self.grasp_h()])  # palm centred
        place = np.array([t.spot[0], t.spot[1], COUNTER_Z + self.grasp_h()])
        return grasp, place, 0.025

    def route(self, here: np.ndarray, place: np.ndarray, carry_z: float) -> list[np.ndarray]:
        out = np.array([place[0], here[1] if self.phase == 5 else place[1], carry_z])
        return [out, np.array([place[0], place[1], carry_z]), np.array([place[0], place[1], carry_z])]


# ---------------------------------------------------------------------------------------------- microwave
@register_task("kitchen/pick-counter-to-microwave")
class CounterToMicrowave(KitchenPickPlace):
    """Pick the item off the counter and set it down inside the open microwave."""

    fixture = "microwave"
    door = "microwave_door"
    kinds = MICROWAVE_OBJECTS
    target_slots = (0,)  # the rolled side grasp reaches low only off to the right (see SideGraspExpert)
    instructions = (
        "put the {object} in the microwave",
        "place the {object} inside the microwave",
        "move the {object} from the counter into the microwave",
        "load the {object} into the open microwave",
    )

    def place_item(self, rng: np.random.Generator) -> None:
        # on the counter right in front of the cavity (the open door stands off to the left)
        lo, hi = MW_CAVITY_Y
        mw_y = self.kitchen.origin["microwave"][1] + (lo + hi) / 2
        xy = np.array([rng.uniform(0.28, 0.32), mw_y + rng.uniform(-0.01, 0.01)])
        sym = self.obj.yaw_symmetry
        turns = sym * int(rng.integers(4)) + rng.uniform(-0.15, 0.15)  # narrow side across the fingers
        yaw = rng.uniform(-np.pi, np.pi) if sym == 0.0 else turns
        self.kitchen.place_object(self.obj, xy, COUNTER_Z, yaw)

    def success(self) -> bool:
        p = self.item_pos()
        lo, hi = MW_CAVITY_Y
        local = p - self.kitchen.origin["microwave"]
        inside = 0.0 < local[0] < GEOMS["microwave"].depth and lo < local[1] < hi
        on_floor = MW_FLOOR_Z < local[2] < MW_CEIL_Z
        return inside and on_floor and self.at_rest() and self.released()

    def make_expert(self) -> Expert:
        return MicrowaveExpert(self)


class MicrowaveExpert(SideGraspExpert[CounterToMicrowave]):
    def waypoints(self, obj: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        t = self.task
        lo, hi = MW_CAVITY_Y
        mid_y = t.kitchen.origin["microwave"][1] + (lo + hi) / 2
        grasp = np.array([obj[0], mid_y, COUNTER_Z + self.grasp_h()])  # the palm centred on the cavity
        spot = t.kitchen.world("microwave", np.array([0.1, (lo + hi) / 2, MW_FLOOR_Z]))
        place = spot + [0, 0, self.grasp_h()]
        return grasp, place, MW_FLOOR_Z + 0.018
