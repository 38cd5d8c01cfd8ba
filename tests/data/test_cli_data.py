"""CLI smoke: collect with tiny budgets, dataset info/validate/repair/merge/split/view/convert."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from physai.cli.main import app
from physai.data import Dataset

runner = CliRunner()


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_collect_and_dataset_tools(tmp_path):
    out = tmp_path / "col"
    doc = _json(
        [
            "collect",
            "--task",
            "tabletop/pick-place",
            "--episodes",
            "2",
            "--workers",
            "2",
            "--out",
            str(out),
            "--cameras",
            "scene",
            "--image-size",
            "64",
            "--max-steps",
            "8",
            "--keep-failures",
            "--json",
        ]
    )
    assert doc["kept"] == 2 and doc["frames"] == 16
    ds = Dataset(out, delta_timestamps={"action": [0, 0.05]})
    assert ds[3]["observation.images.scene"].shape == (3, 64, 64) and ds[3]["action"].shape == (2, 7)
    assert ds.meta.info["robot_type"] == "arm7" and ds.features["action"]["names"][0] == "ee.dx"
    assert ds.meta.info["physai"]["control_mode"] == "ee_delta"
    info = _json(["dataset", "info", str(out), "--json"])
    assert info["episodes"] == 2 and info["frames"] == 16
    assert _json(["dataset", "validate", str(out), "--json"])["ok"] is True
    merged = _json(["dataset", "merge", str(out), str(out), "--out", str(tmp_path / "m"), "--json"])
    assert merged["episodes"] == 4
    sp = _json(
        ["dataset", "split", str(tmp_path / "m"), "--out", str(tmp_path / "sp"), "--val", "0.25", "--json"]
    )
    assert sp["train"]["episodes"] == 3 and sp["val"]["episodes"] == 1
    v = _json(["dataset", "view", str(out), "--out", str(tmp_path / "view"), "--episodes", "0,1", "--json"])
    assert Path(v["contact_sheet"]).stat().st_size > 1000 and Path(v["signals"]).exists()
    # merged/collected datasets are packed LeRobot-style: many episodes per data and video file
    assert (out / "videos/observation.images.scene/chunk-000/file-000.mp4").exists()
    assert not (out / "data/chunk-000/file-001.parquet").exists()
    m = Dataset(tmp_path / "m")
    assert m.meta.episodes[3]["videos/observation.images.scene/from_timestamp"] == 24 / 20
    assert abs(m[30]["observation.images.scene"] - ds[14]["observation.images.scene"]).max() < 1e-6
    (out / "data/chunk-000/file-000.parquet").unlink()
    r = runner.invoke(app, ["dataset", "validate", str(out)])
    assert r.exit_code == 1
    rep = _json(["dataset", "repair", str(out), "--json"])
    assert rep["episodes_kept"] == 0
    assert _json(["dataset", "validate", str(out), "--json"])["ok"] is True


def test_collect_discards_failures(tmp_path):
    doc = _json(
        [
            "collect",
            "--task",
            "tabletop/pick-place",
            "--episodes",
            "1",
            "--out",
            str(tmp_path / "c"),
            "--cameras",
            "none",
            "--max-steps",
            "3",
            "--json",
        ]
    )
    assert doc["kept"] == 0 and doc["discarded"] >= 1


def test_collect_image_labels(tmp_path):
    out = tmp_path / "lab"
    args = ["collect", "--task", "tabletop/pick-place", "--episodes", "1", "--out", str(out), "--cameras",
            "scene", "--image-size", "32", "--max-steps", "4", "--keep-failures", "--image-labels", "--json"]
    assert _json(args)["kept"] == 1
    names = Dataset(out).features["observation.state"]["names"]
    assert "target.px.scene.x" in names and "tray.px.scene.y" in names and "target.pos.x" in names
    r = runner.invoke(app, [*args[:6], str(tmp_path / "none"), "--cameras", "none", "--image-labels"])
    assert r.exit_code != 0 and "needs cameras" in r.output


def test_convert_v21(tmp_path, small):
    """Build a v2.1 layout from a v3 dataset (one file per episode, jsonl metadata) and convert it back."""
    src, written = small
    v2 = tmp_path / "v21"
    info = json.loads((src / "meta/info.json").read_text())
    info.update(
        codebase_version="v2.1",
        data_path="data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        video_path="videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
    )
    (v2 / "meta").mkdir(parents=True)
    (v2 / "meta/info.json").write_text(json.dumps(info))
    eps = pq.read_table(src / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    (v2 / "meta/episodes.jsonl").write_text(
        "\n".join(
            json.dumps({"episode_index": e["episode_index"], "tasks": e["tasks"], "length": e["length"]})
            for e in eps
        )
    )
    (v2 / "meta/tasks.jsonl").write_text(
        '{"task_index": 0, "task": "task 0"}\n{"task_index": 1, "task": "task 1"}\n'
    )
    for e in eps:
        i = e["episode_index"]
        (v2 / "data/chunk-000").mkdir(parents=True, exist_ok=True)
        shutil.copy(
            src / f"data/chunk-000/file-{i:03d}.parquet", v2 / f"data/chunk-000/episode_{i:06d}.parquet"
        )
        d = v2 / "videos/chunk-000/observation.images.cam"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(
            src / f"videos/observation.images.cam/chunk-000/file-{i:03d}.mp4", d / f"episode_{i:06d}.mp4"
        )
    r = runner.invoke(app, ["dataset", "info", str(v2)])
    assert r.exit_code == 2 and "physai dataset convert" in r.output
    doc = _json(["dataset", "convert", str(v2), "--out", str(tmp_path / "v3"), "--json"])
    assert doc["episodes"] == 3
    ds = Dataset(tmp_path / "v3")
    assert len(ds) == 20 and ds[12]["action"].tolist() == written["action"][12].tolist()
    assert _json(["dataset", "validate", str(tmp_path / "v3"), "--json"])["ok"] is True
