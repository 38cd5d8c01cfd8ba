"""Video with PyAV: H.264 (libx264) or AV1 (libsvtav1) encoding, a background encoder that keeps the
control loop free, and frame-exact decoding by integer frame index with bounded caches.

Frames are written with pts = frame index in a 1/fps time base, and read back by converting pts to an
integer index, so many frames never drift the way float timestamps do.
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from physai.core.errors import DatasetError

CODECS = {"h264": "libx264", "av1": "libsvtav1"}
DEFAULT_GOP = 2
"""Keyframe interval (LeRobot's default): random access decodes at most this many frames."""


def _open_stream(
    container, codec: str, fps: float, width: int, height: int, crf: int, pix_fmt: str, gop: int | None
):
    lib = CODECS.get(codec, codec)
    stream = container.add_stream(lib, rate=round(fps))
    stream.width, stream.height = width - width % 2, height - height % 2
    stream.pix_fmt = pix_fmt
    stream.codec_context.time_base = Fraction(1, round(fps))
    opts = {"crf": str(crf)}
    if gop is not None:
        opts["g"] = str(gop)
        if lib == "libx264":
            opts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        elif lib == "libsvtav1":
            opts["svtav1-params"] = f"keyint={gop}:fast-decode=1"
    if lib == "libx264":
        # zerolatency: no B-frames (pts == dts, packets remux cleanly); fastdecode: no CABAC/deblocking,
        # ~1.8x faster random-access decoding for ~25% larger files (measured in bench/data_io.py).
        opts["preset"] = "veryfast"
        opts["tune"] = "zerolatency,fastdecode"
    elif lib == "libsvtav1":
        opts["preset"] = "10"
    stream.options = opts
    return stream


def write_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    fps: float,
    codec: str = "h264",
    crf: int = 23,
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
) -> int:
    """Encode uint8 HxWx3 frames to `path`; returns the number of frames written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                h, w = frame.shape[:2]
                stream = _open_stream(container, codec, fps, w, h, crf, pix_fmt, gop)
            img = np.ascontiguousarray(frame[: stream.height, : stream.width])
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = n
            vf.time_base = stream.codec_context.time_base
            for packet in stream.encode(vf):
                container.mux(packet)
            n += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return n


class BackgroundEncoder:
    """Encodes several video streams on one worker thread; `put` never blocks the caller.

    Usage per episode: `open(key, path, h, w)` for each camera, `put(key, frame)` every step, then
    `finish()` which waits until every file is complete, flushed and fsynced and returns frame counts.
    """

    def __init__(
        self, fps: float, codec: str = "h264", crf: int = 23, gop: int = DEFAULT_GOP, pix_fmt: str = "yuv420p"
    ) -> None:
        self.fps, self.codec, self.crf, self.gop, self.pix_fmt = fps, codec, crf, gop, pix_fmt
        self._q: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="physai-video-encoder", daemon=True)
        self._thread.start()

    def open(self, key: str, path: Path, height: int, width: int) -> None:
        self._q.put(("open", key, Path(path), height, width))

    def put(self, key: str, frame: np.ndarray) -> None:
        self._raise()
        self._q.put(("frame", key, np.array(frame, dtype=np.uint8, copy=True)))

    def finish(self) -> dict[str, int]:
        """Close every open stream (durably) and return {key: frames written}."""
        done: dict = {}
        ev = threading.Event()
        self._q.put(("finish", done, ev))
        ev.wait()
        self._raise()
        return done

    def close(self) -> None:
        self._q.put(("stop",))
        self._thread.join()

    @property
    def backlog(self) -> int:
        """Frames queued but not yet encoded."""
        return self._q.qsize()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise DatasetError(f"video encoding failed: {err}") from err

    def _run(self) -> None:
        open_: dict[str, list] = {}  # key -> [container, stream, path, n]
        while True:
            cmd = self._q.get()
            try:
                if cmd[0] == "open":
                    _, key, path, h, w = cmd
                    path.parent.mkdir(parents=True, exist_ok=True)
                    c = av.open(str(path), mode="w")
                    s = _open_stream(c, self.codec, self.fps, w, h, self.crf, self.pix_fmt, self.gop)
                    open_[key] = [c, s, path, 0]
                elif cmd[0] == "frame":
                    _, key, frame = cmd
                    entry = open_[key]
                    c, s = entry[0], entry[1]
                    vf = av.VideoFrame.from_ndarray(
                        np.ascontiguousarray(frame[: s.height, : s.width]), format="rgb24"
                    )
                    vf.pts, vf.time_base = entry[3], s.codec_context.time_base
                    for p in s.encode(vf):
                        c.mux(p)
                    entry[3] += 1
                elif cmd[0] == "finish":
                    _, done, ev = cmd
                    try:
                        for key, (c, s, path, n) in list(open_.items()):
                            for p in s.encode():
                                c.mux(p)
                            c.close()
                            from physai.data.format import fsync_file

                            fsync_file(path)
                            done[key] = n
                    finally:
                        open_.clear()
                        ev.set()
                elif cmd[0] == "stop":
                    for c, *_ in open_.values():
                        c.close()
                    return
            except BaseException as exc:  # surfaced to the caller on the next put/finish
                self._error = exc


_BT601 = (1.164383 / 255, 1.596027 / 255, -0.391762 / 255, -0.812968 / 255, 2.017232 / 255)


def frame_to_float(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> float32 (3, H, W) RGB in [0, 1].

    yuv420p limited-range BT.601 (what libx264/libsvtav1 produce from RGB by default) is converted in
    numpy straight to planar floats, about 3x faster than swscale's packed RGB plus a float pass; any
    other pixel format goes through swscale.
    """
    h, w = frame.height, frame.width
    fast = (
        frame.format.name == "yuv420p"
        and h % 2 == 0
        and w % 2 == 0
        and int(getattr(frame, "color_range", 0) or 0) != 2
        and int(getattr(frame, "colorspace", 2) or 2) in (2, 5, 6)
    )
    if not fast:
        return np.multiply(
            frame.to_ndarray(format="rgb24").transpose(2, 0, 1), np.float32(1 / 255), dtype=np.float32
        )
    a = frame.to_ndarray()
    ky, kv_r, ku_g, kv_g, ku_b = _BT601
    y = (a[:h].astype(np.float32) - 16.0) * ky
    u = (a[h : h + h // 4].reshape(h // 2, w // 2).astype(np.float32) - 128.0).repeat(2, 0).repeat(2, 1)
    v = (a[h + h // 4 :].reshape(h // 2, w // 2).astype(np.float32) - 128.0).repeat(2, 0).repeat(2, 1)
    out = np.empty((3, h, w), np.float32)
    np.add(y, v * kv_r, out=out[0])
    np.add(y, u * ku_g, out=out[1])
    out[1] += v * kv_g
    np.add(y, u * ku_b, out=out[2])
    return np.clip(out, 0.0, 1.0, out=out)


class VideoReader:
    """Frame-exact random access into one mp4 by integer frame index.

    Keeps the container open (lazily, per process) and a small LRU of decoded frames; consecutive
    requests decode forward without seeking. Memory is bounded by `cache_frames`.
    """

    def __init__(self, path: str | Path, fps: float, cache_frames: int = 8) -> None:
        self.path, self.fps, self.cache_frames = Path(path), fps, cache_frames
        self._container = None
        self._stream = None
        self._iter = None
        self._pos = -1  # index of the last frame decoded by _iter
        self._cache: OrderedDict[int, object] = OrderedDict()

    def _open(self) -> None:
        try:
            self._container = av.open(str(self.path))
            self._stream = self._container.streams.video[0]
        except (av.error.FFmpegError, OSError) as exc:
            raise DatasetError(
                f"{self.path}: cannot open video ({exc}); the file is missing or truncated — "
                f"run `physai dataset repair {self._root()}`"
            ) from exc
        self._stream.thread_type = "NONE"
        self._tb = float(self._stream.time_base)

    def _root(self) -> Path:
        parts = self.path.parts
        return Path(*parts[: parts.index("videos")]) if "videos" in parts else self.path.parent

    def _index(self, frame) -> int:
        return int(round(frame.pts * self._tb * self.fps))

    def _seek(self, index: int) -> None:
        target = int(round(index / self.fps / self._tb))
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._iter = self._container.decode(self._stream)
        self._pos = -1

    def get(self, index: int) -> np.ndarray:
        """The frame at `index` as uint8 (H, W, 3)."""
        hit = self._cache.get(index)
        if hit is None:
            hit = self._decode_to(index)
        else:
            self._cache.move_to_end(index)
        if not isinstance(hit, np.ndarray):  # decoded frames are converted to RGB only when asked for
            hit = hit.to_ndarray(format="rgb24")
            self._cache[index] = hit
        return hit

    def get_float(self, index: int) -> np.ndarray:
        """The frame at `index` as float32 (3, H, W) in [0, 1] (what the loader returns)."""
        hit = self._cache.get(index)
        if hit is None:
            hit = self._decode_to(index)
        else:
            self._cache.move_to_end(index)
        if isinstance(hit, np.ndarray):
            return np.multiply(hit.transpose(2, 0, 1), np.float32(1 / 255), dtype=np.float32)
        return frame_to_float(hit)

    def _decode_to(self, index: int):
        if self._container is None:
            self._open()
        if self._iter is None or index <= self._pos or index > self._pos + 2 * DEFAULT_GOP + 1:
            self._seek(index)
        try:
            while True:
                frame = next(self._iter)
                i = self._index(frame)
                self._pos = i
                if i >= index - DEFAULT_GOP:
                    self._cache[i] = frame
                    if len(self._cache) > self.cache_frames:
                        self._cache.popitem(last=False)
                if i >= index:
                    break
        except StopIteration:
            self._iter = None
        except av.error.FFmpegError as exc:
            raise DatasetError(
                f"{self.path}: decoding frame {index} failed ({exc}); "
                f"run `physai dataset validate {self._root()}`"
            ) from exc
        got = self._cache.get(index)
        if got is None:
            raise DatasetError(
                f"{self.path}: frame {index} is not in the video (last frame {self._pos}); "
                f"the file is truncated or disagrees with the episode metadata — "
                f"run `physai dataset repair {self._root()}`"
            )
        return got

    def count(self) -> int:
        """Number of frames (decodes the whole file; for validation)."""
        if self._container is None:
            self._open()
        self._container.seek(0)
        n = sum(1 for _ in self._container.decode(self._stream))
        self._iter = None
        return n

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._stream = self._iter = None
        self._cache.clear()
