"""Repair of one dataset folder in place: keep every episode that verifies, rebuild damaged metadata
from the data, renumber, and move everything removed or replaced to `.quarantine/<time>/` with
`report.json` (see `physai.data.repair`, whose `repair` is the entry point)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pyarrow as pa

from physai.core.errors import DatasetError
from physai.core.progress import NullProgress, Progress
from physai.data import checksums as sums
from physai.data import format as fmt
from physai.data.check import Problem, Survey, check_episodes, check_files, survey
from physai.data.stats import episode_stats

QUARANTINE = ".quarantine"


def _ep_table() -> str:
    return fmt.EPISODES_PATH.format(chunk_index=0, file_index=0)


class _Quarantine:
    """Moves originals into `.quarantine/<stamp>/` (created on first use) and records why."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / QUARANTINE / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        i = 1
        while self.dir.exists():
            self.dir = self.dir.with_name(f"{self.dir.name.split('.')[0]}.{i}")
            i += 1
        self.files: list[dict] = []

    def _dest(self, rel: str) -> Path:
        d = self.dir / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        return d

    def move(self, path: Path, why: str, episodes: list[int]) -> None:
        rel = str(path.relative_to(self.root))
        os.replace(path, self._dest(rel))
        self.files.append({"path": rel, "action": "moved", "why": why, "episodes": episodes})

    def keep_copy(self, path: Path, why: str, episodes: list[int]) -> None:
        """Before `path` is replaced: a hard link (or copy) of the original goes to the quarantine."""
        rel = str(path.relative_to(self.root))
        dest = self._dest(rel)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)
        self.files.append({"path": rel, "action": "replaced", "why": why, "episodes": episodes})


def rebuild(root: Path, progress: Progress | None = None) -> dict:
    """Repair the dataset folder `root` in place (see the module docstring); `repair.repair` is the
    public entry point (copies, interrupted collections)."""
    progress = progress or NullProgress()
    sv = survey(root)
    progress.start(len(sv.rows), "repair")
    bad = check_episodes(sv, deep=True, verify=True)
    progress.advance(len(sv.rows))
    progress.close()
    q = _Quarantine(root)
    dropped: list[dict] = []
    kept_pos: list[int] = []
    seen: set[int] = set()
    for pos, row in enumerate(sv.rows):
        errs = bad.get(pos, [])
        if not errs and row["episode_index"] in seen:
            errs = [Problem(_ep_table(), "duplicate episode row", [row["episode_index"]])]
        if errs:
            dropped.append({"episode_index": row["episode_index"], "problems": [str(p) for p in errs]})
        else:
            kept_pos.append(pos)
            seen.add(row["episode_index"])
    old_rows = [sv.rows[p] for p in kept_pos]
    new_rows, renumbered = _renumber(old_rows)
    rows_changed = renumbered or len(kept_pos) != len(sv.rows)
    kept_old_eps = {r["episode_index"] for r in old_rows}
    damaged_files = {p.file for errs in bad.values() for p in errs}
    file_problems = {p.file: p for p in check_files(sv, bad)}
    _rewrite_data(sv, old_rows, new_rows, q, damaged_files | set(file_problems))
    _remux_videos(sv, old_rows, q, damaged_files | set(file_problems))
    _quarantine_orphans(sv, new_rows, q, kept_old_eps)
    meta_changed = bool(rows_changed or sv.rebuilt or sv.problems) or sv.info.get("total_episodes") != len(
        new_rows
    )
    new_sums = sums.compute(root, sv.info, new_rows) if new_rows else sums.empty()
    old_sums = sv.sums or sums.empty()
    sums_changed = (old_sums["files"], old_sums["episodes"]) != (new_sums["files"], new_sums["episodes"])
    if meta_changed or q.files or sums_changed:
        from physai.data.writer import DatasetWriter, write_metadata

        for rel in (fmt.INFO_PATH, fmt.STATS_PATH, fmt.TASKS_PATH, sums.CHECKSUMS_PATH, _ep_table()):
            if (root / rel).exists():
                q.keep_copy(root / rel, "metadata rewritten by repair", [])
        for p in sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet")):
            if sv.rel(p) != _ep_table():
                q.move(p, "episode rows now live in " + _ep_table(), [])
        tasks = _used_tasks(sv.tasks, new_rows)
        write_metadata(
            root,
            sv.info,
            new_rows,
            tasks,
            [DatasetWriter._stats_of_row(r) for r in new_rows],
            checksums=new_sums,
        )
        if not new_rows:
            if (root / fmt.STATS_PATH).exists():
                q.move(root / fmt.STATS_PATH, "no episodes left", [])
    report = {
        "root": str(root),
        "episodes_kept": len(new_rows),
        "episodes_dropped": len(dropped),
        "frames": int(sum(r["length"] for r in new_rows)),
        "dropped": dropped,
        "renumbered": {
            str(a["episode_index"]): b["episode_index"]
            for a, b in zip(old_rows, new_rows, strict=True)
            if a["episode_index"] != b["episode_index"]
        },
        "metadata_rebuilt": sorted(sv.rebuilt),
        "metadata_problems": [str(p) for p in sv.problems],
        "notes": sv.notes,
        "first_violation": dropped[0]["problems"][0]
        if dropped
        else (str(sv.problems[0]) if sv.problems else None),
        "files_removed": sorted(f["path"] for f in q.files if f["action"] == "moved"),
        "files_replaced": sorted(f["path"] for f in q.files if f["action"] == "replaced"),
        "quarantine": str(q.dir) if q.files else None,
        "changed": bool(q.files),
    }
    if q.files:
        report["quarantine_files"] = q.files
        q.dir.mkdir(parents=True, exist_ok=True)
        fmt.write_json_atomic(q.dir / "report.json", report)
    return report


