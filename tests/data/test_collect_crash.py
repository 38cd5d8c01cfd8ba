"""`physai collect` killed at any moment leaves `out/` visibly unfinished (validate: damaged, never valid
with episodes missing) and `repair` merges every committed episode; workers die with their parent; a
full disk is a clear error naming the path, with what was recorded kept."""

from __future__ import annotations

import errno
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from data_helpers import make_dataset
from typer.testing import CliRunner

from physai.cli.main import app
from physai.core.errors import DatasetError, PhysaiError
from physai.data import Dataset
from physai.data import collect as col
from physai.data import format as fmt
from physai.data.meta import DatasetMeta
from physai.data.repair import validate

SRC = str(Path(__file__).resolve().parents[2] / "src")
TASK = "tabletop/pick-place"
runner = CliRunner()

# collect in a subprocess; `KILL_AT` picks a point of the merge where the process SIGKILLs itself
KILLER = r"""
import os, signal, sys
from physai.data import collect as col, pack


def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)


def main(out, at):
    if at == "mid-merge":  # after the first episode was packed into the merged dataset
        orig, n = pack.DataPacker.add, [0]

        def add(self, table):
            n[0] += 1
            if n[0] == 2:
                die()
            return orig(self, table)

        pack.DataPacker.add = add
    elif at == "between-renames":  # data/ and videos/ moved into out/, meta/ (the commit) not yet
        real = os.rename
        col.os.rename = lambda a, b: die() if str(a).endswith("meta") else real(a, b)
    elif at == "after-commit":  # meta/ moved in, the worker parts not yet deleted
        col.shutil.rmtree = lambda p, **k: die() if str(p).endswith(col.STAGING) else None
    cfg = col.CollectConfig(task="tabletop/pick-place", episodes=4, workers=2, out=out, cameras=("scene",),
                            image_size=32, max_steps=6, keep_failures=True)
    col.collect(cfg)


if __name__ == "__main__":  # spawned workers import this file too
    main(sys.argv[1], sys.argv[2])
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}


def _repair_cli(out: Path) -> dict:
    r = runner.invoke(app, ["dataset", "repair", str(out), "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("at", ["mid-merge", "between-renames", "after-commit"])
def test_sigkill_during_merge_leaves_damaged_out_that_repair_restores(tmp_path, at):
    out = tmp_path / "out"
    script = tmp_path / "kill.py"
    script.write_text(KILLER)
    p = subprocess.run([sys.executable, str(script), str(out), at], env=_env(), timeout=240)
    assert p.returncode == -signal.SIGKILL
    errs = validate(out)
    if at == "after-commit":  # committed: valid with every episode, only the clean-up is left
        assert errs == [] and DatasetMeta(out).info["total_episodes"] == 4
    else:  # never a valid (empty) dataset while episodes sit in the parts
        assert errs and "unfinished `physai collect`" in errs[0] and "4 episodes" in errs[0]
        assert runner.invoke(app, ["dataset", "validate", str(out)]).exit_code == 1
    rep = _repair_cli(out)
    assert rep["episodes_kept"] == 4 and not col.pending(out)
    assert validate(out) == []
    ds = Dataset(out)
    assert ds.num_episodes == 4 and ds[len(ds) - 1]["observation.images.scene"].shape == (3, 32, 32)
    # repair again: a plain dataset now, nothing to change
    assert _repair_cli(out)["changed"] is False


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited (nobody reaped it yet)


def _poll(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_only_the_parent_stops_the_workers(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from physai.cli.main import app; app()", "collect", "--task", TASK,
           "--episodes", "500", "--workers", "2", "--out", str(out), "--cameras", "none", "--max-steps", "20",
           "--keep-failures", "--json"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parts = [out / col.STAGING / f"worker-{w}" / fmt.INFO_PATH for w in range(2)]
        _poll(lambda: all(p.exists() for p in parts) and col.committed_episodes(out) >= 2, 120,
              "both workers to record")
        workers = [c for c in _children(proc.pid)
                   if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        assert len(workers) == 2
        os.kill(proc.pid, signal.SIGKILL)  # the parent only
        proc.wait(timeout=30)
        _poll(lambda: not any(_alive(w) for w in workers), 20, "the workers to exit with their parent")
    finally:
        if proc.poll() is None:
            proc.kill()
    recorded = col.committed_episodes(out)
    assert recorded >= 2 and validate(out) != []
    assert _repair_cli(out)["episodes_kept"] == recorded and Dataset(out).num_episodes == recorded


def _enospc(path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def test_disk_full_in_writer_names_the_path_and_keeps_saved_episodes(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    make_dataset(root, [5, 4])
    real = fmt.write_parquet_atomic

    def full(path, table, row_groups=None):
        if "data/" in str(path):
            raise _enospc(path)
        return real(path, table)

    monkeypatch.setattr(fmt, "write_parquet_atomic", full)
    with pytest.raises(DatasetError, match=r"disk full writing .*data/chunk-000/file-002\.parquet"):
        make_dataset(root, [3])  # appends a third episode
    monkeypatch.undo()
    assert DatasetMeta(root).info["total_episodes"] == 2 and validate(root) == []


def test_disk_full_in_a_worker_is_reported_with_the_path(tmp_path, monkeypatch):
    from physai.data.writer import DatasetWriter

    real = DatasetWriter._save_episode
    calls = [0]

    def save(self, task):
        calls[0] += 1
        if calls[0] == 2:
            raise _enospc(self.root / "data/chunk-000/file-001.parquet")
        return real(self, task)

    monkeypatch.setattr(DatasetWriter, "_save_episode", save)
    cfg = {"task": TASK, "cameras": (), "image_size": 32, "max_steps": 4, "image_labels": False,
           "episodes": 3, "max_attempts": None, "codec": "h264", "keep_failures": True, "seed": 0}
    results: queue.Queue = queue.Queue()
    part = tmp_path / "part"
    col._worker(0, cfg, str(part), [0, 0, 0], threading.Lock(), results)
    msgs = [results.get_nowait() for _ in range(results.qsize())]
    assert msgs[-1][0] == "error" and "disk full writing" in msgs[-1][2] and "file-001.parquet" in msgs[-1][2]
    assert DatasetMeta(part).info["total_episodes"] == 1  # the episode saved before is kept


def test_disk_full_during_merge_is_a_clear_error_and_keeps_the_episodes(tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = fmt.write_parquet_atomic

    # the workers (other processes) record; the merge (here) hits a full disk
    def full(path, table, row_groups=None):
        if "merged" in str(path):
            raise _enospc(path)
        return real(path, table)

    monkeypatch.setattr(fmt, "write_parquet_atomic", full)
    cfg = col.CollectConfig(task=TASK, episodes=3, workers=1, out=str(out), cameras=(), max_steps=4,
                            keep_failures=True)
    with pytest.raises(PhysaiError, match=r"disk full writing .*merged.*3 recorded episodes are kept"):
        col.collect(cfg)
    monkeypatch.undo()
    assert not (out / col.STAGING / "merged").exists()  # the partial merge gave its space back
    assert "unfinished" in validate(out)[0]
    assert _repair_cli(out)["episodes_kept"] == 3
    assert validate(out) == [] and Dataset(out).num_episodes == 3


def test_collect_refuses_to_start_over_an_unfinished_one(tmp_path):
    out = tmp_path / "out"
    (out / col.STAGING).mkdir(parents=True)
    with pytest.raises(PhysaiError, match="unfinished collection.*physai dataset repair"):
        col.collect(col.CollectConfig(task=TASK, episodes=1, out=str(out), cameras=()))
    assert np.isscalar(col.committed_episodes(out)) and col.committed_episodes(out) == 0
