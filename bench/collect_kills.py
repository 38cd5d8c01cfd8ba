"""Fault-injection bench for `physai collect`: SIGKILL the command (a subprocess) at random moments —
while recording, while a worker's encoder is mid-episode, during the final merge/commit, or the parent
process only — then run `physai dataset validate` (must say damaged, or ok with every episode),
`physai dataset repair`, validate again, and load the result with physai's `Dataset`.

Per kill it reports the episodes whose recording had started before the kill (committed by a worker,
plus each worker's in-flight episode, seen on disk as its open mp4) and the episodes the repaired
dataset holds: lost = started - kept must be at most one in-flight episode per worker, committed
episodes lost must be 0, and no kill may leave a valid dataset with episodes missing (valid-empty
included). An uninterrupted run first measures the recording and merge durations the kill times are
drawn from. Writes bench/results/collect_kills.json.

    MUJOCO_GL=egl .venv/bin/python bench/collect_kills.py [--kills 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from physai.data import collect as col
from physai.data import format as fmt

CLI = [sys.executable, "-c", "from physai.cli.main import app; app()"]
MODES = ("recording", "encoding", "merge", "parent")
CAMERA = "observation.images.scene"


def collect_cmd(out: Path, a: argparse.Namespace) -> list[str]:
    return [*CLI, "collect", "--task", a.task, "--episodes", str(a.episodes), "--workers", str(a.workers),
            "--out", str(out), "--cameras", "scene", "--image-size", str(a.image_size), "--max-steps",
            str(a.max_steps), "--keep-failures", "--json"]


def run_json(args: list[str]) -> tuple[int, dict]:
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    try:
        return p.returncode, json.loads(p.stdout)
    except json.JSONDecodeError:
        return p.returncode, {"stdout": p.stdout[-500:], "stderr": p.stderr[-500:]}


def parts(out: Path) -> list[Path]:
    return sorted((out / col.STAGING).glob("worker-*"))


def part_committed(part: Path) -> int:
    try:
        return int(json.loads((part / fmt.INFO_PATH).read_text())["total_episodes"])
    except (OSError, ValueError, KeyError):
        return 0


def in_flight(out: Path) -> int:
    """Workers with an episode begun but not committed (its mp4 is opened at the episode's first frame)."""
    n = 0
    for part in parts(out):
        ci, fi = fmt.chunk_file(part_committed(part))
        if (part / fmt.VIDEO_PATH.format(video_key=CAMERA, chunk_index=ci, file_index=fi)).exists():
            n += 1
    return n


def children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
            except (OSError, ValueError):
                continue
    return kids


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_until(cond, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    """Poll `cond` every 5 ms; False when the command exited (or the timeout passed) first."""
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def one_kill(mode: str, out: Path, a: argparse.Namespace, rng: np.random.Generator, ref: dict) -> dict | None:
    """Run collect, kill it in `mode`; None when the command finished before the kill landed."""
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen(collect_cmd(out, a), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    row: dict = {"mode": mode}
    try:
        if mode in ("recording", "parent"):
            k = int(rng.integers(0, a.episodes - a.workers))
            ok = wait_until(lambda: len(parts(out)) == a.workers
                            and sum(part_committed(p) for p in parts(out)) >= k, proc)
            time.sleep(float(rng.uniform(0, 0.5 * ref["episode_s"])))
        elif mode == "encoding":  # an episode's mp4 has frames in it, the episode is not committed
            k = int(rng.integers(0, a.episodes - a.workers))

            def encoding() -> bool:
                if sum(part_committed(p) for p in parts(out)) < k:
                    return False
                for part in parts(out):
                    ci, fi = fmt.chunk_file(part_committed(part))
                    v = part / fmt.VIDEO_PATH.format(video_key=CAMERA, chunk_index=ci, file_index=fi)
                    if v.exists() and v.stat().st_size > 0:
                        return True
                return False

            ok = wait_until(encoding, proc)
        else:  # merge: anywhere from the merge's start to its commit and clean-up
            ok = wait_until(lambda: (out / col.STAGING / "merged").exists(), proc)
            time.sleep(float(rng.uniform(0, 0.6 * ref["merge_s"])))
        kids = [c for c in children(proc.pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        if not ok or proc.poll() is not None:
            return None
        t_kill = time.monotonic()
        if mode == "parent":
            os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while any(alive(w) for w in kids) and time.monotonic() < deadline:
                time.sleep(0.01)
            row["workers_alive_after_parent_kill"] = sum(alive(w) for w in kids)
            row["workers_exit_s"] = round(time.monotonic() - t_kill, 3)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for w in kids:  # every worker gone before the dataset is inspected
        deadline = time.monotonic() + 30
        while alive(w) and time.monotonic() < deadline:
            time.sleep(0.01)
    committed_out = (out / fmt.INFO_PATH).exists()
    if committed_out:
        row["phase"] = "after commit (clean-up)" if col.pending(out) else "finished"
        committed = started = int(json.loads((out / fmt.INFO_PATH).read_text())["total_episodes"])
        flight = 0
    else:
        row["phase"] = "merge" if (out / col.STAGING / "merged").exists() else "recording"
        committed, flight = col.committed_episodes(out), in_flight(out)
        started = committed + flight
    rc, v = run_json([*CLI, "dataset", "validate", str(out), "--json"])
    valid = rc == 0 and v.get("ok") is True
    rc_r, rep = run_json([*CLI, "dataset", "repair", str(out), "--json"])
    rc2, v2 = run_json([*CLI, "dataset", "validate", str(out), "--json"])
    kept = int(rep.get("episodes_kept", -1)) if rc_r == 0 else -1
    from physai.data import Dataset

    try:
        ds = Dataset(out)
        loads = ds.num_episodes == kept and (
            kept == 0 or ds[len(ds) - 1][CAMERA].shape == (3, a.image_size, a.image_size)
        )
    except Exception as exc:  # reported, not raised: the bench counts failures
        loads, row["load_error"] = False, f"{type(exc).__name__}: {exc}"
    row.update({
        "committed_before_repair": committed,
        "in_flight": flight,
        "started": started,
        "validate_before": "ok" if valid else "damaged",
        "validate_first_violation": None if valid else (v.get("violations") or [str(v)])[0][:200],
        "valid_with_missing": bool(valid and (v.get("ok") and _total(out) < started)),
        "valid_empty": bool(valid and _total(out) == 0 and started > 0),
        "repair_rc": rc_r,
        "episodes_after_repair": kept,
        "lost": started - kept,
        "committed_lost": committed - kept,
        "valid_after_repair": rc2 == 0 and v2.get("ok") is True,
        "loads_with_Dataset": loads,
    })
    return row


def _total(out: Path) -> int:
    try:
        return int(json.loads((out / fmt.INFO_PATH).read_text())["total_episodes"])
    except (OSError, ValueError, KeyError):
        return -1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", default="tabletop/pick-place")
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=10)
    ap.add_argument("--image-size", type=int, default=32)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    tmp = Path(tempfile.mkdtemp(prefix="collect-kills-"))
    t0 = time.perf_counter()
    # reference: one uninterrupted run; its recording and merge times bound the random kill delays
    rc, doc = run_json(collect_cmd(tmp / "ref", a))
    assert rc == 0 and doc["kept"] == a.episodes, doc
    ref = {
        "seconds": doc["seconds"],
        "merge_s": doc["merge_seconds"],
        "episode_s": max(0.05, (doc["seconds"] - doc["merge_seconds"]) * a.workers / a.episodes),
    }
    rows, misses = [], 0
    while len(rows) < a.kills:
        mode = MODES[len(rows) % len(MODES)]
        r = one_kill(mode, tmp / "out", a, rng, ref)
        if r is None or (mode == "merge" and r["phase"] == "finished"):
            # the command finished (or only had its exit left) before the kill landed: draw again
            misses += 1
            continue
        rows.append(r)
        print(json.dumps(r), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    by_mode = {}
    for m in MODES:
        rs = [r for r in rows if r["mode"] == m]
        by_mode[m] = {
            "kills": len(rs),
            "phases": sorted({r["phase"] for r in rs}),
            "damaged_before_repair": sum(r["validate_before"] == "damaged" for r in rs),
            "lost": [r["lost"] for r in rs],
            "committed_lost": sum(r["committed_lost"] for r in rs),
            "max_lost": max((r["lost"] for r in rs), default=0),
        }
    res = {
        "config": {**vars(a), "cli": "physai collect --cameras scene --keep-failures"},
        "reference_run": ref,
        "kills": len(rows),
        "kills_that_missed_and_were_redrawn": misses,
        "by_mode": by_mode,
        "max_lost_per_kill": max(r["lost"] for r in rows),
        "lost_over_workers": sum(r["lost"] > a.workers for r in rows),
        "committed_episodes_lost": sum(max(0, r["committed_lost"]) for r in rows),
        "valid_empty_before_repair": sum(r["valid_empty"] for r in rows),
        "valid_with_missing_before_repair": sum(r["valid_with_missing"] for r in rows),
        "damaged_before_repair": sum(r["validate_before"] == "damaged" for r in rows),
        "ok_with_all_episodes_before_repair": sum(
            r["validate_before"] == "ok" and not r["valid_with_missing"] for r in rows
        ),
        "valid_after_repair": sum(r["valid_after_repair"] for r in rows),
        "loads_with_Dataset": sum(r["loads_with_Dataset"] for r in rows),
        "workers_alive_after_parent_kill": sum(r.get("workers_alive_after_parent_kill", 0) for r in rows),
        "max_worker_exit_s_after_parent_kill": max(
            (r["workers_exit_s"] for r in rows if "workers_exit_s" in r), default=None
        ),
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }
    dest = Path(__file__).parent / "results" / "collect_kills.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
