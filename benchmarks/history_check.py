"""Does ``rnnbench history`` claim changes only as often as it says — and how does it compare with Apache Otava
and MongoDB on the same series? A simulation (issue 23).

Each replicate is one ``history`` run over ``--series`` series of ``n`` runs of log-normal throughput noise
(2% per run), in three kinds of unchanged history — clean noise, one series with a single run 30% slow, and a
runner pool where 30% of the CI jobs land on a 20%-slower machine (the same jobs for every series) — and one
with a real 10% slowdown in one series for the last 3 runs. Three decision rules read the same series:

- ``history``: ``gate.history.simulate`` — the tool's own code (pooled σ, scan p simulated with the split's
  choice and σ's uncertainty, Holm over the series, "too short to tell" below ``MIN_RUNS``);
- Otava-style: E-Divisive means (energy statistic, α = 1) proposes splits and a two-sided Student t-test between
  neighbouring segments keeps them — weak points at p ≤ 0.01, then merged until every one has p ≤ 0.001
  (Apache Otava's defaults: window 50 covers these series);
- MongoDB-style: E-Divisive means with a permutation test, 100 permutations, p ≤ 0.05 (the defaults of
  MongoDB's ``signal-processing-algorithms.e_divisive``).

Re-implemented here (both packages pin older NumPy/SciPy), each series on its own as those tools do. Reported
per rule and length: the share of ``history`` runs with **any** change claimed (the family-wise false rate —
what makes a CI job exit 1 on unchanged code), and with the 10% slowdown, the share that found it within one
run of where it starts. ``history``'s claim is ≤ ``--alpha`` (5%) from ``MIN_RUNS`` runs on.

    python benchmarks/history_check.py [--replicates 300] [--series 8] [--seed 0]

``tests/test_history.py`` runs ``false_rate_rows`` with fewer replicates and asserts on them; the coverage
table (``benchmarks/coverage.py``) carries ``history``'s false-change rate by series length.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnbench.gate.history import MIN_RUNS, simulate

SCENARIOS = ("noise 2%", "one run 30% slow", "30% of jobs on a 20%-slower runner", "10% slowdown, last 3 runs")
UNCHANGED = SCENARIOS[:3]


def draw(rng: np.random.Generator, scenario: str, series: int, n: int) -> np.ndarray:
    """One ``history`` run: ``series`` × ``n`` throughputs (oldest first)."""
    x = 1000 * np.exp(rng.normal(0.0, 0.02, (series, n)))
    if scenario == SCENARIOS[1]:
        x[rng.integers(series), rng.integers(n)] *= 0.7
    elif scenario == SCENARIOS[2]:
        x *= np.where(rng.random(n) < 0.3, 0.8, 1.0)[None, :]
    elif scenario == SCENARIOS[3]:
        x[0, n - 3 :] *= 0.9
    return x


# ---- E-Divisive means (Matteson & James 2014, α = 1), the split statistic over a segment ------------------
def _energy_split(x: np.ndarray) -> tuple[int, float]:
    """The split τ of ``x`` (both sides ≥ 2 values) maximising the scaled energy distance q̂, and q̂."""
    n = len(x)
    d = np.abs(x[:, None] - x[None, :])
    s = np.zeros((n + 1, n + 1))
    s[1:, 1:] = d.cumsum(0).cumsum(1)
    k = np.arange(2, n - 1)
    if len(k) == 0:
        return -1, -math.inf
    m, rest = k, n - k
    within_a = s[k, k]
    between = s[k, n] - s[k, k]
    within_b = s[n, n] - s[k, n] - s[n, k] + s[k, k]
    q = (m * rest / n) * (2 * between / (m * rest) - within_a / (m * (m - 1)) - within_b / (rest * (rest - 1)))
    i = int(np.argmax(q))
    return int(k[i]), float(q[i])


def _t_p(left: np.ndarray, right: np.ndarray) -> float:
    from scipy.stats import ttest_ind

    if len(left) < 2 or len(right) < 2:
        return 1.0
    p = float(ttest_ind(left, right).pvalue)
    return 0.0 if math.isnan(p) else p


def _divisive(x: np.ndarray, significant: Callable[[np.ndarray, int, list[int]], bool]) -> list[int]:
    """Recursive E-Divisive: the best split of the best segment, kept while ``significant`` says so."""
    points: list[int] = []
    while True:
        bounds = [0, *sorted(points), len(x)]
        best: tuple[float, int] | None = None
        for a, b in itertools.pairwise(bounds):
            tau, q = _energy_split(x[a:b])
            if tau > 0 and (best is None or q > best[0]):
                best = (q, a + tau)
        if best is None or not significant(x, best[1], points):
            return sorted(points)
        points.append(best[1])


def _neighbours(x: np.ndarray, k: int, points: list[int]) -> tuple[np.ndarray, np.ndarray]:
    bounds = [0, *sorted(points), len(x)]
    lo = max(b for b in bounds if b < k)
    hi = min(b for b in bounds if b > k)
    return x[lo:k], x[k:hi]


def otava(x: np.ndarray) -> list[int]:
    """Otava-style: E-Divisive splits kept by a t-test at p ≤ 0.01 (weak), merged down to p ≤ 0.001."""
    weak = _divisive(x, lambda s, k, pts: _t_p(*_neighbours(s, k, pts)) <= 0.01)
    points = list(weak)
    while points:
        ps = [_t_p(*_neighbours(x, k, [p for p in points if p != k])) for k in points]
        worst = int(np.argmax(ps))
        if ps[worst] <= 0.001:
            break
        points.pop(worst)
    return points


def mongodb(x: np.ndarray, rng: np.random.Generator) -> list[int]:
    """MongoDB-style: E-Divisive splits kept by a permutation test (100 permutations, p ≤ 0.05)."""

    def significant(s: np.ndarray, k: int, pts: list[int]) -> bool:
        left, right = _neighbours(s, k, pts)
        segment = np.concatenate([left, right])
        q = _energy_split(segment)[1]
        exceed = sum(_energy_split(rng.permutation(segment))[1] >= q for _ in range(100))
        return (exceed + 1) / 101 <= 0.05

    return _divisive(x, significant)


# ---- the comparison ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    rule: str
    scenario: str
    n: int
    rate: float
    """Unchanged scenarios: share of history runs with any change claimed. The slowdown: share that found it."""
    replicates: int


def _claims(rule: str, x: np.ndarray, rng: np.random.Generator) -> list[list[int]]:
    """Per series, the change indices the rule claims."""
    if rule == "history":
        return [[c.tested.index] if c.tested and c.tested.significant else [] for c in simulate(list(x))]
    logs = np.log(x)
    if rule == "Otava-style":
        return [otava(s) for s in logs]
    return [mongodb(s, rng) for s in logs]


RULES = ("history", "Otava-style", "MongoDB-style")


def compare(
    replicates: int,
    series: int,
    lengths: tuple[int, ...],
    seed: int = 0,
    rules: tuple[str, ...] = RULES,
    scenarios: tuple[str, ...] = SCENARIOS,
) -> list[Result]:
    """Every rule on the same simulated ``history`` runs (one stream of draws per scenario and length)."""
    out = []
    for scenario in scenarios:
        for n in lengths:
            data = [draw(np.random.default_rng([seed, n, SCENARIOS.index(scenario), r]), scenario, series, n)
                    for r in range(replicates)]  # fmt: skip
            for rule in rules:
                rng = np.random.default_rng(seed)
                hits = 0
                for x in data:
                    claims = _claims(rule, x, rng)
                    if scenario in UNCHANGED:
                        hits += any(claims)
                    else:
                        hits += any(abs(k - (n - 3)) <= 1 for k in claims[0])
                out.append(Result(rule, scenario, n, hits / replicates, replicates))
    return out


def false_rate_rows(replicates: int, series: int, lengths: tuple[int, ...], seed: int = 0) -> list[Result]:
    """``history`` alone on the unchanged scenarios: the family-wise false rate by series length."""
    return compare(replicates, series, lengths, seed, rules=("history",), scenarios=UNCHANGED)


def markdown(results: list[Result], alpha: float = 0.05) -> str:
    lengths = sorted({r.n for r in results})
    lines = [
        "| scenario | rule | " + " | ".join(f"n = {n}" for n in lengths) + " |",
        "|---|---|" + "---|" * len(lengths),
    ]
    for scenario in SCENARIOS:
        for rule in RULES:
            row = {r.n: r for r in results if r.scenario == scenario and r.rule == rule}
            if not row:
                continue
            cells = []
            for n in lengths:
                r = row.get(n)
                if r is None:
                    cells.append("–")
                    continue
                mark = (
                    " ✗"
                    if scenario in UNCHANGED and r.rate > alpha + 2 * math.sqrt(alpha / r.replicates)
                    else ""
                )
                short = " (too short)" if rule == "history" and n < MIN_RUNS else ""
                cells.append(f"{r.rate:.1%}{mark}{short}")
            lines.append(f"| {scenario} | {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[5, 6, 8, 10, 20])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    results = compare(args.replicates, args.series, tuple(args.lengths), args.seed)
    print(markdown(results))
    print(f"\nUnchanged scenarios: share of history runs ({args.series} series each) with any change claimed "
          "(✗: above 5% beyond simulation noise). Slowdown: share that found it within one run. "
          f"{args.replicates} replicates, {time.perf_counter() - start:.0f} s.")  # fmt: skip


if __name__ == "__main__":
    main()
