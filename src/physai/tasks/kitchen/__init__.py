"""Kitchen tasks on `arm7`: operate articulated fixtures (drawer, cabinet door, stove, faucet, microwave)."""

from physai.tasks.kitchen import articulated  # noqa: F401  (registration)
