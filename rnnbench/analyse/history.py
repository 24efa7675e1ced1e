"""``history``: each case's throughput over past runs against a rolling median of earlier runs.

Why a rolling median of runs with the *same fingerprint*: a torch upgrade or another runner model changes the
level legitimately, and must start a new series rather than trip the alarm; the median of the last few runs
ignores a single outlier run. One flagged point is common on shared machines, so the warning needs two
consecutive flagged points — the same "seen twice" rule ``ab`` applies with confirmation rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.analyse.gate import case_labels, case_name, round_throughputs, throughput_rows
from rnnbench.core.values import int_or_none
from rnnbench.errors import EXIT_OK, EXIT_REGRESSION, ConfigError


@dataclass(frozen=True)
class HistoryPoint:
    """One run of one case: its throughput (median over its rounds) and how it compares with the rolling
    median of up to ``window`` earlier runs of the same series."""

    run_id: str
    started_at: str
    value: float
    baseline: float
    flagged: bool
    warning: bool

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline and math.isfinite(self.baseline) else math.nan

    def as_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "tokens_per_s": num(self.value),
            "rolling_median": num(self.baseline),
            "ratio": num(self.ratio),
            "flagged": self.flagged,
            "warning": self.warning,
        }


@dataclass
class CaseHistory:
    """A series: one case at one thread count under one environment fingerprint."""

    name: str
    case_id: str
    threads: int | None
    fingerprint: str
    points: list[HistoryPoint] = field(default_factory=list)

    @property
    def latest(self) -> HistoryPoint:
        return self.points[-1]

    @property
    def warning(self) -> bool:
        """The latest two points are both flagged."""
        return bool(self.points) and self.latest.warning

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "case_id": self.case_id,
            "threads": self.threads,
            "fingerprint": self.fingerprint,
            "warning": self.warning,
            "points": [p.as_dict() for p in self.points],
        }


@dataclass
class History:
    cases: list[CaseHistory]
    window: int
    threshold: float
    min_history: int
    runs: int

    @property
    def warnings(self) -> list[CaseHistory]:
        return [c for c in self.cases if c.warning]

    @property
    def exit_code(self) -> int:
        """1 when a series' latest two runs are both flagged, else 0."""
        return EXIT_REGRESSION if self.warnings else EXIT_OK

    def summary(self) -> str:
        flagged = sum(1 for c in self.cases if c.points and c.latest.flagged)
        return (
            f"{len(self.cases)} series over {self.runs} runs; {flagged} flagged at the latest run, "
            f"{len(self.warnings)} warning(s) → exit {self.exit_code}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "threshold": self.threshold,
            "min_history": self.min_history,
            "runs": self.runs,
            "warnings": len(self.warnings),
            "exit_code": self.exit_code,
            "cases": [c.as_dict() for c in self.cases],
        }


def flag_series(
    values: Sequence[float], window: int = 5, threshold: float = 0.05, min_history: int = 3
) -> list[tuple[float, bool, bool]]:
    """``(rolling median, flagged, warning)`` per point, in order.

    A point is flagged when it is slower than ``(1 − threshold)`` × the median of the up to ``window``
    previous points (at least ``min_history`` of them); a warning is a flagged point whose predecessor was
    flagged too. Flagged points stay in later baselines, so a lasting change becomes the new normal after
    about ``window / 2`` runs instead of alarming forever.
    """
    out: list[tuple[float, bool, bool]] = []
    previous_flag = False
    for i, value in enumerate(values):
        past = [v for v in values[max(0, i - window) : i] if math.isfinite(v)]
        baseline = float(np.median(past)) if len(past) >= min_history else math.nan
        flagged = math.isfinite(baseline) and math.isfinite(value) and value < (1 - threshold) * baseline
        out.append((baseline, flagged, flagged and previous_flag))
        previous_flag = flagged
    return out


def build_history(
    paths: Sequence[Path | str], window: int = 5, threshold: float = 0.05, min_history: int = 3
) -> History:
    """Read every run under ``paths`` (through the one loader) and build one series per case, thread count and
    fingerprint. A run's value is the median of its round throughputs (``gate.round_throughputs``, the gate's
    observation), so ``history`` and ``compare`` never disagree on what one round measured."""
    from rnnbench.results.loader import load

    if window < 1 or min_history < 1 or min_history > window:
        raise ConfigError(
            f"need 1 ≤ --min-history ≤ --window, got --min-history {min_history} --window {window}."
        )
    if not 0 < threshold < 1:
        raise ConfigError(f"--threshold must lie in (0, 1) (e.g. 0.05 or 5%), got {threshold}.")
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
    groups: dict[tuple[str, int | None, str], Any] = {}
    for key, group in rows.groupby([rows["case_id"].astype(str), "_t", "_fp"], dropna=False, sort=True):
        groups[(str(key[0]), int_or_none(key[1]), str(key[2]))] = group
    for (case_id, threads, fp), group in groups.items():
        # one value per run: the median over that run's round throughputs
        per_run = round_throughputs(group).groupby(level=0).median()
        runs = sorted(per_run.index, key=lambda r: rank[r])
        values = [float(per_run[r]) for r in runs]
        series = CaseHistory(case_name(case_labels(group), threads), case_id, threads, fp)
        for run_id, value, (baseline, flagged, warning) in zip(
            runs, values, flag_series(values, window, threshold, min_history), strict=True
        ):
            series.points.append(
                HistoryPoint(run_id, started.get(run_id, ""), value, baseline, flagged, warning)
            )
        cases.append(series)
    cases.sort(key=lambda c: (c.name, c.fingerprint))
    return History(cases, window, threshold, min_history, runs=len(order))
