"""Demo stage `evaluate`: benchmark the scripted experts against random actions on two tabletop tasks,
with confidence intervals, a report each, and the regression gate (random vs. expert must regress)."""

from __future__ import annotations

from pathlib import Path

from physai.core.progress import Progress
from physai.demo.registry import stage

DEMO_TASKS = "tabletop/pick-place,tabletop/push"


@stage("evaluate", order=30)
def evaluate_stage(out: Path, progress: Progress, episodes: int = 8) -> dict:
    """Expert and random policies, `episodes` per task, 1 video of a success and a failure per task."""
    from physai.evaluate import EvalConfig, compare_results, run_eval

    runs = {}
    for policy in ("expert", "random"):
        cfg = EvalConfig(policy=policy, out=out / "eval" / policy, tasks=DEMO_TASKS, episodes=episodes,
                         seed=0, workers="auto", videos=1)
        doc = run_eval(cfg, progress)
        runs[policy] = {
            "suite_score": doc["suite_score"],
            "tasks": {t: {"success_rate": r["success_rate"], "ci95": r["ci95"], "errors": r["errors"]}
                      for t, r in doc["tasks"].items()},
            "episodes_per_min": doc["timing"]["episodes_per_min"],
            "report": str((out / "eval" / policy / "report.html").relative_to(out)),
            "_doc": doc,
        }
    gate = compare_results(runs["expert"].pop("_doc"), runs["random"].pop("_doc"))
    return {"runs": runs, "gate": {"regressions": gate["regressions"], "regressed": gate["regressed"],
                                   "suite_diff": gate["suite_diff"]}}
