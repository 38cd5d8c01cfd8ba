"""Entry point of the `physai` command. Each command group lives in its own module and registers here."""

from __future__ import annotations

import typer
from typer.core import TyperOption

from physai.cli import collect as collect_cmd
from physai.cli import dataset as dataset_cmd
from physai.cli import demo, sim
from physai.cli import deploy as deploy_cmd
from physai.cli import eval as eval_cmd
from physai.cli import fleet as fleet_cmd
from physai.cli import hardware as hardware_cmd
from physai.cli import ros2 as ros2_cmd
from physai.cli import teleop as teleop_cmd
from physai.cli import train as train_cmd
from physai.cli import wm as wm_cmd

app = typer.Typer(name="physai", help="physai: simulate, collect, train, benchmark, package, deploy.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)



def _flag_type(self: TyperOption, ctx: object) -> str | None:
    """Help shows no `<bool>` type next to on/off flags (`--json`, `--help`); other options keep theirs."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        from physai import __version__

        typer.echo(f"physai {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """physai: simulate, collect, train, benchmark, package, deploy."""


# One line per command module; each module's register(app) adds its commands or sub-apps.
_MODULES = (
    sim, collect_cmd, dataset_cmd, train_cmd, eval_cmd, deploy_cmd, hardware_cmd, fleet_cmd, ros2_cmd,
    teleop_cmd, wm_cmd, demo,
)
for _module in _MODULES:
    _module.register(app)


if __name__ == "__main__":
    app()
