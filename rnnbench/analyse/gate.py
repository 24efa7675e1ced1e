"""The regression gate: per-case comparison of two sets of result folders, verdicts and the exit code.

Statistics (README, "Regression gating" → "The statistics"): the replication unit is a *round* — one fresh
worker process, identified by ``(run_id, round)`` — because samples inside one process are correlated and
tests that pool them flag identical code far too often. For each case and side the throughput
(``tokens_per_s``, bigger is better) of every round is one observation. The effect is ``median(head rounds) /
median(base rounds)`` with a percentile bootstrap interval that resamples rounds (fixed seed), plus exact
*one-sided* Mann–Whitney U tests on the same round values ("head slower", "head faster"; exact conditional on
ties).

α is the false-alarm probability of a whole run: ``compare`` exits 1 if *any* case regresses, so the "head
slower" p values of the K cases that reach a decision (the family) are Holm-adjusted, and a regression needs
an adjusted p ≤ α — then the probability that unchanged code gives any regression is ≤ α, however many cases
and however they depend on each other. Improvements are tested the same way in the other direction (their own
Holm family at α); they never change the exit code. Verdicts, with m = min effect and p the Holm-adjusted
one-sided p in the direction of the estimate:

* ``regression``   p ≤ α, the ratio's interval lies below 1 and the estimate is below 1 − m
* ``improvement``  p ≤ α, the interval lies above 1 and the estimate is above 1 + m
* ``no_change``    the whole interval lies inside [1 − m, 1 + m] (closed)
* ``inconclusive`` anything else, with the rounds per side that would decide with 80% power
* ``not_comparable`` a hard fingerprint key differs (``--allow-diff`` relaxes it), the case exists on one side
  only, or it is unsupported/skipped on both sides
* ``error``        a round failed (``error``/``oom``) or one side has no usable round

Decisive verdicts need ≥ 5 rounds per side (a bootstrap interval over 2–4 values undercovers, and one case's
exact test cannot reach α = 0.01 below 5). An effect needs more as the family grows: the most significant case
must reach α/K, which an exact test with n + n rounds can only do when 1/C(2n, n) ≤ α/K — 7 rounds for 16
cases at α = 0.01, 8 for up to 128. The tests assume exchangeable rounds (all measured side by side in one
job, as ``ab`` does); folders from different jobs or machines differ by more than their rounds show, which
no test over rounds covers.

Exit code precedence (most severe first), see :data:`EXIT_PRECEDENCE`: internal error 3 > a benchmark failed 6 >
confirmed regression 1 > nothing comparable 4 > inconclusive under ``--strict`` 5 > 0. A crash or failed case
outranks a slowdown because a case that did not run may hide a regression and the fix (a bug) comes first; a
regression outranks "nothing comparable" because it is a definite finding; "inconclusive" is the weakest signal
and only fails the job when asked to (``--strict``). Usage errors (2) happen before any measurement, so they
never compete with the others.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnbench.analyse.gate_settings import CORRECTION, METRIC, TEST, GateSettings
from rnnbench.analyse.stats import (
    Interval,
    RankTest,
    bootstrap_ratio_ci,
    holm_adjust,
    mann_whitney_exact,
    median_ci,
    rounds_needed,
    smallest_exact_p,
)
from rnnbench.core.labels import shape_tokens
from rnnbench.core.values import int_or_none, plain, truthy
from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
)
from rnnbench.results.schema import HARD_KEYS

if TYPE_CHECKING:
    import pandas as pd

VERDICTS: tuple[str, ...] = (
    "regression",
    "improvement",
    "no_change",
    "inconclusive",
    "not_comparable",
    "error",
)

EXIT_PRECEDENCE: tuple[int, ...] = (
    EXIT_INTERNAL,
    EXIT_BENCHMARK_FAILED,
    EXIT_REGRESSION,
    EXIT_NOTHING_COMPARABLE,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
)
"""Exit codes from most to least severe; when several apply the first one wins."""


CASE_FIELDS: tuple[str, ...] = (
    "arch", "impl", "mode", "device", "dtype", "seq_len", "batch_size", "input_size", "hidden_size",
    "num_layers", "bidirectional", "batch_first", "length_spread", "workload",
)  # fmt: skip
"""Descriptors shown for a case (the ``case_id`` hash covers them; ``threads`` is kept apart)."""

_FAILED_STATUSES = frozenset({"error", "oom"})
_ABSENT_STATUSES = frozenset({"unsupported", "skipped"})


@dataclass(frozen=True)
class Decision:
    """The statistics of one comparable case and what they mean.

    ``p_value`` is the Holm-adjusted one-sided p in the direction ``p_side`` of the estimate (``slower`` or
    ``faster``) — the number compared with α —, ``p_raw`` the same test's p before the correction, ``family``
    the number of cases the correction spans."""

    verdict: str
    ratio: Interval
    p_value: float
    rounds_needed: int | None
    reason: str
    p_raw: float = math.nan
    p_side: str = ""
    family: int = 1


def _p_text(p_value: float, family: int) -> str:
    return f"p={p_value:.2g}" + (f" (Holm, {family} cases)" if family > 1 else "")


def _effect_text(ratio: float) -> str:
    """A throughput ratio in both units a reader may think in: ``throughput −50.0% (time ×2.00)``. "Slower by
    50%" would be ambiguous — half the throughput is twice the time."""
    return f"throughput {ratio - 1:+.1%} (time ×{1 / ratio:.2f})"


