"""Bags written by the `rosbags` library (sqlite3 and mcap storage) -> LeRobot v3 -> MCAP -> v3 again."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from rosbag_fixtures import MAP, T0, camera, command, joint_positions, write_rosbag
from typer.testing import CliRunner

from physai.core.errors import ConfigError
from physai.data.dataset import Dataset
from physai.field import bag, rosmsg
from physai.field.bag_convert import bag_to_dataset, dataset_to_mcap, load_map, physai_map
from physai.field.convert import convert


def _expected(fps: float, n: int):
    """Zero-order hold of the source signals on the grid that starts when every topic has spoken."""
    start = T0 + 3  # the first /chatter-free instant all of /joint_states, /cmd (+1 ns), /cam (+2 ns) exist
    grid = start + (np.arange(n) * round(1e9 / fps)).astype(np.int64)
    js = T0 + (grid - T0) // 10_000_000 * 10_000_000
    cmd = T0 + (grid - 1 - T0) // 20_000_000 * 20_000_000
    cam = T0 + (grid - 2 - T0) // 100_000_000 * 100_000_000
    return js, cmd, cam


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_rosbags_bag_to_dataset_resamples_each_topic(tmp_path, storage):
    src = write_rosbag(tmp_path / "bag", storage)
    rep = bag_to_dataset(src, tmp_path / "ds", load_map(MAP))
    assert rep["episodes"] == 1 and rep["kind"] == "rosbag2" and rep["truncated"] is None
    ds = Dataset(tmp_path / "ds")
    assert ds.fps == 20 and ds.features["observation.state"]["names"] == ["j0", "j1", "j2"]
    assert ds.features["action"]["names"] == ["c0", "c1"]
    a = ds.arrays()
    n = len(ds)
    assert 38 <= n <= 41  # 2 s at 20 Hz
    js, cmd, cam = _expected(20, n)
    # joints picked by name from a message that lists them in another order
    np.testing.assert_allclose(a["observation.state"], np.stack([joint_positions(t) for t in js]), atol=1e-6)
    np.testing.assert_allclose(a["action"], np.stack([command(t) for t in cmd]), atol=1e-6)
    # images: bgr8 on the wire -> rgb; the video frame holds the latest camera image (lossy codec)
    for i in (0, n // 2, n - 1):
        img = (ds[i]["observation.images.cam"].numpy().transpose(1, 2, 0) * 255).round()
        want = camera(cam[i])
        for c in range(3):
            assert abs(img[..., c].mean() - want[..., c].mean()) < 10, (i, c)
    assert ds[0]["task"] == "wave"


def test_dataset_to_mcap_and_back_is_exact(tmp_path):
    src = write_rosbag(tmp_path / "bag", "mcap")
    bag_to_dataset(src, tmp_path / "ds", load_map(MAP))
    rep = dataset_to_mcap(tmp_path / "ds", tmp_path / "mc")
    assert rep["episodes"] == 1
    f = tmp_path / "mc" / "episode_000000.mcap"
    # ROS 2 encodings, readable by the mcap library's own reader (what Foxglove / ros2 bag use)
    from mcap.reader import make_reader

    with open(f, "rb") as fh:
        r = make_reader(fh)
        summ = r.get_summary()
        assert {s.encoding for s in summ.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summ.channels.values()} == {"cdr"}
        sch, ch, msg = next(iter(r.iter_messages(topics=["/physai/observation/state"])))
        js = rosmsg.deserialize(msg.data, sch.name)
        assert list(js.name) == ["j0", "j1", "j2"]
    bag_to_dataset(f, tmp_path / "ds2", physai_map(20, ["cam"]))
    a, b = Dataset(tmp_path / "ds").arrays(), Dataset(tmp_path / "ds2").arrays()
    np.testing.assert_array_equal(a["observation.state"], b["observation.state"])
    np.testing.assert_array_equal(a["action"], b["action"])


def test_gap_in_a_topic_splits_episodes_and_nothing_stale_is_written(tmp_path):
    src = write_rosbag(tmp_path / "bag", "sqlite3", drop_after_s=0.6)  # /joint_states silent 0.8..1.4 s
    rep = bag_to_dataset(src, tmp_path / "ds", load_map({**MAP, "max_age_s": 0.2}))
    assert rep["episodes"] == 2 and rep["gaps"] == 1
    ds = Dataset(tmp_path / "ds")
    assert len(ds) < 36  # the frames inside the gap were not written


def test_map_that_does_not_match_lists_the_bags_topics(tmp_path):
    src = write_rosbag(tmp_path / "bag", "sqlite3")
    bad = {**MAP, "state": [{"topic": "/arm/joint_states", "field": "position"}]}
    with pytest.raises(ConfigError) as e:
        bag_to_dataset(src, tmp_path / "ds", load_map(bad))
    msg = str(e.value)
    assert "/arm/joint_states" in msg and "/joint_states (sensor_msgs/msg/JointState)" in msg
    assert "/chatter (std_msgs/msg/String)" in msg
    assert not (tmp_path / "ds").exists()
    with pytest.raises(ConfigError, match="no field 'positions'"):
        bag_to_dataset(
            src, tmp_path / "ds3", load_map({**MAP, "action": [{"topic": "/cmd", "field": "positions"}]})
        )
    with pytest.raises(ConfigError, match="not sensor_msgs/Image"):
        bag_to_dataset(src, tmp_path / "ds4", load_map({**MAP, "images": {"cam": "/chatter"}}))
    with pytest.raises(ConfigError, match="joints \\['j9'\\]"):
        bag_to_dataset(
            src,
            tmp_path / "ds5",
            load_map({**MAP, "state": [{"topic": "/joint_states", "field": "position", "names": ["j9"]}]}),
        )
    with pytest.raises(ConfigError, match="fps"):
        load_map({"state": ["/a"], "action": ["/b"]})


def test_unmapped_bag_is_refused_with_its_topics(tmp_path):
    src = write_rosbag(tmp_path / "bag", "sqlite3")
    with pytest.raises(ConfigError, match="not a physai recording.*--map.*/cmd"):
        convert(src, tmp_path / "ds", source="rosbag2")


def test_cli_convert_both_ways(tmp_path):
    from physai.cli.main import app

    src = write_rosbag(tmp_path / "bag", "mcap")
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(MAP))
    run = CliRunner().invoke
    res = run(
        app,
        [
            "dataset",
            "convert",
            "--from",
            "rosbag2",
            "--map",
            str(tmp_path / "map.yaml"),
            str(src),
            str(tmp_path / "ds"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["frames"] >= 38 and doc["frames_per_s"] > 0
    res = run(
        app, ["dataset", "convert", "--to", "mcap", str(tmp_path / "ds"), str(tmp_path / "mc"), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert bag.topics(tmp_path / "mc" / "episode_000000.mcap", "mcap")["/physai/observation/images/cam"] == (
        "sensor_msgs/msg/Image"
    )
    # bad input: one clear line, non-zero exit, no traceback
    res = run(app, ["dataset", "convert", "--from", "rosbag2", str(src), str(tmp_path / "ds3")])
    assert res.exit_code != 0 and "Traceback" not in res.output and "--map" in res.output
