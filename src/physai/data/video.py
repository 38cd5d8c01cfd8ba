"""Video with PyAV: H.264 (libx264) or AV1 (libsvtav1) encoding, a background encoder that keeps the
control loop free, and frame-exact decoding by integer frame index with bounded caches.

Frames are written with pts = frame index in a 1/fps time base, and read back by converting pts to an
integer index, so many frames never drift the way float timestamps do.
"""

from __future__ import annotations

import array
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from physai.core.errors import DatasetError
from physai.data.format import time_base

CODECS = {"h264": "libx264", "av1": "libsvtav1"}
DEFAULT_GOP = 1
"""Keyframe interval: 1 = every frame is a keyframe, so a random sample decodes exactly one frame (LeRobot
uses 2, which decodes 1.5 on average). With x264 `ultrafast` + `fastdecode` at 128x128 the all-intra file is
no bigger than GOP 2 at `veryfast` (bench/data_io.py, `video_mb`)."""


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
        # zerolatency: no B-frames (pts == dts, packets remux cleanly); fastdecode: no CABAC/deblocking
        # (~1.8x faster decoding); ultrafast + one thread (one slice per frame): a 128x128 intra frame
        # decodes in ~20 us instead of ~28 us with veryfast's sliced threads, in ~15% fewer bytes.
        opts["preset"] = "ultrafast"
        opts["tune"] = "zerolatency,fastdecode"
        opts["threads"] = "1"
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


_INV255 = np.float32(1 / 255)


def _ints(a: np.ndarray) -> array.array:
    out = array.array("q")
    out.frombytes(np.ascontiguousarray(a, np.int64).tobytes())
    return out


