"""`humanoid/pick-<item>-<source>-to-<dest>`: pick an item off one receptacle and place it in another.

One task class, registered once per (item, source, destination) triple in `PICK_PLACE_TASKS`. A reset
picks the working side (left or right half of the table), puts the source and the destination
receptacles there at random, non-overlapping spots and the item on the source with a random offset
and heading. The expert uses the hand on that side.
"""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.humanoid import HumanoidUpper
from physai.sim.scene import set_free_pose
from physai.tasks.base import Expert, Task, TaskConfig, register_task
from physai.tasks.humanoid.common import (
    ITEMS,
    RECEPTACLES,
    TABLE_Z,
    WORK_X,
    WORK_Y,
    HandDriver,
    Item,
    Receptacle,
    build_table,
    inside,
    item_joint,
    park_items,
    rec_body,
    side_grasp_and_lift,
)

PICK_PLACE_TASKS: tuple[tuple[str, str, str], ...] = (
    ("cup", "plate", "tray"),
    ("can", "tray", "basket"),
    ("bottle", "tray", "cutting board"),
    ("apple", "plate", "bowl"),
    ("orange", "cutting board", "basket"),
    ("cup", "cutting board", "plate"),
    ("can", "plate", "bowl"),
)
"""(item, source, destination) of every registered pick-and-place task."""


def _extent(rec: Receptacle) -> float:
    return max(rec.inner) + 0.015


def sample_layout(rng: np.random.Generator, src: Receptacle,
                  dst: Receptacle) -> tuple[str, np.ndarray, np.ndarray]:
    """(side, source xy, destination xy): both on one half of the table, clear of each other."""
    side = "left" if rng.random() < 0.5 else "right"
    sign = 1.0 if side == "left" else -1.0
    gap = _extent(src) + _extent(dst) + 0.01
    for _ in range(1000):
        a = np.array([rng.uniform(*WORK_X), sign * rng.uniform(*WORK_Y)])
        b = np.array([rng.uniform(*WORK_X), sign * rng.uniform(*WORK_Y)])
        if np.linalg.norm(a - b) >= gap:
            return side, a, b
    raise RuntimeError(f"cannot fit {src.name} and {dst.name} on one half of the table; widen WORK_Y")


class HumanoidPickPlace(Task):
    """Move `item` from the `source` receptacle into (onto) the `dest` receptacle."""

    robot: HumanoidUpper

    embodiment_name = "humanoid-upper"
    instructions = (
        "pick the {item} from the {source} and place it {prep} the {dest}",
        "move the {item} from the {source} to the {dest}",
        "take the {item} off the {source} and put it {prep} the {dest}",
        "put the {item} that is on the {source} {prep} the {dest}",
    )
    default_max_steps = 150
    item_name: str = "cup"
    source_name: str = "plate"
    dest_name: str = "tray"

    def __init__(self, config: TaskConfig | None = None) -> None:
        super().__init__(config)
        self.item: Item = ITEMS[self.item_name]
        self.source: Receptacle = RECEPTACLES[self.source_name]
        self.dest: Receptacle = RECEPTACLES[self.dest_name]
        self.side = "left"

    def build(self, spec: mujoco.MjSpec) -> None:
        build_table(spec)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        super().bind(model, data)
        self._src_mocap = model.body(rec_body(self.source)).mocapid[0]
        self._dst_mocap = model.body(rec_body(self.dest)).mocapid[0]
        jid = model.joint(item_joint(self.item)).id
        self._dof = int(model.jnt_dofadr[jid])
        self._qadr = int(model.jnt_qposadr[jid])
        self._state = np.empty(9, np.float32)

    def reset(self, rng: np.random.Generator) -> None:
        m, d = self.model, self.data
        park_items(m, d)
        self.side, a, b = sample_layout(rng, self.source, self.dest)
        d.mocap_pos[self._src_mocap] = [a[0], a[1], TABLE_Z]
        d.mocap_pos[self._dst_mocap] = [b[0], b[1], TABLE_Z]
        jitter = rng.uniform(-0.015, 0.015, size=2)
        z = TABLE_Z + self.source.floor + self.item.half_height
        pos = np.array([a[0] + jitter[0], a[1] + jitter[1], z])
        set_free_pose(m, d, item_joint(self.item), pos, yaw=rng.uniform(-np.pi, np.pi))

    def instruction_fields(self) -> dict[str, str]:
        prep = "on" if self.dest.wall == 0.0 else "in"
        return {"item": self.item.name, "source": self.source.name, "dest": self.dest.name, "prep": prep}

    def source_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self._src_mocap].copy()

    def dest_pos(self) -> np.ndarray:
        return self.data.mocap_pos[self._dst_mocap].copy()

    def item_pos(self) -> np.ndarray:
        return self.data.qpos[self._qadr:self._qadr + 3].copy()

    def success(self) -> bool:
        # cheapest tests first, scalar math, no temporaries (runs every control step)
        d, a, v = self.data, self._qadr, self._dof
        pos = d.qpos[a:a + 3]
        if not pos[2] < TABLE_Z + self.dest.floor + self.item.half_height + 0.03:  # resting
            return False
        vx, vy, vz = d.qvel[v:v + 3].tolist()
        if not (vx * vx + vy * vy + vz * vz) ** 0.5 < 0.05:  # still
            return False
        if not (self.robot.gripper_width("left") > 0.06 and self.robot.gripper_width("right") > 0.06):
            return False  # not released
        return inside(self.dest, d.mocap_pos[self._dst_mocap], pos)

    def state_names(self) -> list[str]:
        return ([f"item.pos.{a}" for a in "xyz"] + [f"source.pos.{a}" for a in "xyz"]
                + [f"dest.pos.{a}" for a in "xyz"])

    def state(self) -> np.ndarray:
        d, out, a = self.data, self._state, self._qadr
        out[0:3] = d.qpos[a:a + 3]
        out[3:6] = d.mocap_pos[self._src_mocap]
        out[6:9] = d.mocap_pos[self._dst_mocap]
        return out.copy()

    def make_expert(self) -> Expert:
        return PickPlaceExpert(self)


