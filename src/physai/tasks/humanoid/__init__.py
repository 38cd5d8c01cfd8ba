"""The humanoid tabletop suite on `humanoid-upper`: pick-and-place between receptacles, drawer tasks."""

from physai.tasks.humanoid import drawer, pick_place  # noqa: F401  (registration)
