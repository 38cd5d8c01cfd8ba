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


Steer = WaypointArm
"""What the bimanual experts steer each arm with: `WaypointArm` (commanded TCP pose by default, the
measured one with `measured_gain`; see its docstring)."""


def two_arm_steer(robot: Bimanual, measured_gain: float | None = None) -> tuple[Steer, Steer]:
    """A `Steer` for the left and one for the right arm (`measured_gain`: see `Steer`)."""
    return Steer(robot.left, measured_gain=measured_gain), Steer(robot.right, measured_gain=measured_gain)