def classify(
    ratio: Interval,
    p_value: float,
    n_base: int,
    n_head: int,
    settings: GateSettings,
    family: int = 1,
    *,
    min_n: int | None = None,
    smallest_p: float | None = None,
    unit: str = "rounds",
) -> tuple[str, str]:
    """Verdict and reason from a ratio interval (head/base throughput) and the one-sided p value in the
    direction of the estimate, already Holm-adjusted over the ``family`` cases of the comparison.

    ``n_base``/``n_head`` count replication units — ``unit``: process ``rounds`` (the default, tested with
    the exact rank test, whose smallest p is 1/C(2n, n)) or ``restarts`` of the paired mode (a t test:
    ``smallest_p`` 0, ``min_n`` its own floor).

    The boundaries are closed for ``no_change`` (an interval touching 1 ± m still counts as inside) and strict
    for the effects (an estimate exactly at 1 − m is not "slower by more than m"). An estimated effect that
    the exact test could not show at α/``family`` with these rounds, however clear, says how many rounds it
    would need.
    """
    m = settings.min_effect
    lo_bound, hi_bound = 1 - m, 1 + m
    est, lo, hi = ratio.estimate, ratio.low, ratio.high
    if not all(math.isfinite(v) for v in (est, lo, hi)):
        return "inconclusive", "no finite ratio"
    n = min(n_base, n_head)
    floor = settings.min_rounds if min_n is None else min_n
    if n < floor:
        if unit != "rounds":
            return "inconclusive", f"{n} {unit}: a verdict needs ≥ {floor}"
        return "inconclusive", (
            f"{n_base}+{n_head} rounds: a verdict needs ≥ {settings.min_rounds} per side (bootstrap interval; "
            f"an exact one-sided test reaching α={settings.alpha:g})"
        )
    significant = math.isfinite(p_value) and p_value <= settings.alpha
    if significant and hi < 1 and est < lo_bound:
        return "regression", f"{_effect_text(est)} (> {m:.1%}), {_p_text(p_value, family)}"
    if significant and lo > 1 and est > hi_bound:
        return "improvement", f"{_effect_text(est)} (> {m:.1%}), {_p_text(p_value, family)}"
    if lo >= lo_bound and hi <= hi_bound:
        return "no_change", f"interval within ±{m:.1%}"
    corrected = settings.alpha / family
    floor_p = smallest_exact_p(n_base, n_head) if smallest_p is None else smallest_p
    if (est < lo_bound or est > hi_bound) and floor_p > corrected:
        return "inconclusive", (
            f"{n_base}+{n_head} rounds: over {family} cases an exact one-sided test needs ≥ "
            f"{settings.min_rounds_for(family)} rounds per side to reach α/{family} = {corrected:.2g}"
        )
    if significant:
        return "inconclusive", f"significant ({_p_text(p_value, family)}) but the interval straddles ±{m:.1%}"
    interval = f"interval [{lo:.3f}, {hi:.3f}]"
    if lo <= 1 <= hi:
        what = f"{interval} holds 1 and reaches beyond ±{m:.1%}"
    elif lo_bound <= est <= hi_bound:
        what = f"{interval} excludes 1 but reaches beyond ±{m:.1%}"
    else:
        what = f"{'slower' if est < 1 else 'faster'} by {abs(est - 1):.1%} but not significant"
    return "inconclusive", f"{what}, {_p_text(p_value, family)}"


