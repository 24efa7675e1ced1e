"""Change points in benchmark series: where a new level starts, how big the step is (with an interval) and
how sure we are — with the false-change rate controlled over every series of a ``history`` run (issue 23).

- **Noise, pooled.** ``pooled_sigma``: one noise level σ for every series of a run, from the successive
  differences of log throughput of all of them (5%-trimmed standard deviation / √2). One series of 5 runs has
  4 differences — a σ from those is a guess, and the old per-series MAD made 10% of flat 5-run series "change";
  16 series give 64. Trimmed, not a MAD: a MAD ignores anything rarer than half the differences, so runs on a
  20%-slower runner 30% of the time left σ at the quiet runner's level and the slow runs looked like steps;
  the trim still drops the two differences a single odd run makes.
- **Segments, descriptive.** ``change_points``: ruptures' PELT (L1 cost on log values, the median's: one odd
  run cannot pull a segment) with the penalty ``PENALTY_FACTOR·σ·ln n`` from the pooled σ. They draw the
  levels; they decide nothing.
- **The decision: a scan calibrated by simulation.** ``scan``: over every split of the stretch since the
  series (``min_size`` runs each side), the largest standardised step between the two sides' levels
  — each side's mean without its run farthest from the other side (``_level``), so a single odd run can
  neither make nor hide a step, and a bimodal runner pool does not make the level jump as a median does.
  ``scan_p``: the chance of a statistic that large with no change
  at all, from simulated series of the same length whose σ is estimated from the same number of pooled
  differences (so the uncertainty of σ and the choice of the split are both paid for: the old Mann–Whitney p
  of a change was computed on the segments the data had chosen). ``history`` then Holm-adjusts these p over
  all its series. The simulation is Gaussian; ``benchmarks/history_check.py`` shows the false rate holds for
  single outliers and runner mixtures too, and from which length (``MIN_RUNS``).
- **The step's interval.** ``step_interval``: the ratio of medians after/before, with a t-interval on the log
  ratio from the pooled σ and the sampling variance of a median of n values.

Why `ruptures <https://centre-borelli.github.io/ruptures-docs/>`_ for the segments: maintained, wheels,
NumPy/SciPy only. MongoDB's E-Divisive (``signal-processing-algorithms``) and Apache Otava (``apache-otava``,
E-Divisive with a t-test) pin older NumPy/SciPy and pull cloud clients; ``benchmarks/history_check.py``
re-implements both decision rules to compare them with this one on the same simulated series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

PENALTY_FACTOR = 2.5
"""PELT's penalty per change is ``PENALTY_FACTOR·σ·ln n`` (L1 cost): it only draws segments now; whether a
change is real is :func:`scan_p`'s."""

TRIM = 0.05
"""Share of the pooled successive differences trimmed from each tail before their standard deviation."""

_TRIM_FACTOR = 0.7892
"""Standard deviation of a standard normal trimmed at 5% per tail (its 5% and 95% quantiles): the trimmed
SD divided by this estimates σ for normal noise."""

SCAN_REPLICATES = 20000
"""Simulated null series behind each :func:`scan_p` (its smallest p is 1/20001; the 0.3% tail that Holm over 16
series needs rests on ~60 of them)."""

MAX_POOLED = 400
"""The σ of the simulated null pools at most this many differences: beyond it σ is known well, and a smaller
simulated pool only makes the p a little larger (conservative)."""


def log_series(values: Sequence[float]) -> np.ndarray:
    return np.log(np.asarray(values, dtype=float))


def pooled_sigma(series: Sequence[np.ndarray]) -> tuple[float, int]:
    """``(σ, differences)``: the noise of log values shared by ``series``, from their successive differences
    pooled (5%-trimmed SD / √2, made consistent for normal noise), and how many differences it rests on. NaN
    with fewer than two differences."""
    diffs = np.concatenate([np.diff(s[np.isfinite(s)]) for s in series if len(s) > 1] or [np.empty(0)])
    return _trimmed_sigma(diffs), len(diffs)


def _trimmed_sigma(diffs: np.ndarray) -> float:
    n = len(diffs)
    if n < 2:
        return math.nan
    cut = math.floor(TRIM * n)
    kept = np.sort(diffs)[cut : n - cut]
    if len(kept) < 2:
        return math.nan
    return float(np.std(kept, ddof=1) / (_TRIM_FACTOR if cut else 1.0) / math.sqrt(2))


def change_points(values: Sequence[float], min_size: int = 2, sigma: float | None = None) -> list[int]:
    """Indices where a new level starts (0 < i < n), by PELT on log values with the penalty
    ``2.5·σ·ln n`` (L1 cost); σ is the pooled noise when given, else this series' own robust spread
    (1.4826·MAD of successive differences / √2), floored at 0.1% so a perfectly flat series finds nothing."""
    import ruptures as rpt

    x = log_series(values)
    n = len(x)
    if n < 2 * min_size or not np.all(np.isfinite(x)):
        return []
    if sigma is None or not math.isfinite(sigma):
        diffs = np.diff(x)
        sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2)
    sigma = max(sigma, 1e-3)
    penalty = PENALTY_FACTOR * sigma * math.log(n)
    algo = rpt.Pelt(model="l1", min_size=min_size, jump=1).fit(x.reshape(-1, 1))
    return [int(i) for i in algo.predict(pen=penalty) if 0 < i < n]


