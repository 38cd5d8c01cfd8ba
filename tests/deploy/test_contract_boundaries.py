"""The runtime refuses a robot that does not match the package's contract before the first command."""

from __future__ import annotations

import threading

import pytest

from physai.core.errors import SafetyError
from physai.deploy import signing
from physai.deploy.drivers import SimDriver
from physai.deploy.package import ExportConfig, export_package, load_package
from physai.deploy.reference import TASK, contract, make_controller
from physai.deploy.runtime import Runtime, RuntimeConfig


class Counting(SimDriver):
    writes = 0

    def write(self, command) -> None:
        Counting.writes += 1
        super().write(command)


@pytest.fixture(scope="module")
def pkg(tmp_path_factory, keys):
    out = tmp_path_factory.mktemp("contract") / "pkg"
    export_package(make_controller(), contract(), out, sign_key=keys[0], config=ExportConfig(batched=False))
    return load_package(out, signing.trusted_keys(keys[1]))


@pytest.mark.parametrize(
    ("driver_kw", "names"),
    [
        ({"hz": 50}, ["20 Hz", "50 Hz"]),
        ({"cameras": ["scene"], "image_size": (32, 32), "privileged": False}, ["state"]),
        ({"control": "joint_pos"}, ["'ee_delta'", "'joint_pos'"]),
    ],
)
def test_mismatched_robot_is_refused_before_any_command(pkg, driver_kw, names):
    Counting.writes = 0
    with pytest.raises(SafetyError) as err:
        Runtime(pkg, Counting(TASK, realtime=False, **driver_kw), RuntimeConfig(realtime=False)).run()
    assert Counting.writes == 0
    for n in names:
        assert n in str(err.value)


def test_runtime_rate_must_be_the_packages(pkg):
    with pytest.raises(SafetyError, match="trained at 20 Hz"):
        Runtime(pkg, SimDriver(TASK, realtime=False), RuntimeConfig(hz=100))
    rep = Runtime(pkg, SimDriver(TASK, realtime=False), RuntimeConfig(realtime=False, max_cycles=3)).run()
    assert rep["hz"] == 20.0 and rep["timing"]["period_ms"] == 50.0


class HungDriver(SimDriver):
    """The 10th read never returns (until the test releases it); records stop() calls."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.reads, self.release, self.stopped = 0, threading.Event(), threading.Event()

    def read(self):
        self.reads += 1
        if self.reads == 10:
            self.release.wait(timeout=30)
        return super().read()

    def stop(self) -> None:
        super().stop()
        self.stopped.set()


def test_a_read_that_never_returns_stops_the_robot_from_the_watchdog(pkg):
    drv = HungDriver(TASK, seed=1)
    rt = Runtime(pkg, drv, RuntimeConfig(max_cycles=40))
    t = threading.Thread(target=rt.run, daemon=True)
    t.start()
    try:
        assert drv.stopped.wait(timeout=20), "the watchdog never stopped the robot"
        assert drv.reads == 10 and not drv.release.is_set(), "stopped while the read was still hung"
        assert rt.supervisor.stopped and rt.supervisor.stop_reason.startswith("read_hung")
    finally:
        drv.release.set()
        t.join(timeout=20)
    assert not t.is_alive()
