"""How to spend a second of measuring: block length and pairs per restart from the noise this machine shows.

A restart costs ``c_r`` seconds before its first pair (two interpreters, building and warming the grid) and
``c_p`` seconds per pair and case. Its estimate has variance σ_u² + κ·σ_e²/P (:mod:`rnnbench.stats.restarts`:
process-level σ_u, pair noise σ_e, κ for the trimmed mean). The variance of the final mean per second of
measuring, (σ_u² + κσ_e²/P)(c_r + P·Σc_p), is smallest at

    P* = √(κ σ_e² c_r / (σ_u² Σc_p))

— many pairs when restarts are dear and the process-level spread is small (both workers on the same CPUs),
few when each process is a different draw. The block length is chosen the same way from the pair noise
measured at a few lengths: the one with the most precision per second, 1/(σ_e²(b)·c_p(b)). On the 2-core VMs
measured, σ_e hardly changes between 5 ms and 1 s blocks, so short blocks win until per-block overheads
(pipe round trip, waiting for the idle side's threads) dominate.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

KAPPA = 1.06
"""Variance of the 20%-trimmed mean of P normal pair log-ratios, in units of σ_e²/P."""

PLANNING_PROCESS_SD = 0.01
"""σ_u assumed when choosing P, before restarts have measured it: 1%, the spread of per-restart estimates
left on a 2-core AMD EPYC VM with both workers pinned to one CPU (2–11% unpinned)."""


def pairs_per_restart(
    pair_sd: float,
    restart_cost_s: float,
    pair_cost_s: float,
    process_sd: float = PLANNING_PROCESS_SD,
    lo: int = 4,
    hi: int = 64,
) -> int:
    """P* (module docstring) for one case, rounded to an even number in [``lo``, ``hi``] (even: each side
    opens half of the pairs). ``pair_cost_s`` is what one more pair of *every* case measured together costs."""
    if not all(math.isfinite(v) and v > 0 for v in (pair_sd, restart_cost_s, pair_cost_s, process_sd)):
        return lo
    p = math.sqrt(KAPPA * pair_sd**2 * restart_cost_s / (process_sd**2 * pair_cost_s))
    return int(min(hi, max(lo, 2 * round(p / 2))))


def best_block(per_case: Mapping[str, Mapping[float, tuple[float, float]]], default: float) -> float:
    """The block length with the most precision per second.

    ``per_case[case][b]`` is (pair noise σ_e, seconds per pair) measured at block length b. Each case scores
    every length by σ_e²·cost, relative to its own best, so cases of different noise and speed pool; the
    length with the smallest median relative score over the cases wins. Fewer than two cases with a figure
    at every length: ``default`` (a handful of pairs of one case cannot tell lengths apart)."""
    lengths = sorted({b for by in per_case.values() for b in by})
    relative: dict[float, list[float]] = {b: [] for b in lengths}
    for by in per_case.values():
        scores = {b: sd * sd * cost for b, (sd, cost) in by.items() if _positive(sd) and _positive(cost)}
        if len(scores) < len(lengths) or not scores:
            continue
        best = min(scores.values())
        if best <= 0:
            continue
        for b, v in scores.items():
            relative[b].append(v / best)
    if len(lengths) < 2 or min(len(v) for v in relative.values()) < 2:
        return default
    return min(lengths, key=lambda b: (statistics.median(relative[b]), b))


def _positive(v: float) -> bool:
    return math.isfinite(v) and v > 0
