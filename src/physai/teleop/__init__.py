"""Teleoperation and interventions: sources (keyboard, gamepad, SpaceMouse, browser, scripted expert),
the `ActionArbiter` that hands control between a policy and a person, recorded sessions, and DAgger
segments for the flywheel."""

from physai.teleop.arbiter import LABELS, ActionArbiter, Decision
from physai.teleop.sources import (
    SOURCES,
    CommandMapper,
    ControlContext,
    MapperConfig,
    ScriptedSource,
    SourceInput,
    TeleopSource,
    context_from_env,
    make_source,
    register_source,
)

__all__ = [
    "LABELS",
    "SOURCES",
    "ActionArbiter",
    "CommandMapper",
    "ControlContext",
    "Decision",
    "MapperConfig",
    "ScriptedSource",
    "SourceInput",
    "TeleopSource",
    "context_from_env",
    "make_source",
    "register_source",
]
