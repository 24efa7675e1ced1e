"""``history``: change points in each case's throughput over past runs.

Why change points instead of a rolling-median threshold: a threshold on one point against the median of the
last few flags single noisy runs and forgets a lasting change after window/2 runs, and it says neither *when*
a change happened nor how sure we are. A change-point method segments the whole series into stretches of
constant level and names the run where each level starts; each change then gets a magnitude (median after /
median before) and a significance (exact one-sided Mann–Whitney test of the runs after against the runs
before, :func:`rnnbench.stats.ranks.mann_whitney_exact`).

Segmentation and the test of each change are :mod:`rnnbench.stats.changes` (ruptures' PELT with the L1 cost
— the median's, so one odd run cannot pull a segment — on log throughput; the number of changes is chosen by
the data). The Mann–Whitney p of a change is optimistic (the segments were chosen on the same data): it ranks
and filters changes, it is not a calibrated false-alarm rate.

One series per case, thread count and environment fingerprint, one point per run (the median of its round
throughputs — ``gate.rounds.round_throughputs``, the gate's observation): a torch upgrade starts a new series
instead of being a change. A segment needs ``min_size`` runs (default 2: one odd run is not a change — the
"seen twice" rule ``ab`` applies with confirmation), so a change at the latest run shows from its second run.
"""

from __future__ import annotations

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
from rnnbench.stats.changes import change_points, describe_changes

METHOD = (
    "ruptures PELT (L1 cost on log throughput, penalty 2.5·σ·ln n) + exact one-sided Mann–Whitney per change"
)


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


@dataclass(frozen=True)
class ChangePoint:
    """A change of level: the run where the new level starts, the levels (medians) before and after, the
    ratio after/before and the one-sided p of "the runs after differ in that direction"."""

    index: int
    run_id: str
    started_at: str
    before: float
    after: float
    p_value: float
    significant: bool
    n_before: int
    n_after: int

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
            "magnitude": _num(self.ratio - 1),
            "p_value": _num(self.p_value),
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

    @property
    def latest(self) -> HistoryPoint:
        return self.points[-1]

    @property
    def last_change(self) -> ChangePoint | None:
        return self.changes[-1] if self.changes else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "case_id": self.case_id,
            "threads": self.threads,
            "fingerprint": self.fingerprint,
            "warning": self.warning,
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

    @property
    def warnings(self) -> list[CaseHistory]:
        return [c for c in self.cases if c.warning]

    @property
    def exit_code(self) -> int:
        """1 when a series' latest change is a recent, significant slowdown beyond the threshold, else 0."""
        return EXIT_REGRESSION if self.warnings else EXIT_OK

    def summary(self) -> str:
        changes = sum(len(c.changes) for c in self.cases)
        significant = sum(1 for c in self.cases for cp in c.changes if cp.significant)
        return (
            f"{len(self.cases)} series over {self.runs} runs; {changes} change point(s), {significant} "
            f"significant; {len(self.warnings)} warning(s) → exit {self.exit_code}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "window": self.window,
            "threshold": self.threshold,
            "min_size": self.min_size,
            "alpha": self.alpha,
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
    cases: list[CaseHistory] = []
    for key, group in rows.groupby([rows["case_id"].astype(str), "_t", "_fp"], dropna=False, sort=True):
        case_id, threads, fp = str(key[0]), int_or_none(key[1]), str(key[2])
        per_run = round_throughputs(group).groupby(level=0).median()
        runs = sorted(per_run.index, key=lambda r: rank[r])
        values = [float(per_run[r]) for r in runs]
        series = CaseHistory(case_name(case_labels(group), threads), case_id, threads, fp)
        found = describe_changes(values, change_points(values, min_size), alpha)
        bounds = [0, *(c[0] for c in found), len(values)]
        starts = {c[0] for c in found}
        for j in range(len(bounds) - 1):
            level = float(np.median(values[bounds[j] : bounds[j + 1]]))
            for i in range(bounds[j], bounds[j + 1]):
                series.points.append(
                    HistoryPoint(runs[i], started.get(runs[i], ""), values[i], level, i in starts)
                )
        for i, before, after, p, significant, n_b, n_a in found:
            series.changes.append(
                ChangePoint(i, runs[i], started.get(runs[i], ""), before, after, p, significant, n_b, n_a)
            )
        last = series.last_change
        series.warning = bool(
            last is not None
            and last.significant
            and last.ratio < 1 - threshold
            and last.index >= len(values) - window
        )
        cases.append(series)
    cases.sort(key=lambda c: (c.name, c.fingerprint))
    return History(cases, window, threshold, min_size, runs=len(order), alpha=alpha)
