"""Intervals: the median's (distribution-free), bootstrap and log-ratio t intervals for ratios, t and Wilson
intervals, each with the coverage it really has.

Every interval says the coverage it has (``Interval.level``), and ``benchmarks/coverage.py`` simulates each
one against a known truth (docs/reports.md, "Coverage").

NumPy/SciPy only (no torch). Every function is deterministic given its inputs (bootstraps take a seed), so
reports and gates are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

NOMINAL_LEVEL = 0.95
"""The level every printed interval asks for. Where the data cannot reach it (a median of five values, say),
the interval's ``level`` says what it reaches instead, and displays print that level beside it."""

MIN_BOOTSTRAP_ROUNDS = 5
"""Rounds per side from which the percentile bootstrap of a ratio of round medians covers at its level.

Simulated with no true difference (``benchmarks/coverage.py``): it covers 67% at 2 rounds per side, 90% at 3,
92% at 4 and ≥ 95% from 5 — the resampled median of 2–4 values takes too few distinct values. Below 5 rounds
the ratio interval is :func:`log_ratio_t_interval` instead."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval at ``level``.

    ``level`` is what the interval achieves, not only what was asked: :func:`median_ci` of five values is the
    full range at 93.75%, and says so here. NaN bounds mean no interval (too few values)."""

    estimate: float
    low: float
    high: float
    level: float = NOMINAL_LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def below(self, level: float = NOMINAL_LEVEL) -> bool:
        """Whether this interval covers less than ``level`` (display code prints its level then)."""
        return self.level < level - 1e-12


