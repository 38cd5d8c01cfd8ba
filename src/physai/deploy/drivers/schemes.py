"""Robot URIs -> drivers: `SCHEME:TARGET` (or `tcp://HOST:PORT`), one registered opener per scheme.

A driver module registers its scheme with `@ROBOT_SCHEMES.register("name")` on a function
`open(target, contract, options) -> RobotDriver`. Built-in: `sim:<suite/task>`, `tcp://HOST:PORT`. A scheme
that is not registered yet is looked for in the `physai.robots` entry points (name = scheme, value = the
module that registers it; e.g. `ros2` -> `physai.ros2.scheme`), then in the module
`physai.deploy.drivers.<scheme>` (e.g. `franka`), so optional drivers import their dependencies only when
used and out-of-tree packages can add robots.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from physai.core.contract import PolicyContract
from physai.core.errors import ConfigError
from physai.core.registry import Registry


@dataclass(frozen=True)
class DriverOptions:
    """Run-time options every opener receives (each uses those that apply to it)."""

    seed: int = 0
    """Episode seed (simulated robots)."""
    token: str | None = None
    """Client token (network robot agents)."""
    dry_run: bool = False
    """Read the robot but do not send commands (log them instead), for drivers that support it."""


DriverOpener = Callable[[str, PolicyContract | None, DriverOptions], object]
ROBOT_SCHEMES: Registry[DriverOpener] = Registry("robot scheme")


def split_uri(uri: str) -> tuple[str, str]:
    """`'sim:tabletop/push'` -> `('sim', 'tabletop/push')`; `'tcp://h:1'` -> `('tcp', 'h:1')`."""
    scheme, sep, target = uri.partition(":")
    if not sep or not scheme:
        raise ConfigError(
            f"robot {uri!r} has no scheme; use SCHEME:TARGET, e.g. sim:tabletop/pick-place or "
            f"tcp://HOST:PORT (registered: {', '.join(schemes())})"
        )
    return scheme, target[2:] if target.startswith("//") else target


def schemes() -> list[str]:
    """Registered robot schemes."""
    return ROBOT_SCHEMES.names()


def open_driver(uri: str, contract: PolicyContract | None = None, options: DriverOptions | None = None):
    """The driver for robot URI `uri`, set up for `contract` (None: the robot's own defaults)."""
    scheme, target = split_uri(uri)
    if scheme not in ROBOT_SCHEMES:
        _load_entry_point(scheme)
    if scheme not in ROBOT_SCHEMES:
        try:
            importlib.import_module(f"physai.deploy.drivers.{scheme}")
        except ModuleNotFoundError as e:
            if e.name != f"physai.deploy.drivers.{scheme}":
                raise ConfigError(
                    f"robot scheme {scheme!r} needs the missing module {e.name!r}; install the extra that "
                    f"provides it (pip install 'physai[field]')"
                ) from None
    if scheme not in ROBOT_SCHEMES:
        raise ConfigError(f"unknown robot scheme {scheme!r} in {uri!r}; registered: {', '.join(schemes())}")
    return ROBOT_SCHEMES.get(scheme)(target, contract, options or DriverOptions())


def _load_entry_point(scheme: str) -> None:
    """Import the module a `physai.robots` entry point names for `scheme` (it registers the scheme)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="physai.robots"):
        if ep.name == scheme:
            try:
                ep.load()
            except ModuleNotFoundError as e:
                raise ConfigError(
                    f"robot scheme {scheme!r} needs the missing module {e.name!r}; install the extra that "
                    f"provides it (pip install 'physai[field]')"
                ) from None
            return


@ROBOT_SCHEMES.register("sim")
def _open_sim(target: str, contract: PolicyContract | None, options: DriverOptions):
    from physai.deploy.drivers.sim import SimDriver, sim_driver_for

    if contract is None:
        return SimDriver(target, seed=options.seed)
    return sim_driver_for(contract, target, seed=options.seed)


@ROBOT_SCHEMES.register("tcp")
def _open_tcp(target: str, contract: PolicyContract | None, options: DriverOptions):
    from physai.deploy.drivers.network import NetworkDriver

    host, _, port = target.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"robot tcp://{target} has no port; use tcp://HOST:PORT")
    return NetworkDriver(host or "127.0.0.1", int(port), token=options.token)
