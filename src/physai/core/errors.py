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
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid) or '(none)'}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ConfigError(PhysaiError, ValueError):
    """A configuration value or combination of options that cannot work."""


class GLBackendError(PhysaiError, RuntimeError):
    """No usable OpenGL backend for offscreen rendering."""


class DatasetError(PhysaiError):
    """A dataset on disk that violates the format (names the file and the invariant)."""


class PackageError(PhysaiError):
    """A model package that is malformed, tampered with, or not trusted."""


class SafetyError(PhysaiError):
    """A safety rule that refuses to proceed (e.g. wrong embodiment for the robot)."""
