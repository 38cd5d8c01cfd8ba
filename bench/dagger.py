"""DAgger benchmark: a weak policy improved by rounds of scripted interventions, against adding the same
number of expert-labelled steps as extra demonstrations.

Round 0: record `--demos` expert demonstrations (seeds 0..), train `--policy` (physai.train.train, the
entry point of `physai train`) and evaluate it on held-out seeds (100000..). Each round r = 1..R: run
`--episodes-per-round` episodes of the current policy with the task's expert as the scripted "human"
(`physai.teleop.expert.ExpertSource`: it takes over when the policy strays from it by `--threshold`,
hands back when they agree again) through the same `ActionArbiter` and recording as
`physai run --intervene expert --record`; extract the human segments of every round so far
(`physai.teleop.segments.extract_interventions`, weight `--weight`), retrain from scratch on demos +
segments, evaluate. The baseline of each round trains on the demos plus fresh expert demonstrations
(seeds 20000..) holding at least as many frames as the human steps so far (the same labelling budget).
Success is reported with Wilson 95% intervals; all policies of a round see the same evaluation seeds.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/dagger.py --task tabletop/pick-place --demos 10 \
        --rounds 3 --episodes-per-round 10 --eval-episodes 40 --steps 1000 \
        --out bench/results/dagger_pick-place.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

EVAL_SEED = 100_000
INTERVENTION_SEED = 10_000
EXTRA_DEMO_SEED = 20_000


def record_demos(task: str, root: Path, n: int | None, seed: int, min_frames: int = 0) -> dict:
    """Append successful expert demos to `root` until it holds `n` more (or `min_frames` frames)."""
    import physai
    from physai.data import Recorder
    from physai.data.meta import DatasetMeta

    env = physai.make(task, obs=("state", "instruction"))
    rec = Recorder(env, root)
    frames = DatasetMeta(root).total_frames if (root / "meta" / "info.json").exists() else 0
    kept = attempts = 0
    while (n is not None and kept < n) or (n is None and frames < min_frames):
        r = rec.record(env.expert(), seed=seed + attempts)
        attempts += 1
        kept += r.kept
        frames += r.length if r.kept else 0
        if attempts > 10 * max(n or 1, 10):
            raise RuntimeError(f"the {task} expert keeps failing ({kept}/{attempts})")
    rec.close()
    env.close()
    return {"kept": kept, "attempts": attempts, "frames": frames, "next_seed": seed + attempts}


def fit(datasets: list[Path], out: Path, args: argparse.Namespace):
    from physai.policies import load_policy
    from physai.train import TrainConfig, train

    cfg = TrainConfig(
        policy=args.policy,
        steps=args.steps,
        batch_size=args.batch_size,
        save_every=0,
        log_every=100,
        num_threads=1,
        device="cpu",
        seed=args.seed,
    )
    rep = train(datasets, out, cfg)
    return load_policy(out / "checkpoint"), rep


def evaluate(policy, task: str, n: int) -> dict:
    from physai.evaluate.metrics import wilson_interval
    from physai.train import evaluate_policy

    ev = evaluate_policy(policy, task, n, EVAL_SEED)
    k = int(round(ev["success_rate"] * n))
    lo, hi = wilson_interval(k, n)
    return {"successes": k, "n": n, "success_rate": k / n, "wilson95": [lo, hi]}


def intervene(policy, task: str, root: Path, episodes: int, seed: int, args: argparse.Namespace) -> dict:
    """Run `episodes` episodes of `policy` with the expert taking over; record them into `root`."""
    import physai
    from physai.teleop import ActionArbiter, context_from_env
    from physai.teleop.expert import ExpertSource, ExpertTakeoverConfig
    from physai.teleop.session import open_writer, run_episode_arbitrated

    env = physai.make(task, obs=("state", "instruction"))
    src = ExpertSource(
        config=ExpertTakeoverConfig(
            threshold=args.threshold, patience=args.patience, min_steps=args.min_steps
        )
    )
    arb = ActionArbiter([src])
    arb.start(context_from_env(env))
    writer = open_writer(env, root, source="dagger-bench")
    human = policy_steps = takeovers = success = 0
    for i in range(episodes):
        r = run_episode_arbitrated(env, arb, seed + i, policy=policy, writer=writer, keep_failures=True)
        human += r.steps["human"]
        policy_steps += r.steps["policy"]
        takeovers += sum(1 for e in r.events if e["event"] == "granted")
        success += r.success
    writer.close()
    arb.close()
    env.close()
    return {
        "episodes": episodes,
        "human_steps": human,
        "policy_steps": policy_steps,
        "takeovers": takeovers,
        "assisted_success": success / episodes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="tabletop/stack")
    ap.add_argument("--policy", default="mlp")
    ap.add_argument("--demos", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--episodes-per-round", type=int, default=10)
    ap.add_argument("--eval-episodes", type=int, default=50)
    ap.add_argument(
        "--steps", type=int, default=4000, help="optimizer steps per training (each from scratch)"
    )
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--weight", type=int, default=1, help="times each human segment is written")
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--min-steps", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-baseline", action="store_true", help="no expert-demo baseline (DAgger only)")
    ap.add_argument(
        "--baseline-every-round", action="store_true", help="train the expert-demo baseline every round "
        "(default: only after the last round, on the same total number of labelled steps)"
    )
    ap.add_argument("--out", default="bench/results/dagger.json")
    ap.add_argument("--runs", default=None, help="keep run folders here (default: a temp dir)")
    args = ap.parse_args()

    from physai.data.meta import DatasetMeta
    from physai.teleop.segments import extract_interventions

    t_start = time.perf_counter()
    runs = Path(args.runs or tempfile.mkdtemp(prefix="physai-dagger-"))
    task = args.task
    res: dict = {
        "command": "python bench/dagger.py "
        + " ".join(
            f"--{k.replace('_', '-')}" + ("" if isinstance(v, bool) else f" {v}")
            for k, v in vars(args).items()
            if v is not None and v is not False and k not in ("out", "runs")
        ),
        "eval_seeds": f"{EVAL_SEED}..{EVAL_SEED + args.eval_episodes - 1}",
        "rounds": [],
    }

    def save() -> None:
        res["wall_minutes"] = (time.perf_counter() - t_start) / 60
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2))

    demos = runs / "demos"
    res["demos"] = record_demos(task, demos, args.demos, seed=0)
    policy, rep = fit([demos], runs / "r0", args)
    ev = evaluate(policy, task, args.eval_episodes)
    res["rounds"].append(
        {
            "round": 0,
            "dagger": ev,
            "baseline": ev,
            "human_steps_total": 0,
            "final_loss": rep.get("final_loss"),
        }
    )
    print("round 0", json.dumps(ev), flush=True)
    save()
    recordings: list[Path] = []
    extra = runs / "extra_demos"
    extra_seed = EXTRA_DEMO_SEED
    human_total = 0
    for r in range(1, args.rounds + 1):
        rec_dir = runs / f"r{r}" / "interventions"
        iv = intervene(policy, task, rec_dir, args.episodes_per_round, INTERVENTION_SEED + 1000 * r, args)
        recordings.append(rec_dir)
        human_total += iv["human_steps"]
        seg = extract_interventions(recordings, runs / f"r{r}" / "segments", like=demos, weight=args.weight)
        data = [demos] + ([Path(seg["dataset"])] if seg["dataset"] else [])
        policy, rep = fit(data, runs / f"r{r}" / "dagger", args)
        ev = evaluate(policy, task, args.eval_episodes)
        bev, base_rep, got = None, {}, {"frames": None}
        if not args.skip_baseline and (args.baseline_every_round or r == args.rounds):
            got = record_demos(task, extra, None, seed=extra_seed, min_frames=human_total)
            extra_seed = got["next_seed"]
            base_policy, base_rep = fit([demos, extra], runs / f"r{r}" / "baseline", args)
            bev = evaluate(base_policy, task, args.eval_episodes)
        row = {
            "round": r,
            "interventions": iv,
            "segments": seg,
            "human_steps_total": human_total,
            "dagger": ev,
            "baseline": bev,
            "baseline_expert_frames": got["frames"],
            "final_loss": rep.get("final_loss"),
            "baseline_final_loss": base_rep.get("final_loss"),
        }
        row["baseline_extra_demos"] = len(DatasetMeta(extra).episodes) if bev is not None else None
        res["rounds"].append(row)
        print(
            f"round {r}", json.dumps({k: row[k] for k in ("interventions", "dagger", "baseline")}), flush=True
        )
        save()
    first, last = res["rounds"][0], res["rounds"][-1]
    res["gain_points"] = {
        "dagger": 100 * (last["dagger"]["success_rate"] - first["dagger"]["success_rate"]),
        "baseline": None if last["baseline"] is None
        else 100 * (last["baseline"]["success_rate"] - first["baseline"]["success_rate"]),
    }
    save()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
