"""A/A calibration's figures: how much each case varies on this machine and the smallest effect it can gate
honestly; with injected slowdowns (paired mode) also the power to catch them. Values only — ``ab.calibrate``
measures."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnbench.errors import EXIT_BENCHMARK_FAILED, EXIT_NOTHING_COMPARABLE, EXIT_OK, most_severe
from rnnbench.gate.results import Comparison


@dataclass(frozen=True)
class CaseCalibration:
    """A/A figures of one case: round-to-round variation and the smallest effect it can gate honestly."""

    name: str
    case_id: str
    rounds: int
    median: float
    spread: float
    """Robust relative spread of round throughputs: 1.4826·MAD / median over both A/A sides."""
    ratio: float
    ratio_low: float
    ratio_high: float
    p_value: float
    verdict: str
    honest_min_effect: float
    """max(1 − low, high − 1) of the A/A ratio interval: a smaller min effect cannot show "no change" for this
    case with these rounds, and a real effect of that size cannot be told from noise."""
    detectable_effect: float = math.nan
    """Paired mode: the smallest slowdown detected (and confirmed) with ≥ 90% power at this budget, from the
    restart-to-restart spread of the A/A estimates (noncentral t, Holm's first-step level)."""
    detected: dict[str, bool] = field(default_factory=dict)
    """``calibrate --inject``: per injected fraction (as text), whether this case's slowdown was detected and
    confirmed."""

    def as_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "name": self.name,
            "case_id": self.case_id,
            "rounds": self.rounds,
            "median_tokens_per_s": num(self.median),
            "spread": num(self.spread),
            "ratio": num(self.ratio),
            "ratio_low": num(self.ratio_low),
            "ratio_high": num(self.ratio_high),
            "p_value": num(self.p_value),
            "verdict": self.verdict,
            "honest_min_effect": num(self.honest_min_effect),
            "detectable_effect": num(self.detectable_effect),
            "detected": dict(self.detected),
        }


@dataclass
class Calibration:
    """A/A result: per-case figures, the false alarms at the current settings and a suggested min effect;
    with injected slowdowns (paired mode) also the power per injected size."""

    cases: list[CaseCalibration]
    comparison: Comparison
    recommended_min_effect: float
    seconds: float = 0.0
    power: dict[float, float] = field(default_factory=dict)
    """Injected fraction → fraction of the comparable cases whose slowdown was detected *and* confirmed."""
    power_first: dict[float, float] = field(default_factory=dict)
    """The same before confirmation."""
    detectable_effect: float = math.nan
    """Largest per-case :attr:`CaseCalibration.detectable_effect`: every case sees this with ≥ 90% power."""
    notes: list[str] = field(default_factory=list)

    @property
    def median_detectable_effect(self) -> float:
        """The typical case's :attr:`CaseCalibration.detectable_effect` (the median over cases)."""
        return _median_finite([c.detectable_effect for c in self.cases])

    @property
    def honest_min_effect(self) -> float:
        """The largest per-case honest min effect (unrounded)."""
        values = [c.honest_min_effect for c in self.cases if math.isfinite(c.honest_min_effect)]
        return max(values) if values else math.nan

    @property
    def false_alarms(self) -> int:
        """Cases an A/A comparison calls a regression or improvement (each is a false alarm). α is per run
        and per direction (Holm over the cases), so an A/A run shows any false regression with probability
        ≤ α and any false alarm at all with probability ≤ 2α: an occasional one is chance, false alarms in
        calibration after calibration say the rounds are not exchangeable (drift, a noisy neighbour)."""
        return sum(1 for c in self.cases if c.verdict in ("regression", "improvement"))

    @property
    def exit_code(self) -> int:
        """0 when done — false alarms are what a calibration measures, so they never fail it; 6 when a case
        errored; 4 when no case could be compared (an empty grid too); the most severe wins."""
        verdicts = [c.verdict for c in self.cases]
        codes = [EXIT_OK]
        if "error" in verdicts:
            codes.append(EXIT_BENCHMARK_FAILED)
        if all(v == "not_comparable" for v in verdicts):
            codes.append(EXIT_NOTHING_COMPARABLE)
        return most_severe(codes)

    def as_dict(self) -> dict[str, Any]:
        settings = self.comparison.settings.as_dict()
        if self.comparison.method == "paired":
            settings.update(test=self.comparison.false_alarm_control()["test"], min_rounds=None)
        return {
            "method": self.comparison.method,
            "settings": settings,
            "honest_min_effect": self.honest_min_effect,
            "recommended_min_effect": self.recommended_min_effect,
            "false_alarms": self.false_alarms,
            "power": {f"{f:g}": v for f, v in self.power.items()},
            "power_first_stage": {f"{f:g}": v for f, v in self.power_first.items()},
            "detectable_effect_90": self.detectable_effect,
            "detectable_effect_90_median": self.median_detectable_effect,
            "honest_min_effect_median": _median_finite([c.honest_min_effect for c in self.cases]),
            "seconds": self.seconds,
            "notes": list(self.notes),
            "cases": [c.as_dict() for c in self.cases],
        }


def _median_finite(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(statistics.median(finite)) if finite else math.nan


def _robust_spread(values: Sequence[float]) -> float:
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return math.nan
    med = float(np.median(x))
    return float(1.4826 * np.median(np.abs(x - med)) / med) if med > 0 else math.nan


def calibration_from(comparison: Comparison, seconds: float = 0.0) -> Calibration:
    """Turn an A/A comparison into per-case variation and a suggested ``--min-effect``.

    The suggestion is the largest per-case honest min effect, rounded up to the next half percent and never
    below 1%: the smallest threshold at which this machine, with these rounds, can say "no change" for every
    case of the grid.
    """
    cases = []
    for c in comparison.cases:
        values = c.base_values + c.head_values
        finite = math.isfinite(c.ratio_low) and math.isfinite(c.ratio_high)
        honest = max(1 - c.ratio_low, c.ratio_high - 1, 0.0) if finite else math.nan
        cases.append(
            CaseCalibration(
                name=c.name,
                case_id=c.case_id,
                rounds=min(len(c.base_values), len(c.head_values)),
                median=float(np.median(values)) if values else math.nan,
                spread=_robust_spread(values),
                ratio=c.ratio,
                ratio_low=c.ratio_low,
                ratio_high=c.ratio_high,
                p_value=c.p_value,
                verdict=c.verdict,
                honest_min_effect=honest,
            )
        )
    honest_values = [c.honest_min_effect for c in cases if math.isfinite(c.honest_min_effect)]
    worst = max(honest_values) if honest_values else math.nan
    recommended = max(0.01, math.ceil(worst * 200 - 1e-9) / 200) if math.isfinite(worst) else math.nan
    return Calibration(cases, comparison, recommended, seconds)
