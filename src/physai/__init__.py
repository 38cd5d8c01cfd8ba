"""physai: a hardware-agnostic physical AI platform.

`physai.make("tabletop/pick-place", control="ee_delta", obs=("state", "images"))` builds an env.
"""

from physai.sim import gl as _gl  # noqa: F401  (selects the GL backend before mujoco is imported)

__version__ = "0.1.0"


def make(task: str, **kwargs: object):
    """Build a `PhysaiEnv` for a registered task (see `physai.envs.PhysaiEnv` for the options)."""
    from physai.envs import make as _make

    return _make(task, **kwargs)


__all__ = ["__version__", "make"]
