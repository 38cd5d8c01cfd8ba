"""Data I/O benchmark: loader throughput (state only, video vs uncompressed numpy), peak RSS with 2 workers,
real-time recording of two cameras, parallel collect speed-up. Writes bench/results/data_io.json.

    .venv/bin/python bench/data_io.py [--frames 20000] [--collect-episodes 200] [--gop N] [--skip ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from physai.data import format as fmt
from physai.data.writer import DatasetWriter

# torch and the loader are imported inside the functions that use them: `collect` spawns workers that
# re-import this module, and they should start like `physai collect` workers do (without torch).


def frame(i: int, size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.stack([(xx + i) % 256, (yy * 2 + i) % 256, (xx + yy + 3 * i) % 256], -1).astype(np.uint8)


def build(root: Path, frames: int, video: bool, ep_len: int = 200, gop: int | None = None) -> None:
    feats = {
        "observation.state": {"dtype": "float32", "shape": [14], "names": None},
        "action": {"dtype": "float32", "shape": [7], "names": None},
    }
    if video:
        feats["observation.images.cam"] = fmt.video_feature(128, 128, 20, "h264")
    rng = np.random.default_rng(0)
    kw = {} if gop is None else {"gop": gop}
    with DatasetWriter(root, fps=20, features=feats, robot_type="bench", **kw) as w:
        for e in range(frames // ep_len):
            for t in range(ep_len):
                fr = {"observation.state": rng.normal(size=14), "action": rng.normal(size=7)}
                if video:
                    fr["observation.images.cam"] = frame(e * ep_len + t)
                w.add_frame(fr)
            w.save_episode("bench")


def loader_state(root: Path) -> dict:
    from physai.data import Dataset

    ds = Dataset(root, delta_timestamps={"action": [i / 20 for i in range(10)]})
    rng = np.random.default_rng(0)
    ds.get_batch(rng.integers(0, len(ds), 64))
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 2.0:
        ds.get_batch(rng.integers(0, len(ds), 64))
        n += 64
    batched = n / (time.perf_counter() - t0)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0:
        ds[int(rng.integers(len(ds)))]
        n += 1
    return {
        "state_batch64_samples_per_s": round(batched),
        "state_per_item_samples_per_s": round(n / (time.perf_counter() - t0)),
    }


def numpy_planar(root: Path, raw: np.ndarray, deltas: dict | None = None):
    """The strongest baseline: the same loader with frames from a planar (N, 3, H, W) uint8 array,
    converted like the video reader does (one uint8 -> float32 copy, one in-place scale; 2x faster than
    a mixed-type multiply)."""
    from physai.data import Dataset

    class NumpyPlanar(Dataset):
        def _frames(self, key, ep_pos, rows):
            src = raw[rows]
            out = np.empty(src.shape, np.float32)
            np.copyto(out, src, casting="unsafe")
            return np.multiply(out, np.float32(1 / 255), out=out)

    return NumpyPlanar(root, deltas)


def loader_video(root: Path, frames: int) -> dict:
    from physai.data import Dataset

    class NumpyFrames(Dataset):
        """The same loader with camera frames read from an uncompressed (N, H, W, 3) uint8 memmap."""

        raw: np.ndarray

        def _frames(self, key, ep_pos, rows):
            return np.multiply(self.raw[rows].transpose(0, 3, 1, 2), np.float32(1 / 255), dtype=np.float32)

    rng = np.random.default_rng(1)
    raw_path = root.parent / "raw.npy"
    arr = np.lib.format.open_memmap(raw_path, mode="w+", dtype=np.uint8, shape=(frames, 128, 128, 3))
    for i in range(frames):
        arr[i] = frame(i)
    arr.flush()
    hwc = np.load(raw_path, mmap_mode="r")
    chw = np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))
    configs = {  # (suffix, delta_timestamps): what one sample holds besides the frame
        "": None,  # the frame (plus state, action, indices) of one row: the headline
        "_train": {"action": [i / 20 for i in range(10)]},  # + a 10-step action chunk, as in the state row
    }
    res: dict = {}
    start = int(rng.integers(0, frames - 3000))
    patterns = {  # both sides get the same indices, same __getitem__, same float (3, H, W) output
        "random": rng.integers(0, frames, 3000),  # what a shuffling sampler does (the headline)
        "sequential": np.arange(start, start + 3000),  # in order (evaluation, replay, episode-local)
    }
    for cfg, deltas in configs.items():
        ds, base, planar = Dataset(root, deltas), NumpyFrames(root, deltas), numpy_planar(root, chw, deltas)
        base.raw = hwc
        for pat, idx in patterns.items():
            if cfg and pat != "random":
                continue
            rates: dict[str, float] = {}
            sides = (("video", ds), ("numpy", base), ("planar", planar))
            for _ in range(2):  # interleaved rounds, best of each: fair under load
                for name, d in sides:
                    for i in idx[:50]:
                        d[int(i)]
                    t0 = time.perf_counter()
                    for i in idx:
                        d[int(i)]["observation.images.cam"]
                    rates[name] = max(rates.get(name, 0.0), len(idx) / (time.perf_counter() - t0))
            sfx = cfg + ("" if pat == "random" else f"_{pat}")
            best_raw = max(rates["numpy"], rates["planar"])
            res[f"video_samples_per_s_1worker{sfx}"] = round(rates["video"])
            res[f"numpy_samples_per_s{sfx}"] = round(rates["numpy"])
            res[f"numpy_planar_samples_per_s{sfx}"] = round(rates["planar"])
            res[f"video_vs_numpy{sfx}"] = round(rates["video"] / best_raw, 3)  # vs the faster baseline
    res.update(loader_video_dataloader(root, hwc, chw))
    # correctness spot check: decoded frame equals the written one up to compression error
    ds = Dataset(root)
    err = np.abs(ds[1234]["observation.images.cam"].numpy() * 255 - frame(1234).transpose(2, 0, 1)).mean()
    return {
        **res,
        "decode_mean_abs_err": round(float(err), 2),
        "video_files": len(list(root.rglob("*.mp4"))),
        "video_mb": round(sum(p.stat().st_size for p in root.rglob("*.mp4")) / 2**20, 1),
    }


def loader_video_dataloader(root: Path, hwc: np.ndarray, chw: np.ndarray, batches: int = 60) -> dict:
    """Per-worker rate the way training consumes it: a torch DataLoader with one worker process,
    shuffled batches of 64 (collation and the shared-memory hand-off of the float frames included)."""
    import torch

    from physai.data import Dataset

    def rate(ds) -> float:
        dl = torch.utils.data.DataLoader(
            ds, batch_size=64, shuffle=True, num_workers=1, generator=torch.Generator().manual_seed(0)
        )
        it = iter(dl)
        next(it), next(it)  # worker start-up and the first decoders
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        r = batches * 64 / (time.perf_counter() - t0)
        del it
        return r

    video, planar = Dataset(root), numpy_planar(root, chw)  # the array is inherited by the forked worker
    rates: dict[str, float] = {}
    for _ in range(2):  # interleaved rounds, best of each
        for name, d in (("video", video), ("planar", planar)):
            rates[name] = max(rates.get(name, 0.0), rate(d))
    return {
        "dataloader_video_samples_per_s_1worker": round(rates["video"]),
        "dataloader_numpy_samples_per_s_1worker": round(rates["planar"]),
        "dataloader_video_vs_numpy": round(rates["video"] / rates["planar"], 3),
    }


RSS_SCRIPT = r"""
import sys, os, torch
from physai.data import Dataset
ds = Dataset(sys.argv[1])
dl = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=2, persistent_workers=True,
                                 multiprocessing_context="spawn", generator=torch.Generator().manual_seed(0))
