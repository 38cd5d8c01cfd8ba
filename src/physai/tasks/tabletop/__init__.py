"""Single-arm tabletop tasks on `arm7`."""

from physai.tasks.tabletop import pick_place, stack  # noqa: F401
