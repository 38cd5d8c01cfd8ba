"""The README runs as written: every ```bash and ```python block, top to bottom, with tiny budgets.

Each shell command is run in a fresh folder through the real `physai` Typer app (in this process, so the
check stays well under three minutes); the Python blocks are executed as they are. The only changes to
what a newcomer types are the budget rewrites of `REWRITES` below, and the lines of `SKIPPED`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from physai.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"

# (command, option, tiny value): the option's value is replaced, or the option is appended when the README
# does not give it. Budgets only: episodes, minutes, steps, seconds, sizes of sweeps, worker processes.
# Applied to `physai CMD --option ...` lines, not to subcommands (`eval compare`, `dataset validate`).
REWRITES: list[tuple[str, str, str]] = [
    ("rollout", "--episodes", "1"),
    ("collect", "--episodes", "1"),
    ("collect", "--workers", "1"),
    ("train", "--minutes", "0.05"),
    ("train", "--steps", "2"),
    ("train", "--batch-size", "8"),
    ("train", "--save-every", "0"),
    ("eval", "--episodes", "1"),
    ("eval", "--max-steps", "5"),
    ("eval", "--workers", "0"),
    ("run", "--duration", "0.5"),
    ("profile", "--duration", "0.05"),
    ("profile", "--hz", "50"),
    ("profile", "--batches", "1,4"),
]

# Commands that start a long-running server (they serve until Ctrl-C: the policy server, the fleet
# service, the robot agent); only their --help is run. `fleet serve` is then started for real on a free
# port in the background (see `_serve_fleet`), so the README's `physai fleet ...` commands after it run
# against it (found through $PHYSAI_FLEET_URL instead of the README's port 8080).
SKIPPED = ("serve", "fleet serve", "agent")

# `make demo` / `make test` set up a venv and run the whole demo / test suite (this test is part of it):
# checked with a dry run (`make -n`) that the targets exist.
MAKE_DRY_RUN = True


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def _commands(block: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments dropped, `a && b` split."""
    joined = re.sub(r"\\\n\s*", " ", block)
    cmds = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        cmds.extend(c.strip() for c in line.split("&&") if c.strip())
    return cmds


def _rewrite(argv: list[str]) -> list[str]:
    """`REWRITES` applied to `physai CMD --opt ...` (not to subcommands such as `eval compare`)."""
    argv = list(argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        return argv
    for prefix, opt, value in REWRITES:
        if argv[0] != prefix:
            continue
        if opt in argv:
            argv[argv.index(opt) + 1] = value
        else:
            argv += [opt, value]
    return argv


def _serve_fleet(argv: list[str], monkeypatch, stack) -> None:
    """What `physai fleet serve ARGS` does, on a background thread: the database and admin key under
    ./fleet, the package keys of --public-key trusted."""
    import os

    from physai.fleet.server import BackgroundServer
    from physai.fleet.service import FleetConfig

    keys = [Path(argv[i + 1]) for i, a in enumerate(argv) if a == "--public-key"]
    srv = BackgroundServer(FleetConfig(db_url="sqlite:///fleet/fleet.db", data_dir=Path("fleet"),
                                       trusted_keys=keys))
    stack.enter_context(srv)
    fd = os.open("fleet/admin.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{srv.admin_key}\n")
    monkeypatch.setenv("PHYSAI_FLEET_URL", srv.url)


def _readme_commands() -> list[str]:
    return [c for b in _blocks("bash") for c in _commands(b)]


def test_readme_has_the_blocks_a_newcomer_needs():
    text = README.read_text()
    cmds = _readme_commands()
    assert any(c.startswith("physai eval compare") for c in cmds)
    assert any(c.startswith("physai agent") or " agent " in c for c in cmds) or "physai agent" in text
    assert "physai fleet" in text
    assert _blocks("python")


def test_readme_runs_as_written(tmp_path, monkeypatch):
    import contextlib

    monkeypatch.chdir(tmp_path)
    with contextlib.ExitStack() as stack:
        _run_readme(monkeypatch, stack)


def _run_readme(monkeypatch, stack) -> None:
    runner = CliRunner()
    ran = []
    for cmd in _readme_commands():
        argv = shlex.split(cmd)
        if argv[0] == "make":
            if MAKE_DRY_RUN:
                r = subprocess.run(["make", "-n", "-C", str(README.parent), *argv[1:]],
                                   capture_output=True, text=True)
                assert r.returncode == 0, (cmd, r.stderr)
            continue
        assert argv[0] == "physai", f"README command {cmd!r} is not a physai command"
        argv = argv[1:]
        if " ".join(argv[:2]) in SKIPPED or argv[0] in SKIPPED:
            n = 2 if " ".join(argv[:2]) in SKIPPED else 1
            r = runner.invoke(app, [*argv[:n], "--help"])
            assert r.exit_code == 0, (cmd, r.output)
            if argv[:2] == ["fleet", "serve"]:
                _serve_fleet(argv, monkeypatch, stack)
            continue
        argv = _rewrite(argv)
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, f"{cmd!r} (run as {argv}) exited {r.exit_code}:\n{r.output}\n{r.exception!r}"
        if argv[0] == "train":  # the budget that will stop the run is said up front
            assert "whichever comes first" in r.output, r.output
        ran.append(argv[0] if argv[0] != "fleet" else " ".join(argv[:3]))
    assert {"collect", "train", "eval", "export", "verify", "run", "profile"} <= set(ran)
    assert {"fleet site create", "fleet package upload", "fleet deployment create"} <= set(ran)
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), {})


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
