"""SIGKILL a real recording subprocess at random moments; the dataset must open, and repair must restore
the longest verified prefix idempotently. Also: bad input gives DatasetError naming file and fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from data_helpers import make_dataset

from physai.core.errors import DatasetError
from physai.data import Dataset
from physai.data.repair import repair, validate

RECORDER = r"""
import sys, numpy as np
from physai.data import format as fmt
from physai.data.writer import DatasetWriter
feats = {"observation.state": {"dtype": "float32", "shape": [4], "names": None},
         "action": {"dtype": "float32", "shape": [2], "names": None},
         "observation.images.cam": fmt.video_feature(32, 32, 10, "h264")}
w = DatasetWriter(sys.argv[1], fps=10, features=feats, robot_type="toy")
rng = np.random.default_rng(0)
print("ready", flush=True)
for ep in range(10_000):
    for t in range(6):
        w.add_frame({"observation.state": rng.normal(size=4), "action": rng.normal(size=2),
                     "observation.images.cam": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)})
    w.save_episode(f"task {ep % 3}")
    print("saved", flush=True)
"""


def test_sigkill_at_random_points_then_repair(tmp_path):
    rng = np.random.default_rng(1234)
    root = tmp_path / "ds"
    script = tmp_path / "rec.py"
    script.write_text(RECORDER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    committed_before = 0
    for _round in range(3):
        # each round appends to the same dataset (the writer resumes) and is killed at a random moment
        proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        if _round == 0:  # at least one episode committed, however slow the machine: wait for it
            assert proc.stdout.readline().strip() == b"saved"
        time.sleep(float(rng.uniform(0.05, 0.6)))  # then a kill at a random moment
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        ds = Dataset(root)  # opens at the last committed episode, whatever was in flight
        n = ds.num_episodes
        assert n >= committed_before
        if n:
            ds[len(ds) - 1]
        first = repair(root)
        assert first["episodes_kept"] >= n  # a fully written but uncommitted episode may be recovered
        assert validate(root) == []
        again = repair(root)
        assert again["changed"] is False and again["episodes_kept"] == first["episodes_kept"]
        committed_before = first["episodes_kept"]
    assert committed_before > 0


def test_repair_drops_only_the_damaged_episode(small):
    root, _ = small
    vid = root / "videos/observation.images.cam/chunk-000/file-001.mp4"
    vid.write_bytes(vid.read_bytes()[:200])
    errs = validate(root)
    assert errs and "file-001.mp4" in errs[0] and "episodes 1" in errs[0]
    doc = repair(root)
    assert doc["episodes_kept"] == 2 and doc["episodes_dropped"] == 1  # not "longest verified prefix"
    assert not (root / "data/chunk-000/file-001.parquet").exists()
    assert (Path(doc["quarantine"]) / "data/chunk-000/file-001.parquet").exists()
    assert validate(root) == [] and len(Dataset(root)) == 7 + 9
    assert repair(root)["changed"] is False


def test_bad_input_errors_name_file_and_fix(small):
    root, _ = small
    data = root / "data/chunk-000/file-001.parquet"
    data.write_bytes(data.read_bytes()[:50])
    with pytest.raises(DatasetError, match=r"file-001\.parquet.*physai dataset repair"):
        Dataset(root)[0]
    data.unlink()
    with pytest.raises(DatasetError, match=r"file-001\.parquet.*missing.*repair"):
        Dataset(root)[0]
    info = json.loads((root / "meta/info.json").read_text())
    info["codebase_version"] = "v9.9"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="codebase_version 'v9.9'"):
        Dataset(root)
    info["codebase_version"], info["total_episodes"] = "v3.0", 9
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="info.json says 9.*repair"):
        Dataset(root)


def test_truncated_video_never_gives_wrong_frames(tmp_path):
    root = tmp_path / "v"
    make_dataset(root, [30])
    vid = root / "videos/observation.images.cam/chunk-000/file-000.mp4"
    raw = vid.read_bytes()
    vid.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"file-000\.mp4.*repair"):
        Dataset(root)[25]


def test_info_disagreeing_with_files(small):
    root, _ = small
    info = json.loads((root / "meta/info.json").read_text())
    info["features"]["observation.state"]["shape"] = [5]
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"file-000\.parquet.*observation.state.*\[5\]"):
        Dataset(root)[0]
    info["features"]["observation.state"]["shape"] = [3]
    info["features"]["observation.extra"] = {"dtype": "float32", "shape": [2], "names": None}
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"observation.extra.*missing"):
        Dataset(root)[0]
