"""The driver CONFIG: a full document parses, round-trips, and every mistake names its YAML key."""

from __future__ import annotations

import pytest
import yaml

from physai.core.errors import ConfigError
from physai.ros2 import layout
from physai.ros2.config import dump_config, load_config, parse_config

FULL = """
embodiment: arm7
control: ee_delta
hz: 20
domain_id: 7
namespace: /arm
stale_after: 4
qos: {reliability: best_effort, durability: volatile, depth: 2}
joint_states: {topic: joint_states, names: {joint1: fr3_joint1}}
poses: {ee: {topic: tcp_pose, hz: 100}, target: {topic: /perception/target}}
tcp: ee
wrenches: {wrist: {topic: wrist/wrench, qos: {reliability: reliable}}}
cameras: {front: {topic: cam/image/compressed, type: sensor_msgs/msg/CompressedImage}}
extras: {topic: task_state, names: [tray.pos.x]}
command:
  interface: twist
  topic: servo/twist
  frame_id: base
  gripper: {topic: gripper/commands, channels: [gripper]}
"""


def test_full_config_parses_and_round_trips(tmp_path):
    p = tmp_path / "robot.yaml"
    p.write_text(FULL)
    cfg = load_config(p)
    assert cfg.domain_id == 7 and cfg.stale_after == 4 and cfg.qos.reliability == "best_effort"
    assert cfg.resolve(cfg.joint_states.topic) == "/arm/joint_states"
    assert cfg.resolve(cfg.poses["target"].topic) == "/perception/target"
    assert cfg.rate(cfg.poses["ee"]) == 100 and cfg.rate(cfg.poses["target"]) == 20
    assert cfg.cameras["front"].type == "sensor_msgs/msg/CompressedImage"
    assert cfg.wrenches["wrist"].qos.reliability == "reliable"
    assert cfg.command.gripper_channels == ("gripper",) and cfg.joint_names == {"joint1": "fr3_joint1"}
    assert parse_config(yaml.safe_load(yaml.safe_dump(dump_config(cfg)))) == cfg


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("command"), "`command` is missing"),
        (
            lambda d: d["command"].update(interface="forward_position"),
            "`command.interface` forward_position cannot carry ee_delta",
        ),
        (lambda d: d["command"].update(interface="servo"), "`command.interface` must be one of"),
        (lambda d: d.update(hz=-1), "`hz` must be a positive rate"),
        (lambda d: d.update(tcp="hand"), "`tcp` names pose 'hand'"),
        (lambda d: d.update(colour="red"), "`colour` is not a known key"),
        (
            lambda d: d["qos"].update(reliability="sometimes"),
            "`qos.reliability` must be reliable or best_effort",
        ),
        (
            lambda d: d["poses"]["ee"].update(type="sensor_msgs/msg/Image"),
            "`poses.ee.type` must be geometry_msgs/msg/PoseStamped",
        ),
        (lambda d: d["cameras"]["front"].pop("topic"), "`cameras.front.topic` is missing"),
        (lambda d: d.update(domain_id=300), "`domain_id` must be between 0 and 232"),
        (
            lambda d: d["poses"]["target"].update(topic="/arm/tcp_pose"),
            "topic /arm/tcp_pose is configured for two",
        ),
        (lambda d: d["joint_states"].update(names=["joint1"]), "`joint_states.names` must be a dict"),
    ],
)
def test_mistakes_name_the_key(edit, message):
    doc = yaml.safe_load(FULL)
    edit(doc)
    with pytest.raises(ConfigError) as e:
        parse_config(doc, "robot.yaml")
    assert message in str(e.value) and str(e.value).startswith("robot.yaml")


def test_missing_and_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file.*--write-config"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("command: [unclosed")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_layout_splits_state_names_by_source():
    from physai.deploy.reference import contract

    g = layout.split(contract().state_names)
    assert g.joints == tuple(f"joint{i}" for i in range(1, 8)) + ("gripper",)
    assert g.poses == ("ee", "target", "tray") and g.wrenches == ("wrist",) and g.extras == ()
    assert layout.split(["drawer.q", "base.angvel.x", "left/elbow.pos"]) == layout.Groups(
        ("left/elbow",), (), (), ("drawer.q", "base.angvel.x")
    )
    assert layout.pose_slot("ee.quat.w") == ("ee", 3) and layout.joint_slot("FL_hip.torque") == (
        "FL_hip",
        "effort",
    )
