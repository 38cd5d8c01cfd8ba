"""Output helpers shared by CLI modules: JSON printing, tables, progress, error handling, input checks.

On a terminal, progress is a live rich bar. Off one (a pipe, a log file, CI), progress is a plain line
every `PLAIN_EVERY_S` seconds and at the end, and lines are never wrapped mid-phrase.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from physai.core.errors import ConfigError, PhysaiError

console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
"""Progress, warnings and errors (stderr)."""
out = Console(soft_wrap=not sys.stdout.isatty())
"""Human-readable results (stdout); JSON goes through print_json instead."""

PLAIN_EVERY_S = float(os.environ.get("PHYSAI_PROGRESS_EVERY", "10"))
"""Seconds between plain progress lines when stderr is not a terminal."""


def _default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def print_json(doc: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def table(*columns: str, names: int = 1) -> Table:
    """A results table whose first `names` columns (task, robot...) are never cut or wrapped."""
    t = Table()
    for i, c in enumerate(columns):
        if i < names:
            t.add_column(c, no_wrap=True, overflow="fold", min_width=len(c))
        else:
            t.add_column(c, overflow="fold")
    return t


def print_table(t: Table) -> None:
    """Print a table: on a terminal the text columns wrap to fit, the name columns never do; off a
    terminal at its natural width, so nothing is cut."""
    if out.is_terminal:
        out.print(t)
    else:
        natural = out.measure(t, options=out.options.update(max_width=100_000)).maximum
        Console(width=max(natural, 20)).print(t)  # print() caps a width at the console's


def _fmt_s(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-:--:--"
    s = int(round(max(0.0, s)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _fields_text(fields: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


class _EtaColumn(ProgressColumn):
    """Time left: the task's `eta_s` field when the job reports one (e.g. a time budget), else rich's."""

    def render(self, task: Any) -> Text:
        eta = task.fields.get("eta_s")
        if eta is None:
            eta = task.time_remaining
        return Text(f"eta {_fmt_s(eta)}", style="progress.remaining")


class RichProgress:
    """`physai.core.progress.Progress` rendered on stderr: a live bar with ETA on a terminal, plain
    periodic lines off one.

    A job whose end is not its unit count (a time budget) passes `eta_s=<seconds left>` in `advance`;
    that ETA is shown instead of the one extrapolated from the count.
    """

    ANNOUNCE_AFTER_S = 3.0

    def __init__(self, enabled: bool = True, plain: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, announce: str | None = None) -> None:
        """`announce`: for tasks whose description starts with it, print the expected total duration once,
        after the first `ANNOUNCE_AFTER_S` seconds of work."""
        self.enabled = enabled
        self.announce = announce
        self._announced = False
        self.plain = (not console.is_terminal) if plain is None else plain
        self._clock = clock
        self._p: Progress | None = None
        self._task: TaskID | None = None
        self._total: int | None = None
        self._desc, self._done = "", 0
        self._t0 = self._last = 0.0
        self._fields: dict = {}
        self._eta: float | None = None

    def start(self, total: int | None, description: str) -> None:
        if not self.enabled:
            return
        self.close()
        self._desc, self._total, self._done, self._fields, self._eta = description, total, 0, {}, None
        self._t0 = self._last = self._clock()
        self._announced = False
        if self.plain:
            console.print(f"{description}: started" + (f", {total} to do" if total else ""),
                          markup=False, highlight=False)
            return
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), _EtaColumn(), TextColumn("{task.fields[info]}"),
                           console=console, transient=False)
        self._p.start()
        self._task = self._p.add_task(description, total=total, info="", eta_s=None)

    def advance(self, n: int = 1, **fields: object) -> None:
        if not self.enabled:
            return
        eta = fields.pop("eta_s", None)
        self._eta = float(eta) if isinstance(eta, (int, float)) else None
        self._done += n
        self._fields = fields
        if self.announce is not None and not self._announced and self._desc.startswith(self.announce):
            elapsed = self._clock() - self._t0
            eta = self.eta()
            if elapsed >= self.ANNOUNCE_AFTER_S and eta is not None:
                self._announced = True
                end = time.strftime("%H:%M", time.localtime(time.time() + eta))
                (self._p.console if self._p is not None else console).print(
                    f"{self._desc}: expected duration {_fmt_s(elapsed + eta)} (ends about {end}, "
                    f"at {self._done / elapsed:.3g}/s)", markup=False, highlight=False)
        if self._p is not None and self._task is not None:
            self._p.update(self._task, advance=n, info=_fields_text(fields), eta_s=self._eta)
        elif self.plain and self._desc:
            now = self._clock()
            if now - self._last >= PLAIN_EVERY_S:
                self._last = now
                self._line()

    def eta(self) -> float | None:
        """Seconds left: the reported `eta_s`, else extrapolated from the count."""
        if self._eta is not None:
            return self._eta
        elapsed = self._clock() - self._t0
        if not self._total or not self._done:
            return None
        return elapsed / self._done * (self._total - self._done)

    def _line(self, final: bool = False) -> None:
        elapsed = self._clock() - self._t0
        count = f"{self._done}/{self._total}" if self._total else f"{self._done}"
        pct = f" ({self._done / self._total:.0%})" if self._total else ""
        tail = "done" if final else f"eta {_fmt_s(self.eta())}"
        info = _fields_text(self._fields)
        line = f"{self._desc}: {count}{pct} elapsed {_fmt_s(elapsed)} {tail}" + (f" {info}" if info else "")
        console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None
        elif self.plain and self._desc:
            self._line(final=True)
        self._desc = ""


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        msg = f"{exc.filename}: {exc.strerror}"
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())


def error(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` on stderr (one line) and return the Exit to raise."""
    console.print(f"[red]error:[/red] {' '.join(message.split())}", soft_wrap=True, highlight=False)
    return typer.Exit(code=code)


