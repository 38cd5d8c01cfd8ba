"""Content checksums of a dataset, recorded when its files are written: `meta/checksums.json`.

::

    {"algorithm": "sha256", "format": 1,
     "files": {"data/chunk-000/file-000.parquet": {"sha256": "...", "size": 1234}, ...},
     "episodes": {"0": {"data": "...", "videos": {"observation.images.cam": "..."}}, ...},
     "digest": "..."}

`files` finds a flipped byte anywhere in a file. `episodes` localizes it inside a packed file: `data`
hashes the episode's rows (every column but the renumberable `episode_index`, `index`, `task_index`),
a video entry hashes the digests of the episode's packets in decode order, `row` the episode's row in
meta/episodes (its spans, so an altered length or offset is blamed on the table, not on the data).
`digest` hashes the record itself, so a damaged record is blamed on itself. LeRobot ignores the extra
file; a dataset without it still validates (its checksums are reported absent).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pyarrow as pa

from physai.data import format as fmt

CHECKSUMS_PATH = "meta/checksums.json"
FORMAT = 1
"""Version of what the entries hash; a record of another version is ignored (and rewritten by repair)."""
RENUMBERED = ("episode_index", "index", "task_index")
"""Columns that repair and merge rewrite; left out of an episode's data hash."""


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def file_entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


def rows_hash(table: pa.Table) -> str:
    """sha256 of an episode's rows (columns by name, without the renumbered bookkeeping columns)."""
    h = hashlib.sha256()
    for name in sorted(table.column_names):
        if name in RENUMBERED:
            continue
        col = table.column(name).combine_chunks()
        while pa.types.is_fixed_size_list(col.type) or pa.types.is_list(col.type):
            col = col.flatten()
        h.update(name.encode() + b"\0" + str(col.type).encode() + b"\0")
        h.update(np.ascontiguousarray(col.to_numpy(zero_copy_only=False)).tobytes())
    return h.hexdigest()


ROW_KEYS = (
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
)


def row_hash(row: dict) -> str:
    """sha256 of an episode row's spans (not its stats): tells a damaged episodes table from damaged data."""
    keep = {k: row.get(k) for k in ROW_KEYS}
    keep.update({k: v for k, v in row.items() if k.startswith("videos/")})
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def packet_index(path: Path, fps: float) -> list[tuple[int, bytes]]:
    """(frame index, sha256 digest of the packet) of every packet of the first video stream, in decode
    order (digests, not bytes: a whole dataset's index fits in memory)."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = fmt.time_base(s)
        for p in c.demux(s):
            if p.pts is None or p.size == 0:
                continue
            out.append((int(round(p.pts * tb * fps)), hashlib.sha256(bytes(p)).digest()))
    return out


def packets_hash(packets: list[tuple[int, bytes]], first: int, n: int) -> str:
    """sha256 over the packet digests of frames [first, first + n), in decode order."""
    h = hashlib.sha256()
    for i, d in packets:
        if first <= i < first + n:
            h.update(d)
    return h.hexdigest()


def empty() -> dict:
    return {"algorithm": "sha256", "format": FORMAT, "files": {}, "episodes": {}}


def _digest(doc: dict) -> str:
    return hashlib.sha256(_body(doc).encode()).hexdigest()


def _body(doc: dict) -> str:
    return json.dumps(
        {"files": doc["files"], "episodes": doc["episodes"]}, sort_keys=True, separators=(",", ":")
    )


def read(root: Path) -> dict | None:
    """The recorded checksums, or None when the dataset has none. Raises ValueError when the file is
    there but damaged (not JSON, malformed, or its own digest does not match): then it is the culprit."""
    path = Path(root) / CHECKSUMS_PATH
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"unreadable ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        raise ValueError("not a checksums document")
    if doc.get("format") != FORMAT or doc.get("algorithm") != "sha256":
        raise ValueError(
            f"format {doc.get('format')!r} / algorithm {doc.get('algorithm')!r} is not {FORMAT} / sha256 "
            "(written by another physai version)"
        )
    doc.setdefault("episodes", {})
    ok_files = all(isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in doc["files"].values())
    if not ok_files or not isinstance(doc["episodes"], dict):
        raise ValueError("malformed entries")
    if "digest" in doc and doc["digest"] != _digest(doc):
        raise ValueError("its own digest does not match its entries (the record itself was altered)")
    return doc


def write(root: Path, doc: dict) -> None:
    """Compact JSON, serialized once (the writer rewrites it per episode: ~5 MB at 10,000 episodes)."""
    body = _body(doc)
    digest = hashlib.sha256(body.encode()).hexdigest()
    text = f'{{"algorithm":"sha256","format":{FORMAT},"digest":"{digest}",{body[1:]}'

    def put(tmp: str) -> None:
        Path(tmp).write_text(text)

    fmt.atomic_write(Path(root) / CHECKSUMS_PATH, put)


def episode_files(root: Path, info: dict, row: dict) -> dict[str, Path]:
    """{"data" | video key: path} of the files an episode lives in."""
    out = {
        "data": root
        / info["data_path"].format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])
    }
    for key in fmt.video_keys(info["features"]):
        if row.get(f"videos/{key}/chunk_index") is not None:
            out[key] = root / info["video_path"].format(
                video_key=key,
                chunk_index=row[f"videos/{key}/chunk_index"],
                file_index=row[f"videos/{key}/file_index"],
            )
    return out


def compute(root: Path, info: dict, rows: list[dict]) -> dict:
    """Checksums of every file the episodes `rows` reference and of each episode's content."""
    import pyarrow.parquet as pq

    root = Path(root)
    doc = empty()
    fps = info["fps"]
    table: tuple[Path, pa.Table] | None = None  # one file at a time: rows come in file order
    packets: dict[Path, list] = {}
    for row in rows:
        files = episode_files(root, info, row)
        ep: dict = {"videos": {}, "row": row_hash(row)}
        for what, path in files.items():
            rel = str(path.relative_to(root))
            if rel not in doc["files"]:
                doc["files"][rel] = file_entry(path)
            if what == "data":
                if table is None or table[0] != path:
                    table = (path, pq.read_table(path))
                t = table[1]
                e = t.column("episode_index").to_numpy()
                ep["data"] = rows_hash(t.filter(pa.array(e == row["episode_index"])))
            else:
                if path not in packets:
                    packets[path] = packet_index(path, fps)
                first = int(round(row[f"videos/{what}/from_timestamp"] * fps))
                ep["videos"][what] = packets_hash(packets[path], first, row["length"])
        doc["episodes"][str(row["episode_index"])] = ep
    return doc
