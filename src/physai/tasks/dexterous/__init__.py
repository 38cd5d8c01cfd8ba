"""Dexterous-hand tasks on `hand16` (tactile sensing)."""

from physai.tasks.dexterous import grasp_lift  # noqa: F401
