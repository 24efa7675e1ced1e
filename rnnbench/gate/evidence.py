"""The two kinds of evidence the gate's verdict rule (:mod:`rnnbench.gate.verdict`) decides on.

- :class:`RoundEvidence`, process rounds (``compare``, ``ab --method rounds``): the replication unit is a
  *round* — one fresh process, ``(run_id, round)`` — because samples inside one process are correlated and
  tests that pool them flag identical code far too often. The effect is ``median(head rounds) / median(base
  rounds)`` of throughput with a percentile bootstrap interval over rounds (fixed seed), the test the exact
  one-sided Mann–Whitney U on the same round values (exact conditional on ties). Decisive verdicts need ≥ 5
  rounds per side (a bootstrap interval over 2–4 values undercovers, and one case's exact test cannot reach
  α = 0.01 below 5); a family of K cases needs 1/C(2n, n) ≤ α/K — 7 rounds for 16 cases at α = 0.01.
- :class:`RestartEvidence`, paired blocks (``ab``'s default): the anytime-valid t confidence sequence over
  per-restart trimmed means of the pair log-ratios (:mod:`rnnbench.stats.restarts` has the model,
  :mod:`rnnbench.stats.sequential` the sequence), at least :data:`MIN_RESTARTS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnnbench.gate.settings import GateSettings
from rnnbench.stats.intervals import Interval, bootstrap_ratio_ci
from rnnbench.stats.power import restarts_needed, rounds_needed
from rnnbench.stats.ranks import RankTest, mann_whitney_exact, smallest_exact_p
from rnnbench.stats.restarts import restart_estimates
from rnnbench.stats.sequential import SequentialEvidence, min_looks

MIN_RESTARTS = 4
"""Restarts below which no paired verdict is decisive: the 95% confidence sequence is infinite below 4
restarts, and a normality assumption over 3 estimates cannot be checked."""

PAIRED_TEST = (
    "anytime-valid one-sided t test (Lai's t confidence sequence) over restarts of the trimmed-mean "
    "log-ratio of adjacent A/B blocks"
)
"""The test each paired verdict rests on (the JSON's ``false_alarm_control.test``)."""


@dataclass(frozen=True)
class RoundEvidence:
    """One case's process rounds: ratio interval, rank test, usable rounds per side."""

    ratio: Interval
    test: RankTest
    n_base: int
    n_head: int
    unit = "rounds"
    per_side = "rounds per side"

    @classmethod
    def of(cls, base: Sequence[float], head: Sequence[float], settings: GateSettings) -> RoundEvidence:
        """Ratio head/base with its bootstrap interval and the exact rank test of head against base: its
        ``p_less`` is the one-sided p for "head slower", ``p_greater`` for "head faster"."""
        base_arr = np.asarray(base, dtype=float)
        head_arr = np.asarray(head, dtype=float)
        ratio = bootstrap_ratio_ci(head_arr, base_arr, settings.level, settings.n_boot, settings.seed)
        test = mann_whitney_exact(head_arr, base_arr)
        return cls(ratio, test, int(np.isfinite(base_arr).sum()), int(np.isfinite(head_arr).sum()))

    @property
    def slower(self) -> bool:
        if math.isfinite(self.ratio.estimate):
            return self.ratio.estimate < 1
        return self.test.p_less < self.test.p_greater

    def interval(self, settings: GateSettings) -> Interval:
        return self.ratio

    def p_slower(self) -> float:
        return self.test.p_less

    def p_faster(self) -> float:
        return self.test.p_greater

    def min_n(self, settings: GateSettings) -> int:
        return settings.min_rounds

    def smallest_p(self) -> float:
        return smallest_exact_p(self.n_base, self.n_head)

    def needed(self, settings: GateSettings, family: int) -> int | None:
        return rounds_needed(
            self.ratio.estimate,
            self.ratio.low,
            self.ratio.high,
            min(self.n_base, self.n_head),
            settings.min_effect,
            settings.alpha,
            family=family,
            level=settings.level,
            power=settings.power,
        )


@dataclass(frozen=True)
class RestartEvidence:
    """One case's paired restarts, judged by the anytime-valid confidence sequence over its per-restart
    estimates (:mod:`rnnbench.stats.sequential`): the gate may look after every restart."""

    sequence: SequentialEvidence
    unit = "restarts"
    per_side = "restarts"

    @classmethod
    def of(cls, restarts: Sequence[Sequence[float]]) -> RestartEvidence:
        """``restarts[r]``: the pair log-ratios (log head/base throughput) of restart r, in order."""
        pairs = sum(1 for r in restarts for v in r if math.isfinite(v))
        return cls(SequentialEvidence(restart_estimates(restarts), pairs))

    @property
    def n_base(self) -> int:
        return self.sequence.n

    @property
    def n_head(self) -> int:
        return self.sequence.n

    @property
    def slower(self) -> bool:
        return self.sequence.mean < 0

    def interval(self, settings: GateSettings) -> Interval:
        return self.sequence.interval(settings.level)

    def p_slower(self) -> float:
        return self.sequence.p_slower()

    def p_faster(self) -> float:
        return self.sequence.p_faster()

    def min_n(self, settings: GateSettings) -> int:
        return max(MIN_RESTARTS, min_looks(1 - settings.level))

    def smallest_p(self) -> float:
        return 0.0

    def needed(self, settings: GateSettings, family: int) -> int | None:
        return restarts_needed(
            self.sequence.mean,
            self.sequence.sd,
            self.sequence.n,
            settings.min_effect,
            settings.alpha / max(family, 1),
            level=settings.level,
            power=settings.power,
        )