def handle_errors(fn: Callable) -> Callable:
    """Turn a user-facing failure (PhysaiError, ValueError, OSError: a missing or existing path, a busy
    port, no permission) into one `error:` line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (PhysaiError, ValueError, OSError) as exc:
            raise error(_one_line(exc)) from None

    return wrapper


# ------------------------------------------------------------------ input checks (raise ConfigError)
def positive(value: float | None, option: str, allow_none: bool = True) -> float | None:
    """`value` unless it is zero, negative or not finite."""
    if value is None and allow_none:
        return value
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{option} must be a positive number, got {value}")
    return value


@overload
def existing(path: Path, option: str, kind: str = "any") -> Path: ...
@overload
def existing(path: None, option: str, kind: str = "any") -> None: ...
def existing(path: Path | None, option: str, kind: str = "any") -> Path | None:
    """`path` if it exists (kind 'file' / 'dir': and is one)."""
    if path is None:
        return None
    if not path.exists():
        raise ConfigError(f"{option} {path}: no such {'folder' if kind == 'dir' else 'file or folder'}")
    if kind == "file" and not path.is_file():
        raise ConfigError(f"{option} {path} is a folder; give a file")
    if kind == "dir" and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file; give a folder")
    return path


def new_folder(path: Path, option: str = "--out") -> Path:
    """`path` if it does not exist or is an empty folder (outputs never overwrite)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        what = "a file" if not path.is_dir() else "a folder that is not empty"
        raise ConfigError(f"{option} {path} exists ({what}); choose a new {option} or delete it")
    return path


def port(value: int, option: str = "--port") -> int:
    if not 0 <= value <= 65535:
        raise ConfigError(f"{option} must be between 0 and 65535, got {value}")
    return value


def busy_port(exc: OSError, host: str, port_: int) -> ConfigError:
    """The message for a port that cannot be bound."""
    why = exc.strerror or str(exc)
    return ConfigError(f"cannot listen on {host}:{port_} ({why}); stop what holds the port or choose "
                       "another --port")
