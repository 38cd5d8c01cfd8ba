"""The ROS 2 driver against `physai ros2 sim`'s node: the package's path end to end, and every bad input
(stale topic, clock jump, wrong type, missing topic or joint) a clear error or a protective stop."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from physai.core.errors import ConfigError
from physai.deploy import signing
from physai.deploy.package import load_package
from physai.deploy.reference import contract, env_contract
from physai.deploy.runtime import Runtime, RuntimeConfig
from physai.ros2.config import TopicConfig
from physai.ros2.driver import Ros2Driver
from physai.ros2.sim_node import SimRobotNode

TASK = "tabletop/pick-place"
LOCKSTEP_WAIT = 40  # periods a lockstep read waits for the state after a command (a loaded CI machine)


@pytest.fixture
def pkg(pick_package):
    out, keys = pick_package
    return load_package(out, signing.trusted_keys(keys[1]))


@pytest.fixture
def lockstep_node(domain):
    node = SimRobotNode(TASK, seed=1, domain_id=domain, max_steps=300, lockstep=True).start()
    node.sim.realtime = False
    yield node
    node.close()


class At:
    """Runtime observer: calls `fn()` once when cycle `n` has been written."""

    def __init__(self, n, fn) -> None:
        self.n, self.fn, self.cycles = n, fn, 0

    def start(self, info, pkg) -> None: ...

    def cycle(self, rec) -> None:
        self.cycles = rec.cycle + 1
        if rec.cycle == self.n:
            self.fn()

    def end(self, report) -> None: ...


def _run(pkg, drv, *observers):
    return Runtime(pkg, drv, RuntimeConfig(realtime=False, read_deadline_s=5.0), observers=observers).run()


def test_reading_matches_the_sim_by_name_and_commands_arrive(lockstep_node):
    drv = Ros2Driver(lockstep_node.driver_config(stale_after=LOCKSTEP_WAIT), contract())
    info = drv.connect()
    try:
        assert info.embodiment == "arm7" and info.control == "ee_delta" and info.hz == 20
        r = drv.read()
        direct = lockstep_node.sim.read()
        np.testing.assert_allclose(r.obs["state"], direct.obs["state"], atol=1e-6)
        np.testing.assert_allclose(r.robot.joint_pos, direct.robot.joint_pos, atol=1e-9)
        np.testing.assert_allclose(r.robot.ee_pos, direct.robot.ee_pos, atol=1e-6)
        assert r.robot.wrench.shape == (1, 6) and r.robot.stamp is not None
        drv.write(np.array([0.01, 0, 0, 0, 0, 0, 1.0]))
        r2 = drv.read()  # lockstep: the state after the command
        assert r2.robot.stamp == pytest.approx(r.robot.stamp + 0.05)
        np.testing.assert_allclose(lockstep_node.received[-1], [0.01, 0, 0, 0, 0, 0, 1.0], atol=1e-9)
        assert r2.obs["state"][15] > r.obs["state"][15]  # the TCP moved along +x
    finally:
        drv.disconnect()


def test_package_completes_pick_place_through_ros2_like_the_direct_driver(pkg, lockstep_node):
    from physai.deploy.drivers.sim import sim_driver_for

    direct = _run(pkg, sim_driver_for(pkg.contract, TASK, seed=1, max_steps=300, realtime=False))
    drv = Ros2Driver(lockstep_node.driver_config(stale_after=40), pkg.contract)
    rep = _run(pkg, drv)
    assert direct["success"] and rep["success"] and rep["episode_done"]
    assert rep["cycles"] == direct["cycles"] and rep["safety"]["state"] == "running" and not drv.faults
    assert lockstep_node.commands >= rep["cycles"]


def test_stale_topic_is_a_protective_stop_and_nothing_moves(pkg, lockstep_node):
    drv = Ros2Driver(lockstep_node.driver_config(stale_after=10), pkg.contract)
    rep = _run(pkg, drv, At(10, lambda: setattr(lockstep_node, "muted", True)))
    assert rep["safety"]["state"] == "stopped" and rep["safety"]["stop_reason"].startswith("stale_state")
    assert "is stale: no message within 0.500 s" in drv.fault and drv.fault.startswith("topic /")
    assert not rep["success"] and rep["cycles"] < 30
    after = list(lockstep_node.received)[11:]  # everything sent once the state went stale: hold (zero twist)
    assert after and all(np.allclose(a[:6], 0) for a in after)


def test_ros_clock_jump_is_a_protective_stop(pkg, lockstep_node):
    drv = Ros2Driver(lockstep_node.driver_config(stale_after=LOCKSTEP_WAIT), pkg.contract)
    rep = _run(pkg, drv, At(10, lambda: setattr(lockstep_node, "stamp_offset", -5.0)))
    assert rep["safety"]["state"] == "stopped" and rep["safety"]["stop_reason"].startswith("stale_state")
    assert "header stamp jumped back 4.950 s" in drv.fault and "ROS clock jumped" in drv.fault


def test_free_running_robot_that_goes_silent_is_stale_by_age(domain):
    node = SimRobotNode(TASK, domain_id=domain).start()
    try:
        drv = Ros2Driver(node.driver_config(stale_after=3), contract())
        drv.connect()
        drv.read()
        node.muted = True
        assert node.ros.wait_for(lambda: drv.read() and drv.fault is not None, 5.0)
        assert "is stale: no newer header stamp" in drv.fault and "(> 3 periods at 20 Hz)" in drv.fault
        frozen = drv.read().robot.stamp
        node.muted = False
        assert node.ros.wait_for(lambda: node.ticks > 5, 2.0)
        assert drv.read().robot.stamp == frozen  # the fault is latched: the supervisor's stop follows
        drv.disconnect()
    finally:
        node.close()


def test_wrong_type_missing_topic_and_missing_joint_are_refused_before_anything_moves(lockstep_node):
    cfg = lockstep_node.driver_config(stale_after=LOCKSTEP_WAIT)
    wrong = dataclasses.replace(
        cfg,
        episode=None,
        joint_states=TopicConfig("physai/episode", "sensor_msgs/msg/JointState", key="joint_states"),
    )
    with pytest.raises(
        ConfigError,
        match=r"topic /physai/episode \(`joint_states`\) has type "
        r"std_msgs/msg/Float64MultiArray but the config expects",
    ):
        Ros2Driver(wrong, contract()).connect()
    missing = dataclasses.replace(
        cfg,
        poses={
            **cfg.poses,
            "tray": TopicConfig("nowhere", "geometry_msgs/msg/PoseStamped", key="poses.tray"),
        },
    )
    with pytest.raises(ConfigError, match=r"/nowhere \(`poses.tray`\)"):
        Ros2Driver(dataclasses.replace(missing, connect_timeout=3.0), contract()).connect()
    renamed = dataclasses.replace(cfg, joint_names={"joint3": "fr3_joint3"})
    with pytest.raises(ConfigError, match="joint 'fr3_joint3' is not in /joint_states"):
        Ros2Driver(renamed, contract()).connect()
    nosource = dataclasses.replace(cfg, poses={k: v for k, v in cfg.poses.items() if k != "target"})
    with pytest.raises(ConfigError, match="state element 'target.pos.x' .* no source"):
        Ros2Driver(nosource, contract()).connect()
    assert lockstep_node.commands == 0


def test_dry_run_logs_commands_and_sends_none(lockstep_node, tmp_path):
    cfg = dataclasses.replace(
        lockstep_node.driver_config(stale_after=LOCKSTEP_WAIT), dry_run_log=tmp_path / "dry.jsonl"
    )
    drv = Ros2Driver(cfg, contract(), dry_run=True)
    drv.connect()
    drv.read()
    for _ in range(3):
        drv.write(np.array([0.01, 0, 0, 0, 0, 0, 1.0]))
    drv.stop()
    drv.disconnect()
    assert lockstep_node.commands == 0 and drv.sent == 0 and len(drv.commands_logged) == 3
    rows = [json.loads(x) for x in (tmp_path / "dry.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and rows[0]["command"]["ee.dx"] == pytest.approx(0.01)


@pytest.mark.parametrize("interface", ["forward_position", "joint_trajectory", "forward_velocity"])
def test_joint_interfaces_move_the_joint_the_command_names(interface, domain):
    node = SimRobotNode(
        TASK, control="joint_pos", interface=interface, domain_id=domain, lockstep=True
    ).start()
    node.sim.realtime = False
    c = env_contract(TASK, control="joint_pos")
    drv = Ros2Driver(node.driver_config(stale_after=LOCKSTEP_WAIT), c)
    try:
        drv.connect()
        q0 = drv.read().robot.joint_pos.copy()
        target = np.append(q0, 0.0)
        target[0] += 0.05  # joint1 only
        for _ in range(10):
            drv.write(target)
            q = drv.read().robot.joint_pos
        assert q[0] - q0[0] > 0.02 and np.abs(q[1:] - q0[1:]).max() < 0.02
        drv.stop()  # hold
        held = node.received[-1][:7]
        np.testing.assert_allclose(held, q if interface != "forward_position" else held, atol=0.02)
    finally:
        drv.disconnect()
        node.close()


@pytest.mark.parametrize("compressed", [False, True])
def test_camera_images_arrive_raw_or_compressed(compressed, domain):
    from physai.core.contract import Camera

    node = SimRobotNode(
        TASK, cameras=["scene"], image_size=(32, 48), compressed=compressed, domain_id=domain, lockstep=True
    ).start()
    node.sim.realtime = False
    c = dataclasses.replace(contract(), cameras=(Camera("scene", 32, 48),))
    drv = Ros2Driver(node.driver_config(stale_after=LOCKSTEP_WAIT), c)
    try:
        info = drv.connect()
        assert info.cameras == ["scene"] and info.image_size == (32, 48)
        img = drv.read().obs["images/scene"]
        want = node.sim.read().obs["images/scene"]
        assert img.shape == (32, 48, 3) and img.dtype == np.uint8
        err = np.abs(img.astype(int) - want.astype(int)).mean()
        assert err == 0 if not compressed else err < 8
    finally:
        drv.disconnect()
        node.close()
