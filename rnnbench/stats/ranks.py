"""The exact rank test and the multiplicity correction the process-round gate and ``history`` decide with:
Mann–Whitney U exact in integers (ties conditioned on), its smallest reachable p, the rounds an exact test
needs to reach α over a family, and Holm's step-down adjustment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rnnbench.stats.intervals import finite_values


@dataclass(frozen=True)
class RankTest:
    """Mann–Whitney U of ``x`` against ``y``: ``statistic`` is U of ``x`` (SciPy's ``U1``: pairs with x > y,
    ties counting ½). ``p_less`` is the exact P(U ≤ observed) — small when ``x`` tends to be smaller —,
    ``p_greater`` the exact P(U ≥ observed), ``p_value`` the two-sided ``min(1, 2·min(p_less, p_greater))``.
    With ties all three come from the permutation distribution conditional on the tie pattern."""

    statistic: float
    p_value: float
    p_less: float = math.nan
    p_greater: float = math.nan


@lru_cache(maxsize=256)
def u_counts(m: int, n: int) -> tuple[int, ...]:
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


@lru_cache(maxsize=256)
def _tied_rank_sum_counts(groups: tuple[int, ...], m: int) -> tuple[int, ...]:
    """With tie groups of sizes ``groups`` (in rank order), how many of the C(N, m) ways to choose which m of
    the N values belong to ``x`` give each *doubled* mid-rank sum 0, 1, 2, … of ``x``, as exact integers.

    Why: under "no difference" every choice is equally likely *given the values observed*, ties included, so
    this is the exact null distribution of U for tied data. Treating tied data with the untied table (what
    SciPy's ``method="exact"`` does) is anti-conservative: it claims p 0.0087 where the exact conditional p is
    0.0130. A group of t values with doubled mid-rank r contributes ``C(t, j)`` ways for each j of them taken,
    adding ``j·r``: a dynamic programme over groups on a (taken, doubled sum) table. Counts fit int64 up to
    N = 66 (C(66, 33) < 2⁶³); larger samples use Python integers (exact, slower).
    """
    total = sum(groups)
    doubled, start = [], 0
    for t in groups:
        doubled.append(2 * start + t + 1)  # mid-rank (start+1 + start+t)/2, doubled to stay an integer
        start += t
    top = m * (2 * total - m + 1)  # doubled sum of the m largest ranks: no sum exceeds it
    dtype: type = np.int64 if math.comb(total, total // 2) < 2**62 else object
    table: np.ndarray = np.zeros((m + 1, top + 1), dtype=dtype)
    table[0, 0] = 1
    for t, r in zip(groups, doubled, strict=True):
        new = np.zeros_like(table)
        for j in range(min(t, m) + 1):
            shift = j * r
            if shift > top:
                break
            new[j:, shift:] += math.comb(t, j) * table[: m + 1 - j, : top + 1 - shift]
        table = new
    return tuple(int(v) for v in table[m])


def mann_whitney_exact(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> RankTest:
    """Exact Mann–Whitney U test of ``x`` against ``y``, one- and two-sided (see :class:`RankTest`).

    Why exact: with the 5–10 rounds a CI job can afford, the normal approximation misstates exactly the small
    p values a gate decides on. Without ties the two-sided p equals ``scipy.stats.mannwhitneyu(x, y,
    method='exact')``. With ties (average ranks) the p values are exact *conditional on the tie pattern* — the
    permutation distribution of the mid-rank sum, :func:`_tied_rank_sum_counts` — where SciPy's exact method
    would use the untied table and understate them. Non-finite values are dropped; an empty side gives NaN.
    """
    a, b = finite_values(x), finite_values(y)
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return RankTest(math.nan, math.nan, math.nan, math.nan)
    diff = a[:, None] - b[None, :]
    u1 = float(np.sum(diff > 0) + 0.5 * np.sum(diff == 0))
    total = math.comb(m + n, m)
    _, sizes = np.unique(np.concatenate([a, b]), return_counts=True)
    if len(sizes) == m + n:  # no ties: U is an integer with the classic table
        counts = u_counts(min(m, n), max(m, n))  # the table is symmetric in m and n
        k = int(u1)
    else:  # U = R − m(m+1)/2 with R the mid-rank sum of x; in doubled units 2R = 2U + m(m+1)
        counts = _tied_rank_sum_counts(tuple(int(s) for s in sizes), m)
        k = round(2 * u1) + m * (m + 1)
    at_most, at_least = sum(counts[: k + 1]), sum(counts[k:])
    p = min(1.0, 2 * min(at_most, at_least) / total)
    return RankTest(u1, p, at_most / total, at_least / total)


def smallest_exact_p(n1: int, n2: int) -> float:
    """The smallest one-sided p value an exact rank test can give with n1 and n2 rounds: ``1 / C(n1+n2, n1)``
    (all of one side below all of the other).

    0.014 for 4+4, 0.0040 for 5+5, 0.0011 for 6+6, 0.00029 for 7+7, 0.000078 for 8+8: the gate can never call
    a case whose corrected level (α over the cases compared) lies below it, however large the slowdown.
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0
    return min(1.0, 1 / math.comb(n1 + n2, n1))


def min_rounds_for_alpha(alpha: float, family: int = 1, limit: int = 1000) -> int:
    """Fewest rounds per side (equal sides) for which an exact one-sided rank test can reach ``alpha /
    family``: the level a Holm (or Bonferroni) correction over ``family`` cases asks of the most significant
    case.

    At α = 0.01: 5 rounds for 1–2 cases, 6 for 3–9, 7 for 10–34, 8 for 35–128, 9 for 129–486.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if family < 1:
        raise ValueError(f"family must be ≥ 1, got {family}")
    level = alpha / family
    for n in range(1, limit + 1):
        if smallest_exact_p(n, n) <= level:
            return n
    return limit


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p values, in the input order: a case is significant at family-wise level α
    exactly when its adjusted p is ≤ α.

    Why Holm: the gate exits 1 if *any* case regresses, so α must bound the chance of any false regression in
    a run (the family-wise error rate), not each case's; Holm does that for any dependence between the cases
    and is never less powerful than Bonferroni. (SciPy's ``false_discovery_control`` controls the false
    discovery rate, a weaker promise; statsmodels is not a dependency for four lines.) NaN counts as 1.
    """
    p = [1.0 if not math.isfinite(v) else float(v) for v in p_values]
    k = len(p)
    adjusted = [1.0] * k
    running = 0.0
    for rank, i in enumerate(sorted(range(k), key=lambda j: p[j])):
        running = max(running, min(1.0, (k - rank) * p[i]))
        adjusted[i] = running
    return adjusted


# ---- paired: the exact signed-rank test ---------------------------------------------------------------------
@dataclass(frozen=True)
class SignedRankTest:
    """Wilcoxon's signed-rank test of paired differences against 0, exact (ties conditioned on), with the
    Hodges–Lehmann estimate and its distribution-free interval.

    ``p_less``: P(W⁺ ≤ observed) — small when the differences tend to be negative; ``p_greater`` the other
    tail; ``p_value`` the two-sided ``min(1, 2·min(p_less, p_greater))``. ``estimate`` is the median of the
    Walsh averages (dᵢ + dⱼ)/2, i ≤ j; ``low``/``high`` are Walsh averages of exact rank ``k`` from each end and
    ``level`` is what they cover for continuous symmetric differences (below 95% when n ≤ 5: the full range of
    the Walsh averages, 93.75% at n = 5). NaN bounds when no interval exists (fewer than two differences, or
    +∞ and −∞ both among them)."""

    n: int
    """Differences used (every one but NaN: both sides at the worst value)."""
    zeros: int
    p_value: float
    p_less: float
    p_greater: float
    estimate: float
    low: float
    high: float
    level: float


def _subset_sum_counts(weights: tuple[int, ...]) -> list[int]:
    """How many of the 2ⁿ sign patterns give each sum 0, 1, … of the positive weights (exact integers)."""
    counts = [1] + [0] * sum(weights)
    top = 0
    for w in weights:
        top += w
        for total in range(top, w - 1, -1):
            counts[total] += counts[total - w]
    return counts


@lru_cache(maxsize=256)
def _signed_rank_counts(doubled_ranks: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_subset_sum_counts(doubled_ranks))


def walsh_order(n: int, level: float = 0.95) -> tuple[int, float]:
    """``(k, coverage)`` of the signed-rank interval for ``n`` differences: the bounds are the k-th smallest
    and k-th largest of the n(n+1)/2 Walsh averages, and cover the centre of a continuous symmetric
    distribution with probability ``1 − 2·P(W⁺ ≤ k − 1)`` (no ties). ``k`` is the largest rank that keeps
    ``level``; with n ≤ 5 none does, and ``k = 1`` (the full range) with its lower coverage (75% at n = 3,
    93.75% at n = 5). ``(0, 0.0)`` for n < 2."""
    if n < 2:
        return 0, 0.0
    counts = _signed_rank_counts(tuple(range(1, n + 1)))
    total = 2**n
    k, below = 1, counts[0]  # below = count of W⁺ ≤ k − 1
    while 2 * (below + counts[k]) / total <= 1 - level and k < len(counts) // 2:
        below += counts[k]
        k += 1
    return k, 1 - 2 * below / total


def signed_rank_exact(differences: Sequence[float] | np.ndarray, level: float = 0.95) -> SignedRankTest:
    """The exact signed-rank test of ``differences`` (±∞ allowed: the largest in size; NaN dropped).

    Why this test for paired seeds: it is exact for any continuous symmetric null whatever its shape (a
    training metric over seeds is bimodal, never normal), ±∞ (a diverged seed, a target never reached) is
    simply the largest difference, and it is **monotone**: a difference moved one way never moves the p
    value of that direction up — no t-interval is (a t-test loses significance when one difference grows).

    The statistic is Tukey's form of W⁺: the number of Walsh averages (dᵢ + dⱼ)/2, i ≤ j, above 0, a tie at
    0 (a zero difference, equal and opposite ones, +∞ with −∞) counting ½ — non-decreasing in every dᵢ by
    construction. Its p values come from the untied null distribution for n differences (``walsh_order``'s):
    exact without ties, and conservative with them (ties and zeros only concentrate W⁺). The textbook
    variants are not monotone: dropping zeros (Wilcoxon) or conditioning on the tie pattern made a seed that
    diverged on the worse side turn a decided comparison into an undecided one (found by enumeration, 47 of
    800,000 moves). ``n`` counts the differences used, ``zeros`` the zero ones among them."""
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    n = len(d)
    zeros = int((d == 0).sum())
    est, low, high, covered = _hodges_lehmann(d, level)
    if n == 0:
        return SignedRankTest(0, zeros, 1.0, 1.0, 1.0, est, low, high, covered)
    p, p_less, p_greater = (float(v[0]) for v in signed_rank_p_batch(d[None, :]))
    return SignedRankTest(n, zeros, p, p_less, p_greater, est, low, high, covered)


def signed_rank_p_batch(differences: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_two_sided, p_less, p_greater)`` of :func:`signed_rank_exact` for every row of a (R, n) array of
    differences with no NaN (the simulations in ``benchmarks/coverage.py`` decide thousands at once)."""
    d = np.asarray(differences, dtype=float)
    rows, n = d.shape
    if n == 0:
        ones = np.ones(rows)
        return ones, ones.copy(), ones.copy()
    i, j = np.triu_indices(n)
    with np.errstate(invalid="ignore"):
        sums = d[:, i] + d[:, j]
    doubled = 2 * (sums > 0).sum(axis=1) + ((sums == 0) | np.isnan(sums)).sum(axis=1)  # 2·W⁺, ties ½
    cumulative = np.cumsum([0, *_signed_rank_counts(tuple(range(1, n + 1)))])  # cumulative[w] = #(W < w)
    total = float(2**n)
    at_most = cumulative[doubled // 2 + 1] / total  # P(W ≤ ⌊W⁺⌋)
    at_least = (cumulative[-1] - cumulative[(doubled + 1) // 2]) / total  # P(W ≥ ⌈W⁺⌉)
    return np.minimum(1.0, 2 * np.minimum(at_most, at_least)), at_most, at_least


def _hodges_lehmann(d: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Median of the Walsh averages and the signed-rank interval (``walsh_order``) of the differences
    ``d`` (zeros included, NaN already dropped)."""
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan, 0.0
    i, j = np.triu_indices(n)
    with np.errstate(invalid="ignore"):
        walsh = np.sort((d[i] + d[j]) / 2)
    if np.isnan(walsh).any():  # +∞ and −∞ both present: no centre, no interval
        return math.nan, math.nan, math.nan, 0.0
    estimate = float(np.median(walsh))
    k, covered = walsh_order(n, level)
    if k == 0:
        return estimate, math.nan, math.nan, covered
    return estimate, float(walsh[k - 1]), float(walsh[len(walsh) - k]), covered
