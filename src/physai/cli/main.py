"""Entry point of the `physai` command. Each command group lives in its own module and registers here."""

from __future__ import annotations

import typer

from physai.cli import collect as collect_cmd
from physai.cli import dataset as dataset_cmd
from physai.cli import demo, sim
from physai.cli import deploy as deploy_cmd
from physai.cli import eval as eval_cmd
from physai.cli import fleet as fleet_cmd
from physai.cli import hardware as hardware_cmd
from physai.cli import train as train_cmd

app = typer.Typer(name="physai", help="physai: simulate, collect, train, benchmark, package, deploy.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# One line per command module; each module's register(app) adds its commands or sub-apps.
_MODULES = (sim, collect_cmd, dataset_cmd, train_cmd, eval_cmd, deploy_cmd, hardware_cmd, fleet_cmd, demo)
for _module in _MODULES:
    _module.register(app)


if __name__ == "__main__":
    app()
