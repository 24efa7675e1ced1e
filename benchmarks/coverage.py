"""Do the intervals rnnbench prints cover as often as they say? A simulation for every one of them.

Each row draws ``replicates`` data sets from a known truth, builds the interval exactly as the tool does and
counts how often it contains the truth. ``claimed`` is the level the tool prints beside the interval (95%
unless the interval says otherwise, as a median of ≤ 5 values does); an honest interval covers at least that
often, up to simulation noise (± 2·√(p(1−p)/replicates), about ±0.3% at 20,000 replicates).

- median (order statistics): ``intervals.median_ci`` — time per case, within a round (samples) or over rounds;
- GRU/LSTM ratio over rounds: ``analyse.speed.ratio_over_rounds`` (what ``run``/``report`` use: the log-ratio
  t-interval below 5 rounds per side, the bootstrap from 5), beside the plain bootstrap it replaced below 5;
- GRU/LSTM ratio over one round's samples: ``intervals.bootstrap_ratio_ci_batch`` on samples — honest about that
  one process, not about the next: with a between-process offset it misses the cross-process ratio;
- t: ``intervals.t_interval`` (training metrics over seeds);
- Wilson: ``intervals.wilson_interval`` (success rates) — computed exactly from the binomial, no simulation;
- training verdicts (``analyse.seeds``): the paired rule's false-direction rate with no true difference, its
  Hodges–Lehmann interval, and each arm's geometric mean with its log-scale t-interval (issue 23);
- ``history``: no false change in any series of a run, by series length (``history_check.py``'s simulation;
  a few minutes of the total, ``--no-history`` leaves it out);
- the minGRU/minLSTM crossover bracket (``analyse.crossover``, issue 24): how often the printed bracket holds
  the true crossover T*, and how often a curve that never crosses is wrongly given one — the fastest of two
  equal baselines picked after the fact, as the report picks it.

    python benchmarks/coverage.py [--replicates 20000] [--seed 0]

Deterministic for a given seed; about 20 s on 2 cores. ``tests/test_coverage.py`` runs the same functions with
fewer replicates and asserts on them.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnbench.analyse.speed import ratio_over_rounds
from rnnbench.stats import intervals


@dataclass(frozen=True)
class Row:
    """One simulated interval: what, from which data, its claimed level and how often it covered."""

    interval: str
    scenario: str
    n: str
    claimed: float
    coverage: float
    replicates: int | str

    @property
    def honest(self) -> bool:
        """Covers at least its claimed level, allowing two standard errors of simulation noise."""
        if isinstance(self.replicates, str):  # exact computation: no noise
            return self.coverage >= self.claimed - 1e-9
        noise = 2 * math.sqrt(self.claimed * (1 - self.claimed) / self.replicates)
        return self.coverage >= self.claimed - noise


def _covers(low: np.ndarray, high: np.ndarray, truth: float) -> float:
    return float(np.mean((low <= truth) & (truth <= high)))


# ---- median (order statistics) ----------------------------------------------------------------------------
def median_rows(
    replicates: int, rng: np.random.Generator, sizes: tuple[int, ...] = (2, 3, 5, 6, 10, 30)
) -> list[Row]:
    """``median_ci`` of n right-skewed values (lognormal, true median 1), as the timer and the rounds use it."""
    rows = []
    for n in sizes:
        x = np.sort(rng.lognormal(0.0, 0.5, (replicates, n)), axis=1)
        k, level = intervals.median_order(n)
        ci = intervals.median_ci(x[0])
        assert ci.low == x[0, k - 1] and ci.level == level  # the same positions median_ci uses
        rows.append(
            Row(
                "median (order statistics)",
                "lognormal",
                str(n),
                level,
                _covers(x[:, k - 1], x[:, n - k], 1.0),
                replicates,
            )
        )
    return rows


# ---- GRU/LSTM ratio over rounds ---------------------------------------------------------------------------
Noise = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]
"""Multiplicative round-to-round noise with median 1 (a round median divided by the true time)."""

NOISES: dict[str, Noise] = {
    "lognormal 5%": lambda g, shape: np.exp(g.normal(0.0, 0.05, shape)),
    "heavy tails (t3)": lambda g, shape: np.exp(0.03 * g.standard_t(3, shape)),
    "skewed (busy rounds)": lambda g, shape: np.exp(g.exponential(0.05, shape) - 0.05 * math.log(2)),
}


def _rounds(
    rng: np.random.Generator, replicates: int, n_gru: int, n_lstm: int, noise: str, gru_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Round medians of a GRU that takes 0.8× the LSTM's time (true ratio 0.8)."""
    draw = NOISES[noise]
    gru = 0.8 * np.exp(gru_scale * np.log(draw(rng, (replicates, n_gru))))
    lstm = draw(rng, (replicates, n_lstm))
    return gru, lstm


