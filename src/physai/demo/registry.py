"""The demo stages: each is a function (output folder, Progress) -> JSON-ready dict, registered with
`@stage(name, order)`; importing `physai.demo` imports every stage module, so every stage is registered
before `physai.demo.runner` (a module of that package) can run one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from physai.core.progress import Progress

StageFn = Callable[[Path, Progress], dict]
STAGES: dict[str, StageFn] = {}
_ORDER: dict[str, float] = {}


def stage(name: str, order: float) -> Callable[[StageFn], StageFn]:
    """Register a demo stage; stages run by increasing `order` (their place in the lifecycle)."""

    def deco(fn: StageFn) -> StageFn:
        STAGES[name] = fn
        _ORDER[name] = order
        return fn

    return deco


def load_stages() -> list[str]:
    """The registered stage names in lifecycle order."""
    return sorted(STAGES, key=lambda n: _ORDER.get(n, float("inf")))
