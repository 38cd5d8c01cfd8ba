"""`physai wm train/eval` and `physai eval --policy wm-plan:RUN` end to end on recorded push episodes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner
from wm_toy import make_toy_dataset

from physai.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Three expert episodes of tabletop/push, state only (recorded in-process, ~1 s)."""
    import physai.envs as envs
    from physai.data.recorder import Recorder

    root = tmp_path_factory.mktemp("wmcli")
    env = envs.make("tabletop/push", obs=("state",))
    with Recorder(env, root / "push") as rec:
        for seed in range(3):
            rec.record(env.expert(), seed=seed)
    env.close()
    run = root / "run"
    r = runner.invoke(app, ["wm", "train", "--dataset", str(root / "push"), "--out", str(run),
                            "--steps", "20",
                            "--hidden", "16", "--ensemble", "2", "--horizon", "3", "--json"])
    assert r.exit_code == 0, r.output
    return {"root": root, "ds": root / "push", "run": run, "train": json.loads(r.stdout)}


def test_train_eval_and_plan_through_the_cli(recorded):
    doc = recorded["train"]
    assert doc["episodes"] == 3 and set(doc["open_loop_rmse"]) >= {"all", "robot", "object", "zone"}
    r = runner.invoke(app, ["wm", "eval", "--model", str(recorded["run"]), "--dataset", str(recorded["ds"]),
                            "--json"])
    assert r.exit_code == 0, r.output
    ev = json.loads(r.stdout)
    assert len(ev["open_loop_rmse"]["object"]) == 3 and 0 <= ev["calibration"]["brier"] <= 1
    html = (recorded["run"] / "eval" / "report.html").read_text()
    assert "Open-loop prediction error" in html and "calibration" in html and "data:image/png" in html
    out = recorded["root"] / "eval"
    r = runner.invoke(app, ["eval", "--policy", f"wm-plan:{recorded['run']}?samples=8&iterations=1",
                            "--tasks", "tabletop/push", "--episodes", "1", "--max-steps", "3",
                            "--workers", "0",
                            "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["tasks"]["tabletop/push"]["episodes"] == 1


def test_bad_input_is_one_clear_line(recorded, tmp_path):
    toy = make_toy_dataset(tmp_path / "toy", episodes=2)
    noact = make_toy_dataset(tmp_path / "noact", episodes=2, with_action=False)
    cases = [
        (["wm", "train", "--dataset", str(noact), "--out", str(tmp_path / "a")], "no 'action' feature"),
        (["wm", "eval", "--model", str(recorded["run"]), "--dataset", str(toy)], "robot 'toy'"),
        (["wm", "eval", "--model", str(recorded["ds"]), "--dataset", str(toy)], "not a world model"),
        (["eval", "--policy", f"wm-plan:{recorded['run']}", "--tasks", "tabletop/pick-place",
          "--episodes", "1",
          "--workers", "0", "--out", str(tmp_path / "e")], "other state names"),
        (["wm", "judge", "--model", str(recorded["run"]), "--policies", str(recorded["run"])],
         "not a physai policy config"),
    ]
    for argv, msg in cases:
        r = runner.invoke(app, argv)
        assert r.exit_code != 0, argv
        assert msg in r.output, (argv, r.output)
        assert "Traceback" not in r.output
