"""The sequential paired gate: a pilot restart chooses the design, then restarts until every case is decided.

1. **Pilot** (phase ``pilot``, not evidence): one restart that measures every case at a few block lengths
   (:data:`~rnnbench.gate.settings.BLOCK_CANDIDATES`, cycled pair by pair) and times what a restart and a pair
   cost. :func:`design_from_pilot` picks the block length with the most precision per second and the pairs
   per case and restart (:mod:`rnnbench.stats.allocation`). The restarts that count all use that one design,
   so their estimates are identically distributed — what the confidence sequence assumes.
2. **First stage** (``first``): a restart at a time, every undecided case. After each restart every case
   is judged by the gate's one rule (``gate.verdict.decide_family``: Holm over the cases, per direction) on
   anytime-valid evidence (``gate.evidence.RestartEvidence``): ``no_change`` (its sequence inside ±m),
   ``regression``/``improvement`` (flagged: anytime p ≤ α₁ after Holm, estimate beyond m) — a decided case
   stops, and the time goes to the others. It ends when all are decided, the budget is spent (leaving 40% for
   a confirmation once something is flagged) or ``max_restarts`` restarts have counted.
3. **Confirmation** (``confirm``): the flagged cases only, on fresh restarts, the same way at α₂, Holm over
   them. A flagged case counts only if it is flagged again in the same direction.

α is split between the stages: α₁ = α₂ = √α (α with no confirmation). Under unchanged code a case is
flagged in stage 1 with probability ≤ α₁ over the family whenever the gate looks (anytime validity makes the
looks free) and confirmed, on independent restarts, with probability ≤ α₂ over the flagged ones: any
confirmed false regression has probability ≤ α₁·α₂ = α per run.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rnnbench.ab.channel import WorkerFactory
from rnnbench.ab.coordinator import DEFAULT_BLOCK_S, PairedRun, PairedSession, RestartPlan
from rnnbench.ab.paired import case_rows
from rnnbench.ab.sides import PairedSide
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.gate.evidence import RestartEvidence
from rnnbench.gate.results import PENDING
from rnnbench.gate.settings import BLOCK_CANDIDATES, GateSettings, PairedSettings
from rnnbench.gate.verdict import Decision, decide_family
from rnnbench.stats.allocation import MIN_PAIRS, PLANNING_PROCESS_SD, best_block, pairs_per_restart
from rnnbench.stats.restarts import restart_estimates, trimmed_mean_noise

PILOT_PAIRS_PER_BLOCK = 6
"""Pairs per case and block length in the pilot restart."""

CONFIRM_RESERVE = 0.4
"""Share of the budget kept for the confirmation once the first stage has flagged a case."""

DECIDED = ("regression", "improvement", "no_change")

Item = tuple[str, float]
"""(pair id, condition): what is decided — a case, at one injected slowdown (0: none)."""


@dataclass
class Design:
    """What every restart that counts measures: one block length, pairs per case, and what they cost."""

    block_s: float
    pairs: dict[str, int]
    restart_cost_s: float
    pair_seconds: dict[str, float]
    pair_sd: dict[str, float] = field(default_factory=dict)
    from_pilot: bool = True
    default_pairs: int = 4
    """Pairs of a case the pilot did not see (all of them in a fixed design: ``--pairs``)."""

    def pairs_of(self, pid: str) -> int:
        return self.pairs.get(pid, self.default_pairs)

    def restart_seconds(self, items: Mapping[str, Sequence[float]]) -> float:
        """Expected seconds of a restart that measures ``items`` (pair id → conditions); NaN before any
        restart was timed."""
        measuring = sum(
            self.pairs_of(pid) * len(conds) * self.pair_seconds.get(pid, 2 * self.block_s)
            for pid, conds in items.items()
        )
        return self.restart_cost_s + measuring

    def as_dict(self) -> dict[str, Any]:
        pairs = sorted(self.pairs.values()) or [self.default_pairs]
        return {
            "block_s": self.block_s,
            "pairs_per_restart": {"min": pairs[0], "max": pairs[-1]},
            "restart_setup_s": round(self.restart_cost_s, 3),
            "from_pilot": self.from_pilot,
        }


@dataclass
class Stage:
    """One stage's restarts and where each of its items stood when it stopped being measured (or at the
    end)."""

    run: PairedRun
    alpha: float
    decisions: dict[Item, Decision] = field(default_factory=dict)
    decided_at: dict[Item, int] = field(default_factory=dict)
    stopped: str = ""
    """Why the stage ended: ``decided``, ``budget``, ``max restarts`` or ``nothing to measure``."""

    def decisions_for(self, condition: float) -> dict[str, Decision]:
        return {pid: d for (pid, c), d in self.decisions.items() if c == condition}


@dataclass(frozen=True)
class Noise:
    """What the first stage saw of this machine, pooled over cases (medians): the SD of one pair's
    log-ratio (pair noise σ_e) and the process-level SD of a restart's estimate left after the pairs' share
    (σ_u = √max(0, var(m_r) − σ_e²/P)). ``nan`` when too few restarts measured."""

    pair_sd: float = math.nan
    process_sd: float = math.nan


@dataclass
class SequentialResult:
    pilot: PairedRun | None
    design: Design
    first: Stage
    confirm: Stage | None
    seconds: float
    budget_s: float
    noise: Noise = field(default_factory=Noise)

    def as_dict(self) -> dict[str, Any]:
        out = self.design.as_dict()
        out.update(
            pair_sd=_rounded(self.noise.pair_sd),
            process_sd=_rounded(self.noise.process_sd),
            alpha_first=self.first.alpha,
            alpha_confirm=self.confirm.alpha if self.confirm is not None else None,
            restarts_first=self.first.run.restarts,
            restarts_confirm=self.confirm.run.restarts if self.confirm is not None else 0,
            first_stopped=self.first.stopped,
            confirm_stopped=self.confirm.stopped if self.confirm is not None else None,
            pilot_s=round(self.pilot.seconds, 3) if self.pilot is not None else 0.0,
            seconds=round(self.seconds, 3),
            budget_s=self.budget_s,
        )
        return out


def _rounded(v: float) -> float | None:
    return round(v, 5) if math.isfinite(v) else None


def measured_noise(run: PairedRun, design: Design) -> Noise:
    """:class:`Noise` from a stage's restarts (cases with ≥ 3 restarts)."""
    pair_sds: list[float] = []
    process_vars: list[float] = []
    for (pid, _condition), restarts in run.log_ratios.items():
        if len(restarts) < 3:
            continue
        spreads = [trimmed_mean_noise(r) for r in restarts]
        spreads = [v for v in spreads if math.isfinite(v)]
        est = restart_estimates(restarts)
        if not spreads or len(est) < 3:
            continue
        sd_e = statistics.median(spreads)
        pair_sds.append(sd_e)
        process_vars.append(max(0.0, statistics.variance(est) - sd_e**2 / design.pairs_of(pid)))
    if not pair_sds:
        return Noise()
    return Noise(statistics.median(pair_sds), math.sqrt(statistics.median(process_vars)))


