"""Miss-rate statistics on synthetic latency traces (no timing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from physai.hardware import stats


def test_clopper_pearson_known_values():
    # k = 0: 1 - alpha^(1/n), the "rule of three"
    assert stats.clopper_pearson_upper(0, 3000) == pytest.approx(1 - 0.05 ** (1 / 3000))
    assert stats.clopper_pearson_upper(0, 3000) == pytest.approx(3 / 3000, rel=0.01)
    # one-sided 95% exact upper bound for 1/10 (Beta(2, 9) 0.95 quantile) = 0.3942
    assert stats.clopper_pearson_upper(1, 10) == pytest.approx(0.3942, abs=1e-4)
    # and the defining property at a larger k: P(X <= k | p_upper) = 0.05
    p = stats.clopper_pearson_upper(37, 20000)
    assert math.exp(stats._log_binom_cdf(37, 20000, p)) == pytest.approx(0.05, rel=1e-3)
    assert 37 / 20000 < p < stats.wilson_upper(37, 20000) * 1.2
    assert stats.clopper_pearson_upper(5, 5) == 1.0 and stats.clopper_pearson_upper(0, 0) == 1.0


def test_bound_covers_true_rate():
    """Over simulated runs at a true miss rate of 0.1%, the 95% bound falls below it in <= ~5% of them."""
    rng = np.random.default_rng(0)
    n, p = 5000, 0.001
    ks = rng.binomial(n, p, size=200)
    below = sum(stats.clopper_pearson_upper(int(k), n) < p for k in ks)
    assert below / len(ks) <= 0.06


def test_miss_summary_synthetic_trace():
    period = 0.001
    n = 1000
    target = np.arange(n) * period
    start = target + 5e-6
    lat = np.full(n, 200e-6)
    lat[[100, 101, 102, 500]] = 1.5e-3  # a streak of three and a single miss
    done = start + lat
    start[103] = done[103] = np.nan  # skipped after an overrun: also a miss
    m = stats.miss_summary(done, target + period, start, period)
    assert m["n"] == n and m["misses"] == 5
    assert m["miss_rate"] == pytest.approx(0.005)
    assert m["longest_miss_streak"] == 4
    assert m["miss_rate_upper95"] > 0.005
    assert m["period_jitter_us"]["max"] == pytest.approx(0.0, abs=1e-6)


def test_jitter_and_streaks():
    assert stats.longest_streak(np.array([0, 1, 1, 0, 1, 1, 1, 0], bool)) == 3
    assert stats.longest_streak(np.zeros(5, bool)) == 0
    start = np.array([0.0, 0.0011, 0.002, 0.0032])
    m = stats.miss_summary(start + 1e-4, start + 1e-3, start, 0.001)
    assert m["period_jitter_us"]["max"] == pytest.approx(200.0, abs=1e-6)


def test_latency_summary():
    s = stats.latency_summary(np.arange(1, 1001) * 1e-6)
    assert s["n"] == 1000 and s["max_us"] == pytest.approx(1000.0)
    assert s["p50_us"] == pytest.approx(500.5) and s["p99_9_us"] == pytest.approx(999.001)


def test_queue_dry_ticks():
    ticks = np.arange(10) * 0.01
    # chunk 0: ticks 0-3 (ready before the loop); chunk 1: requested at tick 2, ready at 0.045 -> tick 5
    dry = stats.queue_dry_ticks(np.array([0, 2]), np.array([-np.inf, 0.045]), ticks, 4)
    assert dry.tolist() == [False] * 4 + [True, False] + [True] * 4