@dataclass(frozen=True)
class Evidence:
    """One case's statistics before the family's correction: ratio interval, rank test, usable rounds."""

    ratio: Interval
    test: RankTest
    n_base: int
    n_head: int

    @property
    def slower(self) -> bool:
        """Whether the estimate points to a slowdown (then the "head slower" test is the one that counts)."""
        if math.isfinite(self.ratio.estimate):
            return self.ratio.estimate < 1
        return self.test.p_less < self.test.p_greater


def evidence(base: Sequence[float], head: Sequence[float], settings: GateSettings) -> Evidence:
    """Ratio head/base with its bootstrap interval and the exact rank test of head against base: its
    ``p_less`` is the one-sided p for "head slower", ``p_greater`` for "head faster"."""
    base_arr = np.asarray(base, dtype=float)
    head_arr = np.asarray(head, dtype=float)
    ratio = bootstrap_ratio_ci(head_arr, base_arr, settings.level, settings.n_boot, settings.seed)
    test = mann_whitney_exact(head_arr, base_arr)
    return Evidence(ratio, test, int(np.isfinite(base_arr).sum()), int(np.isfinite(head_arr).sum()))


def decide_family(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]], settings: GateSettings
) -> list[Decision]:
    """Verdicts for all comparable cases of one comparison at once: ``(base, head)`` round throughputs per
    case (bigger is better).

    The one-sided p values are Holm-adjusted across the cases — "head slower" over all of them, and separately
    "head faster" —, so α bounds the chance of any false regression in the run (and, separately, of any false
    improvement), which is what an exit code over many cases needs.
    """
    found = [evidence(base, head, settings) for base, head in pairs]
    family = len(found)
    slower = holm_adjust([e.test.p_less for e in found])
    faster = holm_adjust([e.test.p_greater for e in found])
    decisions = []
    for i, e in enumerate(found):
        side = "slower" if e.slower else "faster"
        p_adj = slower[i] if e.slower else faster[i]
        p_raw = e.test.p_less if e.slower else e.test.p_greater
        verdict, reason = classify(e.ratio, p_adj, e.n_base, e.n_head, settings, family)
        needed = None
        if verdict == "inconclusive":
            needed = rounds_needed(
                e.ratio.estimate,
                e.ratio.low,
                e.ratio.high,
                min(e.n_base, e.n_head),
                settings.min_effect,
                settings.alpha,
                family=family,
                level=settings.level,
                power=settings.power,
            )
            reason += (
                f"; ~{needed} rounds per side for {settings.power:.0%} power to decide"
                if needed
                else "; effect ≈ min effect: no affordable number of rounds decides"
            )
        decisions.append(Decision(verdict, e.ratio, p_adj, needed, reason, p_raw, side, family))
    return decisions


def decide(base: Sequence[float], head: Sequence[float], settings: GateSettings) -> Decision:
    """One case on its own (a family of one): ratio head/base, interval, one-sided p, verdict."""
    return decide_family([(base, head)], settings)[0]


# ---- one case, both sides ------------------------------------------------------------------------------
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
            "base_tokens_per_s": _finite_or_none(self.base_value),
            "head_tokens_per_s": _finite_or_none(self.head_value),
            "head_half_width": _finite_or_none(self.head_half_width),
            "ratio": _finite_or_none(self.ratio),
            "ratio_low": _finite_or_none(self.ratio_low),
            "ratio_high": _finite_or_none(self.ratio_high),
            "p_value": _finite_or_none(self.p_value),
            "p_raw": _finite_or_none(self.p_raw),
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
            from rnnbench.analyse.paired import MIN_RESTARTS, PAIRED_TEST

            return {
                "scope": "per run: P(any regression | unchanged code) ≤ alpha",
                "test": PAIRED_TEST,
                "correction": CORRECTION,
                "family_size": self.family,
                "alpha": s.alpha,
                "first_step_level": s.alpha / family,
                "min_restarts": MIN_RESTARTS,
                "assumes": "independent restarts with roughly normal per-restart estimates; pairs inside one "
                "machine phase",
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
            "honest_min_effect": _finite_or_none(self.honest_min_effect),
            "settings": self.settings.as_dict(),
            "false_alarm_control": self.false_alarm_control(),
            "base": {"sources": self.base_sources, "rounds": self.base_rounds},
            "head": {"sources": self.head_sources, "rounds": self.head_rounds},
            "counts": self.counts(),
            "exit_code": self.exit_code,
            "notes": self.notes,
            "cases": [c.as_dict() for c in self.cases],
        }


