"""Device plugin discovery: the built-in plugins plus those of the `physai.devices` entry-point group, the
plugin of a device id, and the JSON-ready device listing."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from physai.core.errors import ConfigError, UnknownNameError
from physai.hardware.builtin import builtin_plugins
from physai.hardware.plugins import DevicePlugin, Probe

ENTRY_POINT_GROUP = "physai.devices"


def _as_plugins(obj: Any, origin: str) -> list[DevicePlugin]:
    if isinstance(obj, DevicePlugin):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, DevicePlugin):
        return [obj()]
    if callable(obj):
        got = obj()
        items = got if isinstance(got, list | tuple) else [got]
        return [p for it in items for p in _as_plugins(it, origin)]
    raise ConfigError(
        f"entry point {origin} gave {type(obj).__name__}; expected a DevicePlugin, a subclass, or "
        f"a callable returning plugins"
    )


def discover() -> tuple[dict[str, DevicePlugin], dict[str, str]]:
    """Built-in plugins plus those of the `physai.devices` entry-point group.

    Returns (plugins by device id, {entry point: error}) — a broken third-party plugin is reported, never
    fatal.
    """
    plugins = {p.name: p for p in builtin_plugins()}
    errors: dict[str, str] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{ep.name} = {ep.value}"
        try:
            for p in _as_plugins(ep.load(), origin):
                plugins[p.name] = p
        except Exception as exc:  # third-party code: report, keep the others
            errors[origin] = f"{type(exc).__name__}: {exc}"
    return plugins, errors


def get_plugin(device: str, plugins: dict[str, DevicePlugin] | None = None) -> DevicePlugin:
    """The plugin for a device id; unknown ids name the known ones."""
    plugins = plugins if plugins is not None else discover()[0]
    if device not in plugins:
        raise UnknownNameError("device", device, list(plugins))
    return plugins[device]


def list_devices(plugins: dict[str, DevicePlugin] | None = None) -> dict:
    """JSON-ready listing: every device with probe result and capabilities, plus plugin load errors."""
    errors: dict[str, str] = {}
    if plugins is None:
        plugins, errors = discover()
    rows = []
    for name, p in sorted(plugins.items()):
        try:
            pr = p.probe()
        except Exception as exc:  # a probe must not take the listing down
            pr = Probe(False, reason=f"probe raised {type(exc).__name__}: {exc}")
        rows.append(
            {
                "device": name,
                "available": pr.available,
                "version": pr.version,
                "reason": pr.reason,
                "details": pr.details,
                "capabilities": p.capabilities() if pr.available else None,
                "plugin": f"{type(p).__module__}.{type(p).__qualname__}",
            }
        )
    return {"devices": rows, "plugin_errors": errors}
