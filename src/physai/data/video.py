"""Video encoding with PyAV (H.264 via libx264, or AV1 via libsvtav1)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

CODECS = {"h264": "libx264", "av1": "libsvtav1"}


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float, codec: str = "h264",
                crf: int = 23, pix_fmt: str = "yuv420p") -> int:
    """Encode uint8 HxWx3 frames to `path`; returns the number of frames written."""
    lib = CODECS.get(codec, codec)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                h, w = frame.shape[:2]
                stream = container.add_stream(lib, rate=round(fps))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = pix_fmt
                stream.options = {"crf": str(crf)}
            img = np.ascontiguousarray(frame[: stream.height, : stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
            n += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return n
