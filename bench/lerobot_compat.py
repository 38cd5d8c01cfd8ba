"""Round trip with LeRobot's own code: a physai dataset read by `lerobot.datasets.LeRobotDataset`, and a
dataset written by LeRobot's own writer read by `physai.data.Dataset`. Every value is compared.

LeRobot cannot live in the project environment (lerobot 0.4.4 pins torch < 2.11; the project uses
torch 2.13 and there is no CPU build of torchvision/torchcodec for it on the registries), so it runs from
a side folder on PYTHONPATH, and without network (no hub calls: both datasets are local):

    .venv/bin/pip install --target /tmp/lrpkgs --no-deps lerobot==0.4.4 torchvision==0.28.0 \
        "datasets>=4,<5" "huggingface_hub>=0.34.2,<0.36" accelerate multiprocess dill xxhash pandas tqdm
    PYTHONPATH=/tmp/lrpkgs .venv/bin/python bench/lerobot_compat.py [--json]

Two shims, both outside LeRobot's code paths under test: torchvision's fake-kernel registrations are
skipped (that wheel's compiled ops are built for CUDA torch and do not load here; LeRobot's dataset code
does not use them), and `torchvision.io.VideoReader` (removed from torchvision in 0.26; LeRobot's "pyav"
backend calls it) is provided with torchvision's old PyAV semantics: seek to the keyframe at or before a
time, then iterate {"data": uint8 (C, H, W), "pts": seconds}. LeRobot's own timestamp query, tolerance
check, delta-timestamp windows, padding masks and metadata parsing run unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))


def _install_video_reader_shim() -> None:
    import av
    import torch
    import torchvision

    class VideoReader:
        """torchvision.io.VideoReader's PyAV backend, as LeRobot's decode_video_frames_torchvision uses it."""

        def __init__(self, path: str, stream: str = "video") -> None:
            self.container = av.open(path)
            self._stream = self.container.streams.video[0]
            self._start = 0.0

        def seek(self, ts: float, keyframes_only: bool = False) -> VideoReader:
            s = self._stream
            self.container.seek(int(ts / float(s.time_base)), stream=s, backward=True, any_frame=False)
            self._start = ts if not keyframes_only else -1.0
            return self

        def __iter__(self):
            s = self._stream
            for f in self.container.decode(s):
                t = float(f.pts * s.time_base)
                if t + 1e-9 < self._start:
                    continue
                yield {"data": torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1), "pts": t}

    torchvision.io.VideoReader = VideoReader
    torchvision.set_video_backend = lambda backend: None


def physai_to_lerobot(tmp: Path) -> dict:
    """Record pick-place expert episodes with physai (two cameras, packed like `physai collect`), then load
    them with LeRobotDataset (with action windows) and compare every key against physai.data.Dataset."""
    import physai.envs as envs
    from physai.data import Dataset
    from physai.data.recorder import Recorder
    from physai.data.tools import merge

    env = envs.make(
        "tabletop/pick-place", obs=("state", "images"), cameras=["scene", "wrist"], image_size=(64, 64)
    )
    with Recorder(env, tmp / "episodes") as rec:
        seed = 0
        while rec.writer.info["total_episodes"] < 3:
            rec.record(env.expert(), seed=seed)
            seed += 1
    env.close()
    merge([tmp / "episodes"], tmp / "physai")  # packed: several episodes per parquet/mp4 file
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    fps = 20
    deltas = {"action": [i / fps for i in range(-1, 8)], "observation.state": [-1 / fps, 0.0]}
    lr = LeRobotDataset(
        "physai/pick-place", root=tmp / "physai", delta_timestamps=deltas, video_backend="pyav"
    )
    ours = Dataset(tmp / "physai", delta_timestamps=deltas)
    assert len(lr) == len(ours), (len(lr), len(ours))
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(ours))  # every frame, in random order (windows cross episode ends)
    max_img, keys = 0.0, set()
    for i in idx:
        a, b = lr[i], ours[i]
        for k, v in b.items():
            if k == "task":
                assert a["task"] == v, (i, a["task"], v)
                continue
            va, vb = np.asarray(a[k]), np.asarray(v)
            assert va.shape == vb.shape, (i, k, va.shape, vb.shape)
            if k.startswith("observation.images."):
                max_img = max(max_img, float(np.abs(va.astype(np.float64) - vb).max()))
            else:
                np.testing.assert_allclose(va, vb, rtol=0, atol=1e-6, err_msg=f"{k} at {i}")
            keys.add(k)
    return {
        "episodes": lr.num_episodes,
        "frames": len(lr),
        "items_compared": len(idx),
        "keys_compared": sorted(keys),
        "image_max_abs_diff": round(max_img, 4),
    }


def lerobot_to_physai(tmp: Path, vcodec: str) -> dict:
    """Write a dataset with LeRobot's own LeRobotDataset.create/add_frame/save_episode/finalize (`vcodec`),
    read it with physai.data.Dataset, compare every value, and run physai's validator on it."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from physai.data import Dataset
    from physai.data.repair import validate

    feats = {
        "observation.state": {"dtype": "float32", "shape": (4,), "names": ["a", "b", "c", "d"]},
        "action": {"dtype": "float32", "shape": (2,), "names": ["x", "y"]},
        "observation.images.cam": {
            "dtype": "video",
            "shape": (48, 64, 3),
            "names": ["height", "width", "channels"],
        },
    }
    root = tmp / f"lerobot-{vcodec}"
    ds = LeRobotDataset.create("lerobot/toy", fps=10, features=feats, root=root, vcodec=vcodec)
    rng = np.random.default_rng(1)
    written: dict[str, list] = {"observation.state": [], "action": [], "image": [], "task": []}
    for ep, n in enumerate((12, 9, 15)):
        for t in range(n):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, : 4 * (t + 1)] = 200  # a bar whose width is the frame index
            img[..., ep % 3] = 90
            fr = {
                "observation.state": rng.normal(size=4).astype(np.float32),
                "action": rng.normal(size=2).astype(np.float32),
                "observation.images.cam": img,
                "task": f"task {ep % 2}",
            }
            for k in ("observation.state", "action", "task"):
                written[k].append(fr[k])
            written["image"].append(img)
            ds.add_frame(dict(fr))  # LeRobot pops keys from the dict it is given
        ds.save_episode()
    ds.finalize()
    ours = Dataset(root)
    assert len(ours) == len(written["action"]), (len(ours), len(written["action"]))
    img_err = 0.0
    for i in range(len(ours)):
        item = ours[i]
        for k in ("observation.state", "action"):
            np.testing.assert_array_equal(item[k].numpy(), written[k][i], err_msg=f"{k} at {i}")
        assert item["task"] == written["task"][i], (i, item["task"])
        got = item["observation.images.cam"].numpy().transpose(1, 2, 0) * 255
        img_err = max(img_err, float(np.abs(got - written["image"][i]).mean()))
    violations = validate(root)
    return {
        "episodes": ours.num_episodes,
        "frames": len(ours),
        "image_mean_abs_err_max": round(img_err, 2),
        "physai_validate_ok": not violations,
        "violations": violations[:5],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    _install_video_reader_shim()
    import lerobot

    with tempfile.TemporaryDirectory() as d:
        res = {
            "lerobot_version": getattr(lerobot, "__version__", "?"),
            "physai_to_lerobot": physai_to_lerobot(Path(d)),
            "lerobot_to_physai": {c: lerobot_to_physai(Path(d), c) for c in ("h264", "libsvtav1")},
        }
    out = Path(__file__).parent / "results" / "lerobot_compat.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2) if a.json else res)


if __name__ == "__main__":
    main()
