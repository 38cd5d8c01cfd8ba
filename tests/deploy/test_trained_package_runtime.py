"""A policy learned from demonstrations, exported as a signed package, completes its task in the runtime.

This is the whole path a robot team takes (collect -> train -> export + sign -> verify -> runtime with
the safety supervisor), so it is slow: it runs the demo's `train` and `package` stages.
"""

import pytest

from physai.demo.runner import run_demo


@pytest.mark.slow
def test_trained_policy_package_completes_pick_place_through_the_runtime(tmp_path):
    summary = run_demo(tmp_path, stages=["train", "package"])
    trained = summary["stages"]["package"]["trained"]
    assert trained["verified"] and trained["parity_max_abs_diff"] <= 1e-4
    # normal-speed supervisor (a cell without people): the learned policy must finish the task
    assert trained["runtime_success_rate_normal_speed"] >= 2 / 3, trained
    assert summary["stages"]["train"]["expert_success_rate"] >= 0.9
