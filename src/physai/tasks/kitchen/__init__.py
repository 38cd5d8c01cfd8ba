"""Kitchen tasks on `arm7`: operate articulated fixtures; pick-and-place into the sink. One module per task
(`common` and `fixtures` hold what they share)."""

from physai.tasks.kitchen import (  # noqa: F401  (registration)
    close_door,
    close_drawer,
    open_door,
    open_drawer,
    pick_place,
    press_microwave_button,
    turn_off_faucet,
    turn_off_stove,
    turn_on_faucet,
    turn_on_stove,
)
