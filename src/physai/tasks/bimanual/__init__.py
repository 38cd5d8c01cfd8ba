"""Two-arm cooperation tasks on the `bimanual` station."""

from physai.tasks.bimanual import handover, pack_mouse  # noqa: F401  (registration)
