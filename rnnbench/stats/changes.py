"""Change points in a series: where a new level starts (ruptures' PELT, L1 cost on log values) and the exact
one-sided rank test of each change against its neighbouring segments.

Why `ruptures <https://centre-borelli.github.io/ruptures-docs/>`_: maintained, wheels, NumPy/SciPy only —
MongoDB's E-Divisive (``signal-processing-algorithms``) pins NumPy < 2 and cannot be installed beside pandas 3,
and Apache Otava is a service around the same E-Divisive. The number of changes is chosen by the data (a
penalty per change, :data:`PENALTY_FACTOR`), not fixed. A change's p is computed on segments the data chose,
so it is optimistic (selection): it ranks and filters changes; the penalty is what keeps spurious ones rare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rnnbench.stats.ranks import mann_whitney_exact

PENALTY_FACTOR = 2.5
"""PELT's penalty per change is ``PENALTY_FACTOR·σ·ln n`` (L1 cost). Chosen by simulation (20 runs, 2%
lognormal noise, 300 series each): a spurious change in 1% of flat series (2σ: 3%, 3σ: 0.5%); a 10% step
found in 100% of series (68% when it is only the last two runs), a 5% step in 72%; a single run 30% off in
a 1%-noise series: no change (the L2 cost with a BIC-like 6σ²·ln n penalty found one every time)."""


def change_points(values: Sequence[float], min_size: int = 2) -> list[int]:
    """Indices where a new level starts (0 < i < n), by PELT on log values with the penalty
    ``2.5·σ·ln n`` (L1 cost, :data:`PENALTY_FACTOR`); σ is the robust spread of successive differences
    (1.4826·MAD/√2), floored at 0.1% so a perfectly flat series finds nothing."""
    import ruptures as rpt

    x = np.log(np.asarray(values, dtype=float))
    n = len(x)
    if n < 2 * min_size or not np.all(np.isfinite(x)):
        return []
    diffs = np.diff(x)
    sigma = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2)
    sigma = max(sigma, 1e-3)
    penalty = PENALTY_FACTOR * sigma * math.log(n)
    algo = rpt.Pelt(model="l1", min_size=min_size, jump=1).fit(x.reshape(-1, 1))
    return [int(i) for i in algo.predict(pen=penalty) if 0 < i < n]


def describe_changes(
    values: Sequence[float], indices: Sequence[int], alpha: float = 0.05
) -> list[tuple[int, float, float, float, bool, int, int]]:
    """Per change index: (index, median before, median after, one-sided p, significant, n before, n after),
    each against its neighbouring segments only."""
    bounds = [0, *indices, len(values)]
    out = []
    for j, i in enumerate(indices):
        before = np.asarray(values[bounds[j] : i], dtype=float)
        after = np.asarray(values[i : bounds[j + 2]], dtype=float)
        b, a = float(np.median(before)), float(np.median(after))
        test = mann_whitney_exact(after, before)
        p = test.p_less if a < b else test.p_greater
        out.append((i, b, a, p, p <= alpha, len(before), len(after)))
    return out
