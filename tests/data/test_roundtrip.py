"""Write -> read back every value; LeRobot v3.0 layout golden checks; stats."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import torch
from data_helpers import decode_image

from physai.data import Dataset
from physai.data import format as fmt


def test_every_value_round_trips(small):
    root, w = small
    ds = Dataset(root)
    assert len(ds) == 20 and ds.num_episodes == 3 and ds.fps == 10
    for i in range(len(ds)):
        it = ds[i]
        np.testing.assert_array_equal(it["observation.state"].numpy(), w["observation.state"][i])
        np.testing.assert_array_equal(it["action"].numpy(), w["action"][i])
        assert bool(it["next.success"]) == bool(w["next.success"][i])
        assert int(it["index"]) == i
        assert it["observation.images.cam"].shape == (3, 32, 32)
        assert it["observation.images.cam"].dtype == torch.float32
        assert decode_image(it["observation.images.cam"].numpy()) == w["image_id"][i]  # frame exact
    assert [ds[i]["task"] for i in (0, 7, 11)] == ["task 0", "task 1", "task 0"]
    assert int(ds[8]["frame_index"]) == 1 and int(ds[8]["episode_index"]) == 1
    assert abs(float(ds[8]["timestamp"]) - 0.1) < 1e-6


def test_v3_layout_golden(small):
    root, _ = small
    for rel in (
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "data/chunk-000/file-000.parquet",
        "videos/observation.images.cam/chunk-000/file-002.mp4",
    ):
        assert (root / rel).exists(), rel
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["robot_type"] == "toy" and info["fps"] == 10
    assert info["total_episodes"] == 3 and info["total_frames"] == 20 and info["total_tasks"] == 2
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert info["splits"] == {"train": "0:3"}
    for k in ("chunks_size", "data_files_size_in_mb", "video_files_size_in_mb"):
        assert k in info
    cam = info["features"]["observation.images.cam"]
    assert cam["dtype"] == "video" and cam["shape"] == [32, 32, 3]
    assert {"video.height", "video.width", "video.codec", "video.pix_fmt", "video.fps"} <= set(cam["info"])
    assert info["features"]["observation.state"]["names"] == ["s0", "s1", "s2"]
    for k in fmt.INDEX_KEYS:
        assert k in info["features"]
    data = pq.read_table(root / "data/chunk-000/file-001.parquet")
    assert set(data.column_names) == {"observation.state", "action", "next.success", *fmt.INDEX_KEYS}
    assert data.schema.field("observation.state").type.list_size == 3
    assert data.column("index").to_pylist() == list(range(7, 11))
    eps = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["length"] for e in eps] == [7, 4, 9]
    e1 = eps[1]
    assert (
        e1["dataset_from_index"],
        e1["dataset_to_index"],
        e1["data/chunk_index"],
        e1["data/file_index"],
    ) == (7, 11, 0, 1)
    assert e1["videos/observation.images.cam/from_timestamp"] == 0.0
    assert abs(e1["videos/observation.images.cam/to_timestamp"] - 0.4) < 1e-9
    assert e1["tasks"] == ["task 1"]
    assert len(e1["stats/action/mean"]) == 2 and "stats/observation.images.cam/q99" in e1
    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.column("task").to_pylist() == ["task 0", "task 1"]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]


def test_stats_match_numpy(small):
    root, w = small
    st = Dataset(root).meta.stats
    a = w["action"].astype(np.float64)
    np.testing.assert_allclose(st["action"]["mean"], a.mean(0), rtol=1e-9)
    np.testing.assert_allclose(st["action"]["std"], a.std(0), rtol=1e-9)
    np.testing.assert_allclose(st["action"]["min"], a.min(0))
    np.testing.assert_allclose(st["action"]["max"], a.max(0))
    assert int(st["action"]["count"][0]) == 20
    assert np.all(st["action"]["q01"] <= st["action"]["q99"])
    img = st["observation.images.cam"]
    assert img["mean"].shape == (3, 1, 1) and 0 <= img["min"].min() and img["max"].max() <= 1


def test_running_stats_streaming_matches_exact():
    from physai.data.stats import RunningStats

    rng = np.random.default_rng(1)
    x = rng.normal(size=(5000, 4)) * [1, 2, 3, 4]
    rs = RunningStats(reservoir=5000, rng=np.random.default_rng(0))
    for chunk in np.array_split(x, 13):
        rs.update(chunk)
    r = rs.result()
    np.testing.assert_allclose(r["mean"], x.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r["std"], x.std(0), rtol=1e-9)
    np.testing.assert_allclose(r["q99"], np.quantile(x, 0.99, axis=0), rtol=1e-9)


def test_merge_packs_episodes_frame_exact(small, tmp_path):
    from physai.data.tools import merge, split

    root, w = small
    merge([root, root], tmp_path / "m")
    m = Dataset(tmp_path / "m")
    assert len(m) == 40 and len(list((tmp_path / "m/videos").rglob("*.mp4"))) == 1
    for i in range(40):
        assert decode_image(m[i]["observation.images.cam"].numpy()) == w["image_id"][i % 20]
        np.testing.assert_array_equal(m[i]["action"].numpy(), w["action"][i % 20])
    split(tmp_path / "m", tmp_path / "sp", {"a": 0.5, "b": 0.5}, rng=np.random.default_rng(3))
    b = Dataset(tmp_path / "sp/b")
    ids = {decode_image(b[i]["observation.images.cam"].numpy()) for i in range(len(b))}
    assert ids <= set(w["image_id"].tolist()) and int(b[0]["index"]) == 0


def test_av1_codec_round_trips(tmp_path):
    from data_helpers import frame_image

    from physai.data.video import VideoReader, write_video

    frames = [frame_image(i, 64) for i in range(12)]
    assert write_video(frames, tmp_path / "a.mp4", fps=10, codec="av1", gop=2) == 12
    r = VideoReader(tmp_path / "a.mp4", 10)
    assert r.count() == 12
    assert [decode_image(r.get(i)) for i in (7, 3, 11, 0)] == [7, 3, 11, 0]


def test_reads_lerobot_style_multi_episode_files(small, tmp_path):
    """LeRobot's writer puts many episodes in one parquet and one mp4, episodes need not start on a
    keyframe; physai reads them frame-exact by integer index and re-encodes only unaligned episodes."""
    import pyarrow as pa
    from data_helpers import frame_image

    from physai.data.tools import merge
    from physai.data.video import write_video
    from physai.data.writer import episodes_table

    root, w = small
    ep_path = root / "meta/episodes/chunk-000/file-000.parquet"
    rows = pq.read_table(ep_path).to_pylist()
    tables = [pq.read_table(root / f"data/chunk-000/file-{i:03d}.parquet") for i in range(3)]
    for i in range(3):
        (root / f"data/chunk-000/file-{i:03d}.parquet").unlink()
        (root / f"videos/observation.images.cam/chunk-000/file-{i:03d}.mp4").unlink()
    pq.write_table(pa.concat_tables(tables), root / "data/chunk-000/file-000.parquet")
    write_video(
        [frame_image(int(i)) for i in w["image_id"]],
        root / "videos/observation.images.cam/chunk-000/file-000.mp4",
        fps=10,
        gop=2,
    )
    for r in rows:
        r["data/file_index"] = 0
        r["videos/observation.images.cam/file_index"] = 0
        r["videos/observation.images.cam/from_timestamp"] = r["dataset_from_index"] / 10
        r["videos/observation.images.cam/to_timestamp"] = r["dataset_to_index"] / 10
    pq.write_table(episodes_table(rows), ep_path)
    ds = Dataset(root)
    for i in (19, 7, 8, 0, 11, 6):
        assert decode_image(ds[i]["observation.images.cam"].numpy()) == w["image_id"][i]
    merge([root], tmp_path / "m")  # episode 1 starts on frame 7, not a keyframe: re-encoded, still exact
    m = Dataset(tmp_path / "m")
    assert [decode_image(m[i]["observation.images.cam"].numpy()) for i in range(20)] == w["image_id"].tolist()


def test_image_windows_pad_at_episode_start(small):
    root, w = small
    ds = Dataset(root, delta_timestamps={"observation.images.cam": [-0.2, -0.1, 0.0]})
    it = ds[8]  # episode 1 starts at 7: offsets -2 is padded (repeats frame 7)
    assert it["observation.images.cam"].shape == (3, 3, 32, 32)
    assert it["observation.images.cam_is_pad"].tolist() == [True, False, False]
    ids = [decode_image(f.numpy()) for f in it["observation.images.cam"]]
    assert ids == [w["image_id"][7], w["image_id"][7], w["image_id"][8]]
    b = ds.get_batch([8, 19])
    assert b["observation.images.cam"].shape == (2, 3, 3, 32, 32) and b["task"] == ["task 1", "task 0"]


def test_image_features_stored_in_parquet(small):
    """LeRobot `image` features (PNG bytes in the rows) are decoded like video frames."""
    import io

    import pyarrow as pa
    from data_helpers import frame_image
    from PIL import Image

    root, w = small
    for i in range(3):
        path = root / f"data/chunk-000/file-{i:03d}.parquet"
        t = pq.read_table(path)
        pngs = []
        for g in t.column("index").to_pylist():
            buf = io.BytesIO()
            Image.fromarray(frame_image(g + 100)).save(buf, format="PNG")
            pngs.append({"bytes": buf.getvalue(), "path": None})
        col = pa.array(pngs, pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
        pq.write_table(t.append_column("observation.images.png", col), path)
    info = json.loads((root / "meta/info.json").read_text())
    info["features"]["observation.images.png"] = {"dtype": "image", "shape": [32, 32, 3], "names": None}
    (root / "meta/info.json").write_text(json.dumps(info))
    ds = Dataset(root)
    assert ds.camera_keys == ["observation.images.cam", "observation.images.png"]
    for i in (0, 9, 19):
        img = ds[i]["observation.images.png"]
        assert img.shape == (3, 32, 32) and decode_image(img.numpy()) == i + 100
