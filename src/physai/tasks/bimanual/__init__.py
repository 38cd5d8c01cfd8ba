"""Two-arm cooperation tasks on the `bimanual` station."""

from physai.tasks.bimanual import handover  # noqa: F401  (registration)
