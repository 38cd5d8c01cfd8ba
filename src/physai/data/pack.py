"""Packing episodes into multi-episode files (the LeRobot v3.0 way): parquet rows appended until
`data_files_size_in_mb`, video packets remuxed (no re-encoding) into one mp4 per camera until
`video_files_size_in_mb`. Each episode is its own parquet row group and the mp4 index sits at the
front, so damage to one part of a packed file costs only the episodes in it. Used by
merge/split/collect; the recorder writes one file per episode for crash safety and packing happens when
episodes are copied into a finished dataset."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import av
import pyarrow as pa
import pyarrow.parquet as pq

from physai.data import format as fmt
from physai.data.video import DEFAULT_GOP, VideoReader, write_video


def _next(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    file += 1
    return (chunk + 1, 0) if file >= chunks_size else (chunk, file)


class DataPacker:
    """Appends episode tables to data/chunk-XXX/file-YYY.parquet files of bounded size."""

    def __init__(self, root: Path, info: dict) -> None:
        self.root, self.info = root, info
        self.chunk, self.file = 0, 0
        self.tables: list[pa.Table] = []
        self.nbytes = 0  # of self.tables
        self.limit = info["data_files_size_in_mb"] * 2**20

    def add(self, table: pa.Table) -> tuple[int, int]:
        if self.tables and self.nbytes + table.nbytes > self.limit:
            self.flush()
            self.chunk, self.file = _next(self.chunk, self.file, self.info["chunks_size"])
        self.tables.append(table)
        self.nbytes += table.nbytes
        return self.chunk, self.file

    def flush(self) -> None:
        if self.tables:
            path = self.root / self.info["data_path"].format(chunk_index=self.chunk, file_index=self.file)
            fmt.write_parquet_atomic(
                path, pa.concat_tables(self.tables), row_groups=[t.num_rows for t in self.tables]
            )
            self.tables, self.nbytes = [], 0


class VideoPacker:
    """Remuxes episodes of one camera into videos/<key>/chunk-XXX/file-YYY.mp4 files of bounded size."""

    def __init__(self, root: Path, info: dict, key: str) -> None:
        self.root, self.info, self.key = root, info, key
        self.fps = info["fps"]
        self.chunk, self.file = 0, -1
        self.out: av.container.OutputContainer | None = None
        self.stream: Any = None
        self.offset = 0
        self.path: Path | None = None
        self.limit = info["video_files_size_in_mb"] * 2**20

    def _open(self, template) -> None:
        self.close()
        if self.file >= 0:
            self.chunk, self.file = _next(self.chunk, self.file, self.info["chunks_size"])
        else:
            self.file = 0
        self.path = self.root / self.info["video_path"].format(
            video_key=self.key, chunk_index=self.chunk, file_index=self.file
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # faststart: the index (moov) goes first, so a truncated file still demuxes up to the cut
        self.out = av.open(str(self.path), mode="w", options={"movflags": "faststart"})
        self.stream = self.out.add_stream_from_template(template)
        self.offset = 0

    def add(self, src: Path, first: int, n: int) -> tuple[int, int, float, float]:
        """Append frames [first, first + n) of `src`; returns (chunk, file, from_timestamp, to_timestamp)."""
        inp = av.open(str(src))
        try:
            s = inp.streams.video[0]
            tb = s.time_base
            to_frame = fmt.time_base(s) * self.fps
            if first > 0:  # a packed source: start at the keyframe at or before the episode's first frame
                inp.seek(int(first / to_frame), stream=s, backward=True, any_frame=False)
            packets: list[tuple[int, Any]] = []
            past = 0
            for pkt in inp.demux(s):
                if pkt.pts is None:
                    continue
                i = round(pkt.pts * to_frame)
                if first <= i < first + n:
                    packets.append((i, pkt))
                elif i >= first + n:
                    past += 1
                    if len(packets) == n or past > 16:  # the episode is complete (16: B-frame reorder slack)
                        break
            aligned = len(packets) == n and packets[0][1].is_keyframe
            if not aligned:  # the episode does not start on a keyframe: re-encode it, then remux that
                inp.close()
                return self._add_reencoded(src, first, n)
            size = self.path.stat().st_size if self.path is not None and self.path.exists() else 0
            if self.out is None or size > self.limit:
                self._open(s)
            assert self.out is not None and tb is not None
            ticks = round(1 / (self.fps * tb))
            for i, pkt in packets:
                d = (self.offset + i - first) * ticks
                dts_shift = (pkt.dts - pkt.pts) if pkt.dts is not None else 0
                pkt.pts, pkt.dts = d, d + dts_shift
                pkt.time_base = tb
                pkt.stream = self.stream
                self.out.mux(pkt)
        finally:
            inp.close()
        start = self.offset
        self.offset += n
        return self.chunk, self.file, start / self.fps, (start + n) / self.fps

    def _add_reencoded(self, src: Path, first: int, n: int) -> tuple[int, int, float, float]:
        codec = self.info["features"][self.key].get("info", {}).get("video.codec", "h264")
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d) / "ep.mp4"
            r = VideoReader(src, self.fps)
            write_video(
                (r.get(first + i) for i in range(n)),
                tmp,
                self.fps,
                codec=codec if codec in ("h264", "av1") else "h264",
                gop=DEFAULT_GOP,
            )
            r.close()
            return self.add(tmp, 0, n)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            if self.path is not None:
                fmt.fsync_file(self.path)
            self.out = None


def read_rows(path: Path) -> pa.Table:
    return pq.read_table(path)