class PickPlaceExpert(Expert[HumanoidPickPlace]):
    """Side grasp with the hand on the layout's side: behind the item, in, close, lift, over, lower, open."""

    def __init__(self, task: HumanoidPickPlace) -> None:
        super().__init__(task)
        self.drv = HandDriver(task.robot)

    def reset(self) -> None:
        t = self.task
        self.drv.side = t.side
        self.phase, self.wait = 0, 0
        self.offset = np.zeros(3)

    def act(self, obs: dict) -> np.ndarray:
        t = self.task
        it, drv = t.item, self.drv
        obj = t.item_pos()
        grasp_z = TABLE_Z + t.source.floor + it.grasp_h
        carry_z = TABLE_Z + max(t.dest.wall, 0.04) + 0.03 + it.grasp_h
        behind = np.array([obj[0] - 0.095, obj[1], grasp_z])
        if self.phase < 5:  # behind the item, down, in, close, lift (shared with the other experts)
            clearance = max(TABLE_Z + t.source.floor + 2 * it.half_height + 0.04 - grasp_z, 0.05)
            a = side_grasp_and_lift(self, drv, obj, behind, grasp_z, carry_z, clearance)
        elif self.phase in (5, 6):  # over the destination, then down to the release height
            dst = t.dest_pos()
            release_z = TABLE_Z + max(t.dest.floor + 0.006, t.dest.wall + 0.012) + it.grasp_h
            z = carry_z if self.phase == 5 else release_z
            tgt = np.array([dst[0], dst[1], z]) + self.offset * [1, 1, 0]
            a = drv.action(tgt, 1.0, max_lin=0.025 if self.phase == 5 else 0.015)
            if drv.dist(tgt) < (0.015 if self.phase == 5 else 0.008):
                self.phase, self.wait = self.phase + 1, 0
        elif self.phase == 7:  # open
            a = drv.action(drv.robot.arms[drv.side].commanded_tcp()[0], 0.0)
            self.wait += 1
            if self.wait >= 5:
                self.phase = 8
                self.retreat = drv.pos() + [-0.1, 0, 0.04]
        else:  # back off
            a = drv.action(self.retreat, 0.0)
        return a


def _register(item: str, source: str, dest: str) -> type[HumanoidPickPlace]:
    name = f"humanoid/pick-{item}-{source.replace(' ', '-')}-to-{dest.replace(' ', '-')}"
    cls = type(f"HumanoidPickPlace_{item}_{source.replace(' ', '_')}_{dest}", (HumanoidPickPlace,),
               {"item_name": item, "source_name": source, "dest_name": dest, "__module__": __name__,
                "__doc__": f"Pick the {item} from the {source} and place it in/on the {dest}."})
    return register_task(name)(cls)


for _item, _src, _dst in PICK_PLACE_TASKS:
    _register(_item, _src, _dst)