def ratio_rounds_rows(replicates: int, rng: np.random.Generator) -> list[Row]:
    """The ratio interval ``run``/``report`` print over rounds, and the bootstrap it replaced below 5."""
    rows = []
    for n in (2, 3, 4, 5, 8):
        gru, lstm = _rounds(rng, replicates, n, n, "lognormal 5%")
        _, low, high = intervals.bootstrap_ratio_ci_batch(gru, lstm)
        rows.append(
            Row(
                "ratio over rounds: bootstrap (old below 5)",
                "lognormal 5%",
                f"{n}+{n}",
                0.95,
                _covers(low, high, 0.8),
                replicates,
            )
        )
    cases = [(n, n, noise, 1.0) for n in (2, 3, 4, 5, 8) for noise in NOISES]
    cases += [
        (2, 4, "lognormal 5%", 4.0),
        (4, 2, "lognormal 5%", 4.0),
        (3, 5, "lognormal 5%", 4.0),
        (5, 8, "lognormal 5%", 4.0),
    ]
    for n_gru, n_lstm, noise, scale in cases:
        gru, lstm = _rounds(rng, replicates, n_gru, n_lstm, noise, scale)
        _, low, high, method = ratio_over_rounds(gru, lstm)
        scenario = noise + (f", GRU {scale:g}× noisier" if scale != 1 else "")
        rows.append(
            Row(
                f"ratio over rounds: {method} (used)",
                scenario,
                f"{n_gru}+{n_lstm}",
                0.95,
                _covers(low, high, 0.8),
                replicates,
            )
        )
    return rows


# ---- GRU/LSTM ratio over one round's samples ----------------------------------------------------------------
def ratio_samples_rows(replicates: int, rng: np.random.Generator, n: int = 20) -> list[Row]:
    """The one-round interval: bootstrap over one process's samples. Without a between-process effect it
    covers; with one (each process runs 3% faster or slower, as CPU frequency, memory placement and thread
    pinning make it) it misses the ratio the next process would see."""
    rows = []
    for offset in (0.0, 0.03):
        gru = 0.8 * np.exp(rng.normal(0.0, 0.05, (replicates, n)) + rng.normal(0.0, offset, (replicates, 1)))
        lstm = np.exp(rng.normal(0.0, 0.05, (replicates, n)) + rng.normal(0.0, offset, (replicates, 1)))
        _, low, high = intervals.bootstrap_ratio_ci_batch(gru, lstm)
        scenario = f"process offset sd {offset:.0%}" if offset else "no process offset"
        rows.append(
            Row(
                "ratio over samples (one round)",
                scenario,
                f"{n}+{n} samples",
                0.95,
                _covers(low, high, 0.8),
                replicates,
            )
        )
    return rows


# ---- t and Wilson -----------------------------------------------------------------------------------------
def t_rows(replicates: int, rng: np.random.Generator) -> list[Row]:
    """``t_interval`` of a mean over seeds: normal metrics, and right-skewed ones (lognormal σ = 0.5 and 1, as
    a loss over seeds is when a few seeds train badly) — where a t-interval of 3–10 values undercovers."""
    from scipy.stats import t as student_t

    rows = []
    for scenario, draw, truth in (
        ("normal", lambda shape: rng.normal(1.0, 0.3, shape), 1.0),
        ("lognormal σ=0.5", lambda shape: rng.lognormal(0.0, 0.5, shape), math.exp(0.125)),
        ("lognormal σ=1", lambda shape: rng.lognormal(0.0, 1.0, shape), math.exp(0.5)),
    ):
        for n in (3, 5, 10):
            x = draw((replicates, n))
            assert intervals.t_interval(x[0]).contains(float(np.mean(x[0])))
            half = student_t.ppf(0.975, n - 1) * x.std(axis=1, ddof=1) / math.sqrt(n)
            mean = x.mean(axis=1)
            rows.append(
                Row(
                    "t (mean over seeds)",
                    scenario,
                    str(n),
                    0.95,
                    _covers(mean - half, mean + half, truth),
                    replicates,
                )
            )
    return rows


