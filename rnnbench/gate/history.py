"""``history``: change points in each case's throughput over past runs, with the false-change rate
controlled over every series of the run (issue 23).

Why change points instead of a rolling-median threshold: a threshold on one point against the median of the
last few flags single noisy runs and forgets a lasting change after window/2 runs, and it says neither *when*
a change happened nor how sure we are.

How (``stats.changes`` has the details): log throughput per series; one noise level σ **pooled** over every
series of the run; PELT (penalty from that σ) draws the segments; the **last change** of each series is the
largest standardised step since the change before it, and its p — the chance of so large a step with no change
at all, the split's choice and σ's uncertainty included — comes from simulated series of the same length.
The p values are **Holm-adjusted over all series**, so the chance that `history` reports a significant change
anywhere when nothing changed stays ≤ ``--alpha`` (simulated: ``benchmarks/history_check.py``). Each step
carries a 95% interval (ratio after/before). A series with fewer than ``MIN_RUNS`` runs (or fewer than
``2·min_size`` since its previous change) is **too short to tell**: below that length the false rate does not
hold (a single odd run or two on a slow runner look like a step), so no change is claimed either way.

One series per case, thread count and environment fingerprint, one point per run (the median of its round
throughputs — ``gate.rounds.round_throughputs``, the gate's observation): a torch upgrade starts a new series
instead of being a change. A segment needs ``min_size`` runs (default 2: one odd run is not a change — the
"seen twice" rule ``ab`` applies with confirmation), so a change at the latest run shows from its second run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.core.values import int_or_none
from rnnbench.errors import EXIT_OK, EXIT_REGRESSION, ConfigError
from rnnbench.gate.cases import case_labels, case_name
from rnnbench.gate.rounds import round_throughputs, throughput_rows
from rnnbench.stats.changes import change_points, log_series, pooled_sigma, scan, scan_p, step_interval
from rnnbench.stats.ranks import holm_adjust

METHOD = (
    "pooled σ of log throughput over all series; ruptures PELT segments; the last change of each series a "
    "scan of standardised median steps, p simulated (split choice and σ included), Holm over all series"
)

MIN_RUNS = 8
"""Fewest runs in a series for ``history`` to tell a change from noise: with 6, two CI jobs at the end on a
runner 20% slower than the rest (30% of jobs) look like a lasting step in 8% of unchanged histories of 8
series; from 8 runs every simulated kind of unchanged history stays near ``--alpha`` (``benchmarks/
history_check.py``). A shorter series is "too short to tell": no change is claimed either way."""


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


@dataclass(frozen=True)
class ChangePoint:
    """A change of level: the run where the new level starts, the levels (medians) before and after, the
    ratio after/before with its 95% interval (``low``, ``high``), the p of so large a step anywhere in the
    stretch with no change (``p_value``; NaN for a segment boundary that was not tested) and that p
    Holm-adjusted over every series of the run (``p_adjusted``); ``significant`` when it is ≤ alpha."""

    index: int
    run_id: str
    started_at: str
    before: float
    after: float
    p_value: float
    significant: bool
    n_before: int
    n_after: int
    low: float = math.nan
    high: float = math.nan
    p_adjusted: float = math.nan

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before > 0 else math.nan

    @property
    def slowdown(self) -> bool:
        return self.ratio < 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "index": self.index,
            "before_tokens_per_s": _num(self.before),
            "after_tokens_per_s": _num(self.after),
            "ratio": _num(self.ratio),
            "ratio_low": _num(self.low),
            "ratio_high": _num(self.high),
            "magnitude": _num(self.ratio - 1),
            "p_value": _num(self.p_value),
            "p_adjusted": _num(self.p_adjusted),
            "significant": self.significant,
            "runs_before": self.n_before,
            "runs_after": self.n_after,
        }


@dataclass(frozen=True)
class HistoryPoint:
    """One run of one case: its throughput (median over its rounds) and the level of its segment."""

    run_id: str
    started_at: str
    value: float
    level: float
    change: bool
    """A change point starts at this run."""

    @property
    def ratio(self) -> float:
        """This run against its segment's level."""
        return self.value / self.level if self.level and math.isfinite(self.level) else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "tokens_per_s": _num(self.value),
            "segment_level": _num(self.level),
            "change_point": self.change,
        }


