"""What is wrong with a dataset, and who is to blame: the survey and per-episode checks behind
`validate` and `repair`.

`survey` reads the metadata tolerantly: a metadata file that is missing, unreadable or disagrees with
the data (info.json that is not JSON, an `fps` the timestamps contradict, features the parquet schemas
or video streams contradict, a truncated tasks.parquet, a lost episodes table) is named as the culprit
and rebuilt from the data, so the episode checks that follow never blame data for metadata damage.
`check_episodes` then checks every episode on its own (rows, frames, decoding, recorded checksums),
wherever it sits in its files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from physai.core.errors import DatasetError
from physai.data import checksums as sums
from physai.data import format as fmt
from physai.data.stats import episode_stats, from_json

_IMAGE_STATS_EVERY = 5


@dataclass
class Problem:
    """One violation: the culprit file (relative to the dataset root), what is wrong, which episodes."""

    file: str
    what: str
    episodes: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        eps = f" (episodes {_ranges(self.episodes)})" if self.episodes else ""
        return f"{self.file}: {self.what}{eps}" if self.file else f"{self.what}{eps}"

    def to_dict(self) -> dict:
        return {"file": self.file, "what": self.what, "episodes": list(self.episodes)}


def _ranges(eps: list[int]) -> str:
    eps = sorted(set(eps))
    out, i = [], 0
    while i < len(eps):
        j = i
        while j + 1 < len(eps) and eps[j + 1] == eps[j] + 1:
            j += 1
        out.append(str(eps[i]) if i == j else f"{eps[i]}-{eps[j]}")
        i = j + 1
    return ", ".join(out)


@dataclass
class DataFile:
    """A data parquet as far as it reads: rows of its readable row groups, what failed."""

    table: pa.Table | None
    error: str | None = None
    bad_groups: int = 0
    schema: pa.Schema | None = None


@dataclass
class VideoFile:
    """A video as far as it demuxes: (frame index, packet digest) in decode order, stream facts."""

    packets: list[tuple[int, bytes]]
    error: str | None = None
    width: int = 0
    height: int = 0
    rate: float = 0.0
    undecodable: set[int] = field(default_factory=set)
    decoded: bool = False


@dataclass
class Survey:
    """A dataset's metadata as repair would rebuild it, and the metadata problems found on the way."""

    root: Path
    info: dict
    rows: list[dict]
    tasks: list[str]
    sums: dict | None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rebuilt: set[str] = field(default_factory=set)
    """Metadata that must be rewritten: some of info, episodes, tasks, stats."""
    data: dict[Path, DataFile] = field(default_factory=dict)
    """Every data file, bookkeeping columns only (light)."""
    videos: dict[Path, VideoFile] = field(default_factory=dict)
    _full: tuple[Path, DataFile] | None = None

    def data_file(self, path: Path) -> DataFile:
        """Every column of one data file (one kept at a time: episodes are checked in file order)."""
        if self._full is None or self._full[0] != path:
            self._full = (path, read_data(path))
        return self._full[1]

    def video_file(self, path: Path, deep: bool) -> VideoFile:
        v = self.videos.get(path)
        if v is None or (deep and not v.decoded and v.packets):
            v = self.videos[path] = read_video(path, self.info["fps"], decode=deep)
        return v

    def rel(self, path: Path) -> str:
        return str(Path(path).relative_to(self.root))


# ---------------------------------------------------------------------------------------------- files
def read_data(path: Path, light: bool = False) -> DataFile:
    """Read every row group that reads; a damaged row group costs only its rows. `light`: only the
    bookkeeping columns."""
    if not path.exists():
        return DataFile(None, "is missing")
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        return DataFile(None, f"is truncated or not parquet ({type(exc).__name__}: {str(exc)[:100]})")
    cols = [c for c in fmt.INDEX_KEYS if c in schema.names] if light else None
    parts, bad = [], 0
    for i in range(pf.num_row_groups):
        try:
            parts.append(pf.read_row_group(i, columns=cols))
        except (pa.ArrowException, OSError, ValueError):
            bad += 1
    if parts:
        table = pa.concat_tables(parts)
    else:
        table = (pa.schema([schema.field(c) for c in cols]) if cols is not None else schema).empty_table()
    err = f"{bad} of {pf.num_row_groups} row groups do not read" if bad else None
    return DataFile(table, err, bad, schema)


