"""Two training arms compared seed by seed: the one paired rule behind every training verdict (``train``'s
tables, ``report``'s claims).

Seeds paired (common random numbers: one data stream per seed), ``a − b`` (or ``log a − log b`` for times),
lower is better (``compare_values``). When every paired difference is finite and they are not all equal: the
mean with a 95% t-interval over seeds, a direction when the interval excludes 0. Otherwise — some seed diverged
or never reached the target (``+inf``, see ``analyse.training``) — an exact two-sided sign test over the seeds
whose order is known (both infinite = undecided), a direction when p ≤ 0.05; five seeds can never get there
(p ≥ 0.0625), six all one way can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnbench.stats.intervals import Interval, t_interval

ALPHA = 0.05
"""Two-sided level of every paired verdict (95%)."""


def sign_test_p(lower: int, higher: int) -> float:
    """Exact two-sided sign test: the probability, with no difference between the arms, of a split at least
    as uneven as ``lower`` against ``higher`` seeds (each seed one way or the other with probability ½)."""
    n = lower + higher
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(lower, higher) + 1))
    return min(1.0, 2 * tail / 2**n)


MIN_SIGN_SEEDS = next(n for n in range(1, 64) if sign_test_p(0, n) <= ALPHA)
"""Fewest seeds that differ for which the sign test can reach ``ALPHA`` at all (6: 5/5 one way gives 0.0625)."""


@dataclass(frozen=True)
class SeedComparison:
    """``a`` against ``b`` seed by seed under the one paired rule (module docstring); lower is better.

    ``ratio``: the values are times and the comparison is of ``log a − log b``; estimate and interval are then
    ratios ``a / b``. ``method`` is ``t`` (every difference finite: mean, 95% t-interval), ``sign`` (some seed
    infinite — diverged or never reached — or no spread: exact sign test, estimate the median difference, no
    interval) or ``none`` (fewer than two paired seeds and nothing infinite)."""

    estimate: float
    low: float
    high: float
    ratio: bool
    seeds: int
    """Seeds both sides have."""
    a_lower: int
    b_lower: int
    undecided: int
    """Seeds with equal values, or infinite on both sides (their order is unknown)."""
    a_worst: int
    b_worst: int
    """Seeds at the worst value (diverged, or never reached the target) on each side."""
    method: str
    p_value: float
    """The sign test's exact two-sided p (NaN for the t-interval)."""

    @property
    def interval(self) -> Interval:
        return Interval(self.estimate, self.low, self.high)

    @property
    def direction(self) -> int:
        """−1: ``a`` lower than ``b`` at 95%; +1: higher; 0: the data do not decide."""
        if self.method == "t":
            null = 1.0 if self.ratio else 0.0
            return -1 if self.high < null else 1 if self.low > null else 0
        if self.method == "sign" and self.p_value <= ALPHA:
            return -1 if self.a_lower > self.b_lower else 1
        return 0

    def describe(self, a: str, b: str, worst: str = "diverged", digits: int = 3) -> str:
        """The comparison in words: estimate and interval, or the seed counts, the test and why it cannot
        decide, with the seeds at the worst value named."""
        extremes = []
        if self.a_worst:
            extremes.append(f"{a} {worst} in {self.a_worst}")
        if self.b_worst:
            extremes.append(f"{b} {worst} in {self.b_worst}")
        worst_text = f" ({', '.join(extremes)})" if extremes else ""
        if self.method == "t":
            if self.ratio:
                return (
                    f"{a}/{b} {self.estimate:.{digits}g} [{self.low:.{digits}g}–{self.high:.{digits}g}] "
                    f"(geometric mean over {self.seeds} seeds, t-interval)"
                )
            return (
                f"{a} − {b} {self.estimate:+.{digits}g} [{self.low:+.{digits}g}, {self.high:+.{digits}g}] "
                f"(mean over {self.seeds} seeds, t-interval)"
            )
        if self.method == "none":
            return f"{self.seeds} paired seed(s): too few for an interval"
        text = (
            f"{a} lower in {self.a_lower}, {b} lower in {self.b_lower}, undecided in {self.undecided} of "
            f"{self.seeds} seeds{worst_text}; exact sign test p = {self.p_value:.3g}"
        )
        if self.a_lower + self.b_lower < MIN_SIGN_SEEDS:
            text += f" (needs ≥ {MIN_SIGN_SEEDS} seeds that differ to reach 95%)"
        return text


def paired_values(a: pd.DataFrame, b: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """``column`` of ``a`` and of ``b`` over the seeds both have, aligned by seed: common random numbers give
    every arm the same data stream for a seed, so comparing within a seed removes the stream's luck."""
    merged = a[["seed", column]].merge(b[["seed", column]], on="seed", suffixes=("_a", "_b"))
    return merged[f"{column}_a"].to_numpy(float), merged[f"{column}_b"].to_numpy(float)


def seed_differences(a: pd.DataFrame, b: pd.DataFrame, column: str) -> np.ndarray:
    """``a − b`` of ``column``, seed by seed, over the seeds both have (``inf − inf`` is NaN: undecided)."""
    va, vb = paired_values(a, b, column)
    with np.errstate(invalid="ignore"):
        return va - vb


def compare_differences(
    diffs: np.ndarray, ratio: bool = False, a_worst: int = 0, b_worst: int = 0
) -> SeedComparison:
    """The one paired rule on per-seed differences (``log`` ratios when ``ratio``): ``±inf`` where one side
    is at the worst value, NaN where both are (undecided)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    a_lower, b_lower = int((d < 0).sum()), int((d > 0).sum())
    undecided = n - a_lower - b_lower

    def scale(x: float) -> float:
        return math.exp(x) if ratio and not math.isnan(x) else x

    finite = bool(n) and bool(np.isfinite(d).all())
    if finite and n >= 2 and float(np.ptp(d)) > 0:
        t = t_interval(d)
        est, low, high = scale(t.estimate), scale(t.low), scale(t.high)
        return SeedComparison(
            est, low, high, ratio, n, a_lower, b_lower, undecided, a_worst, b_worst, "t", math.nan
        )
    known = d[~np.isnan(d)]
    with np.errstate(invalid="ignore"):
        middle = float(np.median(known)) if len(known) else math.nan
    method = "none" if n == 0 or (finite and n < 2) else "sign"
    p = sign_test_p(a_lower, b_lower) if method == "sign" else math.nan
    return SeedComparison(
        scale(middle), math.nan, math.nan, ratio, n, a_lower, b_lower, undecided, a_worst, b_worst, method, p
    )


def compare_values(a: np.ndarray, b: np.ndarray, ratio: bool = False) -> SeedComparison:
    """``a`` against ``b`` (aligned per seed; ``+inf`` = the worst value) under the one paired rule."""
    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = np.log(va) - np.log(vb) if ratio else va - vb
    return compare_differences(diffs, ratio, int(np.isposinf(va).sum()), int(np.isposinf(vb).sum()))


def compare_seeds(a: pd.DataFrame, b: pd.DataFrame, column: str, ratio: bool = False) -> SeedComparison:
    """``a`` against ``b`` on ``column`` (``normalized_metric_w``, ``steps_c``, ...) paired by seed."""
    return compare_values(*paired_values(a, b, column), ratio=ratio)
