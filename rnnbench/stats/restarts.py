"""Yuen's trimmed t over restarts: the statistics of the paired, interleaved A/B (pairs → per-restart
estimates → an interval over restarts).

Why pairs: a shared machine changes speed in *phases of seconds* (measured on a 2-core VM: the same LSTM
forward alternates 0.40 ↔ 0.73 ms), so a process round, which lasts seconds, falls into one phase and round
medians are bimodal. Two adjacent ~100 ms blocks, one of each side, almost always share a phase, and the
log-ratio of their per-iteration times cancels it. That is the unit of evidence here.

Why restarts: pairs inside one pair of worker processes share that pair's process-level state (memory
layout, allocator, kernel selection), which moved an A/A ratio by 0.8% in the feasibility experiment with
an interval over pairs that excluded 1. Pairs are therefore *not* the replication unit; a restart (a fresh
pair of worker processes) is.

The model, per case and condition, on the log scale (``d`` = log(head throughput / base throughput) =
log(t_base / t_head) of one pair)::

    d_rk = δ + u_r + e_rk        r = 1…R restarts, k = 1…P pairs in restart r

``u_r`` is the process-level effect of restart r (independent across restarts, mean 0 when both sides run
the same code), ``e_rk`` the pair noise (heavy-tailed: a pair that straddles a phase switch is off by
log 1.8). Each restart gives one robust estimate ``m_r = median_k d_rk``; the ``m_r`` are independent and
identically distributed with mean ≈ δ (exactly δ for symmetric pair noise, which A B / B A alternation
produces: each side is first in half of the pairs). The interval is a t interval over the R restart estimates
— Yuen's trimmed t (:data:`TRIM`: from 10 restarts on, the extreme restart at each end is trimmed), the
ordinary t below — and its width reflects both levels at once, because the spread of the ``m_r`` contains the
process-level variance *and* what is left of the pair noise after the median; the test is the one-sided
(trimmed) t test of the same ``m_r`` ("head slower": δ < 0). Its validity rests on the ``m_r`` being roughly
symmetric (a median of several pairs plus a process effect), which ``tests/test_paired.py`` checks by
simulation (coverage of the interval with heavy-tailed process effects and phase-straddling pairs, and
family-wise false alarms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from rnnbench.stats.intervals import Interval


def restart_estimate(log_ratios: Sequence[float]) -> float:
    """One restart's estimate: the median of its pairs' log-ratios. The median, because a pair that
    straddles a phase switch is off by log 1.8 — a mean would let one such pair move the estimate by
    0.6/P."""
    x = sorted(float(v) for v in log_ratios if math.isfinite(v))  # a handful of pairs: no NumPy call needed
    if not x:
        return math.nan
    mid = len(x) // 2
    return x[mid] if len(x) % 2 else (x[mid - 1] + x[mid]) / 2


@dataclass(frozen=True)
class PairedEvidence:
    """One case's paired statistics before the family's correction (log scale: log head/base throughput)."""

    estimates: tuple[float, ...]
    """Per-restart estimates ``m_r``."""
    pairs: int
    """Pairs over all restarts."""
    mean: float
    se: float
    """Standard error of ``mean``: SD of the restart estimates / √R."""

    @property
    def restarts(self) -> int:
        return len(self.estimates)

    @property
    def df(self) -> int:
        """Yuen's degrees of freedom: restarts − 2·trimmed − 1 (the ordinary t's R − 1 below 10 restarts)."""
        return self.restarts - 2 * trimmed(self.restarts) - 1

    @property
    def sd(self) -> float:
        """The restart-to-restart spread the standard error implies (winsorized, rescaled to an SD)."""
        n = self.restarts
        if not n:
            return math.nan
        return self.se * math.sqrt(n) * (1 - 2 * trimmed(n) / n)

    def interval(self, level: float = 0.95) -> Interval:
        """The ratio head/base with its t interval over restarts (exp of the log-scale interval)."""
        if self.restarts < 2 or not math.isfinite(self.se):
            est = math.exp(self.mean) if math.isfinite(self.mean) else math.nan
            return Interval(est, math.nan, math.nan, level)
        half = float(sps.t.ppf((1 + level) / 2, self.df)) * self.se
        return Interval(math.exp(self.mean), math.exp(self.mean - half), math.exp(self.mean + half), level)

    def p_slower(self) -> float:
        """One-sided p of "head slower" (δ < 0)."""
        return self._p(lower=True)

    def p_faster(self) -> float:
        return self._p(lower=False)

    def _p(self, lower: bool) -> float:
        if self.restarts < 2 or not math.isfinite(self.mean):
            return math.nan
        if self.se == 0:
            if self.mean == 0:
                return 1.0
            return 0.0 if (self.mean < 0) == lower else 1.0
        t = self.mean / self.se
        return float(sps.t.cdf(t, self.df) if lower else sps.t.sf(t, self.df))

    @property
    def slower(self) -> bool:
        return self.mean < 0


TRIM = 0.1
"""Fraction of restart estimates trimmed from each end (Yuen's trimmed t): from 10 restarts on, the highest
and the lowest restart are left out of the mean and winsorized in the variance. Why: on a busy machine a whole
restart can be off by 15–30% (a neighbour that takes a core for seconds, interleaving with our blocks at
sub-block time scales — seen on the development VM while other test suites ran), and one such restart in
twelve would otherwise widen every interval it touches several-fold. For normal restart estimates Yuen's test
keeps its level and loses little power (df R − 3 instead of R − 1)."""


def trimmed(n: int) -> int:
    """Restart estimates trimmed from each end with ``n`` restarts: ⌊TRIM·n⌋ (0 below 10)."""
    return math.floor(TRIM * n)


def paired_evidence(restarts: Sequence[Sequence[float]]) -> PairedEvidence:
    """Per-restart medians of the pair log-ratios, then Yuen's trimmed mean over restarts and its standard
    error (winsorized SD / ((1 − 2γ)·√R)); with fewer than 10 restarts that is the ordinary mean and t.
    Restarts without a pair are left out."""
    estimates = tuple(m for m in (restart_estimate(r) for r in restarts) if math.isfinite(m))
    pairs = sum(int(np.isfinite(np.asarray(r, dtype=float)).sum()) for r in restarts)
    if not estimates:
        return PairedEvidence((), pairs, math.nan, math.nan)
    arr = np.sort(np.asarray(estimates))
    n, g = len(arr), trimmed(len(arr))
    mean = float(arr[g : n - g].mean())
    if n < 2:
        return PairedEvidence(estimates, pairs, mean, math.nan)
    wins = arr.copy()
    wins[:g] = arr[g]
    wins[n - g :] = arr[n - g - 1]
    se = float(wins.std(ddof=1) / ((1 - 2 * g / n) * math.sqrt(n)))
    return PairedEvidence(estimates, pairs, mean, se)
