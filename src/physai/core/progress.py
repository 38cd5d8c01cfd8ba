"""Progress reporting from library code.

Long-running library functions take a `progress: Progress | None` argument and call `start`, `advance`
and `close`; the CLI passes a rich-backed implementation (`physai.cli.ui.RichProgress`), tests pass
nothing. The library never prints.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of one long task."""

    def start(self, total: int | None, description: str) -> None:
        """A task begins; `total` units are expected (None: unknown)."""

    def advance(self, n: int = 1, **fields: object) -> None:
        """`n` more units are done; `fields` are extra values to show (loss, success rate...).

        The field `eta_s` (seconds left) is the job's own estimate of its end, for jobs that do not end at
        their unit count (a training run under a time budget); renderers show it instead of the ETA
        extrapolated from the count."""

    def close(self) -> None:
        """The task is finished."""


class NullProgress:
    """A Progress that ignores everything."""

    def start(self, total: int | None, description: str) -> None:
        pass

    def advance(self, n: int = 1, **fields: object) -> None:
        pass

    def close(self) -> None:
        pass
