"""What a gate comparison produces: one :class:`CaseComparison` per case, the :class:`Comparison` around them,
and the exit code they give.

Exit codes follow :data:`rnnbench.errors.EXIT_PRECEDENCE` (most severe first): internal error 3 > a benchmark
failed 6 > confirmed regression 1 > nothing comparable 4 > inconclusive under ``--strict`` 5 > 0. A crash or
failed case outranks a slowdown because a case that did not run may hide a regression and the fix (a bug)
comes first; a regression outranks "nothing comparable" because it is a definite finding; "inconclusive" is
the weakest signal and only fails the job when asked to (``--strict``). Usage errors (2) happen before any
measurement, so they never compete with the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.core.values import plain
from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
    most_severe,
)
from rnnbench.gate.evidence import MIN_RESTARTS, PAIRED_TEST
from rnnbench.gate.settings import CORRECTION, TEST, GateSettings
from rnnbench.stats.intervals import median_ci

VERDICTS: tuple[str, ...] = (
    "regression",
    "improvement",
    "no_change",
    "inconclusive",
    "not_comparable",
    "error",
)

PENDING = "pending"
"""Placeholder verdict of a comparable case until the whole family is decided (``gate.verdict.settle``)."""


@dataclass(frozen=True)
class CaseComparison:
    """One case compared across base and head; ``base_values``/``head_values`` are per-round throughputs."""

    name: str
    case_id: str
    labels: Mapping[str, Any]
    base_threads: int | None
    head_threads: int | None
    base_values: tuple[float, ...]
    head_values: tuple[float, ...]
    verdict: str
    reason: str
    ratio: float = math.nan
    ratio_low: float = math.nan
    ratio_high: float = math.nan
    p_value: float = math.nan
    """Holm-adjusted one-sided p in the direction ``p_side`` of the estimate: what is compared with α."""
    rounds_needed: int | None = None
    confirmed: bool | None = None
    """``ab`` only: whether a regression held on fresh rounds (``None``: not re-measured)."""
    p_raw: float = math.nan
    """The same one-sided p before the correction over the cases compared."""
    p_side: str = ""
    """``slower`` or ``faster``: the alternative ``p_value`` tests (empty when no test ran)."""

    @property
    def device(self) -> str:
        return str(self.labels.get("device", ""))

    @property
    def base_value(self) -> float:
        return float(np.median(self.base_values)) if self.base_values else math.nan

    @property
    def head_value(self) -> float:
        return float(np.median(self.head_values)) if self.head_values else math.nan

    @property
    def head_half_width(self) -> float:
        """Half-width of the distribution-free 95% interval of the head's median over rounds."""
        if not self.head_values:
            return math.nan
        return median_ci(self.head_values).half_width

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "case_id": self.case_id,
            **{k: plain(v) for k, v in self.labels.items()},
            "base_threads": self.base_threads,
            "head_threads": self.head_threads,
            "base_rounds": len(self.base_values),
            "head_rounds": len(self.head_values),
            "base_tokens_per_s": finite_or_none(self.base_value),
            "head_tokens_per_s": finite_or_none(self.head_value),
            "head_half_width": finite_or_none(self.head_half_width),
            "ratio": finite_or_none(self.ratio),
            "ratio_low": finite_or_none(self.ratio_low),
            "ratio_high": finite_or_none(self.ratio_high),
            "p_value": finite_or_none(self.p_value),
            "p_raw": finite_or_none(self.p_raw),
            "p_side": self.p_side,
            "verdict": self.verdict,
            "rounds_needed": self.rounds_needed,
            "confirmed": self.confirmed,
            "reason": self.reason,
            "base_values": list(self.base_values),
            "head_values": list(self.head_values),
        }


