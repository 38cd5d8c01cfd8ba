"""Shared types used across physai: errors, registries, array specs, progress reporting."""

from physai.core.errors import (
    ConfigError,
    DatasetError,
    GLBackendError,
    PackageError,
    PhysaiError,
    SafetyError,
    UnknownNameError,
)
from physai.core.progress import NullProgress, Progress
from physai.core.registry import Registry
from physai.core.specs import ArraySpec

__all__ = [
    "ArraySpec",
    "ConfigError",
    "DatasetError",
    "GLBackendError",
    "NullProgress",
    "PackageError",
    "PhysaiError",
    "Progress",
    "Registry",
    "SafetyError",
    "UnknownNameError",
]
