"""Pairs → one estimate per restart: the statistics inside one restart of the paired, interleaved A/B.

Why pairs: a shared machine changes speed in *phases of seconds* (measured on a 2-core VM: the same LSTM
forward alternates 0.40 ↔ 0.73 ms), so a process round, which lasts seconds, falls into one phase and round
medians are bimodal. Two adjacent short blocks, one of each side, almost always share a phase, and the
log-ratio of their per-iteration times cancels it. That is the unit of evidence here.

Why restarts: pairs inside one pair of worker processes share that pair's process-level state (memory
layout, allocator, kernel selection, which side was built first), which moved an A/A ratio by 0.8% in the
feasibility experiment with an interval over pairs that excluded 1. Pairs are therefore *not* the
replication unit; a restart (a fresh pair of worker processes) is.

The model, per case and condition, on the log scale (``d`` = log(head throughput / base throughput) =
log(t_base / t_head) of one pair)::

    d_rk = δ + u_r + e_rk        r = 1…R restarts, k = 1…P pairs in restart r

``u_r`` is the process-level effect of restart r (independent across restarts, mean 0 when both sides run the
same code — and when the roles are randomised: which side is spawned and built first, which block opens each
pair), ``e_rk`` the pair noise (heavy-tailed: a pair that straddles a phase switch is off by log 1.8). Each
restart gives one robust estimate ``m_r`` = the 20%-trimmed mean of its pairs (:func:`restart_estimate`); the
``m_r`` of the restarts that count all use one design (pairs, block length), so they are i.i.d. with mean δ
(for symmetric pair noise, which balanced A B / B A order produces) and a variance σ_u² + σ_e²/P (σ_e from
:func:`trimmed_mean_noise`; :mod:`rnnbench.stats.allocation` chooses P from it). The decision over restarts is
:mod:`rnnbench.stats.sequential`'s confidence sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TRIM_PAIRS = 0.2
"""Fraction of a restart's pair log-ratios trimmed from each end. A trimmed mean, not the median: its variance
is ≈ 1.06·σ²/P for normal pair noise (the median's is 1.57·σ²/P — a third more pairs for the same precision),
and it still ignores the few pairs that straddle a phase switch."""


def restart_estimate(log_ratios: Sequence[float]) -> float:
    """One restart's estimate: the :data:`TRIM_PAIRS`-trimmed mean of its pairs' log-ratios (finite ones)."""
    x = sorted(float(v) for v in log_ratios if math.isfinite(v))  # a few dozen pairs: no NumPy call needed
    if not x:
        return math.nan
    g = math.floor(TRIM_PAIRS * len(x))
    kept = x[g : len(x) - g]
    return math.fsum(kept) / len(kept)


def trimmed_mean_noise(log_ratios: Sequence[float]) -> float:
    """The pair noise that the trimmed mean of these pairs sees: the :data:`TRIM_PAIRS`-winsorized standard
    deviation over (1 − 2·TRIM_PAIRS), so that the variance of a restart's estimate of P pairs is ≈ this²/P.
    Not the MAD: a MAD ignores the phase-straddling pairs, which a trimmed mean of few pairs does not (with
    4 pairs nothing is trimmed — measured on the 2-core Intel VM: MAD 1.4%, restart spread 5.7%)."""
    x = sorted(float(v) for v in log_ratios if math.isfinite(v))
    n = len(x)
    if n < 3:
        return math.nan
    g = math.floor(TRIM_PAIRS * n)
    w = [x[g]] * g + x[g : n - g] + [x[n - g - 1]] * g
    mean = math.fsum(w) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in w) / (n - 1))
    return sd / (1 - 2 * TRIM_PAIRS)


def restart_estimates(restarts: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The finite :func:`restart_estimate` of each restart, in order (restarts without a pair left out)."""
    return tuple(m for m in (restart_estimate(r) for r in restarts) if math.isfinite(m))
