"""The user's path: `physai ros2 sim` writes a CONFIG, `physai ros2 doctor` checks it, `physai run
--robot ros2:CONFIG.yaml` (also `--dry-run`) drives the package through ROS 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from physai.cli.main import app
from physai.ros2.config import dump_config
from physai.ros2.sim_node import SimRobotNode

runner = CliRunner()
TASK = "tabletop/pick-place"


def _wait_file(path, proc, timeout=120.0):
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"physai ros2 sim exited early: {proc.communicate()}")
        assert time.monotonic() < end, "physai ros2 sim wrote no config"
        time.sleep(0.1)


def test_sim_cli_writes_a_config_that_physai_run_drives(pick_package, domain, tmp_path):
    pkg, keys = pick_package
    cfg_path = tmp_path / "robot.yaml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "physai.cli.main",
            "ros2",
            "sim",
            "--task",
            TASK,
            "--lockstep",
            "--seed",
            "1",
            "--max-steps",
            "300",
            "--domain-id",
            str(domain),
            "--write-config",
            str(cfg_path),
            "--until-done",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait_file(cfg_path, proc)
        doc = yaml.safe_load(cfg_path.read_text())
        assert doc["command"]["interface"] == "twist" and doc["domain_id"] == domain and doc["lockstep"]
        r = runner.invoke(
            app,
            [
                "run",
                "--package",
                str(pkg),
                "--robot",
                f"ros2:{cfg_path}",
                "--public-key",
                str(keys[1]),
                "--duration",
                "3",
                "--json",
            ],
        )
        assert r.exit_code == 0, r.output
        rep = json.loads(r.stdout)
        assert rep["cycles"] >= 30 and rep["hz"] == 20
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    sim = json.loads(out)
    assert sim["commands"] >= rep["cycles"] and sim["ticks"] == sim["commands"]


@pytest.fixture
def free_node(domain):
    node = SimRobotNode(TASK, domain_id=domain).start()
    yield node
    node.close()


def test_doctor_passes_a_healthy_robot_and_names_each_problem(free_node, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(dump_config(free_node.driver_config())))
    r = runner.invoke(app, ["ros2", "doctor", str(good), "--window", "1", "--json"])
    doc = json.loads(r.stdout)
    assert r.exit_code == 0 and doc["ok"], doc
    js = next(t for t in doc["topics"] if t["topic"] == "/joint_states")
    assert js["type"] == "sensor_msgs/msg/JointState" and 10 < js["measured_hz"] < 30
    assert {t["direction"] for t in doc["topics"]} == {"in", "out"}

    bad_doc = dump_config(free_node.driver_config())
    bad_doc["poses"]["target"]["topic"] = "no/such/topic"
    bad_doc["wrenches"]["wrist"]["topic"] = "joint_states_again"
    bad_doc["joint_states"]["hz"] = 200
    bad_doc["poses"]["tray"] = {"topic": "physai/episode"}  # carries Float64MultiArray
    del bad_doc["episode"]
    bad_doc["command"]["topic"] = "nobody/listens"
    bad_doc["connect_timeout"] = 3.0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_doc))
    r = runner.invoke(app, ["ros2", "doctor", str(bad), "--window", "1", "--json"])
    assert r.exit_code == 1, r.output
    problems = {t["topic"]: t["problem"] for t in json.loads(r.stdout)["topics"]}
    assert problems["/no/such/topic"].startswith("missing")
    assert problems["/joint_states_again"].startswith("missing")
    assert problems["/nobody/listens"].startswith("nobody subscribes")
    assert problems["/joint_states"].startswith("too slow") and "expected 200 Hz" in problems["/joint_states"]
    assert problems["/physai/episode"].startswith(
        "wrong type: the robot publishes std_msgs/msg/Float64MultiArray"
    )
    r = runner.invoke(app, ["ros2", "doctor", str(bad), "--window", "1"])
    assert r.exit_code == 1 and "FAIL <- /no/such/topic" in r.stdout and "5 problem(s)" in r.stdout


def test_dry_run_sends_nothing_and_other_drivers_refuse_it(pick_package, free_node, tmp_path):
    pkg, keys = pick_package
    cfg = tmp_path / "robot.yaml"
    cfg.write_text(yaml.safe_dump(dump_config(free_node.driver_config(stale_after=10))))
    r = runner.invoke(
        app,
        [
            "run",
            "--package",
            str(pkg),
            "--robot",
            f"ros2:{cfg}",
            "--public-key",
            str(keys[1]),
            "--duration",
            "1",
            "--dry-run",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cycles"] >= 10 and free_node.commands == 0
    r = runner.invoke(
        app,
        [
            "run",
            "--package",
            str(pkg),
            "--robot",
            f"sim:{TASK}",
            "--public-key",
            str(keys[1]),
            "--duration",
            "1",
            "--dry-run",
        ],
    )
    assert r.exit_code == 2 and "cannot dry-run" in r.output


def test_bad_config_is_one_error_line(tmp_path):
    p = tmp_path / "robot.yaml"
    p.write_text("embodiment: arm7\ncontrol: ee_delta\nhz: 20\ncommand: {interface: twist}\n")
    r = runner.invoke(app, ["ros2", "doctor", str(p)])
    assert r.exit_code == 2 and "`command.topic` is missing" in r.output and "Traceback" not in r.output
