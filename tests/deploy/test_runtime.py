"""Runtime in simulation: a signed package completes pick-place with the supervisor in the loop; wrong
embodiment refused; e-stop and watchdog stop the loop; the network driver carries the same session."""

from __future__ import annotations

import time

import numpy as np
import pytest

from physai.core.errors import ConfigError, SafetyError
from physai.deploy import signing
from physai.deploy.drivers import DriverAgent, NetworkDriver, SimDriver
from physai.deploy.package import ExportConfig, export_package, load_package
from physai.deploy.reference import contract, make_controller
from physai.deploy.runtime import Runtime, RuntimeConfig
from physai.embodiments import make_embodiment

TASK = "tabletop/pick-place"
LIM = make_embodiment("arm7").safety_limits()


@pytest.fixture(scope="module")
def pick_package(tmp_path_factory, keys):
    out = tmp_path_factory.mktemp("pp") / "pkg"
    export_package(make_controller(), contract(), out, sign_key=keys[0], config=ExportConfig(batched=False))
    return load_package(out, signing.trusted_keys(keys[1]))


class Recording(SimDriver):
    """Sim driver that keeps every command it receives."""

    def __init__(self, *a, on_write=None, **kw) -> None:
        super().__init__(*a, **kw)
        self.commands: list[np.ndarray] = []
        self.on_write = on_write

    def write(self, command: np.ndarray) -> None:
        self.commands.append(np.asarray(command, float).copy())
        if self.on_write:
            self.on_write(len(self.commands))
        super().write(command)


class Glitchy:
    """Wraps a package; some inferences return NaN or huge actions (a faulty accelerator, say)."""

    def __init__(self, pkg, nan_at=(5,), huge_at=(9, 30)) -> None:
        self._pkg, self.n, self.nan_at, self.huge_at = pkg, 0, nan_at, huge_at

    def __getattr__(self, k):
        return getattr(self._pkg, k)

    def infer(self, obs):
        self.n += 1
        chunk = self._pkg.infer(obs).copy()
        if self.n in self.nan_at:
            chunk[:] = np.nan
        if self.n in self.huge_at:
            chunk[:, :3] = 1e6
        return chunk


def test_package_completes_task_with_supervisor_in_the_loop(pick_package):
    drv = Recording(TASK, seed=1, realtime=False, max_steps=300)
    rep = Runtime(Glitchy(pick_package), drv, RuntimeConfig(realtime=False)).run()
    assert rep["success"] and rep["episode_done"]
    assert rep["safety"]["state"] == "running"
    seen = rep["safety"]["interventions"]
    assert seen.get("non_finite_action") and seen.get("ee_speed"), seen
    dt = 1 / 20
    for c in drv.commands:
        assert np.linalg.norm(c[:3]) / dt <= LIM.ee_speed_collaborative + 1e-6
    assert rep["inference"]["chunks"] >= rep["cycles"] // pick_package.contract.execution.horizon


def test_wrong_embodiment_is_refused(tiny_package, keys):
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    with pytest.raises(SafetyError, match="is for 'toy', the robot is 'arm7'"):
        Runtime(pkg, SimDriver(TASK, realtime=False), RuntimeConfig(realtime=False)).run()


def test_estop_latches_and_brings_the_robot_to_rest(pick_package):
    rt = None

    def hit(n: int) -> None:
        if n == 20:
            rt.estop("test button")

    drv = Recording(TASK, seed=1, realtime=False, on_write=hit)
    rt = Runtime(pick_package, drv, RuntimeConfig(realtime=False))
    rep = rt.run()
    assert rep["safety"]["state"] == "stopped" and "test button" in rep["safety"]["stop_reason"]
    # the brake pulls the commanded TCP back onto the measured one (at most a few cycles), then holds
    assert 21 <= rep["cycles"] <= 24, rep["cycles"]
    assert np.allclose(drv.commands[-1][:6], 0), "after the e-stop the TCP is commanded to stand still"
    for c in drv.commands[20:]:
        assert np.linalg.norm(c[:3]) <= 0.02, "the stop never commands a move away from the arm"