class VideoReader:
    """Frame-exact random access into one mp4 by integer frame index.

    Opening demuxes the file once into a packet index (byte offset, size, keyframe flag and frame index
    of every packet, in decode order); a frame is then decoded by reading its packets with `pread` and
    feeding them to a bare decoder, from the keyframe at or before it, or onward from where the decoder
    stopped when the frame lies ahead in the same GOP. No container seeks (a seek plus decoder reset
    cost more than decoding a 128x128 frame). Decoded frames of the GOPs visited stay in a small LRU
    (`cache_frames`), so windows and episode-local samplers reuse them; memory is bounded by that LRU
    and the index (~20 bytes per frame).
    """

    def __init__(self, path: str | Path, fps: float, cache_frames: int = 8) -> None:
        self.path, self.fps, self.cache_frames = Path(path), fps, cache_frames
        self._ctx: Any = None  # a PyAV decoder (its stubs lack decode/flush_buffers)
        self._fd = -1
        self._cache: OrderedDict[int, av.VideoFrame] = OrderedDict()
        self._next = -1  # decode position of the next packet the decoder can take without a reset
        self._pending = 0  # packets fed whose frames the decoder still holds (B-frame delay)
        self._rgb = VideoReformatter()

    # ------------------------------------------------------------------ open
    def _open(self) -> None:
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                tb = time_base(stream)
                rows, blobs = [], []
                for pkt in container.demux(stream):
                    if pkt.size == 0 or pkt.pts is None:
                        continue
                    fpos = -1 if pkt.pos is None else pkt.pos  # no file position: keep the bytes
                    rows.append((fpos, pkt.size, pkt.is_keyframe, int(round(pkt.pts * tb * self.fps))))
                    blobs.append(bytes(pkt) if fpos < 0 else None)
                src = stream.codec_context
                ctx = av.CodecContext.create(src.name, "r")
                ctx.extradata = src.extradata
                self.width, self.height = src.width, src.height
        except (av.error.FFmpegError, OSError, IndexError) as exc:
            raise DatasetError(
                f"{self.path}: cannot open video ({exc}); the file is missing or truncated — "
                f"run `physai dataset repair {self._root()}`"
            ) from exc
        ctx.thread_type = "NONE"  # one 128x128 frame is far too small to split across threads
        ctx.thread_count = 1
        a = np.array(rows, np.int64).reshape(-1, 4)
        pos = np.arange(len(a), dtype=np.int64)
        key_before = np.maximum.accumulate(np.where(a[:, 2] > 0, pos, -1)) if len(a) else pos
        dpos = np.full(int(a[:, 3].max()) + 1 if len(a) else 0, -1, np.int64)
        dpos[a[:, 3]] = pos  # frame index -> decode position of its packet
        # 8 bytes per entry like numpy, but indexing yields Python ints ~3x faster (hot path per sample)
        self._offset, self._size, self._frame_of = _ints(a[:, 0]), _ints(a[:, 1]), _ints(a[:, 3])
        self._key_before, self._dpos = _ints(key_before), _ints(dpos)
        self._blobs = blobs if any(b is not None for b in blobs) else None
        self._fd = os.open(self.path, os.O_RDONLY)
        self._ctx = ctx
        self._next, self._pending = -1, 0

    def _root(self) -> Path:
        parts = self.path.parts
        return Path(*parts[: parts.index("videos")]) if "videos" in parts else self.path.parent

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(3, H, W) of `get_float`."""
        if self._ctx is None:
            self._open()
        return 3, self.height, self.width

    # ------------------------------------------------------------------ decode
    def _packet(self, d: int) -> av.Packet:
        blob = self._blobs[d] if self._blobs is not None else None
        if blob is None:
            blob = os.pread(self._fd, self._size[d], self._offset[d])
            if len(blob) != self._size[d]:
                raise DatasetError(
                    f"{self.path}: packet {d} lies past the end of the file (truncated); "
                    f"run `physai dataset repair {self._root()}`"
                )
        pkt = av.Packet(blob)
        pkt.pts = self._frame_of[d]
        return pkt

    def _frame(self, index: int) -> av.VideoFrame:
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        if self._ctx is None:
            self._open()
        d = self._dpos[index] if 0 <= index < len(self._dpos) else -1
        if d < 0 or self._key_before[d] < 0:
            raise DatasetError(
                f"{self.path}: frame {index} is not in the video (it has {len(self._dpos)} frames); "
                f"the file is truncated or disagrees with the episode metadata — "
                f"run `physai dataset repair {self._root()}`"
            )
        start = self._key_before[d]
        if not start <= self._next <= d:  # behind, or more than a GOP ahead: restart at the keyframe
            if self._pending:
                self._ctx.flush_buffers()
            self._next, self._pending = start, 0
        ctx, n = self._ctx, len(self._size)
        try:
            while index not in self._cache:
                if self._next < n:
                    frames = ctx.decode(self._packet(self._next))
                    self._next += 1
                    self._pending += 1 - len(frames)
                elif self._pending:  # end of file: drain the delayed frames, then reset
                    frames = ctx.decode(None)
                    ctx.flush_buffers()
                    self._next, self._pending = -1, 0
                else:
                    break
                for f in frames:
                    self._cache[int(f.pts)] = f
                    if len(self._cache) > self.cache_frames:
                        self._cache.popitem(last=False)
        except av.error.FFmpegError as exc:
            self._next, self._pending = -1, 0
            ctx.flush_buffers()
            raise DatasetError(
                f"{self.path}: decoding frame {index} failed ({exc}); "
                f"run `physai dataset validate {self._root()}`"
            ) from exc
        got = self._cache.get(index)
        if got is None:
            raise DatasetError(
                f"{self.path}: frame {index} did not decode; the file disagrees with its packet index — "
                f"run `physai dataset validate {self._root()}`"
            )
        return got

    def get(self, index: int) -> np.ndarray:
        """The frame at `index` as uint8 (H, W, 3) RGB."""
        return self._rgb.reformat(self._frame(index), format="rgb24", threads=1).to_ndarray()

    def get_float(self, index: int, out: np.ndarray | None = None) -> np.ndarray:
        """The frame at `index` as float32 (3, H, W) in [0, 1] (what the loader returns), into `out` if given.

        swscale's planar RGB through a single-threaded reformatter kept per reader, then a uint8 -> float32
        copy per plane and one in-place scale of the whole frame.
        PyAV's `to_ndarray(format=...)` builds a new scaler per frame and swscale's default thread pool
        costs ~30 us of hand-offs per 128x128 frame: each alone is more than the H.264 decode itself.
        A mixed-type `np.multiply(uint8, float32)` per plane costs 2x the copy + scale.
        """
        f = self._rgb.reformat(self._frame(index), format="gbrp", threads=1)
        h, w = self.height, self.width
        if out is None:
            out = np.empty((3, h, w), np.float32)
        for c, plane in zip((1, 2, 0), f.planes, strict=True):  # gbrp: G, B, R planes, each contiguous
            ls = plane.line_size
            src = np.frombuffer(memoryview(plane), np.uint8)
            src = src.reshape(h, w) if ls == w else src.reshape(h, ls)[:, :w]
            np.copyto(out[c], src, casting="unsafe")
        return np.multiply(out, _INV255, out=out)

    def count(self) -> int:
        """Number of frames (decodes the whole file through the demuxer; for validation)."""
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "NONE"
                return sum(1 for _ in container.decode(stream))
        except (av.error.FFmpegError, OSError, IndexError) as exc:
            raise DatasetError(
                f"{self.path}: cannot decode video ({exc}); run `physai dataset repair {self._root()}`"
            ) from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._ctx = -1, None
        self._cache.clear()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
