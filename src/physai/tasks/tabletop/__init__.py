"""Single-arm tabletop tasks on `arm7`."""

from physai.tasks.tabletop import pick_place, push, stack  # noqa: F401
