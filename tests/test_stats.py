"""The intervals behind every printed number: coverage, exact known values, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from rnnbench.analyse.stats import (
    bootstrap_ratio_ci,
    iqr,
    median_ci,
    relative_half_width,
    t_interval,
    wilson_interval,
)


def test_median_interval_uses_the_binomial_order_statistics() -> None:
    x = list(range(1, 11))  # n = 10: P(B ≤ 1) = 11/1024 ≤ 0.025 < P(B ≤ 2), so [x_(2), x_(9)]
    ci = median_ci(x)
    assert (ci.estimate, ci.low, ci.high) == (5.5, 2, 9)
    assert median_ci([3.0, 1.0, 2.0, 5.0, 4.0]).low == 1.0  # n = 5: only the full range reaches 95%


@pytest.mark.parametrize("n", [7, 15, 40])
def test_median_interval_covers_at_least_its_level(n: int) -> None:
    rng = np.random.default_rng(n)
    hits = sum(median_ci(rng.lognormal(0.0, 0.7, n)).contains(1.0) for _ in range(2000))
    assert hits / 2000 >= 0.94  # exact coverage ≥ 95%; 2000 trials leave ~0.5% of sampling noise


def test_relative_half_width_shrinks_with_more_samples() -> None:
    rng = np.random.default_rng(0)
    assert relative_half_width(rng.normal(1, 0.05, 200)) < relative_half_width(rng.normal(1, 0.05, 10))
    assert relative_half_width([2.0] * 10) == 0.0


def test_bootstrap_ratio_is_reproducible_and_covers_the_truth() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.75, 0.02, 12), rng.normal(1.0, 0.02, 12)
    ci1, ci2 = bootstrap_ratio_ci(a, b, seed=3), bootstrap_ratio_ci(a, b, seed=3)
    assert ci1 == ci2 and ci1.estimate == pytest.approx(np.median(a) / np.median(b))
    covered = 0
    for seed in range(300):  # a percentile bootstrap of medians with 12 + 12 values: near-nominal coverage
        r = np.random.default_rng(seed + 100)
        covered += bootstrap_ratio_ci(r.normal(0.75, 0.02, 12), r.normal(1.0, 0.02, 12), n_boot=500).contains(
            0.75
        )
    assert covered / 300 >= 0.88
    single = bootstrap_ratio_ci([2.0], [4.0])
    assert (single.estimate, single.low, single.high) == (0.5, 0.5, 0.5)


def test_t_interval_equals_scipy() -> None:
    x = [1.0, 2.5, 3.0, 4.5, 2.0]
    ci = t_interval(x)
    low, high = sps.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=sps.sem(x))
    assert (ci.low, ci.high) == pytest.approx((low, high))
    assert math.isnan(t_interval([1.0]).low)


def test_wilson_interval_known_values() -> None:
    ci = wilson_interval(3, 3)  # the textbook 3/3 case: [0.438, 1]
    assert ci.low == pytest.approx(0.43850, abs=1e-4) and ci.high == 1.0
    ci = wilson_interval(5, 10)
    assert (ci.low, ci.high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 5).low == 0.0


def test_iqr() -> None:
    assert iqr([1, 2, 3, 4, 5]) == 2.0
    assert math.isnan(iqr([]))