def most_severe(codes: Iterable[int]) -> int:
    """The code that wins under :data:`EXIT_PRECEDENCE` (unknown codes rank as internal errors)."""
    rank = {code: i for i, code in enumerate(EXIT_PRECEDENCE)}
    best = EXIT_OK
    for code in codes:
        if rank.get(code, 0) < rank[best]:
            best = code if code in rank else EXIT_INTERNAL
    return best


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


# ---- loading one side -------------------------------------------------------------------------------------
@dataclass
class Side:
    """The summary rows of one side (one or more run folders) and each run's fingerprint keys per device."""

    rows: pd.DataFrame
    keys: dict[str, dict[str, dict[str, Any]]]
    sources: list[str]

    @property
    def rounds(self) -> int:
        """Distinct replication units ``(run_id, round)``."""
        if self.rows.empty:
            return 0
        return int(self.rows[["run_id", "round"]].drop_duplicates().shape[0])


def load_side(paths: Sequence[Path | str]) -> Side:
    """Read every ``summary.csv`` under ``paths`` (through the one loader) and the ``fingerprint_keys`` of each
    run's metadata, keyed by every run id found in that folder's rows and the folder's own run id."""
    from rnnbench.results.loader import load

    results = load(paths, ("summary",))
    rows = results.frames["summary"]
    keys: dict[str, dict[str, dict[str, Any]]] = {}
    for table in results.files["summary"]:
        info = results.run_of(table)
        if info is None or info.fingerprint_keys is None:
            continue
        run_ids = {str(r) for r in rows.loc[rows["source_file"] == str(table), "run_id"].dropna().unique()}
        run_ids.add(info.run_id)
        for run_id in run_ids:
            keys[run_id] = {device: dict(v) for device, v in info.fingerprint_keys.items()}
    return Side(rows=rows, keys=keys, sources=[str(p) for p in paths])


# ---- comparing --------------------------------------------------------------------------------------------
CaseKey = tuple[str, int | None, int | None]
"""``(case_id, base_threads, head_threads)``: one compared case."""

_PENDING = "pending"
"""Placeholder verdict of a comparable case until the whole family has been decided."""


def case_key(case: CaseComparison) -> CaseKey:
    return case.case_id, case.base_threads, case.head_threads


def compare_paths(
    base: Sequence[Path | str],
    head: Sequence[Path | str],
    settings: GateSettings | None = None,
    only: Collection[CaseKey] | None = None,
) -> Comparison:
    """Load both sides and compare them (see :func:`compare_sides`)."""
    return compare_sides(load_side(base), load_side(head), settings or GateSettings(), only)


