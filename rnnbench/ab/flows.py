"""``ab``: measure base and head in this job, then gate — paired blocks by default, process rounds in ABBA
order otherwise (or as the fallback when a side cannot serve the paired protocol).

Why one job: on shared CI runners two jobs on the same code can differ by tens of percent while one job's
spread is a fraction of a percent, so base and head must be measured side by side.

A regression found first is re-measured on fresh restarts (rounds) and counts only if it holds there too. Both
stages control false alarms per run: the first comparison Holm-corrects over every case it decides, so
unchanged code gives any regression with probability ≤ α; the confirmation re-tests only the cases that
regressed, Holm-corrected over them, on measurements independent of the first, so given any first-stage alarm
it confirms one with probability ≤ α again. Unchanged code therefore fails ``ab`` (exit 1) with probability ≤
α² per run (10⁻⁴ at α = 0.01), whatever the grid's size. In rounds the confirmation needs enough rounds for α
over its family (:meth:`GateSettings.min_rounds_for`); fewer are raised to that, with a note.

Progress goes to an ``OnProgress`` callback as the shared :class:`~rnnbench.core.progress.ProgressEvent`: a
``done`` event per finished round or restart and a ``note`` when confirmation starts. How they look is the
CLI's affair.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from rnnbench.ab.channel import ProtocolUnavailable, WorkerFactory, process_factory
from rnnbench.ab.coordinator import PairedRun, run_paired
from rnnbench.ab.paired import pair_ids, paired_comparison
from rnnbench.ab.rounds import build_jobs, check_rounds, run_jobs
from rnnbench.ab.sides import Launcher, SideCommand, check_grid_args, preflight, subprocess_launcher
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import ConfigError
from rnnbench.gate.cases import case_key
from rnnbench.gate.results import ABResult, CaseComparison, Comparison
from rnnbench.gate.rounds import compare_paths
from rnnbench.gate.settings import (
    DEFAULT_CONFIRM_ROUNDS,
    DEFAULT_ROUNDS,
    GateSettings,
    PairedSettings,
    check_method,
)

T = TypeVar("T")


def run_ab(
    base: SideCommand,
    head: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings | None = None,
    rounds: int = DEFAULT_ROUNDS,
    confirm_rounds: int = DEFAULT_CONFIRM_ROUNDS,
    launcher: Launcher = subprocess_launcher,
    progress: OnProgress | None = None,
    check: bool = True,
    *,
    method: str = "rounds",
    paired: PairedSettings | None = None,
    inject: float = 0.0,
    factory: WorkerFactory = process_factory,
    clock: Callable[[], float] = time.perf_counter,
) -> ABResult:
    """Measure base and head in this job and gate: ``method="paired"`` with persistent workers and
    alternating blocks (:func:`run_ab_paired`), ``"rounds"`` with fresh processes in ABBA order
    (:func:`run_ab_rounds`), ``"auto"`` paired unless a side's rnnbench cannot serve the protocol — then
    process rounds for both sides, with a note saying so (never a mix).

    ``inject`` slows the head's blocks by that fraction (paired only): a known regression, to check the gate.
    """
    settings = settings or GateSettings()
    check_method(method)
    check_grid_args(grid_args)
    if check and method != "paired":  # a fallback to rounds must not fail on its round counts after the fact
        check_rounds("--rounds", rounds, settings)
        check_rounds("--confirm-rounds", confirm_rounds, settings, allow_zero=True)
    if not 0 <= inject < 1:
        raise ConfigError(f"--head-inject takes a fraction in [0, 1) such as 5%, got {inject}.")
    if method == "rounds":
        return run_ab_rounds(
            base, head, grid_args, output, settings, rounds, confirm_rounds, launcher, progress, check
        )
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    preflight((base, head), launcher, output)  # no rnnbench at all: one line, exit 6, in seconds
    return paired_else_rounds(
        method,
        lambda: run_ab_paired(
            base,
            head,
            grid_args,
            output,
            settings,
            paired or PairedSettings(),
            inject,
            factory,
            progress,
            clock,
        ),
        lambda: run_ab_rounds(
            base, head, grid_args, output, settings, rounds, confirm_rounds, launcher, progress, check, True
        ),
        lambda result: result.comparison.notes,
        progress,
        refuse="pass --method rounds (or auto) to compare it in process rounds.",
    )


def paired_else_rounds(
    method: str,
    paired: Callable[[], T],
    rounds: Callable[[], T],
    notes_of: Callable[[T], list[str]],
    progress: OnProgress | None,
    *,
    refuse: str,
    extra_note: str = "",
) -> T:
    """The paired measurement; if a side cannot serve the protocol, process rounds for *both* sides (never a
    mix), with a warning and a first note saying so — or, with ``method="paired"``, a usage error ending in
    ``refuse``. ``ab`` and ``calibrate`` both fall back through here."""
    try:
        return paired()
    except ProtocolUnavailable as exc:
        if method == "paired":
            raise ConfigError(f"{exc}; {refuse}") from None
        note = (
            f"{exc}: fell back to process rounds for both sides (an rnnbench before the paired protocol, or "
            "another version of it). Process rounds decide only large effects on a noisy machine — see the "
            "honest min effect below; upgrade that side's rnnbench for the paired mode." + extra_note
        )
    (progress or ignore)(ProgressEvent("warning", message=note))
    result = rounds()
    notes_of(result).insert(0, note)
    return result


def run_ab_rounds(
    base: SideCommand,
    head: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings | None = None,
    rounds: int = DEFAULT_ROUNDS,
    confirm_rounds: int = DEFAULT_CONFIRM_ROUNDS,
    launcher: Launcher = subprocess_launcher,
    progress: OnProgress | None = None,
    check: bool = True,
    preflighted: bool = False,
) -> ABResult:
    """Measure base and head in ABBA order, compare, and re-measure every regression on fresh rounds.

    ``confirm_rounds=0`` trusts the first comparison. The whole grid is re-run for confirmation (``run``
    cannot yet select single cases); only the cases that regressed are judged on it, as their own Holm family
    — and with at least the rounds an exact test needs to reach α over that family (raised with a note).
    """
    settings = settings or GateSettings()
    emit = progress or ignore
    check_grid_args(grid_args)
    if check:
        check_rounds("--rounds", rounds, settings)
        check_rounds("--confirm-rounds", confirm_rounds, settings, allow_zero=True)
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    if not preflighted:
        preflight((base, head), launcher, output)
    first_dir = output / "rounds"
    jobs = build_jobs((base, head), grid_args, rounds, first_dir, "r")
    seconds["rounds"] = run_jobs(jobs, launcher, output, progress)
    first = compare_paths([first_dir / base.label], [first_dir / head.label], settings)
    regressed = [c for c in first.cases if c.verdict == "regression"]
    confirmation = None
    final_cases = list(first.cases)
    raised = ""
    if regressed and 0 < confirm_rounds < settings.min_rounds_for(len(regressed)):
        needed = settings.min_rounds_for(len(regressed))
        raised = (
            f"--confirm-rounds {confirm_rounds} raised to {needed}: confirming {len(regressed)} regressions at "
            f"α={settings.alpha:g} over them needs that many rounds per side."
        )
        confirm_rounds = needed
    if regressed and confirm_rounds > 0:
        message = f"{len(regressed)} regression(s); confirming on {confirm_rounds} fresh rounds per side"
        emit(
            ProgressEvent(
                "note",
                message=message,
                values={"regressions": len(regressed), "confirm_rounds": confirm_rounds},
            )
        )
        confirm_dir = output / "confirm"
        jobs = build_jobs((base, head), grid_args, confirm_rounds, confirm_dir, "c")
        seconds["confirm"] = run_jobs(jobs, launcher, output, progress)
        confirmation = compare_paths(
            [confirm_dir / base.label],
            [confirm_dir / head.label],
            settings,
            only={case_key(c) for c in regressed},
        )
        final_cases = apply_confirmation(first.cases, confirmation)
    comparison = replace(first, cases=final_cases, notes=list(first.notes))
    if raised:
        comparison.notes.append(raised)
    if rounds % 2:
        comparison.notes.append(
            f"{rounds} rounds per side is odd: ABBA cancels a linear drift exactly only with an even number."
        )
    if confirmation is not None:
        n_conf = sum(1 for c in final_cases if c.confirmed)
        comparison.notes.append(
            f"{n_conf} of {len(regressed)} regression(s) confirmed on {confirm_rounds} fresh rounds per side."
        )
    seconds["total"] = sum(seconds.values())
    return ABResult(comparison, first, confirmation, output, seconds)


def apply_confirmation(cases: Sequence[CaseComparison], confirmation: Comparison) -> list[CaseComparison]:
    """A first-round regression stays a regression only if the fresh rounds say so too; otherwise it becomes
    ``inconclusive`` (something was seen once, not twice — not evidence enough to fail a build)."""
    fresh = {(c.case_id, c.base_threads, c.head_threads): c for c in confirmation.cases}
    out = []
    for case in cases:
        if case.verdict != "regression":
            out.append(case)
            continue
        again = fresh.get((case.case_id, case.base_threads, case.head_threads))
        if again is not None and again.verdict == "regression":
            out.append(
                replace(
                    case,
                    confirmed=True,
                    reason=f"{case.reason}; confirmed: ratio {again.ratio:.3f}, p={again.p_value:.2g}",
                )
            )
        elif again is not None and again.verdict == "error":
            out.append(replace(again, confirmed=None, reason=f"confirmation rounds failed: {again.reason}"))
        else:
            seen = f"ratio {again.ratio:.3f}, {again.verdict}" if again is not None else "case missing"
            out.append(
                replace(
                    case,
                    verdict="inconclusive",
                    confirmed=False,
                    reason=f"regression on the first rounds ({case.reason}) not confirmed on fresh rounds "
                    f"({seen})",
                )
            )
    return out


def _percent_text(value: float) -> str:
    """``1.8%``; ``over 100%`` for an interval too wide to mean anything (2 restarts); ``—`` for none."""
    if not math.isfinite(value):
        return "—"
    return "over 100%" if value >= 1 else f"{value:.1%}"


def idle_note(run: PairedRun) -> str | None:
    """Whether the waiting side used CPU while the other measured (OpenMP threads spinning after their
    block): the median over blocks, noted when above 2% of a core."""
    idle = [v for v in run.idle_cpu if math.isfinite(v)]
    if not idle:
        return None
    med = statistics.median(idle)
    if med <= 0.02:
        return None
    return (
        f"the idle worker used {med:.0%} of a core (median over blocks) while the other measured — OpenMP "
        "threads spinning after their block (the coordinator waits for them to stop, up to 0.2 s, before the "
        "other side's block); if it persists set OMP_WAIT_POLICY=passive for both sides (inherited by the "
        "workers) or use --threads 1."
    )


def run_ab_paired(
    base: SideCommand,
    head: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings,
    paired: PairedSettings,
    inject: float = 0.0,
    factory: WorkerFactory = process_factory,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ABResult:
    """The paired A/B: ``paired.restarts`` restarts of a persistent worker pair, alternating blocks, then
    the paired verdicts (Holm over the cases); every regression is re-measured — only those cases — on
    ``paired.confirm_restarts`` fresh restarts and counts only if it is a regression there too (at α over the
    cases re-measured). Unchanged code therefore fails with probability ≤ α² per run."""
    emit = progress or ignore
    output = Path(output).resolve() / "paired"
    a, b = base.paired(grid_args), head.paired(grid_args)
    seconds: dict[str, float] = {}
    first_run = run_paired(
        a, b, output, paired, (inject,), phase="first", factory=factory, progress=progress, clock=clock
    )
    seconds["rounds"] = first_run.seconds
    first = paired_comparison(first_run, settings, inject, base_label=base.label, head_label=head.label)
    regressed = [c for c in first.cases if c.verdict == "regression"]
    final_cases = list(first.cases)
    confirmation = None
    if regressed and paired.confirm_restarts > 0:
        emit(
            ProgressEvent(
                "note",
                message=f"{len(regressed)} regression(s); confirming only those cases on "
                f"{paired.confirm_restarts} fresh restarts",
                values={"regressions": len(regressed), "confirm_restarts": paired.confirm_restarts},
            )
        )
        pids = pair_ids(first_run, regressed)
        conf_run = run_paired(
            a,
            b,
            output,
            paired,
            (inject,),
            phase="confirm",
            restarts=paired.confirm_restarts,
            only={p: (inject,) for p in pids},
            factory=factory,
            progress=progress,
            clock=clock,
        )
        seconds["confirm"] = conf_run.seconds
        confirmation = paired_comparison(
            conf_run, settings, inject, only=pids, base_label=base.label, head_label=head.label
        )
        final_cases = apply_confirmation(first.cases, confirmation)
    comparison = replace(first, cases=final_cases, notes=list(first.notes))
    comparison.notes.insert(
        0,
        f"Paired: {first_run.restarts} restarts × {paired.pairs} pairs of ~{paired.block_s * 1000:.0f} ms "
        f"blocks per case; honest min effect of these data {_percent_text(comparison.honest_min_effect)}."
        + (f" Head slowed by an injected {inject:.1%}." if inject else ""),
    )
    idle = idle_note(first_run)
    if idle:
        comparison.notes.append(idle)
    if confirmation is not None:
        n_conf = sum(1 for c in final_cases if c.confirmed)
        comparison.notes.append(
            f"{n_conf} of {len(regressed)} regression(s) confirmed on {paired.confirm_restarts} fresh restarts."
        )
    seconds["total"] = sum(seconds.values())
    return ABResult(comparison, first, confirmation, output, seconds)
