"""Dexterous-hand tasks on `hand16` (tactile sensing)."""

from physai.tasks.dexterous import gentle_grasp, grasp_lift, valve  # noqa: F401