def _link_tree(src: Path, dst: Path) -> None:
    """A copy of `src` at `dst` made of hard links (every write repair makes replaces a file by rename, so
    the originals' bytes are never touched); plain copies where links are not possible."""
    for d, dirs, files in os.walk(src):
        dirs[:] = [x for x in dirs if x != QUARANTINE]
        rel = Path(d).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            try:
                os.link(Path(d) / f, dst / rel / f)
            except OSError:
                shutil.copy2(Path(d) / f, dst / rel / f)


def _renumber(rows: list[dict]) -> tuple[list[dict], bool]:
    out, start, changed = [], 0, False
    for i, r in enumerate(rows):
        n = r["length"]
        if (
            r["episode_index"] == i
            and r["dataset_from_index"] == start
            and r.get("dataset_to_index") == start + n
        ):
            out.append(r)
        else:
            changed = True
            r = {**r, "episode_index": i, "dataset_from_index": start, "dataset_to_index": start + n}
            for k, v in (("episode_index", np.full(n, i)), ("index", start + np.arange(n))):
                for s, val in episode_stats(np.asarray(v, np.float64)).items():
                    r[f"stats/{k}/{s}"] = val
            out.append(r)
        start += n
    return out, changed


def _used_tasks(tasks: list[str], rows: list[dict]) -> list[str]:
    """Tasks up to the last one a kept episode uses (task_index values stay as they are)."""
    used = {t for r in rows for t in r.get("tasks") or []}
    last = max((i for i, t in enumerate(tasks) if t in used), default=-1)
    return tasks[: last + 1]