def wilson_coverage(n: int, p: float, level: float = 0.95) -> float:
    """Exact coverage of ``wilson_interval`` at success probability ``p`` with ``n`` trials."""
    from scipy.stats import binom

    total = 0.0
    for k in range(n + 1):
        ci = intervals.wilson_interval(k, n, level)
        if ci.low <= p <= ci.high:
            total += float(binom.pmf(k, n, p))
    return total


def wilson_rows(sizes: tuple[int, ...] = (3, 5, 10, 20)) -> list[Row]:
    """Wilson's exact coverage, averaged over p in [0.01, 0.99] and at its worst p (it oscillates)."""
    grid = np.linspace(0.01, 0.99, 99)
    rows = []
    for n in sizes:
        cover = np.array([wilson_coverage(n, float(p)) for p in grid])
        rows.append(Row("Wilson (success rate)", "mean over p", str(n), 0.95, float(cover.mean()), "exact"))
        worst = int(cover.argmin())
        rows.append(
            Row(
                "Wilson (success rate)",
                f"worst p = {grid[worst]:.2f}",
                str(n),
                0.95,
                float(cover[worst]),
                "exact",
            )
        )
    return rows


# ---- training: the paired rule, its interval, the per-arm interval (issue 23) -------------------------------
def _seed_null(rng: np.random.Generator, shape: tuple[int, int], scenario: str) -> np.ndarray:
    """Per-seed differences ``a − b`` of two arms that do not differ (each arm drawn the same way)."""
    if scenario == "normal":
        return rng.normal(0.0, 1.0, shape)
    if scenario == "bimodal, 10% diverge":  # a seed solves (loss ~0.01) or sits at chance (~1), or diverges

        def arm() -> np.ndarray:
            solved = rng.random(shape) < 0.5
            loss = np.where(solved, 0.01 * rng.lognormal(0.0, 0.3, shape), rng.lognormal(0.0, 0.05, shape))
            return np.where(rng.random(shape) < 0.1, np.inf, loss)

        a, b = arm(), arm()
    else:  # "steps on a 100-step grid": log steps to target, quantised; 20% never reach it

        def arm() -> np.ndarray:
            steps = 100 * np.ceil(rng.lognormal(math.log(5), 0.3, shape))
            return np.where(rng.random(shape) < 0.2, np.inf, np.log(steps))

        a, b = arm(), arm()
    with np.errstate(invalid="ignore"):
        return a - b  # inf − inf: NaN, dropped by the rule (undecided)


SEED_SCENARIOS = ("normal", "bimodal, 10% diverge", "steps on a 100-step grid")


def training_rule_rows(
    replicates: int, rng: np.random.Generator, sizes: tuple[int, ...] = (3, 5, 6, 8, 10)
) -> list[Row]:
    """The paired rule over seeds (``analyse.seeds``: exact signed-rank, two-sided 5%) when the arms do not
    differ: ``coverage`` is the share of replicates with **no** verdict (claimed ≥ 95%). Bimodal outcomes
    with diverged seeds and quantised steps with unreached targets (ties, ±∞, NaN) included."""
    from rnnbench.analyse.seeds import compare_differences
    from rnnbench.stats.ranks import signed_rank_p_batch

    rows = []
    for scenario in SEED_SCENARIOS:
        for n in sizes:
            d = _seed_null(rng, (replicates, n), scenario)
            decided = np.zeros(replicates, dtype=bool)
            known = (~np.isnan(d)).sum(axis=1)
            for m in np.unique(known):  # rows with the same number of known differences, at once
                pick = known == m
                if m == 0:
                    continue
                kept = np.sort(d[pick], axis=1)[:, :m]  # NumPy sorts NaN last: the m known differences
                p, _, _ = signed_rank_p_batch(kept)
                decided[pick] = p <= 0.05
            first = compare_differences(d[0])
            assert first.direction != 0 or not decided[0]  # the same rule as the tool, on one replicate
            rows.append(Row("training verdict: no false direction", scenario, str(n), 0.95, 1 - decided.mean(),
                            replicates))  # fmt: skip
    return rows


