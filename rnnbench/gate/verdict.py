"""The gate's one verdict rule, over whatever evidence a case has.

Two ways of measuring feed it: process rounds (``gate.evidence.RoundEvidence``: a bootstrap ratio interval
and the exact one-sided Mann–Whitney test over rounds) and paired blocks (``RestartEvidence``: an
anytime-valid t confidence sequence over per-restart estimates). Both implement :class:`Evidence`;
:func:`decide_family` Holm-adjusts their one-sided p values over the cases of one comparison (separately per
direction, so α bounds any false regression in the run) and :func:`classify` turns an interval and an adjusted
p into a verdict. With m the min effect and p the Holm-adjusted one-sided p in the direction of the estimate:

* ``regression``   p ≤ α, the ratio's interval lies below 1 and the estimate is below 1 − m
* ``improvement``  p ≤ α, the interval lies above 1 and the estimate is above 1 + m
* ``no_change``    the whole interval lies inside [1 − m, 1 + m] (closed)
* ``inconclusive`` anything else, with the rounds (restarts) that would decide with 80% power

(``not_comparable`` and ``error`` come before any statistics: ``gate.cases.status_verdict`` and the
fingerprint check.) :func:`settle` is the one place where the pending cases of a comparison are decided
together and take their decisions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from rnnbench.gate.cases import unique_names
from rnnbench.gate.evidence import RoundEvidence
from rnnbench.gate.results import PENDING, CaseComparison
from rnnbench.gate.settings import GateSettings
from rnnbench.stats.intervals import Interval
from rnnbench.stats.ranks import holm_adjust, smallest_exact_p


class Evidence(Protocol):
    """One case's statistics before the family's correction, whatever measured them."""

    unit: str
    """The replication unit the verdict counts: ``rounds`` (per side) or ``restarts``."""
    per_side: str
    """How a count of units reads: ``rounds per side`` or ``restarts``."""

    @property
    def n_base(self) -> int: ...
    @property
    def n_head(self) -> int: ...
    @property
    def slower(self) -> bool:
        """Whether the estimate points to a slowdown (then the "head slower" test is the one that counts)."""
        ...

    def interval(self, settings: GateSettings) -> Interval:
        """The throughput ratio head/base with its interval at ``settings.level``."""
        ...

    def p_slower(self) -> float:
        """One-sided p of "head slower" (NaN when no test ran)."""
        ...

    def p_faster(self) -> float: ...

    def min_n(self, settings: GateSettings) -> int:
        """Units per side below which no verdict is decisive."""
        ...

    def smallest_p(self) -> float:
        """The smallest one-sided p the test can give with these units (1/C(2n, n) for the exact rank test,
        0 for a t test)."""
        ...

    def needed(self, settings: GateSettings, family: int) -> int | None:
        """Units that would decide with ``settings.power`` (None: no affordable number)."""
        ...


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
    n = min(n_base, n_head)
    floor = settings.min_rounds if min_n is None else min_n
    if n < floor:
        if unit != "rounds":
            return "inconclusive", f"{n} {unit}: a verdict needs ≥ {floor}"
        return "inconclusive", (
            f"{n_base}+{n_head} rounds: a verdict needs ≥ {settings.min_rounds} per side (bootstrap interval; "
            f"an exact one-sided test reaching α={settings.alpha:g})"
        )
    if not all(math.isfinite(v) for v in (est, lo, hi)):
        return "inconclusive", "no finite ratio"
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


def decide_family(found: Sequence[Evidence], settings: GateSettings) -> list[Decision]:
    """Verdicts for all comparable cases of one comparison at once.

    The one-sided p values are Holm-adjusted across the cases — "head slower" over all of them, and separately
    "head faster" —, so α bounds the chance of any false regression in the run (and, separately, of any false
    improvement), which is what an exit code over many cases needs.
    """
    family = len(found)
    raw = [(e.p_slower(), e.p_faster()) for e in found]  # each test once: a t test's p is a SciPy call
    slower = holm_adjust([_nan_to_one(p_s) for p_s, _ in raw])
    faster = holm_adjust([_nan_to_one(p_f) for _, p_f in raw])
    decisions = []
    for i, e in enumerate(found):
        side = "slower" if e.slower else "faster"
        p_adj = slower[i] if e.slower else faster[i]
        p_raw = raw[i][0] if e.slower else raw[i][1]
        ratio = e.interval(settings)
        verdict, reason = classify(
            ratio,
            p_adj,
            e.n_base,
            e.n_head,
            settings,
            family,
            min_n=e.min_n(settings),
            smallest_p=e.smallest_p(),
            unit=e.unit,
        )
        needed = None
        if verdict == "inconclusive":
            needed = e.needed(settings, family)
            reason += (
                f"; ~{needed} {e.per_side} for {settings.power:.0%} power to decide"
                if needed
                else f"; effect ≈ min effect: no affordable number of {e.unit} decides"
            )
        decisions.append(Decision(verdict, ratio, p_adj, needed, reason, p_raw, side, family))
    return decisions


def decide_rounds(
    pairs: Sequence[tuple[Sequence[float], Sequence[float]]], settings: GateSettings
) -> list[Decision]:
    """:func:`decide_family` over process rounds: ``(base, head)`` round throughputs per case."""
    return decide_family([RoundEvidence.of(base, head, settings) for base, head in pairs], settings)


def decide(base: Sequence[float], head: Sequence[float], settings: GateSettings) -> Decision:
    """One case on its own (a family of one): ratio head/base, interval, one-sided p, verdict."""
    return decide_rounds([(base, head)], settings)[0]


def _nan_to_one(p: float) -> float:
    return p if math.isfinite(p) else 1.0


def with_decision(case: CaseComparison, decision: Decision) -> CaseComparison:
    """``case`` with a family decision's verdict, reason, ratio interval, p values and rounds needed."""
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


def settle(
    cases: Sequence[CaseComparison], evidence: Sequence[Evidence], settings: GateSettings
) -> tuple[list[CaseComparison], int]:
    """Decide the ``pending`` cases of one comparison together — ``evidence[j]`` belongs to the j-th pending
    case — and give every case a unique name: process rounds and paired blocks both end here. Returns the
    cases and the family size (the pending cases the Holm correction spans)."""
    pending = [i for i, c in enumerate(cases) if c.verdict == PENDING]
    if len(pending) != len(evidence):
        raise ValueError(f"{len(pending)} pending cases but {len(evidence)} pieces of evidence")
    out = list(cases)
    for i, decision in zip(pending, decide_family(evidence, settings), strict=True):
        out[i] = with_decision(out[i], decision)
    return unique_names(out), len(pending)