def redesign(
    design: Design, items: Mapping[str, Sequence[float]], process_sd: float, budget_s: float
) -> Design:
    """The confirmation's design: the same block length, pairs per case re-chosen for just these cases with
    the process-level spread the first stage measured (never planned below 0.25%)."""
    sd_u = max(process_sd if math.isfinite(process_sd) else PLANNING_PROCESS_SD, 0.0025)
    total = sum(design.pair_seconds.get(pid, 2 * design.block_s) * len(c) for pid, c in items.items())
    pairs = dict(design.pairs)
    for pid in items:
        pairs[pid] = pairs_per_restart(design.pair_sd.get(pid, math.nan), design.restart_cost_s, total, sd_u)
    cap = max(budget_s / 12 - design.restart_cost_s, 0.0)
    measuring = sum(pairs[pid] * design.pair_seconds.get(pid, 2 * design.block_s) for pid in items)
    if measuring > cap > 0:
        scale = cap / measuring
        for pid in items:
            pairs[pid] = max(MIN_PAIRS, 2 * int(pairs[pid] * scale / 2))
    return replace(design, pairs=pairs)


def stage_alphas(alpha: float, confirm: bool) -> tuple[float, float]:
    """(α₁, α₂): √α each with a confirmation (their product is α), α and 0 without."""
    return (math.sqrt(alpha), math.sqrt(alpha)) if confirm else (alpha, 0.0)