it = iter(dl)
for _ in range(150):
    next(it)
def hwm(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
pids = [w.pid for w in it._workers]
print(sum(hwm(p) for p in [os.getpid(), *pids]))
"""


def peak_rss(root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(root)], capture_output=True, text=True, check=True
    )
    return {"peak_rss_2workers_mb": round(int(out.stdout.strip().splitlines()[-1]) / 2**20)}


def recording() -> dict:
    import physai.envs as envs
    from physai.data.recorder import Recorder

    d = Path(tempfile.mkdtemp())
    env = envs.make(
        "tabletop/pick-place", obs=("state", "images"), cameras=["scene", "wrist"], image_size=(128, 128)
    )
    steps = late = 0
    with Recorder(env, d / "rec", keep_failures=True) as rec:
        for s in range(2):
            r = rec.record(env.expert(), seed=s, realtime=True)
            steps, late = steps + r.length, late + r.late_frames
    env.close()
    shutil.rmtree(d)
    return {"record_2cams_20hz_frames": steps, "late_frames_pct": round(100 * late / steps, 2)}


def collect_speedup(episodes: int) -> dict:
    from physai.data.collect import CollectConfig, collect

    d = Path(tempfile.mkdtemp())
    rates, merges = {}, {}
    for w in (1, 2):
        doc = collect(
            CollectConfig(
                task="tabletop/pick-place",
                episodes=episodes,
                workers=w,
                out=str(d / f"w{w}"),
                cameras=("scene",),
                keep_failures=True,
            )
        )
        rates[w] = doc["episodes_per_min"]  # the whole job: worker start-up, recording, merge
        merges[w] = doc["merge_seconds"]
    shutil.rmtree(d)
    return {
        "collect_episodes": episodes,
        "collect_eps_per_min_1w": rates[1],
        "collect_eps_per_min_2w": rates[2],
        "collect_speedup_2w": round(rates[2] / rates[1], 2),
        "collect_merge_s_1w": merges[1],
        "collect_merge_s_2w": merges[2],
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--collect-episodes", type=int, default=200)
    ap.add_argument("--gop", type=int, default=None, help="keyframe interval (default: the writer's)")
    ap.add_argument("--skip", default="", help="comma list of: state,video,rss,record,collect")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # the targets are per core / per worker (DataLoader workers use 1 thread too)
    skip = set(a.skip.split(","))
    tmp = Path(tempfile.mkdtemp())
    from physai.data.video import DEFAULT_GOP

    res: dict = {"frames": a.frames, "gop": a.gop or DEFAULT_GOP}
    if "state" not in skip:
        build(tmp / "state", a.frames, video=False)
        res.update(loader_state(tmp / "state"))
    if not {"video", "rss"} <= skip:
        from physai.data.tools import merge

        t0 = time.perf_counter()
        build(tmp / "video-episodes", a.frames, video=True, gop=a.gop)
        res["write_video_dataset_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        merge([tmp / "video-episodes"], tmp / "video")  # packed like a collected dataset
        res["pack_video_dataset_s"] = round(time.perf_counter() - t0, 1)
        if "video" not in skip:
            res.update(loader_video(tmp / "video", a.frames))
        if "rss" not in skip:
            res.update(peak_rss(tmp / "video"))
    if "record" not in skip:
        res.update(recording())
    if "collect" not in skip:
        res.update(collect_speedup(a.collect_episodes))
    shutil.rmtree(tmp)
    out = Path(__file__).parent / "results" / "data_io.json"
    out.parent.mkdir(exist_ok=True)
    if skip - {""} and out.exists():  # a partial run updates the figures it measured, keeps the others
        res = {**json.loads(out.read_text()), **res}
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
