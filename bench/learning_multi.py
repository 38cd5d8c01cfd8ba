"""Learning benchmark, multi-task and image variants (issue 5 targets not covered by learning.py).

`--mode vla`: record `--demos` expert demos on each of `--tasks` (one dataset per task, different robots),
train ONE `vla` on all of them for `--minutes`, evaluate `--episodes` seeded episodes per task (seeds
disjoint from the demo seeds); the baseline measured in the same run is the scripted expert on the same
seeds. Single-task `act` figures to compare against come from learning.py runs (docs/BENCHMARKS.md).

`--mode images`: record demos with `rgb` cameras + proprioception only (`privileged=False`: no object
state), train `--policies` (default act) on them, evaluate closed loop from images. With
`--privileged-labels` the object state and the keypoints' image coordinates are recorded too, as
training-only labels (act `aux_keypoints`; `--overrides` must drop them from the inputs with
`exclude_state`); docs/BENCHMARKS.md has the command that reaches the issue's target.

    .venv/bin/python bench/learning_multi.py --mode vla --demos 50 --minutes 50 --episodes 50 \
        --act-tasks tabletop/stack,tabletop/push,bimanual/handover --act-minutes 7
    .venv/bin/python bench/learning_multi.py --mode images --demos 50 --minutes 15 --image-size 64
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from learning import expert_success, record

VLA_TASKS = "tabletop/pick-place,tabletop/stack,tabletop/push,bimanual/handover,bimanual/pack-mouse"


def train_config(args: argparse.Namespace, policy: str, minutes: float, policy_overrides: dict | None = None,
                 **train: object):
    """The policy's preset (what `physai train --policy P` builds) with this script's budget and
    `train` fields on top; no intermediate checkpoints."""
    from physai.train import train_config as preset_config

    return preset_config(policy, train={"steps": args.steps, "batch_size": args.batch_size, "save_every": 0,
                                        "log_every": 50, "num_threads": args.threads, "max_minutes": minutes,
                                        **train}, config=policy_overrides)


def _write(results: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2))


def run_vla(args: argparse.Namespace, runs: Path, results: dict) -> None:
    from physai.policies import load_policy
    from physai.train import evaluate_policy, train

    tasks = args.tasks.split(",")
    roots = []
    for task in tasks:
        root = runs / task.replace("/", "__")
        if (root / "meta" / "info.json").exists():  # same --runs folder: reuse the recorded demos
            results["data"][task] = {"reused": str(root)}
        else:
            results["data"][task] = record(task, root, args.demos, obs=("state", "instruction"))
        roots.append(root)
        print(task, results["data"][task], flush=True)
    out = runs / "vla"
    over = json.loads(args.overrides or "{}").get("vla", {})
    cfg = train_config(args, "vla", args.minutes, lr=args.lr, policy_overrides=over, seed=args.train_seed)
    r = train(roots, out, cfg)
    results["train"] = {
        "steps": r["steps"],
        "train_minutes": r["wall_seconds"] / 60,
        "samples_per_s": r["samples_per_s"],
        "final_loss": r["final_loss"],
        "parameters": r["num_parameters"],
    }
    _write(results, args.out)
    policy = load_policy(out / "checkpoint")
    for task in tasks:
        t1 = time.perf_counter()
        ev = evaluate_policy(policy, task, args.episodes, args.eval_seed)
        exp = expert_success(task, args.episodes, args.eval_seed)
        results["tasks"][task] = {
            "vla_success": ev["success_rate"],
            "expert_success": exp,
            "eval_seconds": time.perf_counter() - t1,
        }
        print(task, results["tasks"][task], flush=True)
        _write(results, args.out)
    results["vla_mean_success"] = float(np.mean([v["vla_success"] for v in results["tasks"].values()]))
    for task in [t for t in (args.act_tasks or "").split(",") if t]:  # single-task baselines, same data
        act_out = runs / f"act-{task.replace('/', '__')}"
        r = train([roots[tasks.index(task)]], act_out, train_config(args, "act", args.act_minutes))
        ev = evaluate_policy(load_policy(act_out / "checkpoint"), task, args.episodes, args.eval_seed)
        results["tasks"][task]["act_success"] = ev["success_rate"]
        results["tasks"][task]["act_train"] = {"steps": r["steps"], "train_minutes": r["wall_seconds"] / 60}
        print(task, "act", results["tasks"][task], flush=True)
        _write(results, args.out)


def run_images(args: argparse.Namespace, runs: Path, results: dict) -> None:
    from physai.policies import load_policy
    from physai.train import evaluate_policy, train

    size = (args.image_size, args.image_size)
    for task in args.tasks.split(","):
        root = runs / task.replace("/", "__") / "data"
        # --privileged-labels: the object state and its image coordinates are recorded too, for act's
        # aux_state / aux_keypoints labels (training only; the overrides must drop them from the inputs
        # with exclude_state)
        kw = {"obs": ("state", "images"), "privileged": args.privileged_labels, "image_size": size,
              "cameras": args.cameras, "image_labels": args.privileged_labels}
        if (root / "meta" / "info.json").exists():  # same --runs folder: reuse the recorded demos
            rec = {"reused": str(root)}
        else:
            rec = record(task, root, args.demos, **kw)
        rec["expert_eval_success"] = expert_success(task, args.episodes, args.eval_seed)
        row: dict = {"data": rec, "policies": {}}
        results["tasks"][task] = row
        print(task, rec, flush=True)
        for pol in args.policies.split(","):
            out = runs / task.replace("/", "__") / pol
            over = json.loads(args.overrides or "{}").get(pol, {})
            cfg = train_config(args, pol, args.minutes, policy_overrides=over, seed=args.train_seed)
            r = train([root], out, cfg)
            policy = load_policy(out / "checkpoint")
            t1 = time.perf_counter()
            ev = evaluate_policy(policy, task, args.episodes, args.eval_seed)
            row["policies"][pol] = {
                "success_rate": ev["success_rate"],
                "steps": r["steps"],
                "train_minutes": r["wall_seconds"] / 60,
                "samples_per_s": r["samples_per_s"],
                "final_loss": r["final_loss"],
                "parameters": r["num_parameters"],
                "eval_seconds": time.perf_counter() - t1,
                "env_kwargs": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in policy.env_kwargs().items()
                },
            }
            print(task, pol, row["policies"][pol], flush=True)
            _write(results, args.out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("vla", "images"), required=True)
    ap.add_argument("--tasks", default=None, help="default: 5 tabletop+bimanual (vla), pick-place (images)")
    ap.add_argument("--policies", default="act", help="images mode: policies to train")
    ap.add_argument("--demos", type=int, default=50)
    ap.add_argument("--train-seed", type=int, default=0, help="training seed (init, batches, noise)")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--eval-seed", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=100_000, help="upper bound of steps (time budget rules)")
    ap.add_argument("--minutes", type=float, default=20.0, help="training wall-clock budget")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4, help="vla mode: peak learning rate")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--act-tasks", default=None, help="vla mode: also train single-task act on these")
    ap.add_argument("--act-minutes", type=float, default=9.0, help="vla mode: act budget per task")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument(
        "--overrides", default=None, help='config changes per policy as JSON: {"vla": {"text_dropout": 0.5}}'
    )
    ap.add_argument("--privileged-labels", action="store_true",
                    help="images mode: record the object state and its image coordinates too (labels for "
                    "act aux_state / aux_keypoints)")
    ap.add_argument("--cameras", type=lambda s: s.split(","), default=["scene", "wrist"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--runs", default=None, help="keep run folders here (default: a temp dir)")
    args = ap.parse_args()
    args.tasks = args.tasks or (VLA_TASKS if args.mode == "vla" else "tabletop/pick-place")
    args.out = args.out or f"bench/results/learning_{args.mode}.json"
    runs = Path(args.runs or tempfile.mkdtemp(prefix=f"physai-learning-{args.mode}-"))
    skip = ("out", "runs")
    results: dict = {
        "command": "python bench/learning_multi.py "
        + " ".join(
            f"--{k.replace('_', '-')} {','.join(v) if isinstance(v, list) else v}"
            for k, v in vars(args).items()
            if v is not None and k not in skip
        ),
        "data": {},
        "tasks": {},
    }
    (run_vla if args.mode == "vla" else run_images)(args, runs, results)
    _write(results, args.out)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
