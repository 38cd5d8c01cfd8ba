"""The Ray backend on a local 2-CPU cluster (slow: starting Ray takes several seconds)."""

import pytest

from physai.evaluate import EvalConfig, run_eval

ray = pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_backend_matches_local(tmp_path):
    kw = dict(policy="expert", tasks="tabletop/pick-place", episodes=3, seed=1, max_steps=70, report=False)
    local = run_eval(EvalConfig(out=tmp_path / "l", workers=0, **kw))
    remote = run_eval(EvalConfig(out=tmp_path / "r", workers=2, backend="ray", **kw))
    key = lambda d: [(e["index"], e["seed"], e["success"], e["length"]) for e in d["episodes"]]  # noqa: E731
    assert key(local) == key(remote)
    assert {e["worker"] for e in remote["episodes"]} <= {"ray1", "ray2"}
    assert remote["config"]["backend"] == "ray"
