"""Exceptions raised by physai library code.

Every message says what was wrong (naming the file, field or value) and how to fix it. The CLI turns
these into a one-line error and a non-zero exit code; library code never prints or exits.
"""

from __future__ import annotations


class PhysaiError(Exception):
    """Base class of every error physai raises on purpose."""


class UnknownNameError(PhysaiError, KeyError):
    """A name (task, robot, control mode, policy, device...) that is not registered."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        names = ", ".join(self.valid) or "(none)"
        super().__init__(f"unknown {kind} {name!r}; valid {_plural(kind)}: {names}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ConfigError(PhysaiError, ValueError):
    """A configuration value or combination of options that cannot work."""


class RobotMismatchError(ConfigError):
    """One robot's policy, checkpoint, package or dataset used with another robot's task, driver or data.

    Every such refusal (train, eval, run, dataset merge) reads the same and names both robots."""

    def __init__(self, what: str, robot: str | None, other: str, other_robot: str | None, fix: str) -> None:
        self.robot, self.other_robot = robot, other_robot
        super().__init__(f"robot mismatch: {what} is for robot {robot!r} but {other} is for robot "
                         f"{other_robot!r}; {fix}")


def _plural(kind: str) -> str:
    """'task' -> 'tasks', 'policy' -> 'policies', 'control mode of arm7' -> 'control modes of arm7'."""
    head, sep, tail = kind.partition(" of ")
    if head.endswith("y") and head[-2:-1] not in "aeiou":
        head = head[:-1] + "ies"
    elif head.endswith(("s", "x", "ch", "sh")):
        head += "es"
    else:
        head += "s"
    return head + sep + tail


class GLBackendError(PhysaiError, RuntimeError):
    """No usable OpenGL backend for offscreen rendering."""


class DatasetError(PhysaiError):
    """A dataset on disk that violates the format (names the file and the invariant)."""


class PackageError(PhysaiError):
    """A model package that is malformed, tampered with, or not trusted."""


class SafetyError(PhysaiError):
    """A safety rule that refuses to proceed (e.g. wrong embodiment for the robot)."""
