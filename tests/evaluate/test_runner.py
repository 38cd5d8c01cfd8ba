"""End-to-end evaluation runs on a tiny budget (few episodes, short episodes)."""

import json

import pytest

from physai.core.errors import ConfigError, UnknownNameError
from physai.evaluate import EvalConfig, load_results, run_eval, validate_results
from physai.evaluate.seeding import episode_seed

TASK = "tabletop/pick-place"


def _outcomes(doc):
    return [(e["task"], e["index"], e["seed"], e["status"], e["success"], e["length"])
            for e in doc["episodes"]]


def test_outcomes_do_not_depend_on_worker_count(tmp_path):
    kw = dict(policy="expert", tasks=TASK, episodes=4, seed=3, max_steps=70, report=False)
    one = run_eval(EvalConfig(out=tmp_path / "w1", workers=1, **kw))
    two = run_eval(EvalConfig(out=tmp_path / "w2", workers=2, **kw))
    inline = run_eval(EvalConfig(out=tmp_path / "w0", workers=0, **kw))
    assert _outcomes(one) == _outcomes(two) == _outcomes(inline)
    assert {e["worker"] for e in two["episodes"]} <= {"w1", "w2"}
    assert [e["seed"] for e in one["episodes"]] == [episode_seed(3, TASK, i) for i in range(4)]
    assert one["tasks"][TASK]["successes"] >= 1  # the expert solves some within 70 steps


def test_results_schema_report_and_videos(tmp_path):
    doc = run_eval(EvalConfig(policy="random", out=tmp_path, tasks=TASK, episodes=3, workers=0,
                              max_steps=15, videos=1))
    on_disk = load_results(tmp_path)
    assert on_disk == json.loads(json.dumps(doc))
    assert doc["schema"] == "physai.eval/1" and doc["partial"] is False
    assert doc["policy"]["kind"] == "random" and doc["hardware"]["cpu_count"] >= 1
    assert "commit" in doc["git"] and doc["seeds"]["per_task"][TASK] == [e["seed"] for e in doc["episodes"]]
    t = doc["tasks"][TASK]
    assert t["episodes"] == 3 and t["success_rate"] == 0.0 and t["ci95"][0] == 0.0 < t["ci95"][1] < 1
    assert doc["suite_score"] == 0.0
    # one failure replayed with video (random never succeeds in 15 steps)
    assert len(doc["videos"]) == 1 and not doc["videos"][0]["success"]
    assert (tmp_path / doc["videos"][0]["path"]).stat().st_size > 1000
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "data:video/mp4;base64," in html
    bad = dict(doc, tasks={TASK: {**t, "ci95": [0.5, 0.6]}})
    with pytest.raises(ConfigError, match="does not bracket"):
        validate_results(bad)
    with pytest.raises(ConfigError, match="lacks field 'episodes'"):
        validate_results({k: v for k, v in doc.items() if k != "episodes"})


def test_worker_exceptions_and_crashes_are_retried_then_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSAI_TEST_MARKER", str(tmp_path))
    kw = dict(tasks=TASK, episodes=3, max_steps=10, report=False, workers=2)
    always = run_eval(EvalConfig(policy="py:evalfixture_policies:raise_always", out=tmp_path / "a", **kw))
    ep = {e["index"]: e for e in always["episodes"]}
    assert ep[1]["status"] == "error" and ep[1]["attempts"] == 2 and "injected failure" in ep[1]["error"]
    assert ep[0]["status"] == ep[2]["status"] == "ok" and always["tasks"][TASK]["errors"] == 1
    once = run_eval(EvalConfig(policy="py:evalfixture_policies:raise_once", out=tmp_path / "b", **kw))
    assert [(e["status"], e["attempts"]) for e in once["episodes"]] == [("ok", 1), ("ok", 2), ("ok", 1)]
    crash = run_eval(EvalConfig(policy="py:evalfixture_policies:exit_once", out=tmp_path / "c", **kw))
    ep = {e["index"]: e for e in crash["episodes"]}
    assert len(crash["episodes"]) == 3 and all(e["status"] == "ok" for e in crash["episodes"])
    assert ep[1]["attempts"] == 2  # the worker died (os._exit) on the first attempt and was replaced


class _InterruptAfter:
    def __init__(self, n):
        self.n = n

    def start(self, total, description):
        pass

    def advance(self, n=1, **fields):
        self.n -= n
        if self.n <= 0:
            raise KeyboardInterrupt

    def close(self):
        pass


def test_ctrl_c_writes_partial_results(tmp_path):
    doc = run_eval(EvalConfig(policy="random", out=tmp_path, tasks=TASK, episodes=6, workers=1, max_steps=10),
                   progress=_InterruptAfter(2))
    assert doc["partial"] is True and 2 <= len(doc["episodes"]) < 6
    assert load_results(tmp_path)["partial"] is True
    assert "Partial results" in (tmp_path / "report.html").read_text()


def test_bad_input_fails_before_workers(tmp_path, monkeypatch):
    with pytest.raises(UnknownNameError, match="valid tasks"):
        run_eval(EvalConfig(policy="expert", out=tmp_path, tasks="tabletop/nope"))
    with pytest.raises(UnknownNameError, match="suite"):
        run_eval(EvalConfig(policy="expert", out=tmp_path, tasks="suite:nope"))
    with pytest.raises(ConfigError, match="not 'expert', 'random'"):
        run_eval(EvalConfig(policy=str(tmp_path / "missing"), out=tmp_path, tasks=TASK))

    class Foreign:
        def io_spec(self):
            return {"embodiment": "bimanual", "action_dim": 14}

    class WrongState:
        def io_spec(self):
            return {"embodiment": "arm7", "control": "ee_delta", "observation": {"state": {"shape": [12]}}}

    import physai.evaluate.policy_source as ps

    for policy, msg in ((Foreign(), "is for robot 'bimanual'"), (WrongState(), "12-wide state")):
        monkeypatch.setattr(ps, "_load_checkpoint", lambda spec, p=policy: p)
        with pytest.raises(ConfigError, match=msg):
            run_eval(EvalConfig(policy=str(tmp_path), out=tmp_path / "x", tasks=TASK))
    assert not (tmp_path / "x").exists()  # nothing started, nothing written


def test_trained_checkpoint_is_evaluated_and_checked(tmp_path):
    policies = pytest.importorskip("physai.policies.base")
    from physai.envs import make
    from physai.policies.spec import IOSpec

    env = make(TASK)
    spec = IOSpec(embodiment="arm7", state_names=list(env.state_names),
                  action_names=list(env.action_spec.names), control="ee_delta")
    path = policies.make_policy("mlp", [spec]).save(tmp_path / "ckpt")
    doc = run_eval(EvalConfig(policy=str(path), out=tmp_path / "ev", tasks=TASK, episodes=2, workers=0,
                              max_steps=5, report=False))
    assert [(e["status"], e["length"]) for e in doc["episodes"]] == [("ok", 5), ("ok", 5)]
    assert doc["policy"]["kind"] == "checkpoint" and doc["policy"]["sha256"]
    assert doc["policy"]["contract"]["state_names"] == list(env.state_names)
    with pytest.raises(ConfigError, match="is for robot 'arm7'"):
        run_eval(EvalConfig(policy=str(path), out=tmp_path / "x", tasks="bimanual/handover", episodes=1))