def hodges_lehmann_rows(
    replicates: int, rng: np.random.Generator, sizes: tuple[int, ...] = (3, 5, 6, 10)
) -> list[Row]:
    """The paired interval ``train``/``report`` print (Hodges–Lehmann, signed-rank order statistics of the
    Walsh averages; its claimed level is ``walsh_order``'s, below 95% up to 5 seeds) for a true difference of
    0.3 with normal and heavy-tailed (t₃) seed noise."""
    from rnnbench.stats.ranks import signed_rank_exact, walsh_order

    rows = []
    for scenario, draw in (
        ("normal", lambda shape: rng.normal(0.3, 1.0, shape)),
        ("heavy tails (t3)", lambda shape: 0.3 + rng.standard_t(3, shape)),
    ):
        for n in sizes:
            d = draw((replicates, n))
            i, j = np.triu_indices(n)
            walsh = np.sort((d[:, i] + d[:, j]) / 2, axis=1)
            k, level = walsh_order(n)
            one = signed_rank_exact(d[0])
            assert one.low == walsh[0, k - 1] and one.level == level
            rows.append(Row("paired difference: Hodges–Lehmann", scenario, str(n), level,
                            _covers(walsh[:, k - 1], walsh[:, -k], 0.3), replicates))  # fmt: skip
    return rows


def log_scale_rows(replicates: int, rng: np.random.Generator, sizes: tuple[int, ...] = (3, 5, 10)) -> list[Row]:
    """Each arm's interval over seeds (``analyse.training``): a t-interval on log values, turned back — the
    geometric mean of a positive, skewed loss. Lognormal seeds (it is exact there) and a bimodal mixture
    (60% of seeds solve at ~0.01, the rest sit at chance ~1), whose truth is ``exp(E log X)``."""
    from scipy.stats import t as student_t

    rows = []
    for scenario, draw, truth in (
        ("lognormal σ=0.5", lambda shape: rng.lognormal(0.0, 0.5, shape), 1.0),
        ("lognormal σ=1", lambda shape: rng.lognormal(0.0, 1.0, shape), 1.0),
        (
            "bimodal (60% solve)",
            lambda shape: np.where(
                rng.random(shape) < 0.6,
                rng.lognormal(math.log(0.01), 0.3, shape),
                rng.lognormal(0, 0.05, shape),
            ),
            math.exp(0.6 * math.log(0.01)),
        ),
    ):
        for n in sizes:
            logs = np.log(draw((replicates, n)))
            half = student_t.ppf(0.975, n - 1) * logs.std(axis=1, ddof=1) / math.sqrt(n)
            centre = logs.mean(axis=1)
            covered = _covers(np.exp(centre - half), np.exp(centre + half), truth)
            rows.append(
                Row("geometric mean over seeds (log-scale t)", scenario, str(n), 0.95, covered, replicates)
            )
    return rows


def paired_sequence_rows(replicates: int, rng: np.random.Generator, looks: int = 30) -> list[Row]:
    """The paired gate's interval: Lai's t confidence sequence over restart estimates, intersected over the
    looks (``stats.sequential.SequentialEvidence.interval``). It claims 95% at *every* look at once, so a
    replicate covers only if the truth lay inside at all looks 4…``looks`` — what optional stopping needs."""
    from rnnbench.stats.sequential import critical_t

    crit = np.array([critical_t(k, 0.05) for k in range(1, looks + 1)])
    rows = []
    for scenario, draw in (
        ("normal restarts", lambda shape: rng.normal(0.0, 0.02, shape)),
        (
            "heavy-tailed process effects (t₃) + pair noise",
            lambda shape: 0.01 * rng.standard_t(3, shape) + rng.normal(0.0, 0.01, shape),
        ),
        (
            "role offset ±2% (spawn order: one of each per two restarts, drawn) + pair noise",
            lambda shape: 0.02 * _balanced_signs(rng, shape) + rng.normal(0.0, 0.01, shape),
        ),
    ):
        x = draw((replicates, looks))
        k = np.arange(1, looks + 1)
        mean = np.cumsum(x, axis=1) / k
        var = (np.cumsum(x * x, axis=1) - k * mean**2) / np.maximum(k - 1, 1)
        half = crit[3:] * np.sqrt(np.maximum(var[:, 3:], 0) / k[3:])
        inside = np.abs(mean[:, 3:]) <= half  # from 4 restarts, where the sequence is finite
        rows.append(
            Row(
                "paired: confidence sequence over restarts",
                scenario,
                f"every look 4–{looks}",
                0.95,
                float(inside.all(axis=1).mean()),
                replicates,
            )
        )
    return rows


