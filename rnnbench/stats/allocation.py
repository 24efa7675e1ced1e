"""How to spend a second of measuring: block length and pairs per restart from the noise this machine shows.

A restart costs ``c_r`` seconds before its first pair (two interpreters, building and warming the grid) and
``c_p`` seconds per pair and case. Its estimate has variance σ_u² + σ_e²/P (:mod:`rnnbench.stats.restarts`:
process-level σ_u, pair noise σ_e as ``trimmed_mean_noise`` measures it, the trimmed mean's factor included).
The variance of the final mean per second of measuring, (σ_u² + σ_e²/P)(c_r + P·Σc_p), is smallest at

    P* = √(σ_e² c_r / (σ_u² Σc_p))

— many pairs when restarts are dear and the process-level spread is small (both workers on the same CPUs),
few when each process is a different draw. The block length is chosen the same way from the pair noise
measured at a few lengths: the one with the most precision per second, 1/(σ_e²(b)·c_p(b)). On the 2-core VMs
measured, σ_e hardly changes between 5 ms and 1 s blocks, so short blocks win until per-block overheads
(pipe round trip, waiting for the idle side's threads) dominate.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

MIN_PAIRS = 10
"""Fewest pairs per case and restart the automatic design picks: with 10, the 20%-trimmed mean drops two
pairs at each end (with 4 it drops none, and one phase-straddling pair moves the estimate by a quarter of its
size)."""

PLANNING_PROCESS_SD = 0.01
"""σ_u assumed when choosing P, before restarts have measured it: 1%, the spread of per-restart estimates
left on a 2-core AMD EPYC VM with both workers pinned to one CPU (2–11% unpinned)."""


def pairs_per_restart(
    pair_sd: float,
    restart_cost_s: float,
    pair_cost_s: float,
    process_sd: float = PLANNING_PROCESS_SD,
    lo: int = MIN_PAIRS,
    hi: int = 64,
) -> int:
    """P* (module docstring) for one case, rounded to an even number in [``lo``, ``hi``] (even: each side
    opens half of the pairs). ``pair_cost_s`` is what one more pair of *every* case measured together costs."""
    if not all(math.isfinite(v) and v > 0 for v in (pair_sd, restart_cost_s, pair_cost_s, process_sd)):
        return lo
    p = math.sqrt(pair_sd**2 * restart_cost_s / (process_sd**2 * pair_cost_s))
    return int(min(hi, max(lo, 2 * round(p / 2))))


def best_block(per_case: Mapping[str, Mapping[float, tuple[Sequence[float], float]]], default: float) -> float:
    """The block length with the most precision per second.

    ``per_case[case][b]`` holds the pair log-ratios measured at block length b and the mean seconds one pair
    took there. Every case's deviations from its own median, scaled by its own spread, are pooled per length
    (a handful of pairs per case and length, many cases: one robust spread per length with dozens of values
    behind it); a length's cost is the median over cases of its pair time relative to the case's shortest.
    The length with the smallest spread² × cost wins. Fewer than two cases with pairs at every length, or
    fewer than two lengths: ``default``."""
    lengths = sorted({b for by in per_case.values() for b in by})
    if len(lengths) < 2:
        return default
    scaled: dict[float, list[float]] = {b: [] for b in lengths}
    costs: dict[float, list[float]] = {b: [] for b in lengths}
    used = 0
    for by in per_case.values():
        if set(by) != set(lengths) or any(len(_finite(r)) < 2 for r, _ in by.values()):
            continue
        pooled = [v for r, _ in by.values() for v in _finite(r)]
        centre = statistics.median(pooled)
        scale = statistics.median(abs(v - centre) for v in pooled)
        base_cost = by[lengths[0]][1]
        if not (scale > 0 and _positive(base_cost)):
            continue
        used += 1
        for b, (ratios, cost) in by.items():
            scaled[b].extend(abs(v - centre) / scale for v in _finite(ratios))
            costs[b].append(cost / base_cost if _positive(cost) else math.nan)
    if used < 2:
        return default
    score = {}
    for b in lengths:
        finite_costs = [c for c in costs[b] if math.isfinite(c)]
        if not scaled[b] or not finite_costs:
            return default
        score[b] = statistics.median(scaled[b]) ** 2 * statistics.median(finite_costs)
    return min(lengths, key=lambda b: (score[b], b))


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if math.isfinite(v)]


def _positive(v: float) -> bool:
    return math.isfinite(v) and v > 0
