"""Statistics the numbers rest on: median intervals, bootstrap ratio intervals, t and Wilson intervals.

NumPy/SciPy only (no torch). Every function is deterministic given its inputs (bootstraps take a seed), so
reports and gates are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def median_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Distribution-free interval for the median from order statistics (binomial, exact coverage ≥ level).

    For n samples the interval is ``[x_(j), x_(k)]`` with j, k the binomial(n, 1/2) quantiles; it needs no
    normality assumption, which timing distributions (right-skewed, multimodal) never satisfy. With n < 6 the
    95% interval is the full range.
    """
    from scipy.stats import binom

    x = np.sort(_clean(values))
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, level)
    med = float(np.median(x))
    if n < 3:
        return Interval(med, float(x[0]), float(x[-1]), level)
    alpha = 1 - level
    # Largest r with P(Binom(n, ½) ≤ r − 1) ≤ α/2: then [x_(r), x_(n+1−r)] (1-based) covers the median
    # with probability 1 − 2·P(B ≤ r − 1) ≥ level.
    r = int(binom.ppf(alpha / 2, n, 0.5))
    while r > 0 and binom.cdf(r - 1, n, 0.5) > alpha / 2:
        r -= 1
    while binom.cdf(r, n, 0.5) <= alpha / 2:
        r += 1
    lo = max(r - 1, 0)
    return Interval(med, float(x[lo]), float(x[n - 1 - lo]), level)


def relative_half_width(values: Sequence[float] | np.ndarray, level: float = 0.95) -> float:
    """Median interval half-width divided by the median: the adaptive stopping rule's precision measure."""
    ci = median_ci(values, level)
    if not ci.estimate or math.isnan(ci.estimate):
        return math.inf
    return ci.half_width / ci.estimate


def bootstrap_ratio_ci(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Interval:
    """Ratio of medians ``median(num) / median(den)`` with a percentile bootstrap interval that resamples each
    group independently (fixed seed: reproducible). Use round medians as inputs when rounds exist."""
    a, b = _clean(numerator), _clean(denominator)
    if len(a) == 0 or len(b) == 0:
        return Interval(math.nan, math.nan, math.nan, level)
    estimate = float(np.median(a) / np.median(b))
    if len(a) == 1 and len(b) == 1:
        return Interval(estimate, estimate, estimate, level)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(n_boot, len(a)))
    ib = rng.integers(0, len(b), size=(n_boot, len(b)))
    ratios = np.median(a[ia], axis=1) / np.median(b[ib], axis=1)
    low, high = np.quantile(ratios, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(estimate, float(low), float(high), level)


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean with a Student-t interval (n ≥ 2; a single value gives a degenerate interval)."""
    from scipy.stats import t as student_t

    x = _clean(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, level)
    mean = float(np.mean(x))
    if n == 1:
        return Interval(mean, math.nan, math.nan, level)
    half = float(student_t.ppf(1 - (1 - level) / 2, n - 1) * np.std(x, ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, level)


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> Interval:
    """Success rate with a Wilson score interval — sound at 0/n and n/n, where the normal one collapses."""
    from scipy.stats import norm

    if trials <= 0:
        return Interval(math.nan, math.nan, math.nan, level)
    z = float(norm.ppf(1 - (1 - level) / 2))
    p = successes / trials
    denom = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), level)


def iqr(values: Sequence[float] | np.ndarray) -> float:
    x = _clean(values)
    if len(x) == 0:
        return math.nan
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return float(q3 - q1)
