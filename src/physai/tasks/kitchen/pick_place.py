"""Kitchen pick-and-place on `arm7`: counter -> sink.

Each reset arranges the kitchen as for the articulated tasks (the task's fixture plus distractors in
shuffled slots) and puts one item, drawn from the kinds that fit the task, at a random spot and
heading. The expert reads the item's pose from the simulator: a top-down grasp (wrist turned to the
item's narrow side), carried high over every fixture, set down in the basin.
Success needs the item at rest where it belongs and the gripper open (the robot let go of it).

Not here (yet): cabinet -> counter and counter -> microwave. Their cavities need a side grasp (the
cavity ceiling blocks a gripper pointing down), and `arm7`, whose base stands at counter height,
cannot point its fingers along +x 5-10 cm above the counter: joints 2 and 6 run into their limits
(measured: > 5 cm / 0.2 rad residual error at z = counter + 0.1 m, fine at counter + 0.2 m).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from physai.tasks.base import Expert, register_task
from physai.tasks.kitchen.articulated import KitchenTask
from physai.tasks.kitchen.control import ArmDriver
from physai.tasks.kitchen.scene import (
    COUNTER_Z,
    GEOMS,
    OBJECTS,
    SINK_WALL,
    KitchenObject,
)

OPEN = 0.0
CLOSED = 1.0
RELEASED_WIDTH = 0.06
"""Gripper opening (m) above which the robot counts as having let go."""
STILL = 0.05
"""Item speed (m/s) below which it counts as at rest."""
SINK_INNER = (GEOMS["sink"].depth / 2 - SINK_WALL, GEOMS["sink"].width / 2 - SINK_WALL)
"""Half extents (x, y) of the sink basin's inside."""


def grasp_yaw(kind: KitchenObject, yaw: float) -> float:
    """Wrist yaw for a top-down grasp that squeezes the item across its narrow side (the smallest turn).

    The fingers close along the item's y at yaw 0; turns by `yaw_symmetry` give the same grasp.
    """
    sym = kind.yaw_symmetry
    if sym == 0.0:
        return 0.0
    return float((yaw + sym / 2) % sym - sym / 2)


def _yaw_of(quat: np.ndarray) -> float:
    w, x, y, z = quat
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


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
        return self.robot.gripper_width() > RELEASED_WIDTH  # type: ignore[attr-defined]

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


class SinkExpert(Expert):
    """Top-down grasp, lift above the rims, carry over the basin centre, lower, open, back off up."""

    def __init__(self, task: CounterToSink) -> None:
        super().__init__(task)
        self.drv = ArmDriver(task.robot)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.drv.reset()
        self.phase, self.wait = 0, 0
        t: CounterToSink = self.task  # type: ignore[assignment]
        pose = t.kitchen.object_pose(t.obj)
        self.quat = self.drv.down(grasp_yaw(t.obj, _yaw_of(pose[3:])))
        self.carry_quat = self.drv.down(0.0)  # palm across the basin, clear of the faucet lever

    def act(self, obs: dict) -> np.ndarray:
        t: CounterToSink = self.task  # type: ignore[assignment]
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
