"""Success statistics: Wilson score intervals, per-task summaries, the two-proportion z-test."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
"""Two-sided 95% standard-normal quantile."""


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when n == 0.

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0/n or n/n.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo, hi = max(0.0, center - half), min(1.0, center + half)
    if successes == 0:
        lo = 0.0
    if successes == n:
        hi = 1.0
    return lo, hi


@dataclass(frozen=True)
class ProportionTest:
    """Result of a two-sided two-proportion z-test (pooled variance) of B against A."""

    p_a: float
    """Success rate of A."""
    p_b: float
    """Success rate of B."""
    diff: float
    """p_b - p_a."""
    z: float
    """Test statistic (0 when both rates are 0 or both are 1)."""
    p_value: float
    """Two-sided p-value."""


def two_proportion_test(s_a: int, n_a: int, s_b: int, n_b: int) -> ProportionTest:
    """Pooled two-proportion z-test of H0: p_a == p_b."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"both samples need episodes, got n_a={n_a}, n_b={n_b}")
    p_a, p_b = s_a / n_a, s_b / n_b
    pooled = (s_a + s_b) / (n_a + n_b)
    var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if var <= 0:
        return ProportionTest(p_a, p_b, p_b - p_a, 0.0, 1.0)
    z = (p_b - p_a) / math.sqrt(var)
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return ProportionTest(p_a, p_b, p_b - p_a, z, p_value)


def summarize_task(records: list[dict]) -> dict:
    """Per-task summary of episode records (`status`, `success`, `length`, `duration_s`).

    Errored episodes count as failures in `success_rate` (a benchmark must not reward crashing) and are
    also reported in `errors`; length and time means are over episodes that ran to the end.
    """
    n = len(records)
    ok = [r for r in records if r["status"] == "ok"]
    succ = sum(1 for r in ok if r["success"])
    lo, hi = wilson_interval(succ, n)
    return {
        "episodes": n,
        "successes": succ,
        "errors": n - len(ok),
        "success_rate": succ / n if n else 0.0,
        "ci95": [lo, hi],
        "mean_length": sum(r["length"] for r in ok) / len(ok) if ok else 0.0,
        "mean_length_success": _mean([r["length"] for r in ok if r["success"]]),
        "mean_time_s": sum(r["duration_s"] for r in ok) / len(ok) if ok else 0.0,
    }


def suite_score(per_task: dict[str, dict]) -> float:
    """Mean of per-task success rates (the RoboCasa convention: every task weighs the same)."""
    rates = [t["success_rate"] for t in per_task.values() if t["episodes"] > 0]
    return sum(rates) / len(rates) if rates else 0.0


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None
