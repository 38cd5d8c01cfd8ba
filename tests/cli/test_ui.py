"""cli.ui: input checks raise ConfigError naming the option and the fix; handle_errors turns a library
error into one `error:` line and exit code 2 (no traceback)."""

import errno
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from physai.cli import ui
from physai.core.errors import ConfigError, DatasetError


def test_input_checks_name_the_option(tmp_path: Path):
    assert ui.positive(2.5, "--hz") == 2.5 and ui.positive(None, "--hz") is None
    for bad in (0, -1, math.nan, math.inf * -1):
        with pytest.raises(ConfigError, match="--hz must be a positive number"):
            ui.positive(bad, "--hz")
    with pytest.raises(ConfigError, match="--hz"):
        ui.positive(None, "--hz", allow_none=False)
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert ui.existing(f, "--data", "file") == f
    with pytest.raises(ConfigError, match="--data .* is a file; give a folder"):
        ui.existing(f, "--data", "dir")
    with pytest.raises(ConfigError, match="no such folder"):
        ui.existing(tmp_path / "missing", "--data", "dir")
    assert ui.new_folder(tmp_path / "new") == tmp_path / "new"
    with pytest.raises(ConfigError, match="--out .* exists \\(a folder that is not empty\\)"):
        ui.new_folder(tmp_path)
    with pytest.raises(ConfigError, match="between 0 and 65535"):
        ui.port(70000)
    msg = str(ui.busy_port(OSError(errno.EADDRINUSE, "Address in use"), "0.0.0.0", 80))
    assert "0.0.0.0:80" in msg and "Address in use" in msg


def test_handle_errors_prints_one_line_and_exits_2():
    app = typer.Typer()

    @app.command()
    @ui.handle_errors
    def boom(kind: str) -> None:
        if kind == "dataset":
            raise DatasetError("data/x.parquet: rows\n   out of order; run repair")
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/nope")

    r = CliRunner().invoke(app, ["dataset"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "error: data/x.parquet: rows out of order; run repair" in r.output
    r = CliRunner().invoke(app, ["file"])
    assert r.exit_code == 2 and "error: /nope: No such file or directory" in r.output