# ---- the scan ---------------------------------------------------------------------------------------------
def _level(side: np.ndarray, other_centre: np.ndarray) -> np.ndarray:
    """Each row's level, robust against one odd run: the mean without the value farthest from the other
    side's median (with two values: the one nearer the other side; a single value is itself). One run 30%
    off can neither make nor hide a step, and unlike a median the level does not jump between the modes of
    a bimodal run-to-run spread (a pool of fast and slow CI runners)."""
    n = side.shape[1]
    if n == 1:
        return side[:, 0]
    farthest = np.abs(side - other_centre[:, None]).argmax(axis=1)
    dropped = np.take_along_axis(side, farthest[:, None], axis=1)[:, 0]
    return (side.sum(axis=1) - dropped) / (n - 1)


def _scan_rows(x: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``x`` (R, L): the largest standardised step over the splits ``min_size … L − min_size``
    (in units of σ) and the split where it is. Standardised by √(1/n_before + 1/n_after)."""
    rows, length = x.shape
    best = np.full(rows, -np.inf)
    where = np.zeros(rows, dtype=int)
    for j in range(min_size, length - min_size + 1):
        before, after = x[:, :j], x[:, j:]
        step = np.abs(_level(after, np.median(before, axis=1)) - _level(before, np.median(after, axis=1)))
        stat = step / math.sqrt(1 / j + 1 / (length - j))
        better = stat > best
        best = np.where(better, stat, best)
        where = np.where(better, j, where)
    return best, where


@dataclass(frozen=True)
class Scan:
    """The largest standardised step in a stretch of a series: ``statistic`` in units of σ, ``index`` the
    first run after the split (in the stretch's own numbering)."""

    statistic: float
    index: int


def scan(x: np.ndarray, min_size: int, sigma: float) -> Scan | None:
    """The scan of log values ``x`` (``min_size`` runs each side; None when too short)."""
    if len(x) < 2 * min_size or not (math.isfinite(sigma) and sigma > 0):
        return None
    stat, where = _scan_rows(np.asarray(x, dtype=float)[None, :], min_size)
    return Scan(float(stat[0]) / sigma, int(where[0]))


@lru_cache(maxsize=128)
def _null(length: int, min_size: int, pooled: int, seed: int) -> np.ndarray:
    """Sorted simulated scan statistics (in units of each replicate's own estimated σ) of Gaussian series
    of ``length`` runs with no change, σ estimated from ``pooled`` differences as ``pooled_sigma`` does."""
    rng = np.random.default_rng(seed)
    stat, _ = _scan_rows(rng.normal(size=(SCAN_REPLICATES, length)), min_size)
    per = max(length - 1, 1)
    count = max(min(pooled, MAX_POOLED), 2)
    series = -(-count // per)  # enough whole series of this length to hold the pooled differences
    diffs = np.diff(rng.normal(size=(SCAN_REPLICATES, series, per + 1)), axis=2).reshape(SCAN_REPLICATES, -1)
    diffs = diffs[:, :count]
    cut = math.floor(TRIM * count)
    kept = np.sort(diffs, axis=1)[:, cut : count - cut]
    sigma = kept.std(axis=1, ddof=1) / (_TRIM_FACTOR if cut else 1.0) / math.sqrt(2)
    return np.sort(stat / sigma)


def scan_p(found: Scan, length: int, min_size: int, pooled: int, seed: int = 0) -> float:
    """The chance, with no change in a stretch of ``length`` runs, of a scan statistic at least
    ``found.statistic`` — the split chosen and σ estimated from ``pooled`` differences included — from
    :data:`SCAN_REPLICATES` simulated stretches (fixed seed: reproducible). ``(1 + k) / (R + 1)``."""
    null = _null(length, min_size, pooled, seed)
    exceed = len(null) - int(np.searchsorted(null, found.statistic, side="left"))
    return (1 + exceed) / (len(null) + 1)


# ---- the step ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def median_variance(n: int) -> float:
    """Variance of the median of ``n`` standard normal values (1 for n ≤ 2, where it is the mean; → π/2n),
    simulated once with a fixed seed."""
    if n <= 2:
        return 1.0 / n
    rng = np.random.default_rng(n)
    return float(np.var(np.median(rng.normal(size=(20000, n)), axis=1)))


def step_interval(
    before: Sequence[float] | np.ndarray,
    after: Sequence[float] | np.ndarray,
    sigma: float,
    pooled: int,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """``(ratio, low, high)``: the median after / the median before of the (non-log) values, and a
    t-interval on the log ratio with the pooled σ (``pooled`` − 1 degrees of freedom) and the variance of
    each median. NaN bounds without a σ."""
    from scipy.stats import t as student_t

    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    estimate = float(np.log(np.median(a)) - np.log(np.median(b)))
    if not (math.isfinite(sigma) and pooled >= 2):
        return math.exp(estimate), math.nan, math.nan
    se = sigma * math.sqrt(median_variance(len(a)) + median_variance(len(b)))
    half = float(student_t.ppf(0.5 + level / 2, pooled - 1)) * se
    return math.exp(estimate), math.exp(estimate - half), math.exp(estimate + half)