def compare_sides(
    base: Side, head: Side, settings: GateSettings, only: Collection[CaseKey] | None = None
) -> Comparison:
    """Per case: match base and head rows, check fingerprints and statuses; then decide every comparable case
    together (:func:`decide_family`), so that α holds for the run.

    ``only`` restricts the comparison (and so the family) to those cases: ``ab`` re-tests just the
    regressions it confirms, at α over them.
    """
    base_groups = _group(base.rows)
    head_groups = _group(head.rows)
    cases: list[CaseComparison] = []
    notes: list[str] = []
    for case_id in sorted(set(base_groups) | set(head_groups)):
        b_threads = base_groups.get(case_id, {})
        h_threads = head_groups.get(case_id, {})
        for b_t, h_t in _pair_threads(_sorted_threads(b_threads), _sorted_threads(h_threads)):
            if only is not None and (case_id, b_t, h_t) not in only:
                continue
            b_rows = b_threads.get(b_t) if b_t is not None else None
            h_rows = h_threads.get(h_t) if h_t is not None else None
            cases.append(_compare_case(case_id, b_t, h_t, b_rows, h_rows, base, head, settings))
    pending = [i for i, c in enumerate(cases) if c.verdict == _PENDING]
    decisions = decide_family([(cases[i].base_values, cases[i].head_values) for i in pending], settings)
    for i, decision in zip(pending, decisions, strict=True):
        cases[i] = with_decision(cases[i], decision)
    family = len(pending)
    cases = _unique_names(cases)
    if any(c.verdict == "not_comparable" and c.reason.startswith("fingerprint") for c in cases):
        notes.append(
            "Some cases are not comparable because the environments differ; if that difference is what you "
            "want to measure (a torch upgrade, a thread count), pass --allow-diff KEY."
        )
    if (base.rounds and base.rounds < settings.min_rounds) or (
        head.rounds and head.rounds < settings.min_rounds
    ):
        notes.append(
            f"{base.rounds}+{head.rounds} rounds: a verdict needs ≥ {settings.min_rounds} rounds per side; "
            "every case will be inconclusive."
        )
    elif family > 1 and min(base.rounds, head.rounds) < settings.min_rounds_for(family):
        notes.append(
            f"α={settings.alpha:g} is the false-alarm probability of the whole run, shared among {family} "
            f"cases (Holm): an exact one-sided test needs ≥ {settings.min_rounds_for(family)} rounds per side "
            f"to reach α/{family}; with {base.rounds}+{head.rounds} rounds no regression or improvement can be "
            "called — only no change or inconclusive."
        )
    busy = {label: _busy_rounds(side.rows) for label, side in (("base", base), ("head", head))}
    if any(busy.values()):
        notes.append(
            f"'run' flagged rounds measured on a busy machine (base {busy['base']} of {base.rounds}, head "
            f"{busy['head']} of {head.rounds}); other processes inflate times, often by far (OpenMP threads "
            "spin when oversubscribed). Rerun on a quieter machine or with --threads 1."
        )
    comp = Comparison(
        cases=cases,
        settings=settings,
        base_sources=base.sources,
        head_sources=head.sources,
        base_rounds=base.rounds,
        head_rounds=head.rounds,
        notes=notes,
        family=family,
    )
    honest = comp.honest_min_effect
    if math.isfinite(honest):
        comp.notes.append(
            f"Process rounds: these data can decide only effects beyond {honest:.1%} (the farthest a ratio "
            "interval reaches from 1 — the honest min effect they support); folders from different jobs also "
            "differ by between-job drift no test over rounds sees. 'rnnbench ab' measures both sides paired in "
            "one job and decides effects of a few percent."
        )
    return comp


def with_decision(case: CaseComparison, decision: Decision) -> CaseComparison:
    """``case`` with a family decision's verdict, reason, ratio interval, p values and rounds needed: the one
    place a decision becomes a case's result (process rounds here, paired restarts in ``analyse.paired``)."""
    return replace(
        case,
        verdict=decision.verdict,
        reason=decision.reason,
        ratio=decision.ratio.estimate,
        ratio_low=decision.ratio.low,
        ratio_high=decision.ratio.high,
        p_value=decision.p_value,
        p_raw=decision.p_raw,
        p_side=decision.p_side,
        rounds_needed=decision.rounds_needed,
    )


def _busy_rounds(rows: pd.DataFrame) -> int:
    """Rounds ``(run_id, round)`` with at least one case that ``run`` flagged as measured while busy."""
    if rows.empty or "busy" not in rows.columns:
        return 0
    flagged = rows[rows["busy"].map(truthy)]
    return int(flagged[["run_id", "round"]].drop_duplicates().shape[0])


def _group(rows: pd.DataFrame) -> dict[str, dict[int | None, pd.DataFrame]]:
    out: dict[str, dict[int | None, pd.DataFrame]] = defaultdict(dict)
    if rows.empty:
        return out
    threads = rows["threads"].map(int_or_none)
    for (case_id, t), group in rows.assign(_threads=threads).groupby(
        [rows["case_id"].astype(str), "_threads"], dropna=False, sort=True
    ):
        out[str(case_id)][int_or_none(t)] = group
    return out


def _sorted_threads(threads: Iterable[int | None]) -> list[int | None]:
    return sorted(threads, key=lambda t: (t is None, t or 0))


