"""Evaluation speed of a checkpoint vs the package exported from it (episodes/min, same tasks and seeds).

For every policy kind (mlp, act, flow, vla on object state; act on a 64 px camera) the script makes a tiny
dataset with the scripted expert, trains a tiny checkpoint (seconds: the speed of inference does not
depend on how well the weights are trained), exports and signs its package, then runs `physai eval` on
the checkpoint and on the package with the same tasks, seeds, episodes and worker count. The ratio
checkpoint/package of episodes per minute is the figure (target: >= 0.5, i.e. within 2x); both are
measured in this run, interleaved, fastest of `--repeats` kept. CPU seconds per episode (the eval process
and its workers, from getrusage) are recorded too: on a shared, loaded machine they move less than wall
time.

    nice -n 10 .venv/bin/python bench/eval_policy_speed.py [--episodes 4] [--workers 2] [--repeats 1]

Writes bench/results/eval_policy_speed.json. The evaluation runs in `physai eval` subprocesses with the
environment of this process minus OMP_NUM_THREADS/MKL_NUM_THREADS, as a newcomer's shell has it (the
thread count of each worker is the harness's own choice, which is what is measured).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASK = "tabletop/pick-place"
KINDS = {  # name -> (policy, image dataset?)
    "mlp": ("mlp", False),
    "act": ("act", False),
    "flow": ("flow", False),
    "vla": ("vla", False),
    "act-images": ("act", True),
}


def physai(*args: str, env: dict | None = None) -> str:
    r = subprocess.run([sys.executable, "-m", "physai.cli.main", *args], capture_output=True, text=True,
                       env=env)
    if r.returncode != 0:
        raise SystemExit(f"physai {' '.join(args)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def prepare(work: Path, kinds: list[str]) -> dict[str, tuple[Path, Path]]:
    """Tiny datasets, checkpoints and signed packages; returns kind -> (checkpoint, package)."""
    physai("keys", "generate", "--out", str(work / "keys"))
    physai("collect", "--task", TASK, "--episodes", "3", "--workers", "1", "--cameras", "none",
           "--out", str(work / "data"))
    if any(KINDS[k][1] for k in kinds):
        physai("collect", "--task", TASK, "--episodes", "2", "--workers", "1", "--cameras", "scene",
               "--image-size", "64", "--out", str(work / "data-img"))
    out = {}
    for k in kinds:
        policy, images = KINDS[k]
        run = work / f"run-{k}"
        physai("train", "--policy", policy, "--dataset", str(work / ("data-img" if images else "data")),
               "--steps", "10", "--batch-size", "4", "--out", str(run))
        physai("export", "--policy", str(run / "checkpoint"), "--out", str(work / f"pkg-{k}"),
               "--sign-key", str(work / "keys" / "physai.key"))
        out[k] = (run / "checkpoint", work / f"pkg-{k}")
    return out


def evaluate(spec: Path, work: Path, args: argparse.Namespace, env: dict) -> dict:
    """Wall and CPU seconds (the eval process and its workers) and the episodes of one `physai eval` run
    (process start and loading included)."""
    import resource

    with tempfile.TemporaryDirectory(dir=work) as tmp:
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        doc = json.loads(physai("eval", "--policy", str(spec), "--tasks", TASK, "--episodes",
                                str(args.episodes), "--workers", str(args.workers), "--seed", "0",
                                "--public-key", str(work / "keys" / "physai.pub"), "--out", tmp,
                                "--json", env=env))
        wall = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    eps = doc["episodes"]
    return {"wall_s": wall, "cpu_s": c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime,
            "episode_s": sum(e["duration_s"] for e in eps) / len(eps),
            "errors": sum(e["status"] != "ok" for e in eps),
            "outcomes": [(e["seed"], e["success"], e["length"]) for e in eps]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=4, help="episodes per run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--work", type=Path, default=None, help="reuse/keep the tiny checkpoints here")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.setdefault("MUJOCO_GL", "egl")
    work = args.work or Path(tempfile.mkdtemp(prefix="eval-policy-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    made = prepare(work, kinds) if not (work / "made.json").is_file() else {
        k: (Path(c), Path(p)) for k, (c, p) in json.loads((work / "made.json").read_text()).items()}
    (work / "made.json").write_text(json.dumps({k: [str(c), str(p)] for k, (c, p) in made.items()}))
    res: dict = {"task": TASK, "episodes": args.episodes, "workers": args.workers, "repeats": args.repeats,
                 "cpu_count": os.cpu_count(), "kinds": {}}
    for k in kinds:
        ckpt, pkg = made[k]
        runs: dict[str, list[dict]] = {"checkpoint": [], "package": []}
        for _ in range(args.repeats):
            runs["checkpoint"].append(evaluate(ckpt, work, args, env))
            runs["package"].append(evaluate(pkg, work, args, env))
        best = {w: min(r, key=lambda x: x["wall_s"]) for w, r in runs.items()}
        epm = {w: 60.0 * args.episodes / b["wall_s"] for w, b in best.items()}
        res["kinds"][k] = {
            "episodes_per_min": {w: round(v, 2) for w, v in epm.items()},
            "seconds_per_episode_in_worker": {w: round(b["episode_s"], 3) for w, b in best.items()},
            "cpu_s_per_episode": {w: round(b["cpu_s"] / args.episodes, 3) for w, b in best.items()},
            "cpu_ratio_package_vs_checkpoint": round(
                best["package"]["cpu_s"] / best["checkpoint"]["cpu_s"], 3),
            "ratio_checkpoint_vs_package": round(epm["checkpoint"] / epm["package"], 3),
            "errors": {w: b["errors"] for w, b in best.items()},
            "same_outcomes": best["checkpoint"]["outcomes"] == best["package"]["outcomes"],
        }
        print(k, json.dumps(res["kinds"][k]), flush=True)
    res["load_avg_1min"] = os.getloadavg()[0]
    res["target"] = "ratio_checkpoint_vs_package >= 0.5 for every kind"
    out = Path(__file__).parent / "results" / "eval_policy_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