def finite_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The finite values as a float array: every estimator here drops NaN and ±inf the same way."""
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


@lru_cache(maxsize=512)
def median_order(n: int, level: float = NOMINAL_LEVEL) -> tuple[int, float]:
    """``(k, coverage)`` of the median interval for ``n`` values: the bounds are ``x_(k)`` and ``x_(n+1−k)``
    (1-based order statistics), and for continuous data they cover the median with probability exactly
    ``1 − 2·P(B ≤ k − 1)``, B ~ Binomial(n, ½).

    ``k`` is the largest rank whose coverage is still ≥ ``level``. With n ≤ 5 no rank reaches 95%: ``k`` is 1
    (the full range) and the coverage is what the full range gives — 50% at n = 2, 75% at 3, 87.5% at 4,
    93.75% at 5 — so the caller can print that level instead of a 95% it never had. ``(0, 0.0)`` for n < 2:
    one value has no interval.
    """
    if n < 2:
        return 0, 0.0
    # Exact binomial CDF in integers (no SciPy: the timer calls this and must start fast).
    total = 2**n
    alpha_half = (1 - level) / 2
    k, cumulative = 1, 1  # cumulative = C(n, 0) + … + C(n, k − 1)
    while 2 * (k + 1) <= n + 1:
        below_next = cumulative + math.comb(n, k)  # P(B ≤ k) · 2^n, the tail if the rank were k + 1
        if below_next / total > alpha_half:
            break
        k, cumulative = k + 1, below_next
    return k, 1 - 2 * cumulative / total


def median_ci_level(n: int, level: float = NOMINAL_LEVEL) -> float:
    """The exact coverage of :func:`median_ci` for ``n`` values (≥ ``level`` from n = 6 at 95%)."""
    return median_order(n, level)[1]


def median_ci(values: Sequence[float] | np.ndarray, level: float = NOMINAL_LEVEL) -> Interval:
    """Distribution-free interval for the median from order statistics (binomial, no normality assumed).

    For n values the interval is ``[x_(k), x_(n+1−k)]`` with k from :func:`median_order`; timing
    distributions (right-skewed, multimodal) never satisfy a normality assumption, and this needs none. The
    returned ``level`` is the interval's exact coverage: ≥ ``level`` when n allows (n ≥ 6 at 95%), otherwise
    the full range's lower coverage (93.75% at n = 5, 50% at n = 2). One value gives NaN bounds (no interval).
    """
    x = np.sort(finite_values(values))
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0.0)
    med = float(np.median(x))
    k, coverage = median_order(n, level)
    if k == 0:
        return Interval(med, math.nan, math.nan, coverage)
    return Interval(med, float(x[k - 1]), float(x[n - k]), coverage)


def relative_half_width(values: Sequence[float] | np.ndarray, level: float = NOMINAL_LEVEL) -> float:
    """Median interval half-width divided by the median: the adaptive stopping rule's precision measure.

    ``inf`` while the interval cannot reach ``level`` (fewer than 6 values at 95%): five identical samples
    have a zero-width range, but a range of five covers only 93.75%, so the timer must not stop on it as if
    it were a 95% interval."""
    ci = median_ci(values, level)
    if not ci.estimate or math.isnan(ci.estimate) or ci.below(level):
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
    group independently (fixed seed: reproducible). Use round medians as inputs when rounds exist.

    Honest from :data:`MIN_BOOTSTRAP_ROUNDS` values per side; with 2–4 it undercovers badly (67% at 2), so
    speed pairs with fewer rounds use :func:`log_ratio_t_interval`. A side with a single value has no
    interval at all (NaN bounds, the ratio alone): resampling one value always returns it, so the "95%"
    interval would ignore that side's noise — with 1 + 1 values it was a zero-width interval."""
    a, b = finite_values(numerator), finite_values(denominator)
    if len(a) == 0 or len(b) == 0:
        return Interval(math.nan, math.nan, math.nan, level)
    estimate = float(np.median(a) / np.median(b))
    if len(a) < 2 or len(b) < 2:
        return Interval(estimate, math.nan, math.nan, level)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(n_boot, len(a)))
    ib = rng.integers(0, len(b), size=(n_boot, len(b)))
    ratios = np.median(a[ia], axis=1) / np.median(b[ib], axis=1)
    low, high = np.quantile(ratios, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(estimate, float(low), float(high), level)


def log_ratio_t_interval_batch(
    numerators: np.ndarray, denominators: np.ndarray, level: float = NOMINAL_LEVEL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`log_ratio_t_interval` for many pairs at once: row ``i`` of the (P, n_a) and (P, n_b) arrays is one
    pair (complete rows, positive values); returns ``(estimate, low, high)`` arrays."""
    from scipy.stats import t as student_t

    a = np.log(np.asarray(numerators, dtype=float))
    b = np.log(np.asarray(denominators, dtype=float))
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError("numerators and denominators must be 2-D arrays with one row per pair")
    pairs, na = a.shape
    nb = b.shape[1]
    if pairs == 0 or na < 1 or nb < 1:
        empty = np.full(pairs, np.nan)
        return empty, empty.copy(), empty.copy()
    diff = a.mean(axis=1) - b.mean(axis=1)
    estimate = np.exp(diff)
    if na < 2 or nb < 2:
        return estimate, np.full(pairs, np.nan), np.full(pairs, np.nan)
    se = np.sqrt(a.var(axis=1, ddof=1) / na + b.var(axis=1, ddof=1) / nb)
    half = float(student_t.ppf(1 - (1 - level) / 2, min(na, nb) - 1)) * se
    return estimate, np.exp(diff - half), np.exp(diff + half)


def log_ratio_t_interval(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    level: float = NOMINAL_LEVEL,
) -> Interval:
    """Ratio of geometric means ``exp(mean log num − mean log den)`` with a Student-t interval on the
    difference of the mean logs: Welch's standard error with the conservative ``min(n_a, n_b) − 1`` degrees of
    freedom (Hsu), which covers at ≥ ``level`` for normal logs whatever the two variances.

    Why: with 2–4 round medians per side the percentile bootstrap covers 67–92% where it claims 95%; this
    interval keeps its level there (simulated ≥ 95% for normal, heavy-tailed and skewed round medians,
    ``benchmarks/coverage.py``) at the price of width — 2 rounds per side give t(1) = 12.7 standard errors,
    so only a large, steady difference is called. Satterthwaite's degrees of freedom would be narrower but
    undercover (≈ 90% at 2 + 4 rounds with unequal noise). Needs ≥ 2 positive values per side (else NaN
    bounds)."""
    a = finite_values(numerator)
    b = finite_values(denominator)
    a, b = a[a > 0], b[b > 0]
    if len(a) == 0 or len(b) == 0:
        return Interval(math.nan, math.nan, math.nan, level)
    est, low, high = log_ratio_t_interval_batch(a[None, :], b[None, :], level)
    return Interval(float(est[0]), float(low[0]), float(high[0]), level)


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean with a Student-t interval (n ≥ 2; a single value gives a degenerate interval)."""
    from scipy.stats import t as student_t

    x = finite_values(values)
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
    if trials <= 0:
        return Interval(math.nan, math.nan, math.nan, level)
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    p = successes / trials
    denom = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, no rounding residue
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(p, low, high, level)


def iqr(values: Sequence[float] | np.ndarray) -> float:
    x = finite_values(values)
    if len(x) == 0:
        return math.nan
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return float(q3 - q1)


def _median_positions(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each bootstrap draw (a row of resampling indices), the two middle indices once sorted. In a sorted
    data row the j-th smallest resampled value is the value at the j-th smallest index, so these two positions
    give each draw's median."""
    n = idx.shape[1]
    s = np.sort(idx, axis=1)
    return s[:, (n - 1) // 2], s[:, n // 2]


def bootstrap_ratio_ci_batch(
    numerators: np.ndarray,
    denominators: np.ndarray,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`bootstrap_ratio_ci` for many pairs at once: row ``i`` of the (P, n_a) and (P, n_b) arrays is one
    pair; returns ``(estimate, low, high)`` arrays.

    A report over thousands of shapes needs one interval per LSTM/GRU pair; looping the scalar bootstrap costs
    seconds. Here each row is sorted (resampling is exchangeable, so the bootstrap distribution is unchanged),
    each draw's median is reduced to a pair of positions, and the draws collapse to the few distinct position
    combinations with their counts, so the percentile interval comes from a small weighted distribution per row
    — the same numbers as expanding all ``n_boot`` draws. For rows already sorted ascending the result equals
    the scalar function's exactly (same seed, same indices). Rows must be complete (no NaN): callers group
    pairs by their sample counts.
    """
    a = np.asarray(numerators, dtype=float)
    b = np.asarray(denominators, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError("numerators and denominators must be 2-D arrays with one row per pair")
    a, b = np.sort(a, axis=1), np.sort(b, axis=1)
    pairs, na = a.shape
    nb = b.shape[1]
    if pairs == 0 or na == 0 or nb == 0:
        empty = np.full(pairs, np.nan)
        return empty, empty.copy(), empty.copy()
    estimate = np.median(a, axis=1) / np.median(b, axis=1)
    if na < 2 or nb < 2:  # one value on a side: no interval (see bootstrap_ratio_ci)
        return estimate, np.full(pairs, np.nan), np.full(pairs, np.nan)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, na, size=(n_boot, na))
    ib = rng.integers(0, nb, size=(n_boot, nb))
    keys = np.stack([*_median_positions(ia), *_median_positions(ib)], axis=1)
    combos, counts = np.unique(keys, axis=0, return_counts=True)
    ratios = (a[:, combos[:, 0]] + a[:, combos[:, 1]]) / (b[:, combos[:, 2]] + b[:, combos[:, 3]])
    order = np.argsort(ratios, axis=1, kind="stable")
    values = np.take_along_axis(ratios, order, axis=1)
    cumulative = np.cumsum(counts[order], axis=1)
    rows = np.arange(pairs)

    def order_statistic(k: int) -> np.ndarray:  # k-th smallest (0-based) of the expanded n_boot draws
        return values[rows, (cumulative > k).argmax(axis=1)]

    bounds = []
    for q in ((1 - level) / 2, 1 - (1 - level) / 2):
        pos = (n_boot - 1) * q
        f = int(np.floor(pos))
        lower = order_statistic(f)
        upper = order_statistic(min(f + 1, n_boot - 1))
        bounds.append(lower + (pos - f) * (upper - lower))
    return estimate, bounds[0], bounds[1]
