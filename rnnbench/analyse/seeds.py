"""Two training arms compared seed by seed: the one paired rule behind every training verdict (``train``'s
tables, ``report``'s claims).

Seeds paired (common random numbers: one data stream per seed), ``a − b`` (or ``log a − log b`` for times),
lower is better (``compare_values``); a seed at the worst value on one side (diverged, target never reached)
is a difference of ``±∞``, on both sides NaN (undecided, left out). **One rule throughout**: the exact
signed-rank test (``stats.ranks.signed_rank_exact``) — a direction when its two-sided p ≤ 0.05 — with the
Hodges–Lehmann estimate (the median of the Walsh averages) and its distribution-free interval.

Why one rank rule (issue 23): the old rule used a t-interval when every difference was finite and switched to
a sign test when one was infinite, so a seed in which the *worse* arm diverged — stronger evidence — turned a
decided comparison into an undecided one (5 seeds, t-interval [−0.347, −0.253] → sign test p = 0.0625), and
five identical quantised differences (GRU 400 vs LSTM 800 steps) were undecided while five nearly identical
ones were decided. The signed-rank test is monotone: a difference moved one way never weakens a verdict that
way (``tests/test_seed_rule.py`` checks every move of 800,000 random seed sets), ``±∞`` are just the largest
differences, and it is exact for any symmetric null, bimodal training outcomes included.

The price is stated, not hidden: **no rule can decide with five seeds or fewer** that is monotone, does not
depend on the units and keeps 5% two-sided. If it decided any configuration of n seeds all one way, moving
values further that way (monotone) and rescaling (units) would make it decide *every* configuration with all
n differences of that sign — which happens under no difference with probability 2·2⁻ⁿ = 6.25% at n = 5. So a
verdict needs ``MIN_SEEDS`` = 6 seeds that are not both at the worst value (6 of 6 one way: p = 0.031).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnbench.core.values import interval_text
from rnnbench.stats.intervals import Interval
from rnnbench.stats.ranks import signed_rank_exact

ALPHA = 0.05
"""Two-sided level of every paired verdict (95%)."""

MIN_SEEDS = next(n for n in range(1, 64) if 2 / 2**n <= ALPHA)
"""Fewest paired seeds with which any verdict is possible (6: all six one way gives p = 0.031; five give
0.0625 at best, whatever the values)."""

RULE = (
    "paired by seed, a seed that diverged or never reached the target the worst value; exact signed-rank "
    f"test (two-sided p ≤ {ALPHA:g}; monotone: more evidence never weakens a verdict), Hodges–Lehmann "
    f"estimate with its distribution-free interval; ≥ {MIN_SEEDS} seeds are needed to decide at all"
)
"""The rule in words, for the claims' notes and the tables' footnotes."""


@dataclass(frozen=True)
class SeedComparison:
    """``a`` against ``b`` seed by seed under the one paired rule (module docstring); lower is better.

    ``ratio``: the values are times and the comparison is of ``log a − log b``; estimate and interval are then
    ratios ``a / b``. ``method`` is ``signed-rank`` (some seed compared) or ``none`` (no seed both arms have,
    or every one at the worst value on both sides). ``level`` is the interval's coverage (below 95% with five
    seeds or fewer: the full range of the Walsh averages)."""

    estimate: float
    low: float
    high: float
    ratio: bool
    seeds: int
    """Seeds both sides have."""
    a_lower: int
    b_lower: int
    undecided: int
    """Seeds with equal values, or at the worst value on both sides (their order is unknown)."""
    a_worst: int
    b_worst: int
    """Seeds at the worst value (diverged, or never reached the target) on each side."""
    method: str
    p_value: float
    """The signed-rank test's exact two-sided p (1 with nothing to compare)."""
    p_lower: float = math.nan
    """One-sided p for "``a`` lower" (the direction's own tail)."""
    level: float = 0.95
    used: int = 0
    """Seeds in the test: all paired seeds but those at the worst value on both sides."""

    @property
    def interval(self) -> Interval:
        return Interval(self.estimate, self.low, self.high, self.level)

    @property
    def direction(self) -> int:
        """−1: ``a`` lower than ``b`` at 95%; +1: higher; 0: the data do not decide."""
        if self.method != "signed-rank" or not self.p_value <= ALPHA:
            return 0
        return -1 if self.p_lower <= 0.5 else 1

    def describe(self, a: str, b: str, worst: str = "diverged", digits: int = 3) -> str:
        """The comparison in words: estimate and interval, the seed counts, the test and — when it cannot
        decide for lack of seeds — how many it needs."""
        if self.method == "none":
            return f"{self.seeds} paired seed(s), none with a known order: nothing to compare"
        extremes = []
        if self.a_worst:
            extremes.append(f"{a} {worst} in {self.a_worst}")
        if self.b_worst:
            extremes.append(f"{b} {worst} in {self.b_worst}")
        worst_text = f"; {', '.join(extremes)}" if extremes else ""
        level = "" if self.level >= 0.95 - 1e-12 else f" ({100 * self.level:.3g}%)"
        if self.ratio:
            head = f"{a}/{b} {interval_text(self.estimate, self.low, self.high, digits)}{level}"
        else:
            head = f"{a} − {b} {interval_text(self.estimate, self.low, self.high, digits, signed=True)}{level}"
        text = (
            f"{head} (Hodges–Lehmann over {self.used} seeds: {a} lower in {self.a_lower}, {b} lower in "
            f"{self.b_lower}, undecided in {self.undecided}{worst_text}; "
            f"exact signed-rank p = {self.p_value:.2g}"
        )
        if self.used < MIN_SEEDS:
            text += f"; ≥ {MIN_SEEDS} seeds needed to decide"
        return text + ")"


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
    is at the worst value, NaN where both are (undecided, left out of the test)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    a_lower, b_lower = int((d < 0).sum()), int((d > 0).sum())
    undecided = n - a_lower - b_lower
    test = signed_rank_exact(d)

    def scale(x: float) -> float:
        return math.exp(x) if ratio and not math.isnan(x) else x

    method = "signed-rank" if test.n else "none"
    low, high = test.low, test.high
    if low == high:  # every difference equal (quantised ties): a zero-width interval would claim certainty
        low = high = math.nan
    return SeedComparison(
        scale(test.estimate), scale(low), scale(high), ratio, n, a_lower, b_lower, undecided,
        a_worst, b_worst, method, test.p_value, test.p_less, test.level, test.n,
    )  # fmt: skip


def compare_values(a: np.ndarray, b: np.ndarray, ratio: bool = False) -> SeedComparison:
    """``a`` against ``b`` (aligned per seed; ``+inf`` = the worst value) under the one paired rule."""
    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = np.log(va) - np.log(vb) if ratio else va - vb
    return compare_differences(diffs, ratio, int(np.isposinf(va).sum()), int(np.isposinf(vb).sum()))


def compare_seeds(a: pd.DataFrame, b: pd.DataFrame, column: str, ratio: bool = False) -> SeedComparison:
    """``a`` against ``b`` on ``column`` (``normalized_metric_w``, ``steps_c``, ...) paired by seed."""
    return compare_values(*paired_values(a, b, column), ratio=ratio)