def run_sequential(
    base: PairedSide,
    head: PairedSide,
    output: Path,
    gate: GateSettings,
    paired: PairedSettings,
    conditions: Sequence[float] = (0.0,),
    *,
    factory: WorkerFactory,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> SequentialResult:
    """Pilot, first stage, confirmation (module docstring) within ``paired.budget_s`` seconds."""
    emit = progress or ignore
    session = PairedSession(
        base, head, output, paired, conditions, factory=factory, clock=clock, seed=gate.seed
    )
    start = clock()
    end = start + paired.budget_s
    pilot: PairedRun | None = None
    if paired.block_s is None or paired.pairs is None:
        pilot = session.new_run("pilot")
        blocks = (paired.block_s,) if paired.block_s is not None else BLOCK_CANDIDATES
        session.restart(
            pilot, RestartPlan(None, PILOT_PAIRS_PER_BLOCK * len(blocks), blocks, conditions=(0.0,))
        )
        design = design_from_pilot(pilot, paired)
        emit(
            ProgressEvent(
                "note",
                message=f"pilot restart ({pilot.seconds:.0f} s): blocks of {design.block_s * 1000:.0f} ms, "
                f"{_pairs_text(design)} pairs per case and restart",
            )
        )
    else:
        design = Design(paired.block_s, {}, math.nan, {}, from_pilot=False, default_pairs=paired.pairs)
    a1, a2 = stage_alphas(gate.alpha, paired.confirm_restarts > 0)
    known = _comparable_items(pilot, conditions) if pilot is not None else None
    first = _stage(
        session, "first", known, conditions, design, gate, a1, paired.max_restarts, end, start,
        paired.budget_s, reserve=paired.confirm_restarts > 0, emit=emit, clock=clock,
    )  # fmt: skip
    noise = measured_noise(first.run, design)
    flagged: dict[str, list[float]] = {}
    for (pid, cond), d in first.decisions.items():
        if d.verdict in ("regression", "improvement"):
            flagged.setdefault(pid, []).append(cond)
    confirm = None
    if flagged and paired.confirm_restarts > 0:
        n = sum(len(v) for v in flagged.values())
        emit(ProgressEvent("note", message=f"{n} flagged; confirming only those on fresh restarts"))
        confirm_design = design
        if paired.pairs is None and design.from_pilot:  # a new sequence: sized by what the first stage saw
            confirm_design = redesign(design, flagged, noise.process_sd, paired.budget_s)
        confirm = _stage(
            session, "confirm", flagged, conditions, confirm_design, gate, a2, paired.confirm_restarts, end,
            start, paired.budget_s, reserve=False, emit=emit, clock=clock,
        )  # fmt: skip
    return SequentialResult(pilot, design, first, confirm, clock() - start, paired.budget_s, noise)


def _pairs_text(design: Design) -> str:
    values = sorted(design.pairs.values()) or [design.default_pairs]
    return f"{values[0]}" if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def _comparable_items(run: PairedRun, conditions: Sequence[float]) -> dict[str, list[float]]:
    return {pid: list(conditions) for pid, pc in run.cases.items() if pc.verdict == PENDING}


def _stage(
    session: PairedSession,
    phase: str,
    items: Mapping[str, Sequence[float]] | None,
    conditions: Sequence[float],
    design: Design,
    gate: GateSettings,
    alpha: float,
    max_restarts: int,
    end: float,
    start: float,
    budget_s: float,
    *,
    reserve: bool,
    emit: OnProgress,
    clock: Callable[[], float],
) -> Stage:
    """Restart until every item of ``items`` (``None``: every case the first restart builds, every
    condition) is decided, the deadline passes or ``max_restarts`` have counted."""
    run = session.new_run(phase)
    stage = Stage(run, alpha)
    settings = replace(gate, alpha=alpha)
    wanted = {pid: list(c) for pid, c in items.items()} if items is not None else None
    while True:
        pending = _pending(run, wanted, stage, conditions)
        if wanted is not None and not pending:
            stage.stopped = "decided" if run.restarts else "nothing to measure"
            break
        if run.restarts >= max_restarts:
            stage.stopped = "max restarts"
            break
        flagged = any(d.verdict in ("regression", "improvement") for d in stage.decisions.values())
        deadline = end - (CONFIRM_RESERVE * budget_s if reserve and flagged else 0.0)
        expected = design.restart_seconds(pending) if pending else 0.0
        started = run.restarts > 0 or phase != "first"  # the first stage always measures once
        if started and clock() + (expected if math.isfinite(expected) else 0.0) > deadline:
            stage.stopped = "budget"
            break
        plan = RestartPlan(
            pending if wanted is not None else None,
            design.pairs,
            (design.block_s,),
            default_pairs=design.default_pairs,
        )
        session.restart(run, plan)
        if math.isnan(design.restart_cost_s) and run.restart_costs:
            design.restart_cost_s = run.restart_costs[-1]
        if wanted is None:
            wanted = _comparable_items(run, conditions)
        _look(run, stage, wanted, conditions, settings, session)
        done = sum(1 for pid, conds in wanted.items() for c in conds if (pid, c) in stage.decided_at)
        total = sum(len(c) for c in wanted.values())
        emit(
            ProgressEvent(
                "done",
                label=f"{phase} restart ({done}/{total} decided)",
                done=run.restarts,
                total=max_restarts,
                status="ok",
                values={
                    "seconds": run.restart_seconds[-1],
                    "phase": phase,
                    "decided": done,
                    "cases": total,
                    "eta_s": max(0.0, end - clock()) if done < total else 0.0,
                },
            )
        )
    return stage


def _pending(
    run: PairedRun, wanted: Mapping[str, Sequence[float]] | None, stage: Stage, conditions: Sequence[float]
) -> dict[str, list[float]]:
    if wanted is None:
        return {}
    out: dict[str, list[float]] = {}
    for pid, conds in wanted.items():
        pc = run.cases.get(pid)
        if pc is not None and pc.verdict != PENDING:
            continue
        left = [c for c in conds if (pid, c) not in stage.decided_at]
        if left:
            out[pid] = left
    return out


def _look(
    run: PairedRun,
    stage: Stage,
    wanted: Mapping[str, Sequence[float]],
    conditions: Sequence[float],
    settings: GateSettings,
    session: PairedSession,
) -> None:
    """Judge every item after a restart: the family per condition is every comparable case of ``wanted``
    (decided ones with the evidence they stopped with — their anytime p only falls, so Holm stays valid)."""
    base_label, head_label = session.base.label, session.head.label
    for cond in conditions:
        pids = {pid for pid, conds in wanted.items() if cond in conds}
        if not pids:
            continue
        rows = case_rows(run, settings, cond, pids, base_label, head_label)
        pending = [pid for pid, c in rows if c.verdict == PENDING]
        if not pending:
            continue
        evidence = [RestartEvidence.of(run.log_ratios[(pid, cond)]) for pid in pending]
        for pid, decision in zip(pending, decide_family(evidence, settings), strict=True):
            item = (pid, cond)
            if item in stage.decided_at:
                continue
            stage.decisions[item] = decision
            if decision.verdict in DECIDED:
                stage.decided_at[item] = run.restarts


def design_from_pilot(pilot: PairedRun, paired: PairedSettings) -> Design:
    """Block length and pairs per case from the pilot restart (module docstring of
    :mod:`rnnbench.stats.allocation`); ``paired.block_s``/``paired.pairs`` win where given. The pairs are
    capped so that a restart measures for at most a twelfth of the budget (a dozen restarts fit)."""
    restart_cost = pilot.restart_costs[0] if pilot.restart_costs else math.nan
    per_case: dict[str, dict[float, tuple[list[float], float]]] = {}
    for (pid, b), ratios in pilot.by_block.items():
        secs = pilot.pair_seconds.get((pid, b), [])
        per_case.setdefault(pid, {})[b] = (ratios, statistics.fmean(secs) if secs else math.nan)
    block = paired.block_s if paired.block_s is not None else best_block(per_case, DEFAULT_BLOCK_S)
    pair_s: dict[str, float] = {}
    pair_sd: dict[str, float] = {}
    for pid in pilot.cases:
        secs = pilot.pair_seconds.get((pid, block), [])
        pair_s[pid] = statistics.fmean(secs) if secs else 2 * block
        ratios = [v for (p, _), vs in pilot.by_block.items() if p == pid for v in vs]
        pair_sd[pid] = trimmed_mean_noise(ratios)
    total_pair_s = sum(pair_s[pid] for pid, pc in pilot.cases.items() if pc.verdict == PENDING) or math.nan
    pairs: dict[str, int] = {}
    for pid in pilot.cases:
        pairs[pid] = (
            paired.pairs
            if paired.pairs is not None
            else pairs_per_restart(pair_sd[pid], restart_cost, total_pair_s)
        )
    if paired.pairs is None and math.isfinite(total_pair_s):
        cap = max(paired.budget_s / 12 - (restart_cost if math.isfinite(restart_cost) else 0.0), 0.0)
        measuring = sum(pairs[pid] * pair_s[pid] for pid, pc in pilot.cases.items() if pc.verdict == PENDING)
        if measuring > cap > 0:
            scale = cap / measuring
            pairs = {pid: max(MIN_PAIRS, 2 * int(p * scale / 2)) for pid, p in pairs.items()}
    return Design(block, pairs, restart_cost, pair_s, pair_sd, from_pilot=True)
