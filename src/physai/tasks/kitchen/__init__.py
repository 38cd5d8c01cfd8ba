"""Kitchen tasks on `arm7`: operate articulated fixtures; pick-and-place into the sink."""

from physai.tasks.kitchen import articulated, pick_place  # noqa: F401  (registration)
