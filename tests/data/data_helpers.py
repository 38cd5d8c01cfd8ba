"""Helpers for the data tests: small synthetic datasets written with DatasetWriter (no simulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physai.data import format as fmt
from physai.data.writer import DatasetWriter


def frame_image(i: int, size: int = 32) -> np.ndarray:
    """An image whose top row encodes `i` in 8 binary blocks (survives lossy video)."""
    img = np.full((size, size, 3), 90, np.uint8)
    w = size // 8
    for b in range(8):
        img[: size // 2, b * w : (b + 1) * w] = 255 if (i >> b) & 1 else 0
    return img


def decode_image(img: np.ndarray) -> int:
    """Inverse of frame_image for uint8 (H, W, 3) or float (3, H, W) in [0, 1]."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = (a.transpose(1, 2, 0) * 255).round()
    size = a.shape[0]
    w = size // 8
    return sum(1 << b for b in range(8) if a[2 : size // 2 - 2, b * w + 1 : (b + 1) * w - 1].mean() > 127)


def make_dataset(
    root: Path, lengths: list[int], video: bool = True, state_dim: int = 3, action_dim: int = 2, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write a dataset and return the values written, concatenated over episodes."""
    rng = np.random.default_rng(seed)
    feats = {
        "observation.state": {
            "dtype": "float32",
            "shape": [state_dim],
            "names": [f"s{i}" for i in range(state_dim)],
        },
        "action": {"dtype": "float32", "shape": [action_dim], "names": None},
        "next.success": {"dtype": "bool", "shape": [1], "names": None},
    }
    if video:
        feats["observation.images.cam"] = fmt.video_feature(32, 32, 10, "h264")
    written: dict[str, list] = {"observation.state": [], "action": [], "next.success": [], "image_id": []}
    g = 0
    with DatasetWriter(root, fps=10, features=feats, robot_type="toy") as w:
        for ep, n in enumerate(lengths):
            for t in range(n):
                fr = {
                    "observation.state": rng.normal(size=state_dim).astype(np.float32),
                    "action": rng.normal(size=action_dim).astype(np.float32),
                    "next.success": t == n - 1,
                }
                if video:
                    fr["observation.images.cam"] = frame_image(g % 256)
                for k in ("observation.state", "action", "next.success"):
                    written[k].append(fr[k])
                written["image_id"].append(g % 256)
                w.add_frame(fr)
                g += 1
            w.save_episode(f"task {ep % 2}")
    return {k: np.array(v) for k, v in written.items()}
