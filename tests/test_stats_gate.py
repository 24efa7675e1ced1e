"""The gate's statistics in ``rnnbench.analyse.stats``: the exact Mann–Whitney test against SciPy, the smallest exact p
values the round counts allow, and the rounds-needed estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from rnnbench.analyse.stats import (
    _u_counts,
    mann_whitney_exact,
    min_rounds_for_alpha,
    rounds_needed,
    smallest_exact_p,
)


@pytest.mark.parametrize(("m", "n"), [(1, 1), (1, 5), (3, 4), (5, 5), (6, 6), (4, 9), (10, 10), (12, 7)])
def test_p_values_equal_scipy_exact(m: int, n: int) -> None:
    rng = np.random.default_rng(m * 100 + n)
    for shift in (0.0, 0.5, 1.5, 4.0):
        x = rng.normal(shift, 1, m)
        y = rng.normal(0, 1, n)
        ours = mann_whitney_exact(x, y)
        ref = mannwhitneyu(x, y, method="exact", alternative="two-sided")
        assert ours.p_value == pytest.approx(float(ref.pvalue), rel=1e-12, abs=1e-15)
        assert ours.statistic == float(ref.statistic)


def test_p_values_equal_scipy_with_ties() -> None:
    """Ties (average ranks, truncated U, no correction) are treated exactly as SciPy's exact method does."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        m, n = (int(v) for v in rng.integers(2, 9, 2))
        x = rng.integers(0, 5, m).astype(float)
        y = rng.integers(0, 5, n).astype(float)
        ref = mannwhitneyu(x, y, method="exact")
        ours = mann_whitney_exact(x, y)
        assert ours.p_value == pytest.approx(float(ref.pvalue), rel=1e-12)
        assert ours.statistic == float(ref.statistic)


def test_nan_and_empty() -> None:
    assert math.isnan(mann_whitney_exact([], [1.0, 2.0]).p_value)
    with_nan = mann_whitney_exact([1.0, np.nan, 3.0], [2.0, 4.0])
    assert with_nan.p_value == pytest.approx(float(mannwhitneyu([1.0, 3.0], [2.0, 4.0], method="exact").pvalue))


def test_counts_are_the_exact_null_distribution() -> None:
    for m, n in ((1, 1), (3, 5), (6, 6), (8, 11)):
        counts = _u_counts(m, n)
        assert sum(counts) == math.comb(m + n, m)
        assert counts == counts[::-1]  # symmetric
        assert all(c >= 0 for c in counts)


@pytest.mark.parametrize(("n", "expected"), [(4, 0.029), (5, 0.0079), (6, 0.0022)])
def test_smallest_exact_p_values(n: int, expected: float) -> None:
    """Exact Mann–Whitney: 2/C(2n, n) = 0.029 (4+4), 0.0079 (5+5), 0.0022 (6+6)."""
    assert smallest_exact_p(n, n) == pytest.approx(expected, rel=0.02)
    separated = mann_whitney_exact(np.arange(n) + 100.0, np.arange(n, dtype=float))
    assert separated.p_value == pytest.approx(smallest_exact_p(n, n))


def test_min_rounds_for_alpha() -> None:
    assert min_rounds_for_alpha(0.01) == 5
    assert min_rounds_for_alpha(0.05) == 4
    assert min_rounds_for_alpha(0.001) == 7
    with pytest.raises(ValueError):
        min_rounds_for_alpha(0)


def test_rounds_needed() -> None:
    # wide interval around a 10% slowdown: more rounds shrink it until it excludes 1
    wide = rounds_needed(0.9, 0.8, 1.02, 6, 0.05, 0.01)
    narrower = rounds_needed(0.9, 0.85, 0.99, 6, 0.05, 0.01)
    assert wide is not None and narrower is not None and wide > narrower > 6
    # inside the band: needs the interval wholly within ±5%
    inside = rounds_needed(1.0, 0.93, 1.07, 6, 0.05, 0.01)
    assert inside is not None and inside > 6
    # exactly on the boundary: no number of rounds decides
    assert rounds_needed(0.95, 0.9, 1.0, 6, 0.05, 0.01) is None
    # never below what the exact test needs, nor below one more round than now
    assert rounds_needed(0.5, 0.49, 0.51, 2, 0.05, 0.01) == 5
    assert rounds_needed(0.5, 0.49, 0.51, 8, 0.05, 0.01) == 9
    # no spread information: the minimum for α
    assert rounds_needed(1.0, 1.0, 1.0, 1, 0.05, 0.01) == 5
    assert rounds_needed(math.nan, math.nan, math.nan, 6, 0.05, 0.01) == 7


def test_rounds_needed_follows_the_square_root_law() -> None:
    """Halving the distance to the decision boundary needs about four times the rounds."""
    far = rounds_needed(1.0, 0.8, 1.25, 10, 0.10, 0.01)
    near = rounds_needed(1.0, 0.8, 1.25, 10, 0.05, 0.01)
    assert far is not None and near is not None
    assert near / far == pytest.approx((math.log(1.1) / math.log(1.05)) ** 2, rel=0.02)
