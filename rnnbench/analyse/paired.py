"""Statistics of the paired, interleaved A/B: pairs → per-restart estimates → an interval over restarts.

Why pairs: a shared machine changes speed in *phases of seconds* (measured on a 2-core VM: the same LSTM
forward alternates 0.40 ↔ 0.73 ms), so a process round, which lasts seconds, falls into one phase and round
medians are bimodal. Two adjacent ~100 ms blocks, one of each side, almost always share a phase, and the
log-ratio of their per-iteration times cancels it. That is the unit of evidence here.

Why restarts: pairs inside one pair of worker processes share that pair's process-level state (memory
layout, allocator, kernel selection), which moved an A/A ratio by 0.8% in the feasibility experiment with
an interval over pairs that excluded 1. Pairs are therefore *not* the replication unit; a restart (a fresh
pair of worker processes) is.

The model, per case and side-pair condition, on the log scale (``d`` = log(head throughput / base
throughput) = log(t_base / t_head) of one pair)::

    d_rk = δ + u_r + e_rk        r = 1…R restarts, k = 1…P pairs in restart r

``u_r`` is the process-level effect of restart r (independent across restarts, mean 0 when both sides run
the same code), ``e_rk`` the pair noise (heavy-tailed: a pair that straddles a phase switch is off by
log 1.8). Each restart gives one robust estimate ``m_r = median_k d_rk``; the ``m_r`` are independent and
identically distributed with mean ≈ δ (exactly δ for symmetric pair noise, which A B / B A alternation
produces: each side is first in half of the pairs). The interval is a t interval over the R restart estimates
— Yuen's trimmed t (:data:`TRIM`: from 10 restarts on, the extreme restart at each end is trimmed), the
ordinary t below — and its width reflects both levels at once, because the spread of the ``m_r`` contains the
process-level variance *and* what is left of the pair noise after the median; the test is the one-sided
(trimmed) t test of the same ``m_r`` ("head slower": δ < 0). Its validity rests on the ``m_r`` being roughly
symmetric (a median of several pairs plus a process effect), which ``tests/test_paired.py`` checks by
simulation (coverage of the interval with heavy-tailed process effects and phase-straddling pairs, and
family-wise false alarms).

Family-wise control is the gate's: the one-sided p values of the K cases are Holm-adjusted (separately per
direction), so unchanged code gives any regression in a gate run with probability ≤ α, and the verdict rules
are :func:`rnnbench.analyse.gate.classify`'s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import stats as sps

from rnnbench.analyse.gate import (
    CASE_FIELDS,
    CaseComparison,
    Comparison,
    Decision,
    _unique_names,
    case_name,
    classify,
    with_decision,
)
from rnnbench.analyse.gate_settings import GateSettings
from rnnbench.analyse.stats import Interval, holm_adjust
from rnnbench.analyse.workers import PairedCase, PairedRun
from rnnbench.results.schema import HARD_KEYS

MIN_RESTARTS = 4
"""Restarts below which no paired verdict is decisive: a t interval over 3 restart estimates (2 degrees of
freedom, t = 4.3 at 95%) is too wide to say anything, and its normality assumption cannot be checked."""

PAIRED_TEST = "one-sided t test over restarts of the median log-ratio of adjacent A/B blocks"
"""The test each paired verdict rests on (the JSON's ``false_alarm_control.test``)."""


def restart_estimate(log_ratios: Sequence[float]) -> float:
    """One restart's estimate: the median of its pairs' log-ratios. The median, because a pair that
    straddles a phase switch is off by log 1.8 — a mean would let one such pair move the estimate by
    0.6/P."""
    x = np.asarray(log_ratios, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else math.nan


@dataclass(frozen=True)
class PairedEvidence:
    """One case's paired statistics before the family's correction (log scale: log head/base throughput)."""

    estimates: tuple[float, ...]
    """Per-restart estimates ``m_r``."""
    pairs: int
    """Pairs over all restarts."""
    mean: float
    se: float
    """Standard error of ``mean``: SD of the restart estimates / √R."""

    @property
    def restarts(self) -> int:
        return len(self.estimates)

    @property
    def df(self) -> int:
        """Yuen's degrees of freedom: restarts − 2·trimmed − 1 (the ordinary t's R − 1 below 10 restarts)."""
        return self.restarts - 2 * trimmed(self.restarts) - 1

    @property
    def sd(self) -> float:
        """The restart-to-restart spread the standard error implies (winsorized, rescaled to an SD)."""
        n = self.restarts
        if not n:
            return math.nan
        return self.se * math.sqrt(n) * (1 - 2 * trimmed(n) / n)

    def interval(self, level: float = 0.95) -> Interval:
        """The ratio head/base with its t interval over restarts (exp of the log-scale interval)."""
        if self.restarts < 2 or not math.isfinite(self.se):
            est = math.exp(self.mean) if math.isfinite(self.mean) else math.nan
            return Interval(est, math.nan, math.nan, level)
        half = float(sps.t.ppf((1 + level) / 2, self.df)) * self.se
        return Interval(math.exp(self.mean), math.exp(self.mean - half), math.exp(self.mean + half), level)

    def p_slower(self) -> float:
        """One-sided p of "head slower" (δ < 0)."""
        return self._p(lower=True)

    def p_faster(self) -> float:
        return self._p(lower=False)

    def _p(self, lower: bool) -> float:
        if self.restarts < 2 or not math.isfinite(self.mean):
            return math.nan
        if self.se == 0:
            if self.mean == 0:
                return 1.0
            return 0.0 if (self.mean < 0) == lower else 1.0
        t = self.mean / self.se
        return float(sps.t.cdf(t, self.df) if lower else sps.t.sf(t, self.df))

    @property
    def slower(self) -> bool:
        return self.mean < 0


TRIM = 0.1
"""Fraction of restart estimates trimmed from each end (Yuen's trimmed t): from 10 restarts on, the highest
and the lowest restart are left out of the mean and winsorized in the variance. Why: on a busy machine a whole
restart can be off by 15–30% (a neighbour that takes a core for seconds, interleaving with our blocks at
sub-block time scales — seen on the development VM while other test suites ran), and one such restart in
twelve would otherwise widen every interval it touches several-fold. For normal restart estimates Yuen's test
keeps its level and loses little power (df R − 3 instead of R − 1)."""


def trimmed(n: int) -> int:
    """Restart estimates trimmed from each end with ``n`` restarts: ⌊TRIM·n⌋ (0 below 10)."""
    return math.floor(TRIM * n)


def paired_evidence(restarts: Sequence[Sequence[float]]) -> PairedEvidence:
    """Per-restart medians of the pair log-ratios, then Yuen's trimmed mean over restarts and its standard
    error (winsorized SD / ((1 − 2γ)·√R)); with fewer than 10 restarts that is the ordinary mean and t.
    Restarts without a pair are left out."""
    estimates = tuple(m for m in (restart_estimate(r) for r in restarts) if math.isfinite(m))
    pairs = sum(int(np.isfinite(np.asarray(r, dtype=float)).sum()) for r in restarts)
    if not estimates:
        return PairedEvidence((), pairs, math.nan, math.nan)
    arr = np.sort(np.asarray(estimates))
    n, g = len(arr), trimmed(len(arr))
    mean = float(arr[g : n - g].mean())
    if n < 2:
        return PairedEvidence(estimates, pairs, mean, math.nan)
    wins = arr.copy()
    wins[:g] = arr[g]
    wins[n - g :] = arr[n - g - 1]
    se = float(wins.std(ddof=1) / ((1 - 2 * g / n) * math.sqrt(n)))
    return PairedEvidence(estimates, pairs, mean, se)


def _t_power(effect: float, sd: float, n: np.ndarray, level_one_sided: float) -> np.ndarray:
    """P(one-sided Yuen t test at ``level_one_sided`` rejects) for a true log effect ``|effect|`` and
    restart spread ``sd`` (noncentral t; the trimming's loss of efficiency is ignored, as for normal data)."""
    g = np.floor(TRIM * n)
    df = n - 2 * g - 1
    crit = sps.t.isf(level_one_sided, df)
    return np.asarray(sps.nct.sf(crit, df, abs(effect) / sd * np.sqrt(n)), dtype=float)


def restarts_needed(
    evidence: PairedEvidence, settings: GateSettings, family: int = 1, limit: int = 200
) -> int | None:
    """Restarts that would decide an inconclusive case with probability ≥ ``settings.power``, if the true
    effect were the estimate and the restart-to-restart spread what was seen.

    An effect beyond ±m must pass the t test at α/``family`` *and* have its estimate beyond m (the Fréchet
    bound P(A) + P(B) − 1 combines them, as for process rounds); an estimate inside ±m needs the whole interval
    inside. ``None`` when no affordable number does (the effect sits on the boundary)."""
    sd = evidence.sd
    if evidence.restarts < 2 or not (math.isfinite(sd) and sd > 0 and math.isfinite(evidence.mean)):
        return max(MIN_RESTARTS, evidence.restarts + 1)
    m_lo, m_hi = math.log(1 - settings.min_effect), math.log(1 + settings.min_effect)
    effect = evidence.mean
    ns = np.arange(max(MIN_RESTARTS, evidence.restarts + 1), limit + 1)
    se = sd / np.sqrt(ns)
    if effect < m_lo or effect > m_hi:
        beyond = m_lo if effect < 0 else m_hi
        p_test = _t_power(effect, sd, ns, settings.alpha / family)
        p_est = np.array([NormalDist().cdf(abs(effect - beyond) / s) for s in se])
        power = p_test + p_est - 1
    elif effect in (m_lo, m_hi):
        return None
    else:
        crit = sps.t.ppf((1 + settings.level) / 2, ns - 2 * np.floor(TRIM * ns) - 1)
        low = np.array([NormalDist().cdf(v) for v in (effect - m_lo) / se - crit])
        high = np.array([NormalDist().cdf(v) for v in (m_hi - effect) / se - crit])
        power = low + high - 1
    ok = np.flatnonzero(power >= settings.power)
    return int(ns[ok[0]]) if len(ok) else None


def decide_paired_family(cases: Sequence[Sequence[Sequence[float]]], settings: GateSettings) -> list[Decision]:
    """Verdicts for all comparable cases of one paired comparison at once. ``cases[i][r]`` holds the pair
    log-ratios (log head/base throughput) of case i in restart r.

    One-sided t p values over restarts, Holm-adjusted across the cases in each direction (so α bounds any
    false regression in the run), then :func:`~rnnbench.analyse.gate.classify`'s verdict rules with
    restarts as the replication unit."""
    found = [paired_evidence(c) for c in cases]
    family = len(found)
    slower = holm_adjust([_nan_to_one(e.p_slower()) for e in found])
    faster = holm_adjust([_nan_to_one(e.p_faster()) for e in found])
    decisions = []
    for i, e in enumerate(found):
        side = "slower" if e.slower else "faster"
        p_adj = slower[i] if e.slower else faster[i]
        p_raw = e.p_slower() if e.slower else e.p_faster()
        ratio = e.interval(settings.level)
        verdict, reason = classify(
            ratio,
            p_adj,
            e.restarts,
            e.restarts,
            settings,
            family,
            min_n=MIN_RESTARTS,
            smallest_p=0.0,
            unit="restarts",
        )
        needed = None
        if verdict == "inconclusive":
            needed = restarts_needed(e, settings, family)
            reason += (
                f"; ~{needed} restarts for {settings.power:.0%} power to decide"
                if needed
                else "; effect ≈ min effect: no affordable number of restarts decides"
            )
        decisions.append(Decision(verdict, ratio, p_adj, needed, reason, p_raw, side, family))
    return decisions


def _nan_to_one(p: float) -> float:
    return p if math.isfinite(p) else 1.0


def detectable_effect(
    sd: float,
    restarts: int,
    alpha: float,
    family: int = 1,
    power: float = 0.9,
    confirm_restarts: int = 0,
) -> float:
    """The smallest slowdown (a fraction of throughput) a case with restart-to-restart spread ``sd`` (log
    scale) is detected with probability ≥ ``power``: the one-sided t test at α/``family`` over ``restarts``
    restarts rejects, and — with ``confirm_restarts`` — the confirmation's test at α over fresh restarts
    rejects too (independent, so the powers multiply). NaN without a usable spread."""
    if restarts < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan

    def total(effect: float) -> float:
        p = float(_t_power(effect, sd, np.array([restarts]), alpha / family)[0])
        if confirm_restarts >= 2:
            p *= float(_t_power(effect, sd, np.array([confirm_restarts]), alpha)[0])
        return p

    lo, hi = 0.0, 1.0
    if total(hi) < power:
        return math.nan
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) < power else (lo, mid)
    return 1 - math.exp(-hi)


# ---- a paired measurement → the gate's Comparison ----------------------------------------------------------
def paired_comparison(
    run: PairedRun,
    settings: GateSettings,
    condition: float = 0.0,
    only: Collection[str] | None = None,
    base_label: str = "base",
    head_label: str = "head",
) -> Comparison:
    """Every case of a paired measurement as the gate's :class:`~rnnbench.analyse.gate.Comparison`, the
    comparable ones decided together (:func:`decide_paired_family`, Holm over them). ``condition`` picks the
    injected slowdown whose pairs are judged (0: none); ``only`` restricts the cases (and the family) to
    those pair ids — confirmation judges just the flagged ones. ``base_values``/``head_values`` hold each
    side's per-restart median throughput (for display; the verdict rests on the pairs)."""
    cases: list[CaseComparison] = []
    pending: list[int] = []
    data: list[list[list[float]]] = []
    for pid, pc in run.cases.items():
        if only is not None and pid not in only:
            continue
        threads = pc.head_threads if pc.head_threads is not None else pc.base_threads
        key = (pid, condition)
        base_vals = tuple(v for v in run.base_tps.get(key, []) if math.isfinite(v))
        head_vals = tuple(v for v in run.head_tps.get(key, []) if math.isfinite(v))
        verdict, reason = _status_verdict(pc, run, settings, base_label, head_label)
        if verdict == "pending" and not run.log_ratios.get(key):
            verdict, reason = "error", "no pair was measured"
        cases.append(
            CaseComparison(
                name=case_name(pc.labels, threads),
                case_id=pc.case_id,
                labels={k: pc.labels.get(k) for k in CASE_FIELDS},
                base_threads=pc.base_threads,
                head_threads=pc.head_threads,
                base_values=base_vals,
                head_values=head_vals,
                verdict=verdict,
                reason=reason,
            )
        )
        if verdict == "pending":
            pending.append(len(cases) - 1)
            data.append(run.log_ratios[key])
    decisions = decide_paired_family(data, settings)
    for i, decision in zip(pending, decisions, strict=True):
        cases[i] = with_decision(cases[i], decision)
    notes = []
    if len(pending) > 0 and run.restarts < MIN_RESTARTS:
        notes.append(
            f"{run.restarts} restarts: a paired verdict needs ≥ {MIN_RESTARTS}; every case is inconclusive."
        )
    return Comparison(
        cases=_unique_names(cases),
        settings=settings,
        base_sources=[str(run.folder)] if run.folder else [],
        head_sources=[str(run.folder)] if run.folder else [],
        base_rounds=run.restarts,
        head_rounds=run.restarts,
        notes=notes,
        family=len(pending),
        method="paired",
    )


def _status_verdict(
    pc: PairedCase, run: PairedRun, settings: GateSettings, base_label: str, head_label: str
) -> tuple[str, str]:
    if pc.status == "only_base":
        return "not_comparable", "only in base"
    if pc.status == "only_head":
        return "not_comparable", "only in head"
    if pc.status == "absent":
        return "not_comparable", pc.message
    if pc.status == "error":
        return "error", pc.message
    diffs = fingerprint_diffs(pc, run, settings.allow_diff, base_label, head_label)
    if diffs:
        return "not_comparable", "fingerprint differs: " + "; ".join(diffs)
    return "pending", ""


def fingerprint_diffs(
    pc: PairedCase, run: PairedRun, allow: Sequence[str], base_label: str = "base", head_label: str = "head"
) -> list[str]:
    """Hard keys whose values differ between the two sides' workers for this case's device and threads."""
    device = str(pc.labels.get("device", ""))
    b = run.fingerprint_keys.get(base_label, {}).get(f"{device}@{pc.base_threads}")
    h = run.fingerprint_keys.get(head_label, {}).get(f"{device}@{pc.head_threads}")
    if b is None or h is None:
        return []
    out = []
    for key in HARD_KEYS:
        if key in allow:
            continue
        if json.dumps(b.get(key), sort_keys=True, default=str) != json.dumps(
            h.get(key), sort_keys=True, default=str
        ):
            out.append(f"{key} {b.get(key)} → {h.get(key)}")
    return out
