"""`McapRecorder`: every cycle as ROS 2 messages, never blocking the loop, nothing lost on any exit."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("mcap")
pytest.importorskip("rosbags")

from physai.deploy.drivers.base import DriverInfo
from physai.deploy.runtime import CycleRecord
from physai.embodiments import make_embodiment
from physai.field import bag, rosmsg
from physai.field import mcap_writer as mw
from physai.field.bag_convert import bag_to_dataset, session_map
from physai.field.mcap_record import McapRecorder

CAMS = ["scene", "wrist"]


def _info() -> DriverInfo:
    emb = make_embodiment("arm7")
    spec = emb.action_spec("ee_delta")
    return DriverInfo(
        "arm7",
        "ee_delta",
        50.0,
        emb.state_names(),
        list(spec.names),
        spec.low,
        spec.high,
        emb.safety_limits(),
        cameras=list(CAMS),
        image_size=(32, 32),
    )


def _record(i: int, modified: bool = False, none: bool = False) -> CycleRecord:
    state = np.arange(28, dtype=np.float32) + i
    obs = {
        "state": state,
        **{f"images/{c}": np.full((32, 32, 3), (i * 7 + k) % 256, np.uint8) for k, c in enumerate(CAMS)},
    }
    action = None if none else np.full(7, 0.01 * i)
    cmd = np.full(7, 0.01 * i) * (0.5 if modified else 1.0)
    robot = SimpleNamespace(joint_pos=np.full(7, 0.1 * i))
    return CycleRecord(i, 100.0 + i * 0.02, obs, robot, action, cmd, "policy", 0.001)


PKG = SimpleNamespace(
    path="pkg", contract=SimpleNamespace(to_dict=lambda: {"control_hz": 50.0, "tasks": ["t"]})
)


def _messages(path, topic):
    return [m for _, _, _, m in bag.messages(path, "mcap", {topic}, bag.BagContents())]


def test_every_cycle_is_recorded_with_ros2_types(tmp_path):
    f = tmp_path / "s.mcap"
    rec = McapRecorder(f)
    rec.start(_info(), PKG)
    for i in range(30):
        rec.cycle(_record(i, modified=(i == 5), none=(i == 7)))
    rec.end({"cycles": 30})
    summary = rec.close()
    assert summary["cycles"] == 30 and summary["dropped"] == 0 and summary["error"] is None
    topics = bag.topics(f, "mcap")
    assert topics[mw.JOINTS] == topics[mw.STATE] == topics[mw.COMMAND] == "sensor_msgs/msg/JointState"
    assert topics[mw.IMAGES + "wrist"] == "sensor_msgs/msg/Image"
    assert topics[mw.TIMING] == "std_msgs/msg/Float64MultiArray"
    states = _messages(f, mw.STATE)
    assert len(states) == 30 and list(states[3].name)[:2] == ["joint1.pos", "joint2.pos"]
    np.testing.assert_allclose(states[3].position, np.arange(28) + 3)
    imgs = _messages(f, mw.IMAGES + "wrist")
    np.testing.assert_array_equal(
        rosmsg.image_array(imgs[4], "sensor_msgs/msg/Image", "t"), np.full((32, 32, 3), 4 * 7 + 1, np.uint8)
    )
    assert len(_messages(f, mw.PROPOSED)) == 29  # cycle 7 had no action
    inter = [json.loads(m.data) for m in _messages(f, mw.INTERVENTION)]
    assert [(d["cycle"], d["kind"]) for d in inter] == [(5, "modified"), (7, "no_action")]
    session = [json.loads(m.data) for m in _messages(f, mw.SESSION)]
    assert [d["event"] for d in session] == ["start", "end"] and session[1]["report"] == {"cycles": 30}
    # the seeking reader (Foxglove, ros2 bag) finds the summary written by close()
    from mcap.reader import make_reader

    with open(f, "rb") as fh:
        st = make_reader(fh).get_summary().statistics
    assert st.message_count == summary["messages"]


def test_recording_converts_to_a_dataset_without_a_map(tmp_path):
    f = tmp_path / "s.mcap"
    rec = McapRecorder(f)
    rec.start(_info(), PKG)
    for i in range(25):
        rec.cycle(_record(i))
    rec.end({})
    m = session_map(f, "mcap")
    assert m.fps == 50.0 and sorted(m.images) == CAMS and m.task == "t"
    rep = bag_to_dataset(f, tmp_path / "ds", m)
    from physai.data.dataset import Dataset

    ds = Dataset(tmp_path / "ds")
    assert rep["frames"] == len(ds) >= 23
    a = ds.arrays()
    # each frame pairs the observation with the command of the same cycle
    np.testing.assert_allclose(a["action"][:, 0] * 100, a["observation.state"][:, 0], atol=1e-4)


def test_truncated_file_is_readable_up_to_its_last_chunk(tmp_path):
    f = tmp_path / "s.mcap"
    rec = McapRecorder(f, chunk_size=16 * 1024)
    rec.start(_info(), PKG)
    for i in range(200):
        rec.cycle(_record(i))
    rec.end({})
    data = f.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) // 2])  # a crash halfway through: no summary, a partial chunk
    contents = bag.BagContents()
    states = [m for _, _, _, m in bag.messages(cut, "mcap", {mw.STATE}, contents)]
    assert contents.truncated is not None
    assert 20 < len(states) < 200
    np.testing.assert_allclose(states[-1].position, np.arange(28) + len(states) - 1)
    rep = bag_to_dataset(cut, tmp_path / "ds", session_map(cut, "mcap"))
    assert rep["truncated"] and rep["frames"] >= len(states) - 2


def test_a_slow_disk_drops_and_counts_but_never_blocks_the_loop(tmp_path):
    rec = McapRecorder(tmp_path / "s.mcap", queue_size=2)
    gate = threading.Event()
    started = threading.Event()
    real = rec._write_cycle

    def slow(r):
        started.set()
        gate.wait(10)
        real(r)

    rec._write_cycle = slow
    rec.start(_info(), PKG)
    rec.cycle(_record(0))
    assert started.wait(10)  # the writer holds cycle 0; the queue has room for 2 more
    for i in range(1, 6):
        rec.cycle(_record(i))  # returns at once even though the writer is stuck
    assert rec.dropped == 3
    gate.set()
    s = rec.close()
    assert s["cycles"] == 3 and s["dropped"] == 3


def test_close_after_an_exception_keeps_what_was_recorded(tmp_path):
    """The runtime raises mid-session (a driver error): the CLI's finally closes the recorder."""
    from physai.deploy.drivers.base import Reading
    from physai.deploy.runtime import Runtime, RuntimeConfig
    from physai.deploy.safety import RobotState
    from physai.field.franka_reference import circle_contract

    c = circle_contract(50.0)
    pkg = SimpleNamespace(contract=c, path="pkg", infer=lambda obs: np.zeros((c.chunk_size, 7), np.float32))
    info = _info()
    info.cameras, info.image_size = [], None

    class Failing:
        def __init__(self) -> None:
            self.n = 0
            self.q = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
            self.ee = make_embodiment("arm7").kinematics().tcp_pose(self.q)[0]

        def connect(self):
            return info

        def read(self):
            state = RobotState(joint_pos=self.q, ee_pos=self.ee, stamp=self.n * 0.02)
            return Reading({"state": np.zeros(28, np.float32)}, state)

        def write(self, command):
            if self.n == 8:
                raise OSError("robot link lost")
            self.n += 1

        def stop(self):
            pass

        def disconnect(self):
            pass

    f = tmp_path / "s.mcap"
    rec = McapRecorder(f)
    with pytest.raises(OSError, match="link lost"):
        try:
            Runtime(pkg, Failing(), RuntimeConfig(realtime=False, max_cycles=50), observers=[rec]).run()
        finally:
            rec.close()
    assert len(_messages(f, mw.COMMAND)) == 8
    assert [json.loads(m.data)["event"] for m in _messages(f, mw.SESSION)] == ["start"]