def read_video(path: Path, fps: float, decode: bool = False) -> VideoFile:
    """Demux as far as the file goes (a truncated faststart mp4 keeps the packets before the cut);
    `decode`: also decode every packet on its own, and record the frames that fail."""
    if not path.exists():
        return VideoFile([], "is missing")
    packets: list[tuple[int, bytes]] = []
    try:
        c = av.open(str(path))
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as exc:
        return VideoFile([], f"does not open as video ({str(exc)[:100]})")
    try:
        if not c.streams.video:
            return VideoFile([], "has no video stream")
        s = c.streams.video[0]
        src = s.codec_context
        if src is None:
            return VideoFile([], "has a video stream without codec parameters")
        tb = fmt.time_base(s)
        v = VideoFile(packets, None, src.width, src.height, float(s.average_rate or 0), decoded=decode)
        ctx: Any = None  # a PyAV decoder (its stubs lack decode)
        if decode:
            try:
                ctx = av.CodecContext.create(src.name, "r")
                ctx.extradata = src.extradata
                ctx.thread_type, ctx.thread_count = "NONE", 1
            except (av.error.FFmpegError, ValueError) as exc:
                v.error = f"has no usable decoder ({str(exc)[:80]})"
        expected = s.frames
        try:
            for p in c.demux(s):
                if p.pts is None or p.size == 0:
                    continue
                i, b = int(round(p.pts * tb * fps)), bytes(p)
                packets.append((i, hashlib.sha256(b).digest()))
                if decode:
                    try:
                        if ctx is None:
                            raise ValueError("no decoder")
                        pkt = av.Packet(b)
                        pkt.pts = i
                        ctx.decode(pkt)
                    except (av.error.FFmpegError, ValueError):
                        v.undecodable.add(i)
        except (av.error.FFmpegError, OSError) as exc:
            v.error = f"stops demuxing after {len(packets)} packets ({str(exc)[:80]})"
        if v.error is None and expected and len(packets) < expected:
            v.error = f"holds {len(packets)} of the {expected} packets its index lists (truncated)"
        return v
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------- survey
def _infer_features(root: Path, data_paths: list[Path], fps: float) -> dict[str, dict]:
    """Features from the first readable parquet schema and the video streams."""
    feats: dict[str, dict] = {}
    for p in data_paths:
        try:
            schema = pq.read_schema(p)
        except (pa.ArrowException, OSError):
            continue
        for f in schema:
            if f.name in fmt.INDEX_KEYS:
                continue
            t, shape = f.type, [1]
            if pa.types.is_fixed_size_list(t):
                t, shape = t.value_type, [t.list_size]
            dtype = "bool" if pa.types.is_boolean(t) else t.to_pandas_dtype().__name__
            feats[f.name] = {"dtype": dtype, "shape": shape, "names": None}
        break
    for d in sorted((root / "videos").glob("*")):
        files = sorted(d.glob("chunk-*/file-*.mp4"))
        for vp in files:
            v = read_video(vp, fps)
            if v.width:
                with av.open(str(vp)) as c:
                    codec = c.streams.video[0].codec_context.name
                feats[d.name] = fmt.video_feature(v.height, v.width, fps, "av1" if "av1" in codec else "h264")
                break
    feats.update(fmt.index_features())
    return feats


def _complete_feature(f: object) -> bool:
    if not isinstance(f, dict) or not isinstance(f.get("dtype"), str) or not isinstance(f.get("shape"), list):
        return False
    if f["dtype"] == "video":
        vi = f.get("info")
        return len(f["shape"]) == 3 and isinstance(vi, dict) and "video.codec" in vi
    return bool(f["shape"]) and all(isinstance(d, int) for d in f["shape"])


def salvage_json(text: str, tries: int = 400) -> dict | None:
    """The longest prefix of a damaged JSON object that parses once its open brackets are closed
    (cut at a structural boundary), or None."""
    stack: list[str] = []
    cuts: list[tuple[int, str]] = []
    in_str = esc = False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
            cuts.append((i + 1, "".join(reversed(stack))))
        elif ch in "}]":
            if not stack:
                break
            stack.pop()
            cuts.append((i + 1, "".join(reversed(stack))))
        elif ch == ",":
            cuts.append((i, "".join(reversed(stack))))
    for end, closers in reversed(cuts[-tries:]):
        try:
            doc = json.loads(text[:end] + closers)
        except ValueError:
            continue
        if isinstance(doc, dict):
            return doc
    return None


def salvage_value(text: str, key: str) -> object | None:
    """The value of `"key": <value>` wherever it still parses in a damaged JSON text, or None."""
    dec = json.JSONDecoder()
    for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:\s*", text):
        try:
            return dec.raw_decode(text, m.end())[0]
        except ValueError:
            continue
    return None


def _data_paths(root: Path) -> list[Path]:
    return sorted((root / "data").glob("chunk-*/file-*.parquet"))


def _fps_from_timestamps(files: list[DataFile]) -> tuple[int | None, int, int]:
    """The rate most episodes' timestamps say, how many episodes say it, and how many have a say."""
    votes: Counter = Counter()
    for df in files:
        if df.table is None or not {"timestamp", "frame_index", "episode_index"} <= set(
            df.table.column_names
        ):
            continue
        e = df.table.column("episode_index").to_numpy()
        fi = df.table.column("frame_index").to_numpy()
        ts = df.table.column("timestamp").to_numpy().astype(np.float64)
        for ep in np.unique(e):
            sel = (e == ep) & (fi > 0)
            if sel.sum():
                rate = float(np.median(fi[sel] / np.maximum(ts[sel], 1e-9)))
                votes[int(round(rate))] += 1
    if not votes:
        return None, 0, 0
    fps, n = votes.most_common(1)[0]
    return fps, n, sum(votes.values())