class SlowPackage:
    """A package whose inference misses every deadline after the first chunk."""

    def __init__(self, pkg) -> None:
        self._pkg, self.calls = pkg, 0

    def __getattr__(self, k):
        return getattr(self._pkg, k)

    def infer(self, obs):
        self.calls += 1
        if self.calls > 1:
            time.sleep(0.5)
        return self._pkg.infer(obs)


def test_watchdog_stops_on_consecutive_late_inference(pick_package):
    drv = SimDriver(TASK, seed=0)
    rep = Runtime(SlowPackage(pick_package), drv, RuntimeConfig(duration=2.0, lead_cycles=0)).run()
    assert rep["safety"]["state"] == "stopped"
    assert rep["safety"]["stop_reason"].startswith("watchdog")
    assert rep["inference"]["late_cycles"] >= 3


def test_network_driver_runs_the_same_session(pick_package):
    agent = DriverAgent(SimDriver(TASK, seed=2, realtime=False, max_steps=300), token="tok").start()
    try:
        host, port = agent.address
        with pytest.raises(ConfigError, match="token"):
            NetworkDriver(host, port, token="bad").connect()
        rep = Runtime(
            pick_package, NetworkDriver(host, port, token="tok"), RuntimeConfig(realtime=False)
        ).run()
        assert rep["success"]
    finally:
        agent.close()


def test_int8_closed_loop_check_in_sim(tmp_path):
    cfg = ExportConfig(batched=False, int8=True, int8_task=TASK, int8_episodes=2, parity_samples=8)
    rep = export_package(make_controller(), contract(), tmp_path / "q", config=cfg)
    q = rep["int8"]
    assert q["task"] == TASK and q["episodes"] == 2
    assert q["success_fp32"] == 1.0 and q["accepted"] and q["success_fp32"] - q["success_int8"] <= 0.05


def test_agent_refuses_bad_commands_and_stops_on_link_loss():
    class Counting(SimDriver):
        stops = 0

        def stop(self) -> None:
            Counting.stops += 1
            super().stop()

    agent = DriverAgent(Counting(TASK, realtime=False), idle_timeout=0.3).start()
    try:
        drv = NetworkDriver(*agent.address)
        info = drv.connect()
        assert info.embodiment == "arm7" and info.safety_limits.ee_speed_collaborative == 0.25
        assert drv.read().obs["state"].shape == (len(info.state_names),)
        with pytest.raises(ConfigError, match="finite"):
            drv.write(np.full(7, np.nan, np.float32))
        with pytest.raises(ConfigError, match="shape"):
            drv.write(np.zeros(3, np.float32))
        before = Counting.stops
        time.sleep(0.6)  # the runtime goes silent: the agent stops the robot
        assert Counting.stops > before
        drv.sock.close()
    finally:
        agent.close()


class NoTcpDriver(SimDriver):
    """A driver that reports joints but no TCP pose."""

    def read(self):
        r = super().read()
        r.robot.ee_pos = None
        return r


def test_ee_delta_policy_is_refused_on_a_driver_without_tcp_pose(pick_package):
    with pytest.raises(SafetyError, match="TCP pose"):
        Runtime(pick_package, NoTcpDriver(TASK, realtime=False), RuntimeConfig(realtime=False)).run()


class FakeClock:
    """Monotonic time that only moves when told to."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class HangingDriver(Recording):
    """The 10th read takes 3 s (on the injected clock); the driver records reads after it."""

    def __init__(self, clock: FakeClock, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.clock, self.reads, self.reads_after_hang = clock, 0, 0

    def read(self):
        self.reads += 1
        if self.reads == 10:
            self.clock.t += 3.0
        elif self.reads > 10:
            self.reads_after_hang += 1
        return super().read()


def test_a_read_past_its_deadline_stops_the_robot(pick_package):
    clock = FakeClock()
    drv = HangingDriver(clock, TASK, seed=1, realtime=False)
    rep = Runtime(pick_package, drv, RuntimeConfig(realtime=False, max_cycles=100), clock=clock).run()
    assert rep["safety"]["state"] == "stopped"
    assert rep["safety"]["stop_reason"].startswith("read_deadline"), rep["safety"]
    assert drv.reads_after_hang == 0, "a driver that missed its read deadline is not read again"
    assert np.allclose(drv.commands[-1][:3], 0, atol=0.02), "the cycle with the late read writes the stop"
