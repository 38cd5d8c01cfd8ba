"""Output helpers shared by CLI modules: JSON printing, tables, rich progress, error handling."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from physai.core.errors import PhysaiError

console = Console(stderr=True)
"""Progress, warnings and errors (stderr)."""
out = Console()
"""Human-readable results (stdout); JSON goes through print_json instead."""


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


class RichProgress:
    """`physai.core.progress.Progress` rendered as a rich bar with ETA on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._p: Progress | None = None
        self._task = None

    def start(self, total: int | None, description: str) -> None:
        if not self.enabled:
            return
        self.close()
        self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                           TextColumn("{task.fields[info]}"), console=console, transient=False)
        self._p.start()
        self._task = self._p.add_task(description, total=total, info="")

    def advance(self, n: int = 1, **fields: object) -> None:
        if self._p is not None:
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            self._p.update(self._task, advance=n, info=info)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None


def handle_errors(fn: Callable) -> Callable:
    """Turn PhysaiError / ValueError into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (PhysaiError, ValueError, FileNotFoundError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=2) from None

    return wrapper