def _pair_threads(base: list[int | None], head: list[int | None]) -> list[tuple[int | None, int | None]]:
    """Match thread counts of one case: equal values pair up; if each side has exactly one left over, those
    pair too (``--threads 2`` against ``--threads 1``, the fingerprint check then decides); the rest stand
    alone."""
    common = [t for t in base if t in head]
    pairs: list[tuple[int | None, int | None]] = [(t, t) for t in common]
    rest_b = [t for t in base if t not in common]
    rest_h = [t for t in head if t not in common]
    if len(rest_b) == 1 and len(rest_h) == 1 and not common:
        return [(rest_b[0], rest_h[0])]
    pairs += [(t, None) for t in rest_b] + [(None, t) for t in rest_h]
    return pairs


def _compare_case(
    case_id: str,
    b_t: int | None,
    h_t: int | None,
    b_rows: pd.DataFrame | None,
    h_rows: pd.DataFrame | None,
    base: Side,
    head: Side,
    settings: GateSettings,
) -> CaseComparison:
    some = h_rows if h_rows is not None else b_rows
    assert some is not None
    labels = case_labels(some)
    name = case_name(labels, h_t if h_t is not None else b_t)
    b_vals = _round_values(b_rows)
    h_vals = _round_values(h_rows)

    def result(verdict: str, reason: str, **extra: Any) -> CaseComparison:
        return CaseComparison(
            name=name,
            case_id=case_id,
            labels=labels,
            base_threads=b_t,
            head_threads=h_t,
            base_values=b_vals,
            head_values=h_vals,
            verdict=verdict,
            reason=reason,
            **extra,
        )

    if b_rows is None or h_rows is None:
        return result("not_comparable", f"only in {'head' if b_rows is None else 'base'}")
    b_status, h_status = _statuses(b_rows), _statuses(h_rows)
    failed = [
        f"{side}: {status} ({msg})" if msg else f"{side}: {status}"
        for side, statuses in (("base", b_status), ("head", h_status))
        for status, msg in statuses.items()
        if status in _FAILED_STATUSES
    ]
    if failed:
        return result("error", "; ".join(failed))
    if set(b_status) | set(h_status) <= _ABSENT_STATUSES:
        return result("not_comparable", f"not run on either side ({', '.join(sorted(set(b_status)))})")
    if not b_vals or not h_vals:
        side, statuses = ("base", b_status) if not b_vals else ("head", h_status)
        what = ", ".join(sorted(statuses)) or "no rows"
        if "ok" in statuses:
            what += f", but no positive finite {METRIC} in its ok rows"
        return result("error", f"{side} has no usable round ({what})")
    diffs = fingerprint_differences(base, b_rows, head, h_rows, settings.allow_diff)
    if diffs:
        return result("not_comparable", "fingerprint differs: " + "; ".join(diffs))
    return result(_PENDING, "")  # decided with the whole family in compare_sides


def _round_values(rows: pd.DataFrame | None) -> tuple[float, ...]:
    if rows is None or rows.empty:
        return ()
    return tuple(float(v) for v in round_throughputs(rows).to_numpy())


def throughput_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a round's throughput comes from: status ``ok`` and a positive, finite ``tokens_per_s``."""
    import pandas as pd

    values = pd.to_numeric(rows[METRIC], errors="coerce")
    usable = (rows["status"].astype(str).str.lower() == "ok") & np.isfinite(values) & (values > 0)
    return rows[usable]


def round_throughputs(rows: pd.DataFrame) -> pd.Series:
    """The gate's observation and ``history``'s building block: one throughput per replication unit
    ``(run_id, round)`` among :func:`throughput_rows` (the median if a round was written twice), indexed by
    ``run_id`` (as text) and ``round``, sorted. Rows without a round are left out."""
    import pandas as pd

    ok = throughput_rows(rows)
    values = pd.to_numeric(ok[METRIC], errors="coerce")
    return values.groupby([ok["run_id"].astype(str), ok["round"]], sort=True).median()


def _statuses(rows: pd.DataFrame) -> dict[str, str]:
    """Status → first message, over all rounds."""
    out: dict[str, str] = {}
    for status, message in zip(rows["status"], rows["message"], strict=True):
        key = str(status).lower() if isinstance(status, str) and status else "missing"  # the loader's blank: ""
        if key not in out:
            out[key] = message if isinstance(message, str) else ""
    return out


