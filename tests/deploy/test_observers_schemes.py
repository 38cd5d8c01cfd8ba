"""Runtime observers see every cycle's proposal and written command; robot URIs open registered drivers."""

from __future__ import annotations

import numpy as np
import pytest

from physai.core.errors import ConfigError
from physai.deploy import signing
from physai.deploy.drivers import DriverOptions, NetworkDriver, SimDriver, open_driver
from physai.deploy.drivers.schemes import split_uri
from physai.deploy.package import ExportConfig, export_package, load_package
from physai.deploy.reference import contract, make_controller
from physai.deploy.runtime import CycleRecord, Runtime, RuntimeConfig


class Log:
    def __init__(self) -> None:
        self.started, self.records, self.report = None, [], None

    def start(self, info, pkg) -> None:
        self.started = info

    def cycle(self, record: CycleRecord) -> None:
        self.records.append(record)

    def end(self, report: dict) -> None:
        self.report = report


class Recording(SimDriver):
    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.commands: list[np.ndarray] = []

    def write(self, command: np.ndarray) -> None:
        self.commands.append(np.asarray(command, float).copy())
        super().write(command)


def test_observer_sees_every_written_command(tmp_path, keys):
    export_package(make_controller(), contract(), tmp_path / "p", sign_key=keys[0],
                   config=ExportConfig(batched=False))
    pkg = load_package(tmp_path / "p", signing.trusted_keys(keys[1]))
    drv = Recording("tabletop/pick-place", seed=3, realtime=False)
    log = Log()
    rep = Runtime(pkg, drv, RuntimeConfig(realtime=False, max_cycles=12), observers=[log]).run()
    assert log.started is not None and log.report is rep
    assert [r.cycle for r in log.records] == list(range(12))
    # the observer saw exactly what was written, in order (the first 12 writes; braking writes follow)
    for r, c in zip(log.records, drv.commands, strict=False):
        np.testing.assert_array_equal(r.command, c)
        assert r.source == "policy" and r.action is not None and r.work_s >= 0
        assert "state" in r.obs


def test_uris_open_registered_drivers():
    assert split_uri("sim:tabletop/push") == ("sim", "tabletop/push")
    assert split_uri("tcp://10.0.0.2:7000") == ("tcp", "10.0.0.2:7000")
    assert isinstance(open_driver("sim:tabletop/push", None, DriverOptions(seed=1)), SimDriver)
    drv = open_driver("tcp://127.0.0.1:7000", contract(), DriverOptions(token="t"))
    assert isinstance(drv, NetworkDriver)


@pytest.mark.parametrize("uri", ["tabletop/push", "nosuch:thing", "tcp://host"])
def test_bad_uris_name_the_fix(uri):
    with pytest.raises(ConfigError, match="robot|scheme"):
        open_driver(uri, None)