def survey(root: str | Path) -> Survey:  # noqa: C901  (too complex; split later, issue 19)
    """Read the metadata of the dataset at `root`, name what is damaged and rebuild it from the data."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    info_path = root / fmt.INFO_PATH
    problems: list[Problem] = []
    notes: list[str] = []
    rebuilt: set[str] = set()
    data_paths = _data_paths(root)
    info: dict = {}
    raw = ""
    if not info_path.exists():
        if (root / "meta" / "episodes.jsonl").exists():
            raise DatasetError(f"{root} is a LeRobot v2.x dataset; run `physai dataset convert {root}`")
        if not data_paths:
            raise DatasetError(f"{info_path} not found and no data files: {root} is not a LeRobot dataset")
        problems.append(Problem(fmt.INFO_PATH, "is missing; repair rebuilds it from the data files"))
        rebuilt.add("info")
    else:
        try:
            info = json.loads(info_path.read_text())
            if not isinstance(info, dict):
                raise ValueError(f"a JSON {type(info).__name__}, not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(
                Problem(
                    fmt.INFO_PATH,
                    f"is not valid JSON ({str(exc)[:80]}); repair rebuilds it from what still parses "
                    "and the data files (fps from timestamps, features from the parquet schema and "
                    "video streams)",
                )
            )
            raw = info_path.read_bytes().decode("utf-8", errors="replace")
            info, rebuilt = salvage_json(raw) or {}, rebuilt | {"info"}
            for key in ("robot_type", "fps", "features", "physai", "chunks_size", "data_path", "video_path"):
                if key not in info and (v := salvage_value(raw, key)) is not None:
                    info[key] = v
            if not isinstance(info.get("fps"), int):
                info.pop("fps", None)
    version = info.get("codebase_version", fmt.CODEBASE_VERSION)
    if version != fmt.CODEBASE_VERSION:
        fix = f"run `physai dataset convert {root}`" if str(version).startswith("v2") else "physai reads v3.0"
        raise DatasetError(f"{info_path}: codebase_version {version!r} is not supported; {fix}")
    missing = [k for k in ("fps", "features", "data_path") if k not in info]
    if info and missing and "info" not in rebuilt:
        problems.append(Problem(fmt.INFO_PATH, f"lacks fields {missing}; repair rebuilds them from the data"))
        rebuilt.add("info")
    # fps: the timestamps of the episodes vote
    data = {p: read_data(p, light=True) for p in data_paths}
    ts_fps, votes, voters = _fps_from_timestamps(list(data.values()))
    fps = info.get("fps")
    if not isinstance(fps, int | float) or fps <= 0:
        fps = ts_fps or 30
        if "fps" in info:
            problems.append(
                Problem(fmt.INFO_PATH, f"fps {info['fps']!r} is not a rate; the timestamps say {fps}")
            )
            rebuilt.add("info")
    elif ts_fps is not None and ts_fps != int(fps) and 2 * votes > voters:
        problems.append(
            Problem(
                fmt.INFO_PATH,
                f"fps {fps} disagrees with the timestamps of {votes} episodes, which say {ts_fps}; "
                "repair sets fps from the timestamps",
            )
        )
        fps = ts_fps
        rebuilt.add("info")
    try:
        recorded = sums.read(root)
    except ValueError as exc:
        recorded = None
        problems.append(
            Problem(
                sums.CHECKSUMS_PATH,
                f"is damaged ({exc}); it is ignored, and repair records fresh checksums from the files",
            )
        )
        rebuilt.add("checksums")
    base = fmt.new_info(fps, {}, info.get("robot_type"))
    full = {**base, **{k: v for k, v in info.items() if k in base or k == "physai"}}
    full["fps"] = int(fps)
    feats: dict = full["features"] if isinstance(full.get("features"), dict) else {}
    incomplete = sorted(k for k, f in feats.items() if not _complete_feature(f))
    if incomplete and info and "info" not in rebuilt:
        problems.append(
            Problem(
                fmt.INFO_PATH,
                f"features {incomplete} lack a dtype, a shape or video info; repair rebuilds them from the "
                "parquet schema and video streams",
            )
        )
    if incomplete:
        rebuilt.add("info")
    feats = {k: f for k, f in feats.items() if _complete_feature(f)}
    inferred = _infer_features(root, data_paths, fps) if "info" in rebuilt or not feats else {}
    for k in inferred:  # a feature's own entry may still parse where the document around it does not
        if k not in feats and raw and _complete_feature(v := salvage_value(raw, k)):
            feats[k] = v
    lost = [k for k in inferred if k not in feats and k not in fmt.INDEX_KEYS]
    if lost:
        notes.append(f"features {lost} rebuilt from the files (their names are lost)")
    full["features"] = {**inferred, **feats} if feats else inferred
    if info and (lost or not feats):
        rebuilt.add("info")
    if fmt.video_keys(full["features"]) and not full.get("video_path"):
        full["video_path"] = fmt.VIDEO_PATH
    for k in fmt.video_keys(full["features"]):
        vi = full["features"][k].setdefault("info", {})
        if vi.get("video.fps") not in (None, int(fps)):
            vi["video.fps"] = int(fps)  # follows fps (reported above when fps itself was wrong)
    _check_templates(full, info, problems, rebuilt)
    sv = Survey(root, full, [], [], recorded, problems, notes, rebuilt, data)
    _check_features(sv)
    _load_rows(sv, info)
    _load_tasks(sv)
    _check_totals(sv, info)
    if sv.sums is None and "checksums" not in sv.rebuilt:
        sv.notes.append(
            f"{sums.CHECKSUMS_PATH} is absent: this dataset was written without content checksums, so "
            "a flipped byte that still decodes cannot be found (repair records them)"
        )
    return sv


def _check_templates(full: dict, info: dict, problems: list[Problem], rebuilt: set[str]) -> None:
    """Path templates that format, sizes that are positive numbers; else info.json is the culprit."""
    checks = {
        "data_path": (fmt.DATA_PATH, lambda t: t.format(chunk_index=0, file_index=0)),
        "video_path": (fmt.VIDEO_PATH, lambda t: t.format(video_key="k", chunk_index=0, file_index=0)),
    }
    for key, (default, use) in checks.items():
        t = full.get(key)
        if t is None and key == "video_path":
            continue
        try:
            ok = isinstance(t, str) and use(t).endswith((".parquet", ".mp4"))
        except (KeyError, IndexError, ValueError, AttributeError):
            ok = False
        if not ok:
            if info and "info" not in rebuilt:
                problems.append(
                    Problem(fmt.INFO_PATH, f"{key} {t!r} is not a path template; repair sets {default!r}")
                )
            full[key] = default
            rebuilt.add("info")
    for key, number in (
        ("chunks_size", fmt.CHUNKS_SIZE),
        ("data_files_size_in_mb", fmt.DATA_FILES_SIZE_IN_MB),
        ("video_files_size_in_mb", fmt.VIDEO_FILES_SIZE_IN_MB),
    ):
        v = full.get(key)
        if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
            if info and "info" not in rebuilt:
                problems.append(
                    Problem(fmt.INFO_PATH, f"{key} {v!r} is not a positive number; repair sets {number}")
                )
            full[key] = number
            rebuilt.add("info")


def _feature_of_field(f: pa.Field) -> tuple[str, list[int]]:
    t, shape = f.type, [1]
    if pa.types.is_fixed_size_list(t):
        t, shape = t.value_type, [t.list_size]
    elif pa.types.is_list(t):
        t, shape = t.value_type, [-1]
    return ("bool" if pa.types.is_boolean(t) else str(t.to_pandas_dtype().__name__)), shape


def _declared(feature: dict) -> tuple[str, list[int]]:
    shape = [int(np.prod(feature["shape"]))] if list(feature["shape"]) not in ([], [1]) else [1]
    return str(feature["dtype"]), shape


def _schemas_disagree(schemas: dict[Path, dict], feats: dict) -> bool:
    for sc in schemas.values():
        for k, f in feats.items():
            if f.get("dtype") in ("video", "image") or k in fmt.INDEX_KEYS:
                continue
            got = sc.get(k)
            if got is None or (got[0], list(got[1])) != tuple(_declared(f)):
                return True
        declared = {k for k, f in feats.items() if f.get("dtype") not in ("video", "image")}
        if set(sc) - set(fmt.INDEX_KEYS) - declared:
            return True
    return False


def _unchanged(sv: Survey, path: Path) -> bool:
    """True unless the file's sha256 differs from the one recorded at write time."""
    rec = (sv.sums or {}).get("files", {}).get(sv.rel(path))
    return rec is None or sums.sha256_file(path) == rec["sha256"]


