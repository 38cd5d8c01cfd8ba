"""Where each named state element comes from on a ROS 2 robot (the naming rules, in one place).

physai state names follow a few patterns; each maps to one ROS 2 source:

- `<prefix>.pos.x|y|z`, `<prefix>.quat.w|x|y|z` -> a geometry_msgs/PoseStamped per prefix (`poses`);
- `<prefix>.force.x|y|z`, `<prefix>.torque.x|y|z` -> a geometry_msgs/WrenchStamped per prefix (`wrenches`);
- `<joint>.pos|vel|torque` -> sensor_msgs/JointState position/velocity/effort of the joint of that NAME
  (`gripper.width` is the position of joint `gripper`);
- anything else -> one std_msgs/Float64MultiArray (`extras`) whose elements are named in the config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

POSE_RE = re.compile(r"^(?P<prefix>.+)\.(?P<part>pos|quat)\.(?P<axis>[wxyz])$")
WRENCH_RE = re.compile(r"^(?P<prefix>.+)\.(?P<part>force|torque)\.(?P<axis>[xyz])$")
JOINT_RE = re.compile(r"^(?P<joint>[^.]+)\.(?P<field>pos|vel|torque|width)$")
POSE_INDEX = {
    ("pos", "x"): 0,
    ("pos", "y"): 1,
    ("pos", "z"): 2,
    ("quat", "w"): 3,
    ("quat", "x"): 4,
    ("quat", "y"): 5,
    ("quat", "z"): 6,
}
"""Element of (px, py, pz, qw, qx, qy, qz) for (part, axis)."""
WRENCH_INDEX = {("force", a): i for i, a in enumerate("xyz")} | {
    ("torque", a): 3 + i for i, a in enumerate("xyz")
}
JOINT_FIELD = {"pos": "position", "width": "position", "vel": "velocity", "torque": "effort"}
"""JointState field of each joint element suffix."""


@dataclass(frozen=True)
class Groups:
    """A state layout split by source (names in layout order within each group)."""

    joints: tuple[str, ...]
    """Joint names with at least one element."""
    poses: tuple[str, ...]
    """Pose prefixes."""
    wrenches: tuple[str, ...]
    """Wrench prefixes."""
    extras: tuple[str, ...]
    """State elements that come from the extras array."""


def _valid_pose(m: re.Match) -> bool:
    return (m["part"], m["axis"]) in POSE_INDEX


def split(names: list[str] | tuple[str, ...]) -> Groups:
    """Group `names` by the source the naming rules give them (what `physai ros2 sim` publishes)."""
    joints: list[str] = []
    poses: list[str] = []
    wrenches: list[str] = []
    extras: list[str] = []
    for n in names:
        if (m := POSE_RE.match(n)) and _valid_pose(m):
            _add(poses, m["prefix"])
        elif m := WRENCH_RE.match(n):
            _add(wrenches, m["prefix"])
        elif m := JOINT_RE.match(n):
            _add(joints, m["joint"])
        else:
            extras.append(n)
    return Groups(tuple(joints), tuple(poses), tuple(wrenches), tuple(extras))


def _add(xs: list[str], x: str) -> None:
    if x not in xs:
        xs.append(x)


def pose_slot(name: str) -> tuple[str, int] | None:
    """`'ee.quat.w'` -> `('ee', 3)`; None if `name` is not a pose element."""
    m = POSE_RE.match(name)
    return (m["prefix"], POSE_INDEX[(m["part"], m["axis"])]) if m and _valid_pose(m) else None


def wrench_slot(name: str) -> tuple[str, int] | None:
    """`'wrist.torque.y'` -> `('wrist', 4)`; None if `name` is not a wrench element."""
    m = WRENCH_RE.match(name)
    return (m["prefix"], WRENCH_INDEX[(m["part"], m["axis"])]) if m else None


def joint_slot(name: str) -> tuple[str, str] | None:
    """`'joint3.vel'` -> `('joint3', 'velocity')`; None if `name` is not a joint element."""
    m = JOINT_RE.match(name)
    return (m["joint"], JOINT_FIELD[m["field"]]) if m else None
