"""External gymnasium envs (`--env gym:<id>`) and the `physai eval` / `eval compare` commands."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from physai.cli.main import app
from physai.core.errors import ConfigError
from physai.evaluate import EvalConfig, run_eval
from physai.evaluate.gym_env import map_observation

runner = CliRunner()
TOY = "gym:toy_gym:PhysaiToyReach-v0"


def test_observation_mapping():
    img = np.zeros((4, 4, 3), np.uint8)
    m = map_observation({"observation": np.array([1, 2]), "desired_goal": np.array([3.0]), "cam": img,
                         "text": "go"})
    assert m["state"].tolist() == [3.0, 1.0, 2.0] and m["state"].dtype == np.float32
    assert m["images/cam"] is img and m["instruction"] == "go"
    assert map_observation(np.ones((2, 2))) ["state"].shape == (4,)


def test_gym_env_eval_with_success_info(tmp_path):
    doc = run_eval(EvalConfig(policy="py:toy_gym:greedy", env=TOY, out=tmp_path, episodes=3, workers=1,
                              videos=1))
    assert list(doc["tasks"]) == [TOY] and doc["tasks"][TOY]["success_rate"] == 1.0
    assert len(doc["videos"]) == 1 and doc["videos"][0]["success"]
    rnd = run_eval(EvalConfig(policy="random", env=TOY, out=tmp_path / "r", episodes=2, workers=0,
                              report=False))
    assert rnd["tasks"][TOY]["episodes"] == 2
    with pytest.raises(ConfigError, match="no scripted expert"):
        run_eval(EvalConfig(policy="expert", env=TOY, out=tmp_path / "e", episodes=1))


def test_cli_eval_and_compare_gate(tmp_path):
    base = ["eval", "--tasks", "tabletop/pick-place", "--episodes", "3", "--workers", "0",
            "--max-steps", "60", "--json"]
    r = runner.invoke(app, base + ["--policy", "expert", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert a["tasks"]["tabletop/pick-place"]["successes"] == 3
    r = runner.invoke(app, base + ["--policy", "random", "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert r.exit_code == 1  # significant regression: 3/3 -> 0/3 (p = 0.014)
    doc = json.loads(r.stdout)
    assert doc["regressions"] == ["tabletop/pick-place"]
    r = runner.invoke(app, ["eval", "compare", str(tmp_path / "b"), str(tmp_path / "a")])
    assert r.exit_code == 0 and "improvement" in r.stdout, r.stdout
    r = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "nothing")])
    assert r.exit_code == 2 and "no evaluation results" in r.output