def _check_features(sv: Survey) -> None:  # noqa: C901  (too complex; split later, issue 19)
    """Declared dtype/shape against the parquet schemas, declared video size against the streams. When
    every file disagrees the same way, info.json is the culprit (and is rebuilt); else the odd files."""
    feats = sv.info["features"]
    schemas = {}
    for p, df in sv.data.items():
        if df.schema is not None:
            schemas[p] = {f.name: _feature_of_field(f) for f in df.schema}
    if sv.sums and _schemas_disagree(schemas, feats):
        # a file whose bytes changed since they were written cannot overrule info.json
        schemas = {p: sc for p, sc in schemas.items() if _unchanged(sv, p)}
    if schemas:
        common = set.intersection(*(set(c) for c in schemas.values())) - set(fmt.INDEX_KEYS)
        declared = {k for k, f in feats.items() if f.get("dtype") not in ("video", "image")} - set(
            fmt.INDEX_KEYS
        )
        absent, undeclared = sorted(declared - common), sorted(common - declared)
        everywhere_absent = [k for k in absent if all(k not in c for c in schemas.values())]
        if everywhere_absent or (undeclared and not absent):
            sv.problems.append(
                Problem(
                    fmt.INFO_PATH,
                    f"declares features {everywhere_absent} that no data file holds"
                    + (f" and not {undeclared}, which every data file holds" if undeclared else "")
                    + "; repair sets the features from the parquet schema",
                )
            )
            for k in everywhere_absent:
                del feats[k]
            some = next(df.schema for df in sv.data.values() if df.schema is not None)
            for k in undeclared:
                dtype, shape = _feature_of_field(some.field(k))
                feats[k] = {"dtype": dtype, "shape": shape, "names": None}
                sv.notes.append(f"feature {k!r} rebuilt from the parquet schema (its names are lost)")
            sv.rebuilt.add("info")
    for k, f in list(feats.items()):
        if f.get("dtype") in ("video", "image") or "dtype" not in f or "shape" not in f:
            if "dtype" not in f or "shape" not in f:
                sv.problems.append(Problem(fmt.INFO_PATH, f"feature {k!r} lacks dtype or shape"))
            continue
        found = Counter((s[k][0], tuple(s[k][1])) if k in s else ("missing", ()) for s in schemas.values())
        if not found:
            continue
        want = _declared(f)
        (dtype, held), n = found.most_common(1)[0]
        if (dtype, list(held)) != (want[0], want[1]) and n == len(schemas) and dtype != "missing":
            sv.problems.append(
                Problem(
                    fmt.INFO_PATH,
                    f"feature {k!r} declares dtype {f['dtype']} shape {f['shape']}, every data file holds "
                    f"{dtype} with {held[0]} values per frame; repair sets it from the parquet schema",
                )
            )
            f["dtype"] = dtype
            if want[1] != list(held):
                f["shape"] = list(held)
            sv.rebuilt.add("info")
    folders = sorted(d.name for d in (sv.root / "videos").glob("*") if d.is_dir() and any(d.rglob("*.mp4")))
    missing = [k for k in fmt.video_keys(feats) if k not in folders]
    spare = [k for k in folders if k not in feats]
    if missing and len(missing) == len(spare):
        sv.problems.append(
            Problem(
                fmt.INFO_PATH,
                f"declares cameras {missing} that have no videos/ folder, while {spare} "
                "have one and are not declared; repair renames them after the folders",
            )
        )
        for old_k, new_k in zip(missing, spare, strict=True):
            feats[new_k] = feats.pop(old_k)
        sv.rebuilt.add("info")
    for k in fmt.video_keys(feats):
        d = sv.root / "videos" / k
        files = sorted(d.glob("chunk-*/file-*.mp4"))
        sizes: Counter[tuple[int, int]] = Counter()
        for vp in files:
            v = sv.videos.setdefault(vp, read_video(vp, sv.info["fps"]))
            if v.width:
                sizes[(v.height, v.width)] += 1
        if not sizes:
            continue
        (h, w), n = sizes.most_common(1)[0]
        shape = feats[k]["shape"]
        vi = feats[k].setdefault("info", {})
        if n == sum(sizes.values()) and (
            list(shape[:2]) != [h, w] or vi.get("video.height", h) != h or vi.get("video.width", w) != w
        ):
            sv.problems.append(
                Problem(
                    fmt.INFO_PATH,
                    f"video {k!r} declares {shape[0]}x{shape[1]} (height x width), every mp4 holds {h}x{w}; "
                    "repair sets it from the video streams",
                )
            )
            feats[k]["shape"] = [h, w, shape[2] if len(shape) > 2 else 3]
            vi["video.height"], vi["video.width"] = h, w
            sv.rebuilt.add("info")