def fingerprint_differences(
    base: Side, b_rows: pd.DataFrame, head: Side, h_rows: pd.DataFrame, allow: Sequence[str] = ()
) -> list[str]:
    """Hard keys whose values differ between the sides (or inside one side), minus the allowed ones.

    The keys come from each run's ``metadata.json`` ``fingerprint_keys`` for the row's device, with ``threads``
    taken from the row (one run may sweep several). Without keys the ``fingerprint`` hashes are compared; a
    differing hash then cannot be excused by ``--allow-diff`` because nothing says which key differs.
    """
    b_keys, b_missing = _key_sets(base, b_rows)
    h_keys, h_missing = _key_sets(head, h_rows)
    if b_missing or h_missing:
        b_hash, h_hash = _hashes(b_rows), _hashes(h_rows)
        if b_hash and h_hash and b_hash != h_hash:
            return [
                f"fingerprint {'/'.join(sorted(b_hash))} ≠ {'/'.join(sorted(h_hash))} and metadata.json has no "
                "fingerprint_keys to tell which key differs"
            ]
        return []
    out = []
    for key in HARD_KEYS:
        if key in allow:
            continue
        b_vals, h_vals = b_keys.get(key, set()), h_keys.get(key, set())
        if b_vals != h_vals or len(b_vals) > 1:
            out.append(f"{key} {_show(b_vals)} → {_show(h_vals)}")
    return out


def _key_sets(side: Side, rows: pd.DataFrame) -> tuple[dict[str, set[str]], bool]:
    out: dict[str, set[str]] = defaultdict(set)
    missing = False
    for run_id, device, threads in (
        rows[["run_id", "device", "threads"]].drop_duplicates().itertuples(index=False)
    ):
        keys = side.keys.get(str(run_id), {}).get(str(device))
        if keys is None:
            missing = True
            continue
        keys = {**keys}
        if int_or_none(threads) is not None:
            keys["threads"] = int_or_none(threads)
        for key in HARD_KEYS:
            out[key].add(json.dumps(keys.get(key), sort_keys=True, default=str))
    return out, missing


def _hashes(rows: pd.DataFrame) -> set[str]:
    if "fingerprint" not in rows.columns:
        return set()
    return {str(v) for v in rows["fingerprint"].dropna().unique() if str(v)}


def _show(values: set[str]) -> str:
    shown = [json.loads(v) for v in sorted(values)]
    text = "/".join(str(v) for v in shown) if shown else "?"
    return text if len(text) <= 60 else text[:57] + "…"


# ---- names --------------------------------------------------------------------------------------------------
def case_labels(rows: pd.DataFrame) -> dict[str, Any]:
    """The :data:`CASE_FIELDS` of a case, from its last row, as plain values with ``None`` for blank cells
    (the loader reads a blank text cell as ``""``; ``case_name`` writes a missing field as ``?``)."""
    labels = {f: plain(rows[f].iloc[-1]) for f in CASE_FIELDS if f in rows.columns}
    return {k: None if isinstance(v, str) and not v else v for k, v in labels.items()}


def case_name(labels: Mapping[str, Any], threads: int | None) -> str:
    """A stable, readable name: ``lstm native inference cpu float32 T=32 B=8 I=64 H=64 L=1 threads=2``.

    It includes the device (two machines or GPUs must not share a series in github-action-benchmark) and only
    the fields that identify the case, never a run id or a timestamp, so the same case keeps its name across
    runs.
    """

    known = {k: v for k, v in labels.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
    parts = [str(known.get(k, "?")) for k in ("arch", "impl", "mode", "device", "dtype")]
    parts += shape_tokens(known, stable=True)
    if threads is not None:
        parts.append(f"threads={threads}")
    return " ".join(parts)


def _unique_names(cases: list[CaseComparison]) -> list[CaseComparison]:
    """Append the case id where two cases would share a name (e.g. a field not in the name differs)."""
    seen: dict[str, int] = defaultdict(int)
    for case in cases:
        seen[case.name] += 1
    out = []
    for case in cases:
        if seen[case.name] > 1:
            case = replace(case, name=f"{case.name} [{case.case_id}]")
        out.append(case)
    return out


def _finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
