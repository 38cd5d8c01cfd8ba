"""Latency-trace statistics: percentiles, deadline-miss rate with an exact binomial bound, streaks, jitter.

Pure functions over numpy arrays, so they are tested on synthetic traces without timing anything.
"""

from __future__ import annotations

import math

import numpy as np

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def latency_summary(lat_s: np.ndarray) -> dict:
    """p50/p90/p99/p99.9/max/mean of a latency trace in seconds, reported in microseconds."""
    lat = np.asarray(lat_s, dtype=np.float64) * 1e6
    if lat.size == 0:
        return {"n": 0}
    q = np.percentile(lat, PERCENTILES)
    return {
        "n": int(lat.size),
        "p50_us": float(q[0]),
        "p90_us": float(q[1]),
        "p99_us": float(q[2]),
        "p99_9_us": float(q[3]),
        "max_us": float(lat.max()),
        "mean_us": float(lat.mean()),
    }


def _log_binom_cdf(k: int, n: int, p: float) -> float:
    """log P(X <= k) for X ~ Binomial(n, p), summed in log space (exact, vectorized)."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 0.0 if k >= n else -math.inf
    i = np.arange(k + 1, dtype=np.float64)
    lg = np.vectorize(math.lgamma)
    logc = math.lgamma(n + 1) - lg(i + 1) - lg(n - i + 1)
    terms = logc + i * math.log(p) + (n - i) * math.log1p(-p)
    return float(np.logaddexp.reduce(terms))


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper confidence bound on a rate after k events in n trials.

    The p where P(X <= k | n, p) = 1 - confidence; for k = 0 this is 1 - (1 - confidence)^(1/n)
    (about 3/n, the "rule of three").
    """
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    alpha = 1.0 - confidence
    if k == 0:
        return 1.0 - alpha ** (1.0 / n)
    lo, hi, target = k / n, 1.0, math.log(alpha)
    for _ in range(80):  # bisection: the CDF falls monotonically in p
        mid = 0.5 * (lo + hi)
        if _log_binom_cdf(k, n, mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def wilson_upper(k: int, n: int, z: float = 1.959963984540054) -> float:
    """Upper end of the Wilson score interval (two-sided 95% by default)."""
    if n <= 0:
        return 1.0
    p = k / n
    d = 1 + z * z / n
    c = p + z * z / (2 * n)
    return min(1.0, (c + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / d)


def longest_streak(flags: np.ndarray) -> int:
    """Length of the longest run of True values."""
    f = np.asarray(flags, dtype=bool)
    if not f.any():
        return 0
    padded = np.concatenate([[0], f.astype(np.int8), [0]])
    d = np.diff(padded)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int((ends - starts).max())


def miss_summary(
    done_s: np.ndarray, deadline_s: np.ndarray, start_s: np.ndarray, period_s: float, confidence: float = 0.95
) -> dict:
    """Deadline misses of a control-loop trace with one entry per control tick.

    `done_s[i]`: when the inference for tick i finished (NaN: skipped because the previous one overran —
    a miss); `deadline_s[i]`: when its action was due; `start_s[i]`: when it started (NaN when skipped).
    Period jitter is |interval between consecutive starts - period|. Times in seconds, one monotonic clock.
    """
    done, dl, st = (np.asarray(a, dtype=np.float64) for a in (done_s, deadline_s, start_s))
    miss = ~(done <= dl)  # NaN (skipped) counts as a miss
    n, k = int(miss.size), int(miss.sum())
    ok = ~np.isnan(st[:-1]) & ~np.isnan(st[1:]) if st.size > 1 else np.zeros(0, bool)
    periods = (st[1:] - st[:-1])[ok] if st.size > 1 else np.zeros(0)
    jit = np.abs(periods - period_s) * 1e6
    return {
        "n": n,
        "misses": k,
        "miss_rate": k / n if n else 0.0,
        "miss_rate_upper95": clopper_pearson_upper(k, n, confidence),
        "bound_method": "Clopper-Pearson one-sided exact",
        "longest_miss_streak": longest_streak(miss),
        "period_jitter_us": {
            "mean": float(jit.mean()) if jit.size else 0.0,
            "p99": float(np.percentile(jit, 99)) if jit.size else 0.0,
            "max": float(jit.max()) if jit.size else 0.0,
            "std_period_us": float(periods.std() * 1e6) if periods.size else 0.0,
        },
    }


def queue_dry_ticks(
    chunk_start_tick: np.ndarray, chunk_ready_s: np.ndarray, tick_s: np.ndarray, chunk_size: int
) -> np.ndarray:
    """For each control tick, whether the action queue was empty (no delivered chunk covers that tick).

    Chunk c was requested at tick `chunk_start_tick[c]`, became available at `chunk_ready_s[c]` and holds
    actions for ticks start .. start + chunk_size - 1. Tick j (due at `tick_s[j]`) is served when some chunk
    ready by `tick_s[j]` covers j.
    """
    ticks = np.asarray(tick_s, dtype=np.float64)
    dry = np.ones(ticks.size, dtype=bool)
    for s, r in zip(np.asarray(chunk_start_tick, int), np.asarray(chunk_ready_s, float), strict=True):
        j = np.arange(s, min(s + chunk_size, ticks.size))
        dry[j] &= ~(ticks[j] >= r)
    return dry
