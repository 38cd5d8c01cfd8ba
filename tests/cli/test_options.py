"""Typer options generated from a config dataclass: names, defaults, help, bools, unset values."""

from dataclasses import dataclass

import typer
from typer.testing import CliRunner

from physai.cli.options import config_options, field_docs


@dataclass(frozen=True)
class _Base:
    alpha: int = 3
    """How many alphas."""


@dataclass(frozen=True)
class _Cfg(_Base):
    beta_rate: float | None = None
    """The beta rate
    over two lines."""
    gamma: bool = True
    """Use gamma."""


def test_field_docs_read_every_field_and_its_bases():
    assert field_docs(_Cfg) == {
        "alpha": "How many alphas.", "beta_rate": "The beta rate over two lines.", "gamma": "Use gamma."
    }


def _app(**kw):
    app = typer.Typer()
    seen = {}

    @app.command()
    @config_options(_Cfg, ("alpha", "beta_rate", "gamma"), dest="opts", flags={"beta_rate": "--beta"}, **kw)
    def cmd(name: str = typer.Option("x", "--name"), opts: dict | None = None) -> None:
        seen.update(opts or {}, name=name)

    return app, seen


def test_generated_options_take_the_dataclass_defaults_and_types():
    app, seen = _app(minimum={"alpha": 1})
    r = CliRunner().invoke(app, ["--beta", "0.5", "--no-gamma"])
    assert r.exit_code == 0, r.output
    assert seen == {"alpha": 3, "beta_rate": 0.5, "gamma": False, "name": "x"}
    r = CliRunner().invoke(app, ["--alpha", "0"])
    assert r.exit_code == 2 and "--alpha" in r.output
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "The beta rate over two lines." in r.output and "--no-gamma" in r.output


def test_unset_hands_over_only_what_the_user_typed():
    app, seen = _app(unset=True)
    r = CliRunner().invoke(app, ["--alpha", "5"])
    assert r.exit_code == 0, r.output
    assert seen == {"alpha": 5, "name": "x"}