@pytest.mark.slow  # exports a package (30-60 s here); tests/deploy/test_franka.py drives --record too
def test_cli_run_record_then_convert(tmp_path):
    """The user's path: `physai run --record` on the sim robot, then `physai dataset convert --from mcap`."""
    from typer.testing import CliRunner

    from physai.cli.main import app
    from physai.data.dataset import Dataset
    from physai.deploy import signing
    from physai.deploy.package import ExportConfig, export_package
    from physai.deploy.reference import contract, make_controller

    keys = signing.generate_keys(tmp_path / "k")
    export_package(
        make_controller(), contract(), tmp_path / "p", sign_key=keys[0], config=ExportConfig(batched=False)
    )
    f = tmp_path / "s.mcap"
    run = CliRunner().invoke
    args = ["run", "--package", str(tmp_path / "p"), "--robot", "sim:tabletop/pick-place", "--duration", "1"]
    res = run(app, [*args, "--record", str(f), "--public-key", str(keys[1]), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["record"]["dropped"] == 0 and rep["record"]["cycles"] >= 19
    assert len(_messages(f, mw.COMMAND)) == rep["record"]["cycles"]
    # an existing recording is never overwritten
    res = run(app, [*args, "--record", str(f), "--public-key", str(keys[1])])
    assert res.exit_code != 0 and "exists" in res.output and "Traceback" not in res.output
    res = run(app, ["dataset", "convert", "--from", "mcap", str(f), str(tmp_path / "ds"), "--json"])
    assert res.exit_code == 0, res.output
    ds = Dataset(tmp_path / "ds")
    assert ds.fps == rep["hz"] and abs(len(ds) - rep["record"]["cycles"]) <= 2
    assert ds.features["observation.state"]["names"][:2] == ["joint1.pos", "joint2.pos"]
