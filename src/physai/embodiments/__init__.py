"""Robots behind one interface. Importing this package registers every built-in embodiment."""

from physai.embodiments import arm7, bimanual, hand16, humanoid, quadruped  # noqa: F401  (registration side effects)
from physai.embodiments.base import (
    EMBODIMENTS,
    Embodiment,
    SafetyLimits,
    make_embodiment,
    register_embodiment,
)

__all__ = ["EMBODIMENTS", "Embodiment", "SafetyLimits", "make_embodiment", "register_embodiment"]
