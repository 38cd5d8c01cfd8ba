"""Output that works on any terminal and off one: whole names, plain progress lines, honest ETAs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from physai.cli import ui
from physai.cli.main import app

runner = CliRunner()


def test_version_and_help_without_bool():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("physai ")
    for cmd in (["--help"], ["train", "--help"], ["run", "--help"], ["eval", "--help"]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0 and "<bool>" not in r.output, cmd


def test_tasks_names_are_never_cut_off_a_tty():
    names = [t["name"] for t in json.loads(runner.invoke(app, ["tasks", "--json"]).stdout)]
    r = runner.invoke(app, ["tasks"])
    assert r.exit_code == 0
    assert "…" not in r.stdout
    for n in names:
        assert n in r.stdout, n


def test_names_never_cut_on_a_narrow_terminal():
    t = ui.table("task", "instruction")
    long = "humanoid/pick-orange-cutting-board-to-basket"
    t.add_row(long, "put the orange from the cutting board into the basket " * 3)
    from rich.console import Console

    con = Console(width=60, record=True, force_terminal=True)
    con.print(t)
    text = con.export_text()
    assert long in text and "…" not in text


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_plain_progress_lines_off_a_tty(capsys):
    clock = _Clock()
    p = ui.RichProgress(plain=True, clock=clock)
    p.start(100, "train act")
    for _ in range(100):
        clock.t += 1.0
        p.advance(1, loss=0.5)
    p.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "train act: started, 100 to do"
    periodic = [ln for ln in lines[1:-1] if "eta" in ln]
    assert len(periodic) == 100 // int(ui.PLAIN_EVERY_S)
    assert periodic[0].startswith("train act: 10/100 (10%) elapsed 0:00:10 eta 0:01:30")
    assert lines[-1].startswith("train act: 100/100 (100%) elapsed 0:01:40 done")


def test_reported_eta_wins_over_the_count(capsys):
    """A time budget ends the job before its step count: the ETA is the budget's."""
    clock = _Clock()
    p = ui.RichProgress(plain=True, clock=clock, announce="train")
    p.start(5000, "train act")
    for i in range(20):
        clock.t += 1.0
        p.advance(1, eta_s=180.0 - (i + 1))
    assert p.eta() == 160.0
    p.close()
    err = capsys.readouterr().err
    assert "expected duration 0:03:00" in err
    assert "eta 1:" not in err  # never the 5000-step extrapolation (hours)


def test_training_under_minutes_reports_the_budget_eta(tiny_ds, tmp_path):
    from physai.train import TrainConfig, train

    class Rec:
        def __init__(self) -> None:
            self.etas: list[float] = []

        def start(self, total, description):
            pass

        def advance(self, n=1, **fields):
            if "eta_s" in fields:
                self.etas.append(fields["eta_s"])

        def close(self):
            pass

    rec = Rec()
    budget_s = 0.6
    cfg = TrainConfig(policy="mlp", steps=100_000, batch_size=8, max_minutes=budget_s / 60, save_every=0,
                      device="cpu")
    res = train([tiny_ds], tmp_path / "run", cfg, progress=rec)
    assert res["steps"] < 100_000
    assert rec.etas and max(rec.etas) <= budget_s


def test_videos_show_the_robot_from_outside():
    import physai

    env = physai.make("humanoid/drawer-cup")  # its first camera is the head
    assert env.camera_names[0] == "head" and env.video_camera == "scene"
    env.close()