def _balanced_signs(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """±1 per restart, one of each in every two restarts, in a random order (``ab.coordinator.spawn_order``)."""
    first = rng.choice([-1.0, 1.0], (shape[0], (shape[1] + 1) // 2))
    return np.stack([first, -first], axis=2).reshape(shape[0], -1)[:, : shape[1]]


# ---- history: the false-change rate by series length (issue 23) -------------------------------------------
def history_rows(
    replicates: int = 200, series: int = 8, lengths: tuple[int, ...] = (8, 10, 20), seed: int = 0
) -> list[Row]:
    """``history``'s claim that a run of unchanged code reports no change in any of its series with
    probability ≥ 1 − α (95%), by series length: ``benchmarks/history_check.py``'s simulation (clean 2%
    noise, one run 30% slow, 30% of jobs on a 20%-slower runner), ``series`` series per run. Slow (the whole
    procedure per replicate), so fewer replicates than the other rows."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "rnnbench_history_check"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("history_check.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    label = f"history: no false change in any of {series} series"
    rows = module.false_rate_rows(replicates, series, lengths, seed)
    return [Row(label, r.scenario, f"{r.n} runs", 0.95, 1 - r.rate, replicates) for r in rows]


# ---- the crossover bracket (issue 24) ----------------------------------------------------------------------
CROSSOVER_TS: tuple[int, ...] = (16, 64, 256, 1024, 4096)
"""The ``scan`` preset's lengths."""


@dataclass(frozen=True)
class CrossoverCurve:
    """A true ratio curve ``(T / t_star) ** -slope`` (minimal / baseline time): it crosses 1 at ``t_star``;
    a ``t_star`` outside the lengths means it never crosses within them."""

    name: str
    t_star: float
    slope: float

    def ratios(self) -> np.ndarray:
        return (np.asarray(CROSSOVER_TS, dtype=float) / self.t_star) ** -self.slope


CROSSOVER_CURVES: tuple[CrossoverCurve, ...] = (
    CrossoverCurve("crosses at T*=400, steep (4.0 → 0.37)", 400, 0.43),
    CrossoverCurve("crosses at T*=400, shallow (±5–10% at 256 and 1024)", 400, 0.1),
    CrossoverCurve("crosses at a measured length, T*=256 (ratio 1 there)", 256, 0.3),
    CrossoverCurve("never crosses: 3.0 → 1.1, baseline faster throughout", 6900, 0.181),
    CrossoverCurve("scan faster throughout: 0.87 → 0.29 (T*=8)", 8, 0.2),
)


@dataclass(frozen=True)
class CrossoverOutcome:
    """One simulated configuration: how often the printed bounds held T* (``held``) and how often the outcome
    the curve calls for was printed (``printed``: the bracket, "no crossover" or "scan faster throughout")."""

    curve: CrossoverCurve
    sigma: float
    rounds: int
    expected: str
    held: float
    printed: float
    replicates: int

    def row(self) -> Row:
        return Row(
            "crossover bracket holds T*",
            f"{self.curve.name}, noise {self.sigma:.0%}; '{self.expected}' printed in {self.printed:.1%}",
            f"{len(CROSSOVER_TS)} lengths, {self.rounds}+{self.rounds}+{self.rounds} rounds",
            0.95,
            self.held,
            self.replicates,
        )


def crossover_outcomes(
    replicates: int,
    rng: np.random.Generator,
    curves: tuple[CrossoverCurve, ...] = CROSSOVER_CURVES,
    noises: tuple[float, ...] = (0.05, 0.15),
    rounds: tuple[int, ...] = (5, 3),
) -> list[CrossoverOutcome]:
    """The report's crossover on simulated rounds: at each T the minimal cell's round medians (lognormal noise
    ``sigma`` per round) against two baselines of *equal* true time, the faster median picked after the fact
    (``analyse.crossover``'s rule and its worst case: the pick leans towards "baseline faster"); the ratio
    interval and verdict by ``ratio_over_rounds``/``ratio_verdicts``, the bracket by ``crossover.bracket``.
    ``held``: the share of replicates whose printed bounds hold T* (``Bracket.holds``) — for a curve that never
    crosses, 1 − the share that claims a crossover."""
    from functools import cache

    from rnnbench.analyse.crossover import CROSSOVER, NO_CROSSOVER, SCAN_THROUGHOUT, VERDICT_WORDS, bracket
    from rnnbench.analyse.speed import ratio_verdicts

    @cache
    def decide(verdicts: tuple[str, ...], t_star: float) -> tuple[bool, str]:
        found = bracket(CROSSOVER_TS, verdicts)
        return found.holds(t_star), found.kind

    outcomes = []
    for curve in curves:
        expected = (
            SCAN_THROUGHOUT
            if curve.t_star < CROSSOVER_TS[0]
            else NO_CROSSOVER
            if curve.t_star > CROSSOVER_TS[-1]
            else CROSSOVER
        )
        for sigma in noises:
            for n in rounds:
                verdicts = []
                for ratio in curve.ratios():
                    minimal = ratio * np.exp(rng.normal(0.0, sigma, (replicates, n)))
                    first = np.exp(rng.normal(0.0, sigma, (replicates, n)))
                    second = np.exp(rng.normal(0.0, sigma, (replicates, n)))
                    pick = np.median(first, axis=1) <= np.median(second, axis=1)
                    baseline = np.where(pick[:, None], first, second)
                    est, low, high, method = ratio_over_rounds(minimal, baseline)
                    raw = ratio_verdicts(est, low, high, np.full(replicates, method, dtype=object))
                    verdicts.append([VERDICT_WORDS.get(str(v), str(v)) for v in raw])
                decided = [decide(tuple(v), curve.t_star) for v in zip(*verdicts, strict=True)]
                held = float(np.mean([h for h, _ in decided]))
                printed = float(np.mean([k == expected for _, k in decided]))
                outcomes.append(CrossoverOutcome(curve, sigma, n, expected, held, printed, replicates))
    return outcomes


def crossover_rows(replicates: int, rng: np.random.Generator) -> list[Row]:
    """:func:`crossover_outcomes` as table rows (claimed: 95%, the level of each length's interval)."""
    return [o.row() for o in crossover_outcomes(replicates, rng)]


def all_rows(replicates: int = 20000, seed: int = 0, history: bool = True) -> list[Row]:
    rng = np.random.default_rng(seed)
    return [
        *median_rows(replicates, rng),
        *ratio_rounds_rows(replicates, rng),
        *ratio_samples_rows(replicates, rng),
        *t_rows(replicates, rng),
        *wilson_rows(),
        *training_rule_rows(replicates, rng),
        *hodges_lehmann_rows(replicates, rng),
        *log_scale_rows(replicates, rng),
        *(history_rows(min(replicates, 200), seed=seed) if history else []),
        *paired_sequence_rows(replicates, rng),
        *crossover_rows(min(replicates, 5000), rng),
    ]


def markdown(rows: list[Row]) -> str:
    lines = [
        "| interval | data | n | claimed | simulated coverage | replicates |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        flag = "" if r.honest else " ✗"
        cells = (r.interval, r.scenario, r.n, f"{r.claimed:.1%}", f"{r.coverage:.1%}{flag}", str(r.replicates))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-history", action="store_true", help="leave out the (slow) history rows")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = all_rows(args.replicates, args.seed, history=not args.no_history)
    print(markdown(rows))
    print(f"\n✗: below the claimed level beyond simulation noise. {time.perf_counter() - start:.1f} s.")


if __name__ == "__main__":
    main()
