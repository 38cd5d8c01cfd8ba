"""World-model benchmark on one task: record expert + noisy-expert episodes, train a world model, plan
with it (`wm-plan:`) on held-out seeds, and judge a family of BC checkpoints in imagination vs the
simulator (Kendall tau). Stages whose output already exists under --runs are reused (say so in the doc).

    nice -n 10 env OMP_NUM_THREADS=1 PYTHONPATH=src python bench/worldmodel.py --task tabletop/push \
        --expert 25 --noisy 25 --plan-episodes 30 --runs runs/bench-wm \
        --out bench/results/worldmodel_push.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from physai.data.collect import CollectConfig, collect
from physai.evaluate import EvalConfig, run_eval, wilson_interval
from physai.worldmodel import WorldModelConfig, load_world_model, train_world_model
from physai.worldmodel.judge import judge


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="tabletop/push")
    ap.add_argument("--expert", type=int, default=25, help="clean expert episodes")
    ap.add_argument("--noisy", type=int, default=25, help="noisy-expert episodes (failures kept)")
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--steps", type=int, default=1500, help="world-model optimizer steps")
    ap.add_argument("--plan-episodes", type=int, default=30)
    ap.add_argument("--planner", default="", help="planner options, e.g. task_cost=1&samples=128")
    ap.add_argument("--judge", nargs="*", default=[], help="BC checkpoints to judge (a family)")
    ap.add_argument("--judge-episodes", type=int, default=20)
    ap.add_argument("--sim-episodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed (collection uses 100000+/200000+)")
    ap.add_argument("--runs", type=Path, default=Path("runs/bench-wm"))
    ap.add_argument("--out", type=Path, default=Path("bench/results/worldmodel.json"))
    a = ap.parse_args()
    doc: dict = {"task": a.task, "args": {k: str(v) for k, v in vars(a).items()}}
    data = []
    for name, n, seed, noise in (("expert", a.expert, 100000, 0.0), ("noisy", a.noisy, 200000, a.noise)):
        path = a.runs / f"data-{name}"
        if n and not (path / "meta" / "info.json").exists():
            doc[f"collect_{name}"] = collect(CollectConfig(task=a.task, episodes=n, out=str(path), cameras=(),
                                                           seed=seed, noise=noise, keep_failures=noise > 0))
        if n:
            data.append(str(path))
    wm_dir = a.runs / "wm"
    if not (wm_dir / "config.json").exists():
        train_world_model(data, wm_dir, WorldModelConfig(steps=a.steps))
    wm = load_world_model(wm_dir)
    doc["world_model"] = {"sha256": wm.sha256, **wm.doc["train"]}
    spec = f"wm-plan:{wm_dir}" + (f"?{a.planner}" if a.planner else "")
    t0 = time.perf_counter()
    res = run_eval(EvalConfig(policy=spec, out=a.runs / "plan-eval", tasks=a.task, episodes=a.plan_episodes,
                              seed=a.seed, workers="0"))
    r = res["tasks"][a.task]
    k = round(r["success_rate"] * r["episodes"])
    doc["planner"] = {"spec": spec, "success": r["success_rate"], "episodes": r["episodes"], "successes": k,
                      "wilson95": wilson_interval(k, r["episodes"]), "mean_length": r["mean_length"],
                      "mean_episode_s": r["mean_time_s"], "seconds": round(time.perf_counter() - t0, 1)}
    if a.judge:
        doc["judge"] = judge(wm, a.judge, episodes=a.judge_episodes, simulate=True,
                             sim_episodes=a.sim_episodes,
                             task=a.task, seed=a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2))
    print(json.dumps({k: v for k, v in doc.items() if k != "args"}, indent=1)[:4000])


if __name__ == "__main__":
    main()
