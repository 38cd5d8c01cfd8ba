"""Quadruped tasks: patrol and inspection on the 12-DoF `quadruped`."""

from physai.tasks.quadruped import inspection, patrol  # noqa: F401
