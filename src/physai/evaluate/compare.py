"""`physai eval compare A B`: per-task differences with a two-proportion z-test, usable as a gate."""

from __future__ import annotations

from physai.evaluate.metrics import two_proportion_test


def compare_results(a: dict, b: dict, alpha: float = 0.05) -> dict:
    """Compare run B against baseline A task by task.

    A task is `significant` when the two-sided p-value is below `alpha`; a significant drop is a
    `regression`, a significant rise an `improvement`. Tasks present in only one run are listed apart.
    `regressed` is True when any task regressed (the CLI then exits 1).
    """
    rows = []
    common = [t for t in a["tasks"] if t in b["tasks"]]
    for task in common:
        ta, tb = a["tasks"][task], b["tasks"][task]
        row = {"task": task, "a_success": ta["success_rate"], "b_success": tb["success_rate"],
               "a_episodes": ta["episodes"], "b_episodes": tb["episodes"]}
        if ta["episodes"] == 0 or tb["episodes"] == 0:
            row.update(diff=None, z=None, p_value=None, significant=False, verdict="no data")
        else:
            t = two_proportion_test(ta["successes"], ta["episodes"], tb["successes"], tb["episodes"])
            sig = t.p_value < alpha
            verdict = ("regression" if t.diff < 0 else "improvement") if sig else "no significant change"
            row.update(diff=t.diff, z=t.z, p_value=t.p_value, significant=sig, verdict=verdict)
        rows.append(row)
    regressions = [r["task"] for r in rows if r["verdict"] == "regression"]
    return {
        "alpha": alpha,
        "a": {"policy": a["policy"].get("spec"), "suite_score": a["suite_score"], "partial": a["partial"]},
        "b": {"policy": b["policy"].get("spec"), "suite_score": b["suite_score"], "partial": b["partial"]},
        "suite_diff": b["suite_score"] - a["suite_score"],
        "tasks": rows,
        "only_in_a": [t for t in a["tasks"] if t not in b["tasks"]],
        "only_in_b": [t for t in b["tasks"] if t not in a["tasks"]],
        "regressions": regressions,
        "regressed": bool(regressions),
        "seeds_match": a["seeds"].get("base") == b["seeds"].get("base"),
    }
