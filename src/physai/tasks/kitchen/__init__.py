"""Kitchen tasks on `arm7`: articulated fixtures (drawer, cabinet door, stove, faucet, microwave) and pick-and-place."""

from physai.tasks.kitchen import articulated  # noqa: F401  (registration)