def _load_rows(sv: Survey, info: dict) -> None:
    paths = sorted((sv.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    rows: list[dict] = []
    bad = None
    for p in paths:
        try:
            rows.extend(pq.read_table(p).to_pylist())
        except (pa.ArrowException, OSError) as exc:
            bad = Problem(
                sv.rel(p),
                f"episode table is unreadable ({str(exc)[:80]}); repair rebuilds it "
                "from the data and video files",
            )
    need = ("episode_index", "length", "data/chunk_index", "data/file_index", "dataset_from_index")
    if not bad and rows and any(any(k not in r or r[k] is None for k in need) for r in rows):
        bad = Problem(sv.rel(paths[0]), f"episode rows lack some of {list(need)}; repair rebuilds them")
    if not bad and not rows and sv.data and info.get("total_episodes", 1):
        bad = Problem(
            fmt.EPISODES_PATH.format(chunk_index=0, file_index=0),
            "has no episode rows but data files exist; repair rebuilds them",
        )
    rec = (sv.sums or {}).get("episodes", {})
    if not bad and rec:
        altered = [
            r["episode_index"]
            for r in rows
            if (rec.get(str(r["episode_index"])) or {}).get("row") not in (None, sums.row_hash(r))
        ]
        if altered:
            bad = Problem(
                sv.rel(paths[0]),
                "rows differ from the checksum recorded at write time (spans or lengths altered); repair "
                "rebuilds the episodes table from the data and video files",
                altered,
            )
    if bad:
        sv.problems.append(bad)
        sv.rebuilt.add("episodes")
        rows = rebuild_rows(sv)
    rows.sort(key=lambda r: r["episode_index"])
    sv.rows = rows
    n = info.get("total_episodes")
    if isinstance(n, int) and len(rows) > n and "episodes" not in sv.rebuilt:
        sv.problems.append(
            Problem(
                fmt.INFO_PATH,
                f"total_episodes {n} but meta/episodes holds {len(rows)} rows (a save cut short before its "
                "commit); repair keeps the extra episodes that verify",
                [r["episode_index"] for r in rows[n:]],
            )
        )


def rebuild_rows(sv: Survey) -> list[dict]:  # noqa: C901  (too complex; split later, issue 19)
    """Episode rows from the data files (spans, tasks by task_index) and the videos (frames in order)."""
    info, fps = sv.info, sv.info["fps"]
    rows: list[dict] = []
    old_tasks = _read_tasks(sv.root) or []
    for p in sorted(sv.data):
        df = read_data(p)
        if df.table is None or "episode_index" not in df.table.column_names:
            continue
        ci, fi = (int(x.split("-")[1].split(".")[0]) for x in (p.parent.name, p.name))
        t = df.table
        e = t.column("episode_index").to_numpy()
        for ep in dict.fromkeys(e.tolist()):
            sel = t.filter(pa.array(e == ep))
            ix = sel.column("index").to_numpy()
            ti = sorted(set(sel.column("task_index").to_numpy().tolist()))
            row = {
                "episode_index": int(ep),
                "tasks": [old_tasks[i] if i < len(old_tasks) else f"task {i}" for i in ti],
                "length": sel.num_rows,
                "data/chunk_index": ci,
                "data/file_index": fi,
                "dataset_from_index": int(ix.min()) if len(ix) else 0,
                "dataset_to_index": int(ix.min()) + sel.num_rows if len(ix) else 0,
            }
            for k, f in info["features"].items():
                if f["dtype"] in ("video", "image") or k not in sel.column_names:
                    continue
                vals = sums_values(sel.column(k)).reshape(sel.num_rows, -1).astype(np.float64)
                for s, v in episode_stats(vals).items():
                    row[f"stats/{k}/{s}"] = v
            rows.append(row)
    rows.sort(key=lambda r: r["episode_index"])
    for k in fmt.video_keys(info["features"]):
        files = sorted((sv.root / "videos" / k).glob("chunk-*/file-*.mp4"))
        counts = {vp: len(sv.videos.setdefault(vp, read_video(vp, fps)).packets) for vp in files}
        by_index = {(int(vp.parent.name[6:]), int(vp.stem[5:])): vp for vp in files}
        packed = any(
            r["length"] < counts.get(by_index.get((r["data/chunk_index"], r["data/file_index"]), Path()), 0)
            for r in rows
        )
        pos, off = 0, 0
        for r in rows:
            vp = None if packed else by_index.get((r["data/chunk_index"], r["data/file_index"]))
            first = 0
            if vp is None:
                while pos < len(files) and off + r["length"] > counts[files[pos]]:
                    pos, off = pos + 1, 0
                if pos < len(files):
                    vp, first = files[pos], off
                    off += r["length"]
            if vp is None:
                continue
            r[f"videos/{k}/chunk_index"], r[f"videos/{k}/file_index"] = (
                int(vp.parent.name[6:]),
                int(vp.stem[5:]),
            )
            r[f"videos/{k}/from_timestamp"] = first / fps
            r[f"videos/{k}/to_timestamp"] = (first + r["length"]) / fps
            sample = []
            try:
                from physai.data.video import VideoReader

                reader = VideoReader(vp, fps)
                for i in range(0, r["length"], _IMAGE_STATS_EVERY):
                    sample.append(reader.get(first + i)[::4, ::4])
                reader.close()
            except DatasetError:
                sample = []
            if sample:
                st = episode_stats(np.stack(sample), is_image=True)
                st["count"] = np.array([r["length"]], np.int64)
                for s, v in st.items():
                    r[f"stats/{k}/{s}"] = v
    for r in rows:
        r["meta/episodes/chunk_index"], r["meta/episodes/file_index"] = 0, 0
    if rows:
        sv.notes.append(f"rebuilt {len(rows)} episode rows from the data files")
    return rows


def sums_values(col: pa.ChunkedArray) -> np.ndarray:
    c = col.combine_chunks()
    while pa.types.is_fixed_size_list(c.type) or pa.types.is_list(c.type):
        c = c.flatten()
    return np.asarray(c.to_numpy(zero_copy_only=False))


def _read_tasks(root: Path) -> list[str] | None:
    try:
        return fmt.read_tasks(root / fmt.TASKS_PATH)
    except (FileNotFoundError, pa.ArrowException, OSError, DatasetError, KeyError, IndexError):
        return None


def _episode_task_indices(sv: Survey) -> dict[int, list[int]]:
    out: dict[int, set[int]] = {}
    for df in sv.data.values():
        t = df.table
        if t is None or not {"episode_index", "task_index"} <= set(t.column_names):
            continue
        for e, ti in zip(
            t.column("episode_index").to_numpy(), t.column("task_index").to_numpy(), strict=True
        ):
            out.setdefault(int(e), set()).add(int(ti))
    return {e: sorted(v) for e, v in out.items()}


def _load_tasks(sv: Survey) -> None:
    tasks = _read_tasks(sv.root)
    used = _episode_task_indices(sv)
    known: list[str] = tasks or []
    names_by_index: dict[int, str] = {}
    for r in sv.rows:
        tis, names = used.get(r["episode_index"], []), r.get("tasks") or []
        if len(tis) == len(names):
            for i, name in zip(tis, names, strict=True):
                names_by_index.setdefault(i, name)
    ok = tasks is not None and len(tasks) > 0
    why = "is missing, truncated or not parquet" if tasks is None else "is empty"
    if ok:
        wrong = [i for i, name in names_by_index.items() if i >= len(known) or known[i] != name]
        if wrong:
            ok, why = False, f"disagrees with the episodes table at task_index {wrong[:5]}"
    if ok or not sv.rows:
        sv.tasks = tasks or []
        return
    size = (
        max([*names_by_index, *(i for v in used.values() for i in v), len(tasks or []) - 1], default=-1) + 1
    )
    out = []
    for i in range(size):
        if i in names_by_index:
            out.append(names_by_index[i])
        elif tasks and i < len(tasks):
            out.append(tasks[i])
        else:
            out.append(f"task {i}")
            sv.notes.append(f"task_index {i}: its text is lost; named 'task {i}'")
    sv.problems.append(
        Problem(fmt.TASKS_PATH, f"{why}; repair rebuilds it from the episodes table and frames")
    )
    sv.rebuilt.add("tasks")
    sv.tasks = out


def _check_totals(sv: Survey, info: dict) -> None:
    if not info or "info" in sv.rebuilt:
        return
    n = info.get("total_episodes", 0)
    committed = [r for r in sv.rows if r["episode_index"] < n] if isinstance(n, int) else sv.rows
    frames = sum(r["length"] for r in committed)
    if isinstance(n, int) and n > len(sv.rows):
        sv.problems.append(
            Problem(fmt.INFO_PATH, f"total_episodes {n} but meta/episodes has {len(sv.rows)} rows")
        )
    elif info.get("total_frames") != frames:
        sv.problems.append(
            Problem(
                fmt.INFO_PATH, f"total_frames {info.get('total_frames')} != sum of episode lengths {frames}"
            )
        )
    if info.get("total_tasks", len(sv.tasks)) != len(sv.tasks) and "tasks" not in sv.rebuilt:
        sv.problems.append(
            Problem(
                fmt.INFO_PATH, f"total_tasks {info['total_tasks']} != {len(sv.tasks)} tasks in tasks.parquet"
            )
        )
    stats_path = sv.root / fmt.STATS_PATH
    if sv.rows:
        try:
            stats = from_json(json.loads(stats_path.read_text()))
        except (OSError, ValueError, TypeError, AttributeError):
            sv.problems.append(Problem(fmt.STATS_PATH, "is missing or not JSON; repair recomputes it"))
            sv.rebuilt.add("stats")
            return
        missing = [k for k in sv.info["features"] if k not in stats]
        lacking = [k for k, st in stats.items() if any(s not in st for s in ("mean", "std", "min", "max"))]
        if missing or lacking:
            sv.problems.append(
                Problem(fmt.STATS_PATH, f"no stats for {missing or lacking}; repair recomputes it")
            )
            sv.rebuilt.add("stats")


# ---------------------------------------------------------------------------------------------- episodes
def episode_files(sv: Survey, row: dict) -> dict[str, Path]:
    return sums.episode_files(sv.root, sv.info, row)


def check_episodes(sv: Survey, deep: bool = True, verify: bool = False) -> dict[int, list[Problem]]:  # noqa: C901  (too complex; split later, issue 19)
    """Problems of each episode row (keyed by position in `sv.rows`), each episode checked on its own.
    `deep`: decode every frame; `verify`: compare the recorded per-episode and per-file sha256."""
    fps, feats = sv.info["fps"], sv.info["features"]
    out: dict[int, list[Problem]] = {}
    rec = (sv.sums or {}).get("episodes", {})
    vkeys = fmt.video_keys(feats)
    data_keys = [k for k, f in feats.items() if f["dtype"] not in ("video", "image")]
    for pos, row in enumerate(sv.rows):
        errs: list[Problem] = []
        ep, n = row["episode_index"], row["length"]
        files = episode_files(sv, row)
        dpath = files["data"]
        rel = sv.rel(dpath)
        df = sv.data_file(dpath)
        mine = rec.get(str(ep)) if isinstance(rec, dict) else None
        if df.table is None:
            errs.append(Problem(rel, f"data file {df.error}", [ep]))
        else:
            t = df.table
            cols = set(t.column_names)
            absent = [k for k in data_keys if k not in cols]
            if absent:
                errs.append(Problem(rel, f"lacks columns {absent} declared in meta/info.json", [ep]))
                t = None
            else:
                for k in data_keys:
                    if k in fmt.INDEX_KEYS:
                        continue
                    got, want = _feature_of_field(t.schema.field(k)), _declared(feats[k])
                    if (got[0], got[1]) != (want[0], want[1]):
                        errs.append(
                            Problem(
                                rel,
                                f"column {k!r} holds {got[0]} x{got[1][0]}, meta/info.json declares "
                                f"{feats[k]['dtype']} {feats[k]['shape']}",
                                [ep],
                            )
                        )
            if t is not None:
                e = t.column("episode_index").to_numpy()
                mask = e == ep
                sel = np.flatnonzero(mask)
                if len(sel) != n:
                    extra = f" ({df.error})" if df.error else ""
                    errs.append(
                        Problem(rel, f"has {len(sel)} rows for the episode, its length is {n}{extra}", [ep])
                    )
                else:
                    fi = t.column("frame_index").to_numpy()[sel]
                    ix = t.column("index").to_numpy()[sel]
                    ts = t.column("timestamp").to_numpy()[sel].astype(np.float64)
                    ti = t.column("task_index").to_numpy()[sel]
                    if not np.array_equal(fi, np.arange(n)):
                        errs.append(Problem(rel, f"frame_index is not 0..{n - 1}", [ep]))
                    if n and not np.array_equal(ix, ix[0] + np.arange(n)):
                        errs.append(Problem(rel, "index is not contiguous within the episode", [ep]))
                    if np.abs(ts - np.arange(n) / fps).max(initial=0) > 1e-4:
                        errs.append(Problem(rel, f"timestamps disagree with frame_index / fps {fps}", [ep]))
                    if len(ti) and (ti.min() < 0 or ti.max() >= len(sv.tasks)):
                        errs.append(
                            Problem(
                                rel, f"task_index {int(ti.max())} has no task in meta/tasks.parquet", [ep]
                            )
                        )
                    if verify and mine and mine.get("data"):
                        if sums.rows_hash(t.filter(pa.array(mask))) != mine["data"]:
                            errs.append(
                                Problem(rel, "rows differ from the sha256 recorded at write time", [ep])
                            )
        for k in vkeys:
            if k not in files:
                errs.append(
                    Problem(
                        fmt.EPISODES_PATH.format(chunk_index=0, file_index=0), f"no video span for {k}", [ep]
                    )
                )
                continue
            vpath = files[k]
            vrel = sv.rel(vpath)
            v = sv.video_file(vpath, deep)
            first = int(round(row[f"videos/{k}/from_timestamp"] * fps))
            if not v.packets:
                errs.append(Problem(vrel, f"video {v.error or 'holds no frames'}", [ep]))
                continue
            have = {i for i, _ in v.packets}
            need = set(range(first, first + n))
            lost = need - have
            if lost:
                errs.append(
                    Problem(
                        vrel,
                        f"lacks {len(lost)} of the episode's {n} frames"
                        + (f" (the file {v.error})" if v.error else ""),
                        [ep],
                    )
                )
                continue
            if deep and need & v.undecodable:
                errs.append(
                    Problem(vrel, f"{len(need & v.undecodable)} of the episode's frames do not decode", [ep])
                )
                continue
            fk = feats[k]["shape"]
            if v.width and [v.height, v.width] != list(fk[:2]):
                errs.append(
                    Problem(
                        vrel,
                        f"frames are {v.height}x{v.width}, meta/info.json declares {fk[0]}x{fk[1]}",
                        [ep],
                    )
                )
            if verify and mine and (mine.get("videos") or {}).get(k):
                if sums.packets_hash(v.packets, first, n) != mine["videos"][k]:
                    errs.append(Problem(vrel, "packets differ from the sha256 recorded at write time", [ep]))
        out[pos] = errs
    _distrust_record(sv, out, rec, verify)
    return out


_SUM_ONLY = ("rows differ from the sha256", "packets differ from the sha256")


def _distrust_record(sv: Survey, out: dict[int, list[Problem]], rec: dict, verify: bool) -> None:
    """A checksum record that disagrees with every episode it lists, while each of them reads and decodes,
    is wrong itself (another physai's hashing, an edited record): blame it, not all the data."""
    if not verify or not rec:
        return
    listed = [pos for pos, r in enumerate(sv.rows) if str(r["episode_index"]) in rec]
    only = [pos for pos in listed if out.get(pos) and all(e.what.startswith(_SUM_ONLY) for e in out[pos])]
    if len(listed) >= 2 and len(only) == len(listed):
        for pos in only:
            out[pos] = []
        sv.problems.append(
            Problem(
                sums.CHECKSUMS_PATH,
                f"disagrees with all {len(listed)} episodes it lists while each of them reads and decodes: "
                "the record is wrong, not the data; it is ignored and repair records fresh checksums",
            )
        )
        sv.rebuilt.add("checksums")
        sv.sums = None


def check_files(sv: Survey, bad: dict[int, list[Problem]]) -> list[Problem]:
    """Whole-file sha256 against the record; each mismatch names the file and the episodes it holds
    (and which of them are damaged, when the per-episode checksums can tell)."""
    recorded = (sv.sums or {}).get("files", {})
    holders: dict[str, list[int]] = {}
    damaged: set[int] = set()
    for pos, row in enumerate(sv.rows):
        if bad.get(pos):
            damaged.add(row["episode_index"])
        for p in episode_files(sv, row).values():
            holders.setdefault(sv.rel(p), []).append(row["episode_index"])
    out = []
    for rel, eps in sorted(holders.items()):
        want = recorded.get(rel)
        path = sv.root / rel
        if not want or not path.exists():
            continue
        got = sums.sha256_file(path)
        if got != want.get("sha256"):
            hit = sorted(set(eps) & damaged)
            where = (
                f"damaged episodes {_ranges(hit)}, the others verify"
                if hit and len(hit) < len(eps)
                else "every episode in it is affected"
                if hit
                else "each episode's content still verifies"
            )
            out.append(
                Problem(
                    rel,
                    f"sha256 {got[:12]} differs from {want['sha256'][:12]} recorded at write "
                    f"time (size {path.stat().st_size} vs {want.get('size')}); {where}",
                    eps,
                )
            )
    unrecorded = sorted(rel for rel in holders if rel not in recorded)
    if sv.sums is not None and unrecorded:
        sv.notes.append(f"no checksum recorded for {len(unrecorded)} files (e.g. {unrecorded[0]})")
    return out
