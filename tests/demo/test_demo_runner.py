import json

import pytest

from physai.core.errors import UnknownNameError
from physai.demo import runner as demo


@pytest.fixture
def fake_stages(monkeypatch):
    calls = []

    def make(name):
        def fn(out, progress):
            calls.append(name)
            (out / f"{name}.png").write_bytes(b"png")
            return {"value": len(calls), "picture": f"{name}.png"}

        return fn

    stages = {"first": make("first"), "second": make("second")}
    monkeypatch.setattr(demo, "STAGES", stages)
    monkeypatch.setattr(demo, "load_stages", lambda: list(stages))
    return calls


def test_runs_every_stage_in_order_and_links_pictures(tmp_path, fake_stages):
    summary = demo.run_demo(tmp_path)
    assert fake_stages == ["first", "second"]
    assert list(summary["stages"]) == ["first", "second"]
    page = (tmp_path / "index.html").read_text()
    assert "<img src='first.png'>" in page and "<img src='second.png'>" in page
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_partial_run_updates_its_stage_and_keeps_the_others(tmp_path, fake_stages):
    demo.run_demo(tmp_path)
    summary = demo.run_demo(tmp_path, stages=["first"])
    assert fake_stages == ["first", "second", "first"]
    assert list(summary["stages"]) == ["first", "second"]
    assert summary["stages"]["first"]["value"] == 3 and summary["stages"]["second"]["value"] == 2


def test_unknown_stage_lists_the_valid_ones(tmp_path, fake_stages):
    with pytest.raises(UnknownNameError, match="first, second"):
        demo.run_demo(tmp_path, stages=["nope"])
    assert fake_stages == []


def test_every_lifecycle_stage_is_registered_in_order():
    """Importing the runner registers the whole tour, in lifecycle order, without any list of modules."""
    from physai.demo.registry import load_stages

    assert load_stages() == [
        "experts", "collect", "train", "evaluate", "package", "profile", "fleet", "flywheel"
    ]


def test_cli_demo_runs_the_registered_stages(tmp_path, fake_stages):
    """`physai demo --stages first --json` runs that stage through the same runner and prints one JSON."""
    from typer.testing import CliRunner

    from physai.cli.main import app

    r = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--stages", "first", "--json"])
    assert r.exit_code == 0, r.output
    assert fake_stages == ["first"]
    assert list(json.loads(r.stdout)["stages"]) == ["first"]


@pytest.mark.slow
def test_profile_stage_runs_on_its_own(tmp_path):
    """The `profile` stage without a `package` stage exports the reference package and profiles it at
    the package's own rate (it read a `Package.fps` that no longer exists until mypy found it)."""
    from physai.core.progress import NullProgress
    from physai.demo.profile import profile_stage

    res = profile_stage(tmp_path, NullProgress(), duration_s=0.2)
    assert res["packages"]["pick-place"]
    assert res["devices"]
