"""Dataset damage bench: ~30 damage cases (truncations, deletions, flipped bytes, wrong metadata) on
freshly recorded small datasets in both layouts — unpacked (the recorder: one data file and one mp4 per
camera per episode) and packed (`physai collect`: every episode in one parquet and one mp4 per camera).

Per case: which episodes the damage touches (by construction), whether `validate --deep` names the
culprit file and those episodes, how many intact episodes `repair` deleted (must be 0), whether the
repaired dataset validates and loads with physai's `Dataset` (every frame, every camera), whether a
second repair changes nothing, and whether every byte repair removed or replaced is in the quarantine.
The baseline, measured in the same run on a second copy of each damaged dataset, is the repair of
`--baseline-commit` (the "longest verified prefix" repair before issue 18), loaded from git history.
Writes bench/results/dataset_damage.json.

    PYTHONPATH=src MUJOCO_GL=egl .venv/bin/python bench/dataset_damage.py [--episodes 4] [--steps 6]
    PYTHONPATH=/tmp/lrpkgs:src ... bench/dataset_damage.py --lerobot   # + LeRobotDataset on every repair
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

TASK = "tabletop/pick-place"
CAMS = ("scene", "wrist")


# ------------------------------------------------------------------------------------------ datasets
def record_unpacked(root: Path, episodes: int, steps: int) -> None:
    import physai.envs as envs
    from physai.data.recorder import Recorder

    env = envs.make(TASK, obs=("state", "images"), cameras=list(CAMS), image_size=(32, 32), max_steps=steps)
    with Recorder(env, root, keep_failures=True) as rec:
        for s in range(episodes):
            rec.record(env.expert(), seed=s)
    env.close()


def collect_packed(root: Path, episodes: int, steps: int) -> None:
    from physai.data.collect import CollectConfig, collect

    collect(
        CollectConfig(
            task=TASK,
            episodes=episodes,
            workers=1,
            out=str(root),
            cameras=CAMS,
            image_size=32,
            max_steps=steps,
            keep_failures=True,
        )
    )


# ------------------------------------------------------------------------------------------ damage
def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x5A
    path.write_bytes(bytes(raw))


def _truncate(path: Path, frac: float) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * frac)])


def _episodes(root: Path) -> list[dict]:
    return pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()


def _video(root: Path, cam: str, ep: int) -> Path:
    r = _episodes(root)[ep]
    k = f"observation.images.{cam}"
    return (
        root
        / f"videos/{k}/chunk-{r[f'videos/{k}/chunk_index']:03d}/file-{r[f'videos/{k}/file_index']:03d}.mp4"
    )


def _data(root: Path, ep: int) -> Path:
    r = _episodes(root)[ep]
    return root / f"data/chunk-{r['data/chunk_index']:03d}/file-{r['data/file_index']:03d}.parquet"


def _flip_packet(root: Path, cam: str, ep: int) -> Path:
    """Flip a byte in the middle of the episode's second packet (inside its own byte range)."""
    import av

    path = _video(root, cam, ep)
    r = _episodes(root)[ep]
    fps = json.loads((root / "meta/info.json").read_text())["fps"]
    first = round(r[f"videos/observation.images.{cam}/from_timestamp"] * fps)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = float(s.time_base)
        pkts = [(round(p.pts * tb * fps), p.pos, p.size) for p in c.demux(s) if p.pts is not None and p.size]
    _i, pos, size = next(p for p in pkts if p[0] == first + 1)
    _flip(path, pos + size // 2)
    return path


def _truncate_video(root: Path, cam: str, ep: int, frac: float) -> tuple[str, set[int]]:
    """Cut the mp4 that holds `ep`; the damaged episodes are those with a packet byte past the cut."""
    import av

    path = _video(root, cam, ep)
    fps = json.loads((root / "meta/info.json").read_text())["fps"]
    k = f"observation.images.{cam}"
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = float(s.time_base)
        end = {round(p.pts * tb * fps): p.pos + p.size for p in c.demux(s) if p.pts is not None and p.size}
    cut = int(path.stat().st_size * frac)
    hit = set()
    for r in _episodes(root):
        if _video(root, cam, r["episode_index"]) == path:
            first = round(r[f"{k}/from_timestamp".replace(k, f"videos/{k}")] * fps)
            if any(end[i] > cut for i in range(first, first + r["length"])):
                hit.add(r["episode_index"])
    _truncate(path, frac)
    return _rel(root, path), hit


def _flip_row_group(root: Path, ep: int) -> Path:
    """Flip a byte inside the episode's own row group (the middle of its action column chunk)."""
    path = _data(root, ep)
    md = pq.ParquetFile(path).metadata
    rows = [r for r in _episodes(root) if _data(root, r["episode_index"]) == path]
    g = [r["episode_index"] for r in rows].index(ep) if md.num_row_groups > 1 else 0
    names = [md.row_group(g).column(j).path_in_schema for j in range(md.num_columns)]
    col = md.row_group(g).column(next(j for j, n in enumerate(names) if n.startswith("action")))
    start = min(o for o in (col.dictionary_page_offset, col.data_page_offset) if o is not None and o > 0)
    _flip(path, start + col.total_compressed_size * 3 // 4)  # past the page header, in the values
    return path


def _info_edit(fn: Callable[[dict], None]) -> Callable[[Path], tuple[str, set[int]]]:
    def damage(root: Path) -> tuple[str, set[int]]:
        p = root / "meta/info.json"
        info = json.loads(p.read_text())
        fn(info)
        p.write_text(json.dumps(info, indent=4))
        return "meta/info.json", set()

    return damage


def _set_fps(info: dict) -> None:
    info["fps"] = info["fps"] + 5


def _state_shape(info: dict) -> None:
    info["features"]["observation.state"]["shape"] = [info["features"]["observation.state"]["shape"][0] + 2]


def _action_dtype(info: dict) -> None:
    info["features"]["action"]["dtype"] = "float64"


def _video_size(info: dict) -> None:
    f = info["features"]["observation.images.scene"]
    f["shape"] = [64, 64, 3]
    f["info"]["video.height"] = f["info"]["video.width"] = 64


def _rel(root: Path, p: Path) -> str:
    return str(p.relative_to(root))


def cases(n: int) -> list[tuple[str, str, Callable[[Path], tuple[str, set[int]]]]]:  # noqa: C901  (too complex; split later, issue 19)
    """(name, layout, damage(root) -> (culprit file, damaged episodes))."""
    mid, last = n // 2, n - 1

    def trunc_video(cam, ep, frac):
        return lambda r: _truncate_video(r, cam, ep, frac)

    def delete(path_of, eps):
        def d(r):
            p = path_of(r)
            p.unlink()
            return _rel(r, p), set(eps)

        return d

    def trunc_data(ep, frac, eps):
        return lambda r: (_rel(r, p := _data(r, ep)), set(eps) if _truncate(p, frac) is None else set())

    def flip_video(cam, ep):
        return lambda r: (_rel(r, _flip_packet(r, cam, ep)), {ep})

    def flip_data(ep):
        return lambda r: (_rel(r, _flip_row_group(r, ep)), {ep})

    def meta_file(rel, how):
        def d(r):
            p = r / rel
            if how == "delete":
                p.unlink()
            elif how == "truncate":
                _truncate(p, 0.5)
            else:
                p.write_text(p.read_text()[: len(p.read_text()) // 2])  # cut mid-document: not JSON
            return rel, set()

        return d

    def orphans(r):
        (r / "data/chunk-000/.file-009.parquet.abc.tmp").write_bytes(b"half a parquet")
        shutil.copy(_data(r, 0), r / "data/chunk-000/file-099.parquet")
        return "data/chunk-000/file-099.parquet", set()

    def alter_row(r):
        from physai.data.writer import episodes_table

        rel = "meta/episodes/chunk-000/file-000.parquet"
        rows = _episodes(r)
        rows[mid]["length"] -= 1
        pq.write_table(episodes_table(rows), r / rel)
        return rel, set()

    def alter_record(r):
        p = r / "meta/checksums.json"
        doc = json.loads(p.read_text())
        doc["episodes"][str(mid)]["data"] = "0" * 64
        p.write_text(json.dumps(doc))
        return "meta/checksums.json", set()

    def two(r):
        a = flip_video("scene", mid)(r)
        b = delete(lambda x: _data(x, 0), [0])(r)
        return [a, b]

    all_eps = set(range(n))
    out = []
    for layout in ("unpacked", "packed"):
        many = layout == "unpacked"
        out += [
            (
                f"{layout}: truncate the middle episode's scene mp4",
                layout,
                trunc_video("scene", mid, 0.5) if many else trunc_video("scene", mid, 0.75),
            ),
            (
                f"{layout}: flip a byte in the middle episode's scene packets",
                layout,
                flip_video("scene", mid),
            ),
            (
                f"{layout}: flip a byte in the middle episode's wrist packets",
                layout,
                flip_video("wrist", mid),
            ),
            (f"{layout}: flip a byte in the middle episode's rows", layout, flip_data(mid)),
            (f"{layout}: info.json fps +5", layout, _info_edit(_set_fps)),
            (f"{layout}: info.json is not JSON", layout, meta_file("meta/info.json", "text")),
            (f"{layout}: tasks.parquet truncated", layout, meta_file("meta/tasks.parquet", "truncate")),
            (
                f"{layout}: episodes table truncated",
                layout,
                meta_file("meta/episodes/chunk-000/file-000.parquet", "truncate"),
            ),
            (f"{layout}: info.json declares a wrong state shape", layout, _info_edit(_state_shape)),
            (f"{layout}: info.json declares a wrong action dtype", layout, _info_edit(_action_dtype)),
            (f"{layout}: info.json declares a wrong video size", layout, _info_edit(_video_size)),
            (f"{layout}: an episode row's length altered", layout, alter_row),
            (f"{layout}: checksums.json record altered", layout, alter_record),
        ]
        if many:
            out += [
                (
                    "unpacked: delete the middle episode's scene mp4",
                    layout,
                    delete(lambda r: _video(r, "scene", mid), [mid]),
                ),
                ("unpacked: delete the first episode's parquet", layout, delete(lambda r: _data(r, 0), [0])),
                ("unpacked: truncate the middle episode's parquet", layout, trunc_data(mid, 0.5, [mid])),
                ("unpacked: truncate the last episode's wrist mp4", layout, trunc_video("wrist", last, 0.3)),
                ("unpacked: info.json deleted", layout, meta_file("meta/info.json", "delete")),
                ("unpacked: tasks.parquet deleted", layout, meta_file("meta/tasks.parquet", "delete")),
                ("unpacked: stats.json deleted", layout, meta_file("meta/stats.json", "delete")),
                ("unpacked: crash leftovers (temp file, orphan parquet)", layout, orphans),
                ("unpacked: flipped mp4 byte + first parquet deleted", layout, two),
            ]
        else:
            out += [
                (
                    "packed: delete the wrist mp4 (every episode loses a camera)",
                    layout,
                    delete(lambda r: _video(r, "wrist", 0), all_eps),
                ),
                ("packed: truncate the parquet (footer lost)", layout, trunc_data(0, 0.6, all_eps)),
                ("packed: truncate the wrist mp4 to 40%", layout, trunc_video("wrist", last, 0.4)),
                (
                    "packed: episodes table deleted",
                    layout,
                    meta_file("meta/episodes/chunk-000/file-000.parquet", "delete"),
                ),
            ]
    return out


# ------------------------------------------------------------------------------------------ run
def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".quarantine" not in p.relative_to(root).parts
    }


def _episode_hashes(root: Path) -> list[str]:
    from physai.data import checksums as sums

    return [
        e["data"] + "|" + "|".join(sorted(e["videos"].values()))
        for _, e in sorted((int(k), v) for k, v in (sums.read(root) or {"episodes": {}})["episodes"].items())
    ]


def _fix_damaged(truth_eps: list[str], damaged: set[int], kept: list[str]) -> int:
    """Intact episodes (by content) that the repaired dataset no longer holds."""
    return sum(1 for i, h in enumerate(truth_eps) if i not in damaged and h not in kept)


def load_baseline(commit: str, work: Path):
    """The repair module as of `commit` (None when git history is not available)."""
    here = Path(__file__).resolve().parents[1]
    try:
        code = subprocess.run(
            ["git", "show", f"{commit}:src/physai/data/repair.py"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = work / "baseline_repair.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("baseline_repair", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_baseline(base, src: Path, damage, work: Path) -> dict:
    root = work / "base"
    shutil.copytree(src, root)
    truth = _episode_hashes(src)
    hit = damage(root)
    hit = hit if isinstance(hit, list) else [hit]
    damaged = set().union(*(eps for _, eps in hit))
    from physai.data import checksums as sums
    from physai.data.check import survey

    try:
        base.repair(root)
    except Exception as exc:
        return {"baseline_error": f"{type(exc).__name__}: {str(exc)[:120]}", "baseline_intact_deleted": None}
    try:  # which of the original episodes the baseline kept, by content
        sv = survey(root)
        kept = [
            e["data"] + "|" + "|".join(sorted(e["videos"].values()))
            for e in sums.compute(root, sv.info, sv.rows)["episodes"].values()
        ]
    except Exception:
        kept = []
    return {"baseline_error": None, "baseline_intact_deleted": _fix_damaged(truth, damaged, kept)}


def lerobot_loads(root: Path) -> bool | None:
    """LeRobotDataset over the repaired dataset: same length as physai's, first and last frame of every
    episode equal (state) and present (cameras). None when nothing is left to load."""
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from physai.data import Dataset

    ours = Dataset(root)
    if ours.num_episodes == 0:
        return None
    lr = LeRobotDataset("physai/damage", root=root, video_backend="pyav")
    if len(lr) != len(ours):
        return False
    for e in range(ours.num_episodes):
        for i in ours.episode_range(e)[0], ours.episode_range(e)[1] - 1:
            a, b = lr[i], ours[i]
            if not np.allclose(np.asarray(a["observation.state"]), np.asarray(b["observation.state"])):
                return False
            if any(tuple(a[k].shape) != tuple(b[k].shape) for k in ours.video_keys):
                return False
    return True


def run_case(name: str, src: Path, damage, work: Path, lerobot: bool = False) -> dict:
    from physai.data import Dataset
    from physai.data.repair import inspect, repair, validate

    root = work / "ds"
    shutil.copytree(src, root)
    truth = _episode_hashes(src)
    hit = damage(root)
    hit = hit if isinstance(hit, list) else [hit]
    damaged = set().union(*(eps for _, eps in hit))
    before = _hashes(root)
    t0 = time.perf_counter()
    problems = inspect(root, deep=True, checksums=True)["problems"]
    t_val = time.perf_counter() - t0
    named_file = all(any(p.file == f for p in problems) for f, _ in hit)
    named_eps = all(
        not eps or any(p.file == f and eps <= set(p.episodes) for p in problems) for f, eps in hit
    )
    t0 = time.perf_counter()
    try:
        doc = repair(root)
        error = None
    except Exception as exc:  # recorded: a crash is a failed case
        doc, error = {"episodes_kept": 0, "quarantine": None}, f"{type(exc).__name__}: {exc}"
    t_rep = time.perf_counter() - t0
    kept = _episode_hashes(root)
    lost_intact = _fix_damaged(truth, damaged, kept)
    damaged_kept = sum(1 for i in damaged if truth[i] in kept)
    loads = False
    try:
        ds = Dataset(root)
        for e in range(ds.num_episodes):
            a, b = ds.episode_range(e)
            ds[a], ds[b - 1]
        loads = ds.num_episodes == doc["episodes_kept"]
    except Exception as exc:
        error = error or f"load: {type(exc).__name__}: {exc}"
    lr_ok = None
    if lerobot and not error:
        try:
            lr_ok = lerobot_loads(root)
        except Exception as exc:
            lr_ok, error = False, f"lerobot: {type(exc).__name__}: {str(exc)[:160]}"
    valid_after = not error and validate(root, checksums=True) == []
    idempotent = not error and repair(root)["changed"] is False
    q = Path(doc["quarantine"]) if doc.get("quarantine") else None
    after = _hashes(root)
    qh = _hashes(q) if q else {}
    kept_bytes = all(after.get(p) == h or qh.get(p) == h for p, h in before.items())
    return {
        "case": name,
        "culprit": [f for f, _ in hit],
        "damaged_episodes": sorted(damaged),
        "validate_named_file": named_file,
        "validate_named_episodes": named_eps,
        "validate_first": str(problems[0]) if problems else None,
        "episodes_kept": doc["episodes_kept"],
        "intact_episodes_deleted": lost_intact,
        "damaged_episodes_kept": damaged_kept,
        "repaired_validates": valid_after,
        "repaired_loads": loads,
        "lerobot_loads": lr_ok,
        "idempotent": idempotent,
        "quarantine_keeps_every_byte": kept_bytes,
        "metadata_rebuilt": doc.get("metadata_rebuilt"),
        "validate_s": round(t_val, 3),
        "repair_s": round(t_rep, 3),
        "error": error,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--only", default="", help="Run the cases whose name contains this.")
    ap.add_argument(
        "--lerobot",
        action="store_true",
        help="Also load each repaired dataset with LeRobotDataset (see lerobot_compat.py)",
    )
    ap.add_argument("--baseline-commit", default="f39416f", help="Repair before issue 18 ('' to skip).")
    args = ap.parse_args()
    if args.lerobot:
        sys.path.insert(0, str(Path(__file__).parent))
        import lerobot_compat  # stubs torchvision's CUDA-only op registrations on import

        lerobot_compat._install_video_reader_shim()
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        srcs = {"unpacked": d / "unpacked", "packed": d / "packed"}
        record_unpacked(srcs["unpacked"], args.episodes, args.steps)
        collect_packed(srcs["packed"], args.episodes, args.steps)
        base = load_baseline(args.baseline_commit, d) if args.baseline_commit else None
        results = []
        for i, (name, layout, damage) in enumerate(cases(args.episodes)):
            if args.only and args.only not in name:
                continue
            work = d / f"case-{i}"
            work.mkdir()
            r = run_case(name, srcs[layout], damage, work, lerobot=args.lerobot)
            if base is not None:
                r.update(run_baseline(base, srcs[layout], damage, work))
            results.append(r)
            shutil.rmtree(work)
            print(
                f"{name:<62} named={r['validate_named_file'] and r['validate_named_episodes']!s:<5} "
                f"kept={r['episodes_kept']} bad_kept={r['damaged_episodes_kept']} "
                f"lost_intact={r['intact_episodes_deleted']} "
                f"loads={r['repaired_loads']!s:<5} idem={r['idempotent']!s:<5} "
                f"bytes={r['quarantine_keeps_every_byte']!s:<5} "
                f"baseline_lost={r.get('baseline_intact_deleted')} {r.get('baseline_error') or ''} "
                f"{r['error'] or ''}",
                flush=True,
            )
    summary = {
        "cases": len(results),
        "intact_episodes_deleted": sum(r["intact_episodes_deleted"] for r in results),
        "damaged_episodes_kept": sum(r["damaged_episodes_kept"] for r in results),
        "validate_named_file_and_episodes": sum(
            r["validate_named_file"] and r["validate_named_episodes"] for r in results
        ),
        "repaired_loads": sum(r["repaired_loads"] for r in results),
        "lerobot_loads": sum(r["lerobot_loads"] is True for r in results) if args.lerobot else None,
        "lerobot_nothing_to_load": sum(r["lerobot_loads"] is None for r in results) if args.lerobot else None,
        "repaired_validates": sum(r["repaired_validates"] for r in results),
        "idempotent": sum(r["idempotent"] for r in results),
        "quarantine_keeps_every_byte": sum(r["quarantine_keeps_every_byte"] for r in results),
        "errors": sum(r["error"] is not None for r in results),
        "baseline_commit": args.baseline_commit if base is not None else None,
        "baseline_intact_episodes_deleted": sum(r.get("baseline_intact_deleted") or 0 for r in results),
        "baseline_crashed": sum(r.get("baseline_error") is not None for r in results),
        "seconds": round(time.perf_counter() - t_all, 1),
    }
    doc = {"episodes_per_dataset": args.episodes, "steps": args.steps, "summary": summary, "cases": results}
    out = Path(__file__).parent / "results" / "dataset_damage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