def _rewrite_data(sv: Survey, old: list[dict], new: list[dict], q: _Quarantine, damaged: set[str]) -> None:
    """Rewrite each data file that holds a kept episode and something else (damaged or dropped rows) or
    whose kept episodes were renumbered: the kept rows only, one row group per episode."""
    by_file: dict[Path, list[tuple[dict, dict]]] = {}
    for a, b in zip(old, new, strict=True):
        by_file.setdefault(sums.episode_files(sv.root, sv.info, a)["data"], []).append((a, b))
    for path, pairs in by_file.items():
        t = sv.data_file(path).table
        if t is None:
            raise DatasetError(f"{path}: no row group reads; nothing to keep in it")
        e = t.column("episode_index").to_numpy()
        keep_old = [a["episode_index"] for a, _ in pairs]
        renum = any(
            a["episode_index"] != b["episode_index"] or a["dataset_from_index"] != b["dataset_from_index"]
            for a, b in pairs
        )
        extra = t.num_rows != sum(a["length"] for a, _ in pairs) or sv.data_file(path).error
        rel = sv.rel(path)
        if not (renum or extra or rel in damaged):
            continue
        parts = []
        for a, b in pairs:
            part = t.filter(pa.array(e == a["episode_index"]))
            n = part.num_rows
            cols = part.column_names
            part = part.set_column(
                cols.index("episode_index"),
                "episode_index",
                pa.array(np.full(n, b["episode_index"], np.int64)),
            )
            part = part.set_column(
                cols.index("index"), "index", pa.array(b["dataset_from_index"] + np.arange(n, dtype=np.int64))
            )
            parts.append(part)
        table = pa.concat_tables(parts)
        why = (
            ("renumbered" if renum else "")
            + ("; " if renum and extra else "")
            + ("rows of removed episodes taken out" if extra or rel in damaged else "")
        )
        q.keep_copy(path, why, sorted(set(e.tolist()) - set(keep_old)) if extra else [])
        fmt.write_parquet_atomic(path, table, row_groups=[p.num_rows for p in parts])
        sv._full = None


def _remux_videos(sv: Survey, old: list[dict], q: _Quarantine, damaged: set[str]) -> None:
    """Remux each damaged video that kept episodes use: their packets only, at the same timestamps."""
    fps = sv.info["fps"]
    for key in fmt.video_keys(sv.info["features"]):
        by_file: dict[Path, list[dict]] = {}
        for r in old:
            f = sums.episode_files(sv.root, sv.info, r).get(key)
            if f is not None:
                by_file.setdefault(f, []).append(r)
        for path, rows in by_file.items():
            rel = sv.rel(path)
            v = sv.videos.get(path)
            if rel not in damaged and (v is None or (not v.error and not v.undecodable)):
                continue
            want: set[int] = set()
            for r in rows:
                first = int(round(r[f"videos/{key}/from_timestamp"] * fps))
                want.update(range(first, first + r["length"]))
            tmp = path.with_name(f".{path.name}.repair.tmp")
            with av.open(str(path)) as src:
                s = src.streams.video[0]
                tb = fmt.time_base(s)
                with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"}) as dst:
                    o = dst.add_stream_from_template(s)
                    try:
                        for p in src.demux(s):
                            if p.pts is None or p.size == 0:
                                continue
                            if int(round(p.pts * tb * fps)) in want:
                                p.stream = o
                                dst.mux(p)
                    except av.error.FFmpegError:
                        pass  # a truncated file ends early; the kept episodes' packets lie before the cut
            fmt.fsync_file(tmp)
            q.keep_copy(path, "damaged video remuxed with the frames of the kept episodes", [])
            os.replace(tmp, path)
            fmt.fsync_dir(path.parent)
            sv.videos.pop(path, None)


def _orphans(sv: Survey, rows: list[dict]) -> dict[Path, list[int]]:
    """Data/video files no episode of `rows` uses, and temp files: {path: episodes of sv.rows in it}."""
    keep: set[Path] = set()
    for r in rows:
        keep.update(sums.episode_files(sv.root, sv.info, r).values())
    held: dict[Path, list[int]] = {}
    for r in sv.rows:
        for p in sums.episode_files(sv.root, sv.info, r).values():
            held.setdefault(p, []).append(r["episode_index"])
    candidates = list((sv.root / "data").glob("chunk-*/*.parquet")) + list(
        (sv.root / "videos").glob("*/chunk-*/*.mp4")
    )
    candidates += [p for p in sv.root.glob("**/.*.tmp") if QUARANTINE not in p.relative_to(sv.root).parts]
    return {p: held.get(p, []) for p in sorted(set(candidates)) if p not in keep and p.exists()}


def _quarantine_orphans(sv: Survey, rows: list[dict], q: _Quarantine, kept_old: set[int]) -> None:
    """Move every data/video file no kept episode uses, and temp files, to the quarantine."""
    for p, eps in _orphans(sv, rows).items():
        why = "holds only damaged episodes" if eps else "not used by any episode (unfinished or orphan)"
        q.move(p, why, sorted(set(eps) - kept_old))
