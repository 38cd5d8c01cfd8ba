"""Shared pieces of the bimanual suite: the shared table, contact queries and a two-arm waypoint driver."""

from __future__ import annotations

import mujoco
import numpy as np

from physai.embodiments.arm7 import Arm7
from physai.embodiments.bimanual import TABLE_HEIGHT, Bimanual
from physai.sim.scene import add_table
from physai.tasks.tabletop.common import WaypointArm

TABLE_Z = TABLE_HEIGHT
TABLE_CENTER = (0.2, 0.0)
TABLE_HALF = (0.45, 0.75)


def build_table(spec: mujoco.MjSpec) -> None:
    """The table both arm bases stand on (top at `TABLE_Z`)."""
    add_table(spec, "table", TABLE_CENTER, TABLE_HALF, TABLE_Z)


def body_geoms(model: mujoco.MjModel, body: str) -> set[int]:
    """Ids of every geom attached to `body` (not its children)."""
    bid = model.body(body).id
    return {int(g) for g in np.flatnonzero(model.geom_bodyid == bid)}


def contact_pairs(data: mujoco.MjData) -> list[list[int]]:
    """(geom1, geom2) of every active contact, as Python ints (one array read, not one per contact)."""
    return data.contact.geom.tolist() if data.ncon else []


def touching(data: mujoco.MjData, geoms_a: set[int], geoms_b: set[int]) -> bool:
    """True when any geom of `geoms_a` is in contact with any geom of `geoms_b`."""
    for g1, g2 in contact_pairs(data):
        if (g1 in geoms_a and g2 in geoms_b) or (g1 in geoms_b and g2 in geoms_a):
            return True
    return False


def pads_on(data: mujoco.MjData, arm: Arm7, geoms: set[int], pairs: list[list[int]] | None = None) -> int:
    """How many of `arm`'s two finger pads touch `geoms` (2 = a pinch grasp); `pairs`: the contact
    pairs when the caller has read them already (`contact_pairs`)."""
    pads = {int(p) for p in arm.pad_geoms}
    hit = set()
    for g1, g2 in contact_pairs(data) if pairs is None else pairs:
        if g1 in pads and g2 in geoms:
            hit.add(g1)
        if g2 in pads and g1 in geoms:
            hit.add(g2)
    return len(hit)


class Steer(WaypointArm):
    """`WaypointArm` steering the *commanded* TCP pose when the arm exposes it (no overshoot).

    With `measured_gain` set it steers the *measured* TCP pose instead: each action is that fraction of
    the remaining error (clipped to the speed limits), so the action is a smooth function of what the
    state observation shows (a policy can imitate it) rather than of the hidden commanded pose, whose
    lead makes the commanded steering stop dead while the arm is still catching up.
    """

    def __init__(self, arm: Arm7, max_lin: float = 0.04, max_rot: float = 0.2, gain: float = 1.0,
                 measured_gain: float | None = None) -> None:
        super().__init__(arm, max_lin, max_rot, gain)
        self.measured_gain = measured_gain

    def action(self, pos: np.ndarray, quat: np.ndarray | None, grip: float,
               max_lin: float | None = None) -> np.ndarray:
        if self.measured_gain is not None:
            tw = self.arm.twist_to(pos, quat) * self.measured_gain
        else:
            twist_fn = getattr(self.arm, "command_twist_to", self.arm.twist_to)
            tw = twist_fn(pos, quat) * self.gain
        lin = max_lin or self.max_lin
        n = np.linalg.norm(tw[:3])
        if n > lin:
            tw[:3] *= lin / n
        tw[3:] = np.clip(tw[3:], -self.max_rot, self.max_rot)
        return np.concatenate([tw, [grip]]).astype(np.float32)


def two_arm_steer(robot: Bimanual, measured_gain: float | None = None) -> tuple[Steer, Steer]:
    """A `Steer` for the left and one for the right arm (`measured_gain`: see `Steer`)."""
    return Steer(robot.left, measured_gain=measured_gain), Steer(robot.right, measured_gain=measured_gain)
