"""The intervals behind every printed number: coverage, exact known values, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from rnnbench.stats import intervals
from rnnbench.stats.intervals import (
    bootstrap_ratio_ci,
    iqr,
    log_ratio_t_interval,
    log_ratio_t_interval_batch,
    median_ci,
    median_ci_level,
    relative_half_width,
    t_interval,
    wilson_interval,
)


def test_median_interval_uses_the_binomial_order_statistics() -> None:
    x = list(range(1, 11))  # n = 10: P(B ≤ 1) = 11/1024 ≤ 0.025 < P(B ≤ 2), so [x_(2), x_(9)]
    ci = median_ci(x)
    assert (ci.estimate, ci.low, ci.high) == (5.5, 2, 9)
    assert ci.level == pytest.approx(1 - 2 * 11 / 1024)  # its exact coverage, ≥ 95%
    five = median_ci([3.0, 1.0, 2.0, 5.0, 4.0])
    assert (five.low, five.high) == (1.0, 5.0)  # n = 5: the full range, the widest there is …


@pytest.mark.parametrize(("n", "level"), [(2, 0.5), (3, 0.75), (4, 0.875), (5, 0.9375), (6, 1 - 2 / 64)])
def test_median_interval_labels_the_coverage_it_has(n: int, level: float) -> None:
    """… and it covers 1 − 2·P(B ≤ 0) = 1 − 2/2ⁿ: 93.75% at n = 5, 50% at n = 2 — once labelled 95%."""
    ci = median_ci(np.arange(1.0, n + 1))
    assert ci.level == pytest.approx(level) and median_ci_level(n) == pytest.approx(level)
    assert (ci.low, ci.high) == (1.0, float(n))
    assert ci.below(0.95) == (n < 6)


def test_one_value_has_no_median_interval() -> None:
    ci = median_ci([2.0])
    assert ci.estimate == 2.0 and math.isnan(ci.low) and math.isnan(ci.high) and ci.level == 0.0


@pytest.mark.parametrize("n", [7, 15, 40])
def test_median_interval_covers_at_least_its_level(n: int) -> None:
    rng = np.random.default_rng(n)
    hits = sum(median_ci(rng.lognormal(0.0, 0.7, n)).contains(1.0) for _ in range(2000))
    assert hits / 2000 >= 0.94  # exact coverage ≥ 95%; 2000 trials leave ~0.5% of sampling noise


def test_relative_half_width_shrinks_with_more_samples() -> None:
    rng = np.random.default_rng(0)
    assert relative_half_width(rng.normal(1, 0.05, 200)) < relative_half_width(rng.normal(1, 0.05, 10))
    assert relative_half_width([2.0] * 10) == 0.0


def test_precision_is_never_reached_by_an_interval_below_its_level() -> None:
    # five identical samples: a zero-width range, but a 93.75% one — the timer must not stop on it as 95%
    assert relative_half_width([2.0] * 5) == math.inf
    assert relative_half_width([2.0] * 6) == 0.0


def test_log_ratio_t_interval_is_welch_with_conservative_degrees_of_freedom() -> None:
    a, b = [0.9, 0.95, 0.92], [1.0, 1.05]
    ci = log_ratio_t_interval(a, b)
    la, lb = np.log(a), np.log(b)
    diff = la.mean() - lb.mean()
    se = math.sqrt(la.var(ddof=1) / 3 + lb.var(ddof=1) / 2)
    half = sps.t.ppf(0.975, 1) * se  # min(3, 2) − 1 = 1 degree of freedom
    assert (ci.estimate, ci.low, ci.high) == pytest.approx(
        (math.exp(diff), math.exp(diff - half), math.exp(diff + half))
    )
    assert ci.contains(1.0)  # 2 rounds on one side: t(1) = 12.7 standard errors
    assert math.isnan(log_ratio_t_interval([0.9], [1.0, 1.1]).low)  # one round: no interval
    est, low, high = log_ratio_t_interval_batch(np.array([a, a]), np.array([b, b]))
    assert (est[1], low[1], high[1]) == pytest.approx((ci.estimate, ci.low, ci.high))


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
    single = bootstrap_ratio_ci([2.0], [4.0])  # 1 + 1 values: the ratio, and no "95%" interval of width 0
    assert single.estimate == 0.5 and math.isnan(single.low) and math.isnan(single.high)
    one_side = bootstrap_ratio_ci([2.0], [4.0, 4.4, 3.6])  # resampling one value would ignore its noise
    assert one_side.estimate == 0.5 and math.isnan(one_side.low)
    est, low, high = intervals.bootstrap_ratio_ci_batch(np.array([[2.0], [3.0]]), np.array([[4.0], [6.0]]))
    assert list(est) == [0.5, 0.5] and np.isnan(low).all() and np.isnan(high).all()


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