@dataclass
class CaseHistory:
    """A series: one case at one thread count under one environment fingerprint, and its change points."""

    name: str
    case_id: str
    threads: int | None
    fingerprint: str
    points: list[HistoryPoint] = field(default_factory=list)
    changes: list[ChangePoint] = field(default_factory=list)
    warning: bool = False
    """The latest change is a significant slowdown beyond the threshold within the last ``window`` runs."""
    too_short: bool = False
    """Fewer than ``MIN_RUNS`` runs (or too few since the previous change): no change is claimed either way."""
    tested: ChangePoint | None = None
    """The last change as tested (also when not significant), None when the series is too short."""

    @property
    def latest(self) -> HistoryPoint:
        return self.points[-1]

    @property
    def last_change(self) -> ChangePoint | None:
        """The last change as tested, shown when it is significant or PELT drew a boundary; else None."""
        if self.tested is not None and (self.tested.significant or self.changes):
            return self.tested
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "case_id": self.case_id,
            "threads": self.threads,
            "fingerprint": self.fingerprint,
            "warning": self.warning,
            "too_short": self.too_short,
            "last_change_tested": self.tested.as_dict() if self.tested else None,
            "change_points": [c.as_dict() for c in self.changes],
            "points": [p.as_dict() for p in self.points],
        }


@dataclass
class History:
    cases: list[CaseHistory]
    window: int
    threshold: float
    min_size: int
    runs: int
    alpha: float = 0.05
    sigma: float = math.nan
    """The pooled noise of log throughput (≈ the relative run-to-run spread)."""
    pooled: int = 0
    """Successive differences ``sigma`` rests on."""

    @property
    def warnings(self) -> list[CaseHistory]:
        return [c for c in self.cases if c.warning]

    @property
    def exit_code(self) -> int:
        """1 when a series' latest change is a recent, significant slowdown beyond the threshold, else 0."""
        return EXIT_REGRESSION if self.warnings else EXIT_OK

    def summary(self) -> str:
        changes = sum(len(c.changes) for c in self.cases)
        significant = sum(1 for c in self.cases if c.tested is not None and c.tested.significant)
        short = sum(c.too_short for c in self.cases)
        noise = f"noise {self.sigma:.1%} per run (pooled over {self.pooled} differences)" if self.pooled else ""
        return (
            f"{len(self.cases)} series over {self.runs} runs ({short} too short to tell); {noise}; {changes} "
            f"segment boundary(ies), {significant} significant change(s) after Holm over the series; "
            f"{len(self.warnings)} warning(s) → exit {self.exit_code}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "window": self.window,
            "threshold": self.threshold,
            "min_size": self.min_size,
            "alpha": self.alpha,
            "min_runs": MIN_RUNS,
            "sigma": _num(self.sigma),
            "pooled_differences": self.pooled,
            "runs": self.runs,
            "warnings": len(self.warnings),
            "exit_code": self.exit_code,
            "cases": [c.as_dict() for c in self.cases],
        }


def build_history(
    paths: Sequence[Path | str],
    window: int = 5,
    threshold: float = 0.05,
    min_size: int = 2,
    alpha: float = 0.05,
) -> History:
    """Read every run under ``paths`` (through the one loader), build one series per case, thread count and
    fingerprint, and find its change points. A series warns when its latest change starts within the last
    ``window`` runs, is a slowdown by more than ``threshold`` and is significant at ``alpha``."""
    from rnnbench.results.loader import load

    if window < 1 or min_size < 1:
        raise ConfigError(f"need --window ≥ 1 and --min-history ≥ 1, got {window} and {min_size}.")
    if not 0 < threshold < 1:
        raise ConfigError(f"--threshold must lie in (0, 1) (e.g. 0.05 or 5%), got {threshold}.")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--alpha must lie in (0, 0.5), got {alpha}.")
    results = load(paths, ("summary",))
    started: dict[str, str] = {}
    meta_fp: dict[tuple[str, str], str] = {}
    for info in results.runs.values():
        started[info.run_id] = info.started_at
        for device, fp in info.fingerprint.items():
            meta_fp[(info.run_id, device)] = fp
    rows = throughput_rows(results.frames["summary"]).copy()
    rows["run_id"] = rows["run_id"].astype(str)
    rows["_fp"] = [
        str(fp) if isinstance(fp, str) and fp else meta_fp.get((run, str(dev)), "")
        for fp, run, dev in zip(rows["fingerprint"], rows["run_id"], rows["device"], strict=True)
    ]
    rows["_t"] = rows["threads"].map(int_or_none)
    order = sorted(rows["run_id"].unique(), key=lambda r: (started.get(r, ""), r))
    rank = {r: i for i, r in enumerate(order)}
    built: list[tuple[CaseHistory, list[str], list[float]]] = []
    for key, group in rows.groupby([rows["case_id"].astype(str), "_t", "_fp"], dropna=False, sort=True):
        case_id, threads, fp = str(key[0]), int_or_none(key[1]), str(key[2])
        per_run = round_throughputs(group).groupby(level=0).median()
        runs = sorted(per_run.index, key=lambda r: rank[r])
        values = [float(per_run[r]) for r in runs]
        built.append((CaseHistory(case_name(case_labels(group), threads), case_id, threads, fp), runs, values))
    sigma, pooled = decide(built, started, window, threshold, min_size, alpha)
    cases = [series for series, _, _ in built]
    cases.sort(key=lambda c: (c.name, c.fingerprint))
    return History(cases, window, threshold, min_size, runs=len(order), alpha=alpha, sigma=sigma, pooled=pooled)