@dataclass
class Comparison:
    """All cases of one base/head comparison, the settings used and the resulting exit code."""

    cases: list[CaseComparison]
    settings: GateSettings
    base_sources: list[str] = field(default_factory=list)
    head_sources: list[str] = field(default_factory=list)
    base_rounds: int = 0
    head_rounds: int = 0
    notes: list[str] = field(default_factory=list)
    family: int = 0
    """Cases the Holm correction spans: those that reached a statistical decision (not errors, not
    not-comparable ones)."""
    method: str = "rounds"
    """``rounds``: each fresh process is one observation (``compare``, ``ab --method rounds``); ``paired``:
    adjacent A/B blocks of persistent workers, restarts as the replication unit (``ab``'s default)."""
    design: dict[str, Any] = field(default_factory=dict)
    """Paired: what the sequential gate chose and spent — block length, pairs per restart, CPUs, the α of
    each stage, restarts and seconds per stage (the JSON's ``design``)."""

    @property
    def honest_min_effect(self) -> float:
        """The farthest any decided case's ratio interval reaches from 1: the smallest ``--min-effect`` with
        which these data could call every case "no change" if nothing changed — the size of effect they can
        decide at all. NaN when no case has an interval."""
        reach = [
            max(1 - c.ratio_low, c.ratio_high - 1, 0.0)
            for c in self.cases
            if math.isfinite(c.ratio_low) and math.isfinite(c.ratio_high)
        ]
        return max(reach) if reach else math.nan

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for case in self.cases:
            out[case.verdict] += 1
        return out

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.cases, self.settings.strict)

    def summary(self) -> str:
        """One line: the non-zero verdict counts and the exit code."""
        counts = self.counts()
        parts = [f"{n} {v.replace('_', ' ')}" for v, n in counts.items() if n]
        return f"{', '.join(parts) or 'no cases'} → exit {self.exit_code}"

    def false_alarm_control(self) -> dict[str, Any]:
        """How α was spent in this comparison: the test, the correction and the family it spans."""
        s = self.settings
        family = max(self.family, 1)
        if self.method == "paired":
            stage = float(self.design.get("alpha_first", s.alpha))
            return {
                "scope": "per run: P(any confirmed regression | unchanged code) ≤ alpha = alpha_first × "
                "alpha_confirm (two independent stages, each Holm-corrected over its cases)",
                "test": PAIRED_TEST,
                "correction": CORRECTION,
                "family_size": self.family,
                "alpha": s.alpha,
                "alpha_first": stage,
                "alpha_confirm": self.design.get("alpha_confirm"),
                "first_step_level": stage / family,
                "min_restarts": MIN_RESTARTS,
                "assumes": "independent restarts with roughly normal per-restart estimates (roles and order "
                "randomised); pairs inside one machine phase",
            }
        return {
            "scope": "per run: P(any regression | unchanged code) ≤ alpha",
            "test": TEST,
            "correction": CORRECTION,
            "family_size": self.family,
            "alpha": s.alpha,
            "first_step_level": s.alpha / family,
            "min_rounds": s.min_rounds_for(family),
            "assumes": "exchangeable rounds (side by side in one job); between-job drift is not covered",
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "honest_min_effect": finite_or_none(self.honest_min_effect),
            "settings": self.settings.as_dict(),
            "false_alarm_control": self.false_alarm_control(),
            "base": {"sources": self.base_sources, "rounds": self.base_rounds},
            "head": {"sources": self.head_sources, "rounds": self.head_rounds},
            "counts": self.counts(),
            "exit_code": self.exit_code,
            "notes": self.notes,
            **({"design": dict(self.design)} if self.design else {}),
            "cases": [c.as_dict() for c in self.cases],
        }


@dataclass
class ABResult:
    """The gate's answer (``comparison``, regressions marked confirmed or not), the first-round and
    confirmation comparisons behind it, and the time each phase took."""

    comparison: Comparison
    first: Comparison
    confirmation: Comparison | None
    output: Path
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.comparison.exit_code

    @property
    def confirmed_regressions(self) -> list[CaseComparison]:
        return [c for c in self.comparison.cases if c.verdict == "regression" and c.confirmed is not False]


def exit_code_for(cases: Sequence[CaseComparison], strict: bool = False) -> int:
    """0 unless: a case errored (6), a regression that was not refuted on fresh rounds (1), no case could be
    compared (4), or — with ``strict`` — a case is inconclusive (5); the most severe wins."""
    codes = [EXIT_OK]
    if any(c.verdict == "error" for c in cases):
        codes.append(EXIT_BENCHMARK_FAILED)
    if any(c.verdict == "regression" and c.confirmed is not False for c in cases):
        codes.append(EXIT_REGRESSION)
    if not any(c.verdict not in ("not_comparable",) for c in cases):
        codes.append(EXIT_NOTHING_COMPARABLE)
    if strict and any(c.verdict == "inconclusive" for c in cases):
        codes.append(EXIT_INCONCLUSIVE)
    return most_severe(codes)


def finite_or_none(value: float) -> float | None:
    """A number for JSON: ``None`` stands for NaN and ±inf."""
    return float(value) if value is not None and math.isfinite(value) else None
