"""physai.demo: the lifecycle tour behind `physai demo` / `make demo`, an application on top of the library.

One module per stage, each registering itself with `@stage(name, order)` (`registry`); importing this
package imports them all: experts -> collect -> train -> evaluate -> package -> profile -> fleet ->
flywheel. `runner.run_demo` runs them in that order and writes `summary.json` and `index.html`.
"""

from physai.demo import (  # noqa: F401  (importing a stage module registers its stage)
    collect,
    evaluate,
    experts,
    fleet,
    flywheel,
    package,
    profile,
    train,
)
from physai.demo.registry import STAGES, stage
from physai.demo.runner import run_demo

__all__ = ["STAGES", "run_demo", "stage"]