def decide(
    built: list[tuple[CaseHistory, list[str], list[float]]],
    started: dict[str, str],
    window: int,
    threshold: float,
    min_size: int,
    alpha: float,
) -> tuple[float, int]:
    """The statistics of one ``history`` run over its series (each a ``CaseHistory`` with its run ids and
    throughputs, filled in place): the pooled σ, PELT's segments, the tested last change of each series, Holm
    over all series and the warnings. Returns ``(σ, pooled differences)``. ``simulate`` runs it on numbers."""
    sigma, pooled = pooled_sigma([log_series(v) for _, _, v in built])
    tests: list[tuple[CaseHistory, ChangePoint]] = []
    for series, runs, values in built:
        x = log_series(values)
        cuts = change_points(values, min_size, sigma)
        bounds = [0, *cuts, len(values)]
        for j in range(len(bounds) - 1):
            level = float(np.median(values[bounds[j] : bounds[j + 1]]))
            for i in range(bounds[j], bounds[j + 1]):
                series.points.append(
                    HistoryPoint(runs[i], started.get(runs[i], ""), values[i], level, i in set(cuts))
                )
        for j, i in enumerate(cuts):  # segments, described: ratio and interval, no test
            ratio, low, high = step_interval(values[bounds[j] : i], values[i : bounds[j + 2]], sigma, pooled)
            series.changes.append(_change(runs, started, values, bounds[j], i, bounds[j + 2], ratio, low, high))
        # The whole series is scanned: starting after a PELT boundary would test a stretch the data chose,
        # which the simulated null does not pay for (single outliers then made 11-18% false changes).
        start = 0
        found = scan(x[start:], min_size, sigma) if len(values) >= MIN_RUNS else None
        if found is None:
            series.too_short = True
            continue
        k = start + found.index
        ratio, low, high = step_interval(values[start:k], values[k:], sigma, pooled)
        p = scan_p(found, len(values) - start, min_size, pooled)
        tests.append((series, _change(runs, started, values, start, k, len(values), ratio, low, high, p)))
    adjusted = holm_adjust([cp.p_value for _, cp in tests])
    for (series, cp), p_adj in zip(tests, adjusted, strict=True):
        series.tested = dataclasses.replace(cp, p_adjusted=p_adj, significant=p_adj <= alpha)
        last = series.tested
        series.warning = bool(
            last.significant and last.ratio < 1 - threshold and last.index >= len(series.points) - window
        )
    return sigma, pooled


def simulate(
    series: Sequence[Sequence[float]],
    window: int = 5,
    threshold: float = 0.05,
    min_size: int = 2,
    alpha: float = 0.05,
) -> list[CaseHistory]:
    """``history``'s decisions on bare series of throughputs (one list per series, oldest first): what
    ``benchmarks/history_check.py`` and the tests simulate."""
    built = []
    for j, values in enumerate(series):
        runs = [f"r{i}" for i in range(len(values))]
        built.append((CaseHistory(f"s{j}", str(j), None, ""), runs, [float(v) for v in values]))
    decide(built, {}, window, threshold, min_size, alpha)
    return [case for case, _, _ in built]


def _change(
    runs: list[str],
    started: dict[str, str],
    values: list[float],
    start: int,
    k: int,
    stop: int,
    ratio: float,
    low: float,
    high: float,
    p: float = math.nan,
) -> ChangePoint:
    """The change at run ``k`` between the stretches ``start:k`` and ``k:stop`` (levels are their medians)."""
    before, after = float(np.median(values[start:k])), float(np.median(values[k:stop]))
    return ChangePoint(
        k, runs[k], started.get(runs[k], ""), before, after, p, False, k - start, stop - k, low, high
    )
