"""DAgger segments: the human runs of intervention recordings, weighted, merged by the flywheel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physai.core.errors import ConfigError, DatasetError
from physai.data import format as fmt
from physai.data.dataset import Dataset
from physai.data.writer import DatasetWriter
from physai.teleop.segments import extract_interventions, has_interventions, human_segments

FEATS = {
    "observation.state": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]},
    "observation.images.cam": fmt.video_feature(16, 16, 10, "h264"),
    "action": {"dtype": "float32", "shape": [2], "names": ["u", "v"]},
    "next.success": {"dtype": "bool", "shape": [1], "names": None},
}


def _write(root: Path, episodes: list[list[int]] | int, marked: bool) -> Path:
    feats = dict(FEATS)
    if marked:
        feats["control_source"] = {"dtype": "int64", "shape": [1], "names": None}
    rng = np.random.default_rng(0)
    with DatasetWriter(root, fps=10, features=feats, robot_type="toy") as w:
        eps = episodes if isinstance(episodes, list) else [[0] * 5] * episodes
        for k, src in enumerate(eps):
            for t, c in enumerate(src):
                f = {
                    "observation.state": np.array([k, t, c], np.float32),
                    "observation.images.cam": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
                    "action": np.array([t, c], np.float32),
                    "next.success": False,
                }
                if marked:
                    f["control_source"] = np.int64(c)
                w.add_frame(f)
            w.save_episode("stack it")
    return root


def test_human_segments_and_weighting(tmp_path) -> None:
    rec = _write(tmp_path / "rec", [[0, 1, 1, 0, 1, 2, 2, 1], [1, 1, 1, 0, 0]], marked=True)
    base = _write(tmp_path / "base", 2, marked=False)
    assert has_interventions(rec) and not has_interventions(base)
    # runs of 1 (human) only: a lost device's holds (2) are never demonstrations
    assert human_segments(rec) == [(0, 1, 3), (0, 4, 5), (0, 7, 8), (1, 8, 11)]
    assert human_segments(rec, min_steps=2) == [(0, 1, 3), (1, 8, 11)]
    rep = extract_interventions([rec], tmp_path / "seg", like=base, weight=3, min_steps=2)
    assert rep["segments"] == 2 and rep["human_steps"] == 5 and rep["frames_written"] == 15
    ds = Dataset(tmp_path / "seg")
    assert ds.num_episodes == 6 and "control_source" not in ds.features  # the base dataset's features
    st = ds.arrays()["observation.state"]
    assert st[:, 2].tolist() == [1.0] * 15  # only human steps
    assert st[:2, :2].tolist() == [[0, 1], [0, 2]] and st[6:9, :2].tolist() == [[1, 0], [1, 1], [1, 2]]
    src = Dataset(rec)
    a, b = ds[0]["observation.images.cam"], src[1]["observation.images.cam"]  # re-encoded (lossy) video
    assert float((a - b).abs().mean()) < 0.05 < float((a - src[0]["observation.images.cam"]).abs().mean())


def test_refusals(tmp_path) -> None:
    base = _write(tmp_path / "base", 1, marked=False)
    with pytest.raises(DatasetError, match="control_source"):
        human_segments(base)
    rec = _write(tmp_path / "rec", [[1, 1]], marked=True)
    with pytest.raises(ConfigError, match="whole number"):
        extract_interventions([rec], tmp_path / "x", weight=0)


def test_flywheel_merge_weights_intervention_segments(tmp_path) -> None:
    from physai.fleet.flywheel import Flywheel, FlywheelConfig

    base = _write(tmp_path / "base", 2, marked=False)
    rec = _write(tmp_path / "rec", [[0, 0, 1, 1, 1, 0]], marked=True)
    cfg = FlywheelConfig(
        fleet="http://unused",
        key="k",
        base_dataset=base,
        policy=tmp_path / "p",
        sign_key=tmp_path / "k",
        work_dir=tmp_path / "fw",
        intervention_weight=2,
        interventions=(rec,),
    )
    fw = Flywheel(cfg, client=object())  # type: ignore[arg-type]
    fw.state["steps"]["select"] = {"episodes": [], "count": 0}
    res = fw.merge()
    assert res["interventions"]["segments"] == 1 and res["interventions"]["frames_written"] == 6
    merged = Dataset(res["dataset"])
    assert merged.num_episodes == 2 + 2 and len(merged) == 10 + 6
    unweighted = FlywheelConfig(**{**cfg.__dict__, "intervention_weight": 0, "work_dir": tmp_path / "fw0"})
    fw0 = Flywheel(unweighted, client=object())  # type: ignore[arg-type]
    fw0.state["steps"]["select"] = {"episodes": [], "count": 0}
    with pytest.raises(ConfigError, match="control_source"):  # a whole recording has one feature more
        fw0.merge()
