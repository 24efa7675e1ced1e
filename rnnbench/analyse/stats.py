"""Statistics the numbers rest on: median intervals, bootstrap ratio intervals, t and Wilson intervals, and the
exact rank test and round counts the regression gate decides with.

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
    # Exact binomial CDF in integers (no SciPy: the timer calls this and must start fast).
    total = 2**n
    cdf, r, cumulative = [], 0, 0
    for i in range(n + 1):
        cumulative += math.comb(n, i)
        cdf.append(cumulative / total)
    while cdf[r] <= alpha / 2:
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
    x = _clean(values)
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
    if na == 1 and nb == 1:
        return estimate, estimate.copy(), estimate.copy()
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


# ---- rank test and gate helpers (compare / ab) -----------------------------------------------------------
@dataclass(frozen=True)
class RankTest:
    """Mann–Whitney U of ``x`` against ``y``: ``statistic`` is U of ``x`` (SciPy's ``U1``), ``p_value``
    two-sided."""

    statistic: float
    p_value: float


@lru_cache(maxsize=256)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) rank assignments give U = 0, 1, …, m·n (no ties), as exact integers.

    They are the coefficients of the Gaussian binomial ``[m+n choose m]_q = Π_{i=1..m} (1−q^{n+i})/(1−q^i)``;
    Python integers keep them exact where floats would lose the tail that small p values live in.
    """
    size = m * n + 1
    coeffs = [0] * size
    coeffs[0] = 1
    for i in range(1, m + 1):
        # multiply by (1 − q^{n+i}), then divide by (1 − q^i) (exact: a running sum with stride i)
        shift = n + i
        for k in range(size - 1, shift - 1, -1):
            coeffs[k] -= coeffs[k - shift]
        for k in range(i, size):
            coeffs[k] += coeffs[k - i]
    return tuple(coeffs)


def mann_whitney_exact(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> RankTest:
    """Exact two-sided Mann–Whitney U test, equal to ``scipy.stats.mannwhitneyu(x, y, method='exact')``.

    Why exact: with the 5–10 rounds a CI job can afford, the normal approximation misstates exactly the small
    p values a gate decides on. Ties (rare for timings) are handled as SciPy does: average ranks, the larger
    U truncated to an integer, no tie correction — which errs on the conservative side.
    Non-finite values are dropped; an empty side gives a NaN p value.
    """
    a, b = _clean(x), _clean(y)
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return RankTest(math.nan, math.nan)
    diff = a[:, None] - b[None, :]
    u1 = float(np.sum(diff > 0) + 0.5 * np.sum(diff == 0))
    u_max = int(max(u1, m * n - u1))
    counts = _u_counts(min(m, n), max(m, n))
    tail = sum(counts[u_max:])  # P(U ≥ u_max) · C(m+n, m)
    p = min(1.0, 2 * tail / math.comb(m + n, m))
    return RankTest(u1, p)


def smallest_exact_p(n1: int, n2: int) -> float:
    """The smallest two-sided p value an exact rank test can give with n1 and n2 rounds: ``2 / C(n1+n2, n1)``.

    0.029 for 4+4, 0.0079 for 5+5, 0.0022 for 6+6: below 5 rounds per side a gate at α = 0.01 can never fire,
    however large the slowdown.
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0
    return min(1.0, 2 / math.comb(n1 + n2, n1))


def min_rounds_for_alpha(alpha: float, limit: int = 1000) -> int:
    """Fewest rounds per side (equal sides) for which an exact two-sided rank test can reach ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    for n in range(1, limit + 1):
        if smallest_exact_p(n, n) <= alpha:
            return n
    return limit


def rounds_needed(
    estimate: float,
    low: float,
    high: float,
    n_per_side: int,
    min_effect: float,
    alpha: float,
    limit: int = 1000,
) -> int | None:
    """Rough rounds per side that would turn an inconclusive ratio interval into a decision.

    Assumes the interval's half-width (on the log scale) shrinks as 1/√n around the same estimate. A ratio
    estimated beyond ±min-effect needs an interval that excludes 1 (regression or improvement); one inside needs
    an interval wholly inside ±min-effect (no change). Never fewer than the rounds the exact test needs to reach
    ``alpha``, nor fewer than one more than now. ``None`` when no affordable number of rounds (≤ ``limit``)
    would decide — the true effect then sits on the min-effect boundary.
    """
    n_min = min_rounds_for_alpha(alpha)
    floor = max(n_min, n_per_side + 1)
    values = (estimate, low, high)
    if n_per_side < 2 or not all(math.isfinite(v) and v > 0 for v in values) or high <= low:
        return floor
    centre = math.log(estimate)
    half = (math.log(high) - math.log(low)) / 2
    slow, fast = math.log(1 - min_effect), math.log(1 + min_effect)
    outside = centre < slow or centre > fast
    distance = abs(centre) if outside else min(centre - slow, fast - centre)
    if distance <= 0:
        return None
    needed = math.ceil(n_per_side * (half / distance) ** 2)
    if needed > limit:
        return None
    return max(floor, needed)
