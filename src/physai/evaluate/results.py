"""`results.json`: building, validating and loading the evaluation results document.

The schema (`physai.eval/1`) is documented in docs/evaluation.md; `validate_results` checks it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from physai.core.errors import ConfigError
from physai.evaluate.metrics import suite_score, summarize_task, wilson_interval

SCHEMA = "physai.eval/1"

EPISODE_FIELDS = {"task": str, "index": int, "seed": int, "status": str, "success": bool, "length": int,
                  "duration_s": (int, float), "attempts": int, "worker": str}
TASK_FIELDS = {"episodes": int, "successes": int, "errors": int, "success_rate": (int, float),
               "ci95": list, "mean_length": (int, float), "mean_time_s": (int, float)}
TOP_FIELDS = {"schema": str, "created": str, "partial": bool, "policy": dict, "tasks": dict,
              "suite_score": (int, float), "episodes": list, "config": dict, "seeds": dict, "git": dict,
              "hardware": dict, "videos": list, "timing": dict}


def git_info() -> dict:
    """Commit and dirty flag of the physai source tree (None when not a git checkout)."""
    root = Path(__file__).resolve().parents[3]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = bool(status) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    from physai import __version__

    return {"commit": commit, "dirty": dirty, "physai_version": __version__}


def hardware_info() -> dict:
    """The machine the evaluation ran on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import mujoco
    import numpy

    return {"hostname": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
            "cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "numpy": numpy.__version__, "mujoco": mujoco.__version__,
            "mujoco_gl": os.environ.get("MUJOCO_GL")}


def build_results(*, policy: dict, config: dict, seeds: dict, tasks: list[str], records: list[dict],
                  partial: bool, videos: list[dict], wall_s: float) -> dict:
    """Assemble the results document from per-episode records (sorted by task, index)."""
    records = sorted(records, key=lambda r: (tasks.index(r["task"]), r["index"]))
    per_task = {t: summarize_task([r for r in records if r["task"] == t]) for t in tasks}
    n_done = len(records)
    suite = suite_score(per_task)
    return {
        "schema": SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "partial": partial,
        "policy": policy,
        "config": config,
        "seeds": seeds,
        "git": git_info(),
        "hardware": hardware_info(),
        "tasks": per_task,
        "suite_score": suite,
        "suite_tasks": len([t for t in per_task.values() if t["episodes"]]),
        "episodes": [_clean(r) for r in records],
        "videos": videos,
        "timing": {"wall_s": round(wall_s, 3), "episodes_done": n_done,
                   "episodes_per_min": round(60.0 * n_done / wall_s, 2) if wall_s > 0 else 0.0},
    }


def _clean(r: dict) -> dict:
    out = {k: r.get(k) for k in ("task", "index", "seed", "status", "success", "length", "duration_s",
                                 "instruction", "attempts", "worker", "error")}
    out["duration_s"] = round(float(out["duration_s"] or 0.0), 4)
    out["attempts"] = int(out["attempts"] or 1)
    return out


def validate_results(doc: Any, where: str = "results") -> dict:
    """Raise ConfigError naming the first field that violates the `physai.eval/1` schema."""
    def check(obj: Any, fields: dict, ctx: str) -> None:
        if not isinstance(obj, dict):
            raise ConfigError(f"{ctx} must be an object, got {type(obj).__name__}")
        for k, typ in fields.items():
            if k not in obj:
                raise ConfigError(f"{ctx} lacks field {k!r}")
            if typ is not None and not isinstance(obj[k], typ) or (typ is int and isinstance(obj[k], bool)):
                raise ConfigError(f"{ctx}.{k} has type {type(obj[k]).__name__}, expected {typ}")

    check(doc, TOP_FIELDS, where)
    if doc["schema"] != SCHEMA:
        raise ConfigError(f"{where}.schema is {doc['schema']!r}, expected {SCHEMA!r}")
    for name, t in doc["tasks"].items():
        check(t, TASK_FIELDS, f"{where}.tasks[{name!r}]")
        lo, hi = t["ci95"]
        if not 0 <= lo <= t["success_rate"] <= hi <= 1:
            raise ConfigError(f"{where}.tasks[{name!r}].ci95 {t['ci95']} does not bracket "
                              f"{t['success_rate']}")
    for i, e in enumerate(doc["episodes"]):
        check(e, EPISODE_FIELDS, f"{where}.episodes[{i}]")
        if e["status"] not in ("ok", "error"):
            raise ConfigError(f"{where}.episodes[{i}].status is {e['status']!r}, expected 'ok' or 'error'")
        if e["task"] not in doc["tasks"]:
            raise ConfigError(f"{where}.episodes[{i}].task {e['task']!r} is not in tasks")
    return doc


def write_results(doc: dict, out: Path) -> Path:
    """Write `out/results.json` atomically."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)
    return path


def load_results(path: str | Path) -> dict:
    """Read and validate a results.json (or the results.json inside a run folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.exists():
        raise ConfigError(f"no evaluation results at {p}; run `physai eval ... --out {p.parent}` first")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p} is not valid JSON: {exc}") from None
    return validate_results(doc, str(p))


__all__ = ["SCHEMA", "build_results", "load_results", "validate_results", "wilson_interval", "write_results"]
