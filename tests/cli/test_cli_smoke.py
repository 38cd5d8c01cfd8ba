import json

from typer.testing import CliRunner

from physai.cli.main import app

runner = CliRunner()


def test_tasks_and_robots_json():
    r = runner.invoke(app, ["tasks", "--json"])
    assert r.exit_code == 0, r.output
    names = [t["name"] for t in json.loads(r.stdout)]
    assert "tabletop/pick-place" in names
    r = runner.invoke(app, ["robots", "--json"])
    assert r.exit_code == 0
    robots = {x["name"]: x for x in json.loads(r.stdout)}
    assert {"arm7", "bimanual"} <= set(robots)
    assert robots["arm7"]["safety_limits"]["ee_speed_collaborative"] == 0.25


def test_rollout_json_and_video(tmp_path):
    video = tmp_path / "r.mp4"
    r = runner.invoke(app, ["rollout", "--task", "tabletop/pick-place", "--policy", "random",
                            "--episodes", "1", "--video", str(video), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["episodes"][0]["length"] > 0 and doc["success_rate"] == 0.0
    assert video.stat().st_size > 1000


def test_unknown_task_is_a_clear_error():
    r = runner.invoke(app, ["rollout", "--task", "tabletop/nope"])
    assert r.exit_code == 2
    assert "valid tasks" in r.output
