"""Repair salvages (issue 18): every episode that verifies is kept wherever it sits, packed files keep
their intact episodes, metadata damage is rebuilt from the data, nothing removed is destroyed (the
quarantine holds it), and validate checks content (declared features, recorded sha256) and names the
culprit file and episodes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from data_helpers import decode_image, make_dataset
from typer.testing import CliRunner

from physai.cli.main import app
from physai.data import Dataset, DatasetWriter
from physai.data.repair import inspect, repair, validate
from physai.data.tools import merge

CAM = "observation.images.cam"


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".quarantine" not in p.relative_to(root).parts
    }


def _rows(root: Path) -> list[dict]:
    return pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x5A
    path.write_bytes(bytes(raw))


def _flip_packet(path: Path, frame: int, fps: int = 10) -> None:
    """Flip a byte in the middle of the packet of `frame` (inside that frame's own bytes)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = float(s.time_base)
        pos, size = next(
            (p.pos, p.size) for p in c.demux(s) if p.pts is not None and round(p.pts * tb * fps) == frame
        )
    _flip(path, pos + size // 2)


def _episode_values(root: Path) -> list[tuple[np.ndarray, list[int]]]:
    """(state rows, decoded image ids) of every episode, in order."""
    ds = Dataset(root)
    out = []
    for e in range(ds.num_episodes):
        a, b = ds.episode_range(e)
        state = ds.arrays()["observation.state"][a:b]
        ids = [decode_image(ds[i][CAM].numpy()) for i in range(a, b)] if CAM in ds.features else []
        out.append((state.copy(), ids))
    return out


def _same_episodes(got: list, want: list) -> None:
    assert len(got) == len(want)
    for (s1, i1), (s2, i2) in zip(got, want, strict=True):
        np.testing.assert_array_equal(s1, s2)
        assert i1 == i2


def _quarantine_keeps(before: dict[str, str], root: Path, doc: dict) -> None:
    after = _hashes(root)
    q = _hashes(Path(doc["quarantine"])) if doc["quarantine"] else {}
    lost = [p for p, h in before.items() if after.get(p) != h and q.get(p) != h]
    assert not lost, f"bytes destroyed: {lost}"


# ------------------------------------------------------------------------------------------ unpacked
def test_middle_damage_keeps_the_others_unpacked(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [5, 6, 7, 4])
    want = _episode_values(root)
    (root / "data/chunk-000/file-001.parquet").unlink()
    errs = validate(root)
    assert errs[0].startswith("data/chunk-000/file-001.parquet: data file is missing (episodes 1)")
    before = _hashes(root)
    doc = repair(root)
    assert doc["episodes_kept"] == 3 and [d["episode_index"] for d in doc["dropped"]] == [1]
    assert doc["renumbered"] == {"2": 1, "3": 2}
    _same_episodes(_episode_values(root), [want[0], want[2], want[3]])
    _quarantine_keeps(before, root, doc)
    report = json.loads((Path(doc["quarantine"]) / "report.json").read_text())
    moved = {f["path"]: f for f in report["quarantine_files"] if f["action"] == "moved"}
    assert moved[f"videos/{CAM}/chunk-000/file-001.mp4"]["episodes"] == [1]
    assert validate(root, checksums=True) == []
    again = repair(root)
    assert again["changed"] is False and again["quarantine"] is None
    assert len(list((root / ".quarantine").iterdir())) == 1
    # the writer appends after a renumbered repair without overwriting a file in use
    with DatasetWriter(root) as w:
        for t in range(3):
            w.add_frame(
                {
                    "observation.state": np.zeros(3, np.float32),
                    "action": np.zeros(2, np.float32),
                    "next.success": t == 2,
                    CAM: np.zeros((32, 32, 3), np.uint8),
                }
            )
        w.save_episode("task 0")
    assert validate(root, checksums=True) == []
    _same_episodes(_episode_values(root)[:3], [want[0], want[2], want[3]])


def test_flipped_byte_found_by_deep_validate_naming_file_and_episode(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [5, 6, 7])
    want = _episode_values(root)
    vid = root / f"videos/{CAM}/chunk-000/file-001.mp4"
    _flip_packet(vid, 2)
    found = [
        e for e in validate(root, checksums=True) if e.startswith(f"videos/{CAM}/chunk-000/file-001.mp4")
    ]
    assert found and all("(episodes 1)" in e for e in found)
    assert any("sha256" in e for e in found)
    r = CliRunner().invoke(app, ["dataset", "validate", str(root), "--deep", "--json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert any(
        p["file"] == f"videos/{CAM}/chunk-000/file-001.mp4" and p["episodes"] == [1] for p in doc["problems"]
    )
    rep = repair(root)
    assert rep["episodes_kept"] == 2
    _same_episodes(_episode_values(root), [want[0], want[2]])


def test_dataset_without_checksums_still_validates(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [4, 4], video=False)
    (root / "meta/checksums.json").unlink()
    doc = inspect(root, checksums=True)
    assert doc["problems"] == [] and any("checksums.json is absent" in n for n in doc["notes"])
    r = CliRunner().invoke(app, ["dataset", "validate", str(root), "--deep"])
    assert r.exit_code == 0 and "absent" in r.output


# ------------------------------------------------------------------------------------------ packed
@pytest.fixture
def packed(tmp_path) -> tuple[Path, list]:
    src = tmp_path / "src"
    make_dataset(src, [5, 6, 7, 4])
    root = tmp_path / "packed"
    merge([src], root)
    assert len(list((root / "data").rglob("*.parquet"))) == 1
    return root, _episode_values(root)


def test_packed_damaged_packets_keep_the_other_episodes(packed):
    root, want = packed
    vid = root / f"videos/{CAM}/chunk-000/file-000.mp4"
    _flip_packet(vid, 5 + 6 + 1)  # inside episode 2's frames
    errs = validate(root, checksums=True)
    assert any(e.startswith(f"videos/{CAM}/chunk-000/file-000.mp4") and "(episodes 2)" in e for e in errs)
    before = _hashes(root)
    doc = repair(root)
    assert doc["episodes_kept"] == 3 and [d["episode_index"] for d in doc["dropped"]] == [2]
    _same_episodes(_episode_values(root), [want[0], want[1], want[3]])
    _quarantine_keeps(before, root, doc)
    assert validate(root, checksums=True) == [] and repair(root)["changed"] is False


def test_packed_damaged_row_group_keeps_the_other_episodes(packed):
    root, want = packed
    path = root / "data/chunk-000/file-000.parquet"
    md = pq.ParquetFile(path).metadata
    assert md.num_row_groups == 4  # one per episode
    names = [md.row_group(1).column(j).path_in_schema for j in range(md.num_columns)]
    col = md.row_group(1).column(next(j for j, n in enumerate(names) if n.startswith("observation.state")))
    start = min(o for o in (col.dictionary_page_offset, col.data_page_offset) if o)
    _flip(path, start + col.total_compressed_size * 3 // 4)
    errs = validate(root, checksums=True)
    assert any(e.startswith("data/chunk-000/file-000.parquet") and "(episodes 1)" in e for e in errs)
    doc = repair(root)
    assert doc["episodes_kept"] == 3
    _same_episodes(_episode_values(root), [want[0], want[2], want[3]])
    assert pq.ParquetFile(path).metadata.num_row_groups == 3


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> Path:
    from physai.data.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("col") / "ds"
    collect(
        CollectConfig(
            task="tabletop/pick-place",
            episodes=3,
            workers=1,
            out=str(out),
            cameras=("scene", "wrist"),
            image_size=32,
            max_steps=6,
            keep_failures=True,
        )
    )
    return out


def test_one_bad_mp4_in_packed_collect_keeps_parquet_and_other_camera(collected, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(collected, root)
    scene = root / "videos/observation.images.scene/chunk-000/file-000.mp4"
    wrist = root / "videos/observation.images.wrist/chunk-000/file-000.mp4"
    data = root / "data/chunk-000/file-000.parquet"
    wrist_bytes = wrist.read_bytes()
    state = Dataset(root).arrays()["observation.state"].copy()
    raw = scene.read_bytes()
    scene.write_bytes(raw[: int(len(raw) * 0.8)])  # the last episode's frames are cut off
    errs = validate(root)
    assert errs and errs[0].startswith("videos/observation.images.scene/chunk-000/file-000.mp4")
    assert "(episodes 2)" in errs[0]
    before = _hashes(root)
    doc = repair(root)
    assert doc["episodes_kept"] == 2 and [d["episode_index"] for d in doc["dropped"]] == [2]
    assert data.exists() and wrist.read_bytes() == wrist_bytes  # the other camera is untouched
    ds = Dataset(root)
    np.testing.assert_array_equal(ds.arrays()["observation.state"], state[: len(ds)])
    ds[len(ds) - 1]
    _quarantine_keeps(before, root, doc)
    assert validate(root, checksums=True) == [] and repair(root)["changed"] is False


def test_deleted_mp4_in_packed_collect_destroys_nothing(collected, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(collected, root)
    (root / "videos/observation.images.scene/chunk-000/file-000.mp4").unlink()
    before = _hashes(root)
    out = tmp_path / "fixed"
    doc = repair(root, out=out)  # a repaired copy beside the original
    assert _hashes(root) == before  # the original is left as it was
    assert doc["episodes_kept"] == 0  # every episode lacks its scene camera...
    q = _hashes(Path(doc["quarantine"]))
    for rel in ("data/chunk-000/file-000.parquet", "videos/observation.images.wrist/chunk-000/file-000.mp4"):
        assert q[rel] == before[rel]  # ...but the parquet and the other camera are kept, byte for byte
    assert validate(out) == []


# ------------------------------------------------------------------------------------------ metadata
def _edit_info(root: Path, fn) -> None:
    p = root / "meta/info.json"
    info = json.loads(p.read_text())
    fn(info)
    p.write_text(json.dumps(info))


def _wrong_fps(root: Path) -> None:
    _edit_info(root, lambda i: i.update(fps=25))


def _truncated_tasks(root: Path) -> None:
    p = root / "meta/tasks.parquet"
    p.write_bytes(p.read_bytes()[:40])


def _info_not_json(root: Path) -> None:
    p = root / "meta/info.json"
    p.write_text(p.read_text()[:300])


def _episodes_table_lost(root: Path) -> None:
    (root / "meta/episodes/chunk-000/file-000.parquet").unlink()


@pytest.mark.parametrize(
    ("damage", "culprit"),
    [
        (_wrong_fps, "meta/info.json"),
        (_truncated_tasks, "meta/tasks.parquet"),
        (_info_not_json, "meta/info.json"),
        (_episodes_table_lost, "meta/episodes/chunk-000/file-000.parquet"),
    ],
)
@pytest.mark.parametrize("layout", ["unpacked", "packed"])
def test_metadata_damage_rebuilt_from_data(tmp_path, damage, culprit, layout):
    root = tmp_path / "ds"
    make_dataset(root, [5, 6, 7])
    if layout == "packed":
        merge([root], tmp_path / "p")
        root = tmp_path / "p"
    want = _episode_values(root)
    tasks = [r["tasks"] for r in _rows(root)]
    damage(root)
    errs = validate(root)
    assert errs and all(e.startswith(culprit) for e in errs), errs  # the data files are not blamed
    doc = repair(root)
    assert doc["episodes_kept"] == 3 and doc["episodes_dropped"] == 0 and doc["files_removed"] == []
    assert validate(root, checksums=True) == []
    ds = Dataset(root)
    assert ds.fps == 10 and ds.meta.info["features"][CAM]["info"]["video.fps"] == 10
    assert [r["tasks"] for r in _rows(root)] == tasks and ds.meta.tasks == ["task 0", "task 1"]
    _same_episodes(_episode_values(root), want)
    assert repair(root)["changed"] is False


def test_info_not_json_cli(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [4], video=False)
    _info_not_json(root)
    r = CliRunner().invoke(app, ["dataset", "validate", str(root)])
    assert r.exit_code == 1 and "meta/info.json: is not valid JSON" in r.output
    r = CliRunner().invoke(app, ["dataset", "repair", str(root), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["metadata_rebuilt"] == ["info"]
    assert len(Dataset(root)) == 4


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda i: i["features"]["observation.state"].update(shape=[5]), "'observation.state' declares"),
        (lambda i: i["features"]["action"].update(dtype="float64"), "'action' declares dtype float64"),
        (
            lambda i: i["features"][CAM].update(shape=[48, 64, 3]),
            "video 'observation.images.cam' declares 48x64",
        ),
        (
            lambda i: i["features"][CAM]["info"].update({"video.width": 64}),
            "video 'observation.images.cam' declares",
        ),
    ],
)
def test_validate_catches_declared_features_the_files_lack(tmp_path, edit, words):
    root = tmp_path / "ds"
    make_dataset(root, [4, 5])
    _edit_info(root, edit)
    errs = validate(root, deep=False)
    assert len(errs) == 1 and errs[0].startswith("meta/info.json") and words in errs[0], errs
    repair(root)
    assert validate(root) == [] and len(Dataset(root)) == 9


def test_info_not_json_keeps_what_still_parses(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [4, 5])
    p = root / "meta/info.json"
    p.write_text(p.read_text().replace('"fps": 10', '"fps": 1x0'))  # one damaged value
    doc = repair(root)
    assert doc["metadata_rebuilt"] == ["info"] and doc["episodes_kept"] == 2
    info = json.loads(p.read_text())
    assert info["fps"] == 10 and info["robot_type"] == "toy"
    assert info["features"]["observation.state"]["names"] == ["s0", "s1", "s2"]
    assert validate(root, checksums=True) == []


def test_altered_episode_row_blames_the_table_not_the_data(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [5, 6, 7])
    want = _episode_values(root)
    rows = _rows(root)
    rows[1]["length"] = 4  # a plausible but wrong value: the data still holds 6 rows
    from physai.data.writer import episodes_table

    pq.write_table(episodes_table(rows), root / "meta/episodes/chunk-000/file-000.parquet")
    errs = validate(root, checksums=True)
    assert (
        errs[0].startswith("meta/episodes/chunk-000/file-000.parquet: rows differ")
        and "(episodes 1)" in errs[0]
    )
    doc = repair(root)
    assert doc["episodes_kept"] == 3 and doc["metadata_rebuilt"] == ["episodes"]
    _same_episodes(_episode_values(root), want)


def test_damaged_info_fields_and_checksum_record_are_metadata_culprits(tmp_path):
    root = tmp_path / "ds"
    make_dataset(root, [5, 6])
    want = _episode_values(root)

    def rename(i):
        i["features"]["observation.stAte"] = i["features"].pop("observation.state")
        i["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_indey:03d}.parquet"

    _edit_info(root, rename)
    p = root / "meta/checksums.json"
    doc = json.loads(p.read_text())
    doc["episodes"]["0"]["data"] = "0" * 64  # the record itself altered: its digest no longer matches
    p.write_text(json.dumps(doc))
    errs = validate(root, checksums=True)
    assert errs and all(e.startswith(("meta/info.json", "meta/checksums.json")) for e in errs), errs
    rep = repair(root)
    assert rep["episodes_kept"] == 2 and rep["episodes_dropped"] == 0
    assert validate(root, checksums=True) == [] and "observation.state" in Dataset(root).features
    _same_episodes(_episode_values(root), want)


def test_record_that_disagrees_with_every_episode_is_blamed_not_the_data(tmp_path):
    from physai.data import checksums as sums

    root = tmp_path / "ds"
    make_dataset(root, [4, 5, 3])
    doc = sums.read(root)
    for e in doc["episodes"].values():  # e.g. a record hashed another way, with a consistent digest
        e["videos"][CAM] = "f" * 64
    sums.write(root, doc)
    errs = validate(root, checksums=True)
    assert len(errs) == 1 and errs[0].startswith("meta/checksums.json: disagrees with all 3 episodes")
    rep = repair(root)
    assert rep["episodes_kept"] == 3 and rep["metadata_rebuilt"] == ["checksums"]
    assert validate(root, checksums=True) == [] and repair(root)["changed"] is False


def test_random_damage_never_crashes_and_repair_converges(tmp_path):
    """Seeded random flips, cuts and deletions on any file of both layouts: validate and repair never
    raise, the repaired dataset validates, loads and a second repair changes nothing."""
    import random
    import shutil

    make_dataset(tmp_path / "u", [4, 5, 3])
    merge([tmp_path / "u"], tmp_path / "p")
    rng = random.Random(7)
    for it in range(10):
        root = tmp_path / f"c{it}"
        shutil.copytree(tmp_path / rng.choice("up"), root)
        f = rng.choice(sorted(p for p in root.rglob("*") if p.is_file()))
        raw = bytearray(f.read_bytes())
        op = rng.choice(["flip", "flip", "cut", "delete"])
        if op == "flip" and raw:
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            f.write_bytes(bytes(raw))
        elif op == "cut":
            f.write_bytes(bytes(raw[: rng.randrange(len(raw) + 1)]))
        else:
            f.unlink()
        validate(root, checksums=True)
        repair(root)
        assert validate(root, checksums=True) == [], (op, f)
        assert repair(root)["changed"] is False, (op, f)
        ds = Dataset(root)
        for e in range(ds.num_episodes):
            ds[ds.episode_range(e)[1] - 1]
        shutil.rmtree(root)
