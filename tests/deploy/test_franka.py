"""`franka:HOST` against franky-sim (the libfranka protocol at 1 kHz, MuJoCo) on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from physai.core.errors import ConfigError, SafetyError

franky = pytest.importorskip("franky", reason="franky-control is not installed (pip install 'physai[field]')")
pytest.importorskip("franky_sim", reason="franky-sim is not installed (pip install 'physai[field]')")

from physai.deploy import signing  # noqa: E402
from physai.deploy.drivers.franka import FrankaConfig, FrankaDriver, parse_target  # noqa: E402
from physai.deploy.package import ExportConfig, export_package, load_package  # noqa: E402
from physai.deploy.runtime import Runtime, RuntimeConfig  # noqa: E402
from physai.deploy.safety import SupervisorConfig  # noqa: E402
from physai.field.franka_reference import CirclePolicy, circle_contract  # noqa: E402

HZ = 20.0
_N = [0]


def _start_server(timeout: float = 60.0):
    """A franky-sim server on a loopback address of its own; (process, host), or skip with the reason."""
    _N[0] += 1
    host = f"127.{os.getpid() % 200 + 20}.{_N[0]}.7"
    proc = subprocess.Popen(
        [sys.executable, "-m", "franky_sim.run_server", "--simulator", "mujoco", "--hostname", host],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines, t0 = [], time.monotonic()
    assert proc.stdout is not None
    for line in proc.stdout:  # the server prints its address once it is bound
        lines.append(line)
        if "Connect to the server" in line:
            return proc, host
        if time.monotonic() - t0 > timeout:
            break
    proc.kill()
    pytest.skip(f"franky-sim did not start on {host}: {''.join(lines)[-500:]}")


@pytest.fixture()
def sim_server():
    proc, host = _start_server()
    yield proc, host
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def circle_pkg(tmp_path_factory):
    d = tmp_path_factory.mktemp("franka")
    keys = signing.generate_keys(d / "keys")
    export_package(
        CirclePolicy(HZ), circle_contract(HZ), d / "pkg", sign_key=keys[0], config=ExportConfig(batched=False)
    )
    return d / "pkg", keys


def _load(circle_pkg):
    path, keys = circle_pkg
    return load_package(path, signing.trusted_keys(keys[1]))


# The shared 2-core CI box starves franky-sim's 1 kHz loop at times: the robot clock then pauses for a
# few cycles, or advances by 1 ms between reads while the physics moved further (the clock ticks in whole
# ms), which makes a per-cycle measured speed meaningless. These tests check behaviour, so they widen
# the freshness window and the per-cycle speed monitor and measure the speed themselves over >= 20 ms
# of robot time; the benchmark (bench/franka_loop.py) runs with the defaults and reports what happens.
LENIENT = SupervisorConfig(stale_cycles=40, monitor_speed_factor=10.0)


def test_driver_declares_arm7_and_reports_the_robots_own_state(sim_server):
    _, host = sim_server
    drv = FrankaDriver(FrankaConfig(host, control="ee_delta", hz=HZ, comm_timeout_s=2.0))
    info = drv.connect()
    try:
        assert (info.embodiment, info.control, info.hz, info.cameras) == ("arm7", "ee_delta", HZ, [])
        assert len(info.state_names) == 28 and info.action_names[-1] == "gripper"
        r = drv.read()
        st = drv.robot.state
        # the robot's own q and O_T_EE (shifted by arm7's base mount), not a model of them
        np.testing.assert_allclose(r.robot.joint_pos, np.asarray(st.q), atol=1e-6)
        np.testing.assert_allclose(
            r.robot.ee_pos[0], np.asarray(st.O_T_EE.translation) + [0, 0, 0.4], atol=1e-6
        )
        np.testing.assert_allclose(r.obs["state"][15:18], r.robot.ee_pos[0], atol=1e-5)
        # arm7's kinematics agree with the robot's reported TCP at its joints
        fk = info.kinematics.tcp_pose(r.robot.joint_pos)[0][0]
        assert np.linalg.norm(fk - r.robot.ee_pos[0]) < 0.01
        assert r.robot.stamp is not None
    finally:
        drv.stop()
        drv.disconnect()


def test_contract_mismatch_is_refused_before_anything_moves(sim_server, circle_pkg):
    _, host = sim_server
    pkg = _load(circle_pkg)
    drv = FrankaDriver(FrankaConfig(host, control="ee_delta", hz=50.0, comm_timeout_s=2.0))  # package: 20 Hz
    with pytest.raises(SafetyError, match="control rate"):
        Runtime(pkg, drv, RuntimeConfig(max_cycles=5)).run()
    assert drv.writes == 0


def test_runtime_drives_the_franka_under_the_collaborative_cap(sim_server, circle_pkg):
    _, host = sim_server
    pkg = _load(circle_pkg)
    drv = FrankaDriver(parse_target(f"{host}?gripper=0", pkg.contract))
    drv = FrankaDriver(FrankaConfig(**{**drv.cfg.__dict__, "comm_timeout_s": 2.0}))
    stamps, tcp = [], []

    class Watch:
        def start(self, info, pkg):
            pass

        def cycle(self, rec):
            stamps.append(rec.robot.stamp)
            tcp.append(rec.robot.ee_pos[0].copy())

        def end(self, report):
            pass

    rt = Runtime(pkg, drv, RuntimeConfig(max_cycles=40, supervisor=LENIENT), observers=[Watch()])
    drv.on_fault = lambda rule, why: rt.supervisor.fault(rule, why)
    rep = rt.run()
    assert drv.fault is None, drv.fault
    assert rep["cycles"] >= 40 and drv.writes >= 40
    p, t = np.array(tcp), np.array(stamps)
    assert np.linalg.norm(p[-1] - p[0]) > 0.005  # the arm really moved
    # measured speed on the robot's clock, over >= 20 ms of it (the clock ticks in whole milliseconds)
    speed, j = [], 0
    for i in range(1, len(t)):
        if t[i] - t[j] >= 0.02:
            speed.append(np.linalg.norm(p[i] - p[j]) / (t[i] - t[j]))
            j = i
    cap = 0.25
    assert speed and max(speed) <= 1.1 * cap, max(speed)


def test_server_dropping_mid_motion_is_a_protective_stop_with_the_reason(sim_server, circle_pkg):
    proc, host = sim_server
    pkg = _load(circle_pkg)
    drv = FrankaDriver(FrankaConfig(host, control="ee_delta", hz=HZ, gripper=False, comm_timeout_s=0.3))

    class KillAfter:
        def start(self, info, pkg):
            pass

        def cycle(self, rec):
            if rec.cycle == 10:
                proc.kill()  # the robot's network goes away mid-motion

        def end(self, report):
            pass

    rt = Runtime(
        pkg,
        drv,
        RuntimeConfig(max_cycles=400, supervisor=SupervisorConfig(stale_cycles=0)),
        observers=[KillAfter()],
    )
    at_fault = []

    def on_fault(rule, why):
        at_fault.append(drv.writes)
        rt.supervisor.fault(rule, why)

    drv.on_fault = on_fault
    rep = rt.run()
    assert rep["safety"]["state"] == "stopped"
    assert rep["safety"]["stop_reason"].startswith("communication"), rep["safety"]["stop_reason"]
    assert "no state from the Franka" in rep["safety"]["stop_reason"]
    assert rep["cycles"] < 400
    assert at_fault == [drv.writes]  # reported once; a faulted robot is sent no further motion


def test_a_refused_motion_is_a_protective_stop_with_the_robots_reason(sim_server, circle_pkg):
    _, host = sim_server
    pkg = _load(circle_pkg)
    drv = FrankaDriver(FrankaConfig(host, control="ee_delta", hz=HZ, gripper=False, comm_timeout_s=2.0))

    class Reflexing:  # the real robot, whose 6th motion is refused as a reflex would be
        def __init__(self, robot):
            self.robot, self.moves = robot, 0

        def __getattr__(self, name):
            return getattr(self.robot, name)

        def move(self, motion, asynchronous=False):
            self.moves += 1
            if self.moves == 6:
                raise RuntimeError("Motion aborted by reflex! ['cartesian_reflex']")
            return self.robot.move(motion, asynchronous=asynchronous)

    class Wrap:
        def start(self, info, pkg):
            drv.robot = Reflexing(drv.robot)

        def cycle(self, rec):
            pass

        def end(self, report):
            pass

    rt = Runtime(pkg, drv, RuntimeConfig(max_cycles=100, supervisor=LENIENT), observers=[Wrap()])
    drv.on_fault = lambda rule, why: rt.supervisor.fault(rule, why)
    rep = rt.run()
    assert rep["safety"]["state"] == "stopped" and rep["cycles"] < 100
    assert (
        rep["safety"]["stop_reason"].startswith("robot_error")
        and "cartesian_reflex" in rep["safety"]["stop_reason"]
    )


def test_cli_run_on_franka_records_the_session(sim_server, circle_pkg, tmp_path):
    from typer.testing import CliRunner

    from physai.cli.main import app
    from physai.field import bag

    _, host = sim_server
    path, keys = circle_pkg
    rec = tmp_path / "session.mcap"
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--package",
            str(path),
            "--robot",
            f"franka:{host}?gripper=0",
            "--duration",
            "1",
            "--record",
            str(rec),
            "--public-key",
            str(keys[1]),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["record"]["cycles"] >= 1 and rep["record"]["dropped"] == 0
    topics = bag.topics(rec, "mcap")
    assert topics["/joint_states"] == "sensor_msgs/msg/JointState"
    assert topics["/physai/action/command"] == "sensor_msgs/msg/JointState"


def test_dry_run_reads_the_robot_and_moves_nothing(sim_server, circle_pkg):
    from physai.deploy.drivers.schemes import DriverOptions, open_driver

    _, host = sim_server
    pkg = _load(circle_pkg)
    drv = open_driver(f"franka:{host}?gripper=0", pkg.contract, DriverOptions(dry_run=True))
    rep = Runtime(pkg, drv, RuntimeConfig(max_cycles=15, supervisor=LENIENT)).run()
    assert rep["cycles"] >= 15 and drv.dry_writes >= 15 and drv.writes == 0
    assert drv.commanded is not None  # the commands were computed (and could be logged / recorded)


def test_bad_targets_are_clear_errors():
    with pytest.raises(ConfigError, match="address"):
        parse_target("", None)
    with pytest.raises(ConfigError, match="unknown option 'speed'"):
        parse_target("10.0.0.2?speed=3", None)
    with pytest.raises(ConfigError, match="cannot connect"):
        FrankaDriver(FrankaConfig("127.0.0.1", gripper=False)).connect()
