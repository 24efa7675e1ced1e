"""``ab``: measure base and head in this job, then gate — paired blocks by default, process rounds in ABBA
order otherwise (or as the fallback when a side cannot serve the paired protocol).

Why one job: on shared CI runners two jobs on the same code can differ by tens of percent while one job's
spread is a fraction of a percent, so base and head must be measured side by side.

A regression found first is re-measured on fresh restarts (rounds) and counts only if it holds there too.
Paired (:mod:`rnnbench.ab.sequential`): the first stage flags at α₁ = √α and the confirmation re-tests only the
flagged cases at α₂ = √α, each Holm-corrected over its cases and anytime-valid, on independent restarts:
unchanged code fails ``ab`` (exit 1) with probability ≤ α₁·α₂ = α per run, whatever the grid's size and
however often the gate looked. Process rounds keep α for each stage (≤ α² per run); their confirmation needs
enough rounds for α over its family (:meth:`GateSettings.min_rounds_for`); fewer are raised to that, with a
note.

Progress goes to an ``OnProgress`` callback as the shared :class:`~rnnbench.core.progress.ProgressEvent`: a
``done`` event per finished round or restart and a ``note`` when confirmation starts. How they look is the
CLI's affair.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from rnnbench.ab.channel import (
    ProtocolUnavailable,
    WorkerFactory,
    pinned_factory,
    process_factory,
    same_cpus,
)
from rnnbench.ab.coordinator import PairedRun
from rnnbench.ab.paired import pair_ids, paired_comparison
from rnnbench.ab.rounds import build_jobs, check_rounds, run_jobs
from rnnbench.ab.sequential import SequentialResult, run_sequential
from rnnbench.ab.sides import Launcher, SideCommand, check_grid_args, preflight, subprocess_launcher
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import ConfigError
from rnnbench.gate.cases import case_key
from rnnbench.gate.evidence import RestartEvidence
from rnnbench.gate.results import ABResult, CaseComparison, Comparison
from rnnbench.gate.rounds import compare_paths
from rnnbench.gate.settings import (
    DEFAULT_CONFIRM_ROUNDS,
    DEFAULT_ROUNDS,
    GateSettings,
    PairedSettings,
    check_method,
    parse_cpus,
)

T = TypeVar("T")


def run_ab(
    base: SideCommand,
    head: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings | None = None,
    rounds: int | None = None,
    confirm_rounds: int | None = None,
    launcher: Launcher = subprocess_launcher,
    progress: OnProgress | None = None,
    check: bool = True,
    *,
    method: str = "rounds",
    paired: PairedSettings | None = None,
    inject: float = 0.0,
    factory: WorkerFactory | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ABResult:
    """Measure base and head in this job and gate: ``method="paired"`` with persistent workers and
    alternating blocks (:func:`run_ab_paired`), ``"rounds"`` with fresh processes in ABBA order
    (:func:`run_ab_rounds`), ``"auto"`` paired unless a side's rnnbench cannot serve the protocol — then
    process rounds for both sides, with a note saying so (never a mix).

    ``inject`` lowers the head's throughput by that fraction (paired only): a known regression, to check the
    gate. ``rounds``/``confirm_rounds`` (``None``: the defaults) serve process rounds only: given to
    ``method="paired"`` they are a usage error, and with ``"auto"`` a note says they went unused when the
    paired mode ran.
    """
    settings = settings or GateSettings()
    check_method(method)
    check_grid_args(grid_args)
    unused = rounds_options_unused(method, rounds=rounds, confirm_rounds=confirm_rounds)
    rounds = DEFAULT_ROUNDS if rounds is None else rounds
    confirm_rounds = DEFAULT_CONFIRM_ROUNDS if confirm_rounds is None else confirm_rounds
    if check and method != "paired":  # a fallback to rounds must not fail on its round counts after the fact
        check_rounds("--rounds", rounds, settings)
        check_rounds("--confirm-rounds", confirm_rounds, settings, allow_zero=True)
    if not 0 <= inject < 1:
        raise ConfigError(f"--head-inject takes a fraction in [0, 1) such as 5%, got {inject}.")
    if method == "rounds":
        return run_ab_rounds(
            base, head, grid_args, output, settings, rounds, confirm_rounds, launcher, progress, check
        )
    worker_factory(
        factory, (paired or PairedSettings()).cpus, (), ()
    )  # a CPU that is not here: before anything
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    preflight((base, head), launcher, output)  # no rnnbench at all: one line, exit 6, in seconds
    result = paired_else_rounds(
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
    if unused and result.comparison.method == "paired":
        result.comparison.notes.append(unused)
    return result


def rounds_options_unused(method: str, **given: int | None) -> str:
    """The note for round counts given to a run that measures paired restarts (``auto``), or a usage error
    when the run can only be paired; '' when none was given or rounds will run."""
    named = [f"--{k.replace('_', '-')} {v}" for k, v in given.items() if v is not None]
    if not named or method == "rounds":
        return ""
    if method == "paired":
        raise ConfigError(
            f"{named[0].split()[0]} applies to process rounds only; the paired mode is sized by --budget, "
            "--restarts and --confirm-restarts. Drop it, or pass --method rounds."
        )
    return (
        f"{', '.join(named)} unused: the paired mode ran (round counts serve only a fallback to process "
        "rounds)."
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
    """A first-stage regression (or improvement) stands only if the fresh measurements say so too — and is
    then shown with *their* ratio, interval and p (the first stage's estimate is selected, hence biased); the
    first stage's figures stay in the reason. Otherwise it becomes ``inconclusive`` (seen once, not twice —
    not evidence enough to fail a build or to claim a speed-up)."""
    fresh = {(c.case_id, c.base_threads, c.head_threads): c for c in confirmation.cases}
    out = []
    for case in cases:
        if case.verdict not in ("regression", "improvement"):
            out.append(case)
            continue
        again = fresh.get((case.case_id, case.base_threads, case.head_threads))
        if again is not None and again.verdict == case.verdict:
            out.append(
                replace(
                    again,
                    name=case.name,
                    confirmed=True,
                    base_values=case.base_values,
                    head_values=case.head_values,
                    reason=f"confirmed on fresh measurements: {again.reason}; first stage: {case.reason} "
                    f"(ratio {case.ratio:.3f})",
                )
            )
        elif again is not None and again.verdict == "error":
            out.append(replace(again, confirmed=None, reason=f"confirmation failed: {again.reason}"))
        else:
            seen = f"ratio {again.ratio:.3f}, {again.verdict}" if again is not None else "case missing"
            out.append(
                replace(
                    case,
                    verdict="inconclusive",
                    confirmed=False,
                    reason=f"{case.verdict} in the first stage ({case.reason}) not confirmed on fresh "
                    f"measurements ({seen})",
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
    factory: WorkerFactory | None = None,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ABResult:
    """The sequential paired A/B (:mod:`rnnbench.ab.sequential`): a pilot restart chooses the design, then
    restarts until every case is decided or the budget is spent; flagged cases are re-measured — only those —
    on fresh restarts and count only if flagged again. Unchanged code fails with probability ≤ α per run."""
    output = Path(output).resolve() / "paired"
    a, b = base.paired(grid_args), head.paired(grid_args)
    chosen_factory, cpus = worker_factory(factory, paired.cpus, a.grid_args, b.grid_args)
    seq = run_sequential(
        a, b, output, settings, paired, (inject,), factory=chosen_factory, progress=progress, clock=clock
    )
    return ab_result(seq, settings, inject, base.label, head.label, output, cpus)


def worker_factory(
    factory: WorkerFactory | None, cpus_option: str, args_a: Sequence[str], args_b: Sequence[str]
) -> tuple[WorkerFactory, tuple[int, ...] | None]:
    """The factory the workers come from and the CPUs both are pinned to: ``factory`` when given (tests);
    else real processes on the same CPUs — ``auto``: as many as the larger side's ``--threads`` asks, the
    last ones this process may use —, a given list, or unpinned with ``none``."""
    if factory is not None:
        return factory, None
    chosen = parse_cpus(cpus_option)
    if chosen == "none":
        return process_factory, None
    if chosen == "auto":
        from rnnbench.measure.serve import largest_threads  # argparse and presets only: no torch

        threads = [t for t in (largest_threads(list(args_a)), largest_threads(list(args_b))) if t is not None]
        cpus = same_cpus(max(threads) if len(threads) == 2 else None)
    else:
        assert not isinstance(chosen, str)
        allowed = os.sched_getaffinity(0)
        missing = [c for c in chosen if c not in allowed]
        if missing:
            raise ConfigError(
                f"--cpus {cpus_option}: CPU {missing[0]} is not available to this process (allowed: "
                f"{','.join(map(str, sorted(allowed)))})."
            )
        cpus = tuple(chosen)
    return pinned_factory(cpus), cpus


def ab_result(
    seq: SequentialResult,
    settings: GateSettings,
    inject: float,
    base_label: str,
    head_label: str,
    output: Path,
    cpus: tuple[int, ...] | None,
) -> ABResult:
    """The sequential measurement as the gate's answer: first-stage decisions, confirmation applied, the
    design and the α of each stage in ``design``, and notes that say what ran."""
    first = paired_comparison(
        seq.first.run, settings, inject, None, base_label, head_label, seq.first.decisions_for(inject)
    )
    confirmation = None
    final_cases = list(first.cases)
    flagged = [c for c in first.cases if c.verdict in ("regression", "improvement")]
    if seq.confirm is not None:
        confirmation = paired_comparison(
            seq.confirm.run,
            replace(settings, alpha=seq.confirm.alpha),
            inject,
            pair_ids(seq.first.run, flagged),
            base_label,
            head_label,
            seq.confirm.decisions_for(inject),
        )
        final_cases = apply_confirmation(first.cases, confirmation)
    design = seq.as_dict()
    design["cpus"] = list(cpus) if cpus is not None else None
    comparison = replace(first, cases=final_cases, notes=list(first.notes), design=design)
    comparison.notes.insert(0, sequential_note(seq, settings, cpus, inject))
    idle = idle_note(seq.first.run)
    if idle:
        comparison.notes.append(idle)
    if seq.confirm is not None:
        n_conf = sum(1 for c in final_cases if c.confirmed)
        comparison.notes.append(
            f"{n_conf} of {len(flagged)} flagged case(s) confirmed on {seq.confirm.run.restarts} fresh "
            f"restarts (α₂ = {seq.confirm.alpha:.2g}, Holm over them)."
        )
    elif flagged:
        comparison.notes.append(
            f"{len(flagged)} flagged case(s) not confirmed (--confirm-restarts 0): the first stage decided at "
            f"α = {seq.first.alpha:g}."
        )
    seconds = {
        "pilot": seq.pilot.seconds if seq.pilot is not None else 0.0,
        "rounds": seq.first.run.seconds,
        "confirm": seq.confirm.run.seconds if seq.confirm is not None else 0.0,
        "total": seq.seconds,
    }
    return ABResult(comparison, first, confirmation, output, seconds)


def sequential_note(
    seq: SequentialResult, settings: GateSettings, cpus: tuple[int, ...] | None, inject: float = 0.0
) -> str:
    """What ran, in one note: the method, the design the pilot chose, where the workers ran, what was spent
    and why the first stage stopped, and the honest min effect of these data."""
    d = seq.design
    pairs = sorted(d.pairs.values()) or [d.default_pairs]
    pair_text = f"{pairs[0]}" if pairs[0] == pairs[-1] else f"{pairs[0]}–{pairs[-1]}"
    where = f"both workers on CPU {','.join(map(str, cpus))}" if cpus else "workers not pinned"
    why = {
        "decided": "every case decided",
        "budget": "the budget ended",
        "max restarts": "--restarts reached",
        "nothing to measure": "nothing to measure",
    }.get(seq.first.stopped, seq.first.stopped)
    reach = [
        h
        for pid in seq.first.run.cases
        for h in [_reach(seq.first.run.restarts_of(pid, inject), settings.level)]
        if math.isfinite(h)
    ]
    honest = _percent_text(max(reach)) if reach else "—"
    return (
        f"Sequential paired gate: {seq.first.run.restarts} restarts ({why}) × {pair_text} pairs of "
        f"~{d.block_s * 1000:.0f} ms blocks per case{' (chosen by a pilot restart)' if d.from_pilot else ''}; "
        f"{where}; {seq.seconds:.0f} s of a {seq.budget_s:.0f} s budget. Anytime-valid "
        f"intervals (a confidence sequence over restarts), α = {settings.alpha:g} per run "
        f"(α₁ = {seq.first.alpha:.2g} to flag, α₂ to confirm); honest min effect of these data {honest}."
        + (
            f" Noise here: {seq.noise.pair_sd:.1%} per pair, {seq.noise.process_sd:.1%} per restart beyond it."
            if math.isfinite(seq.noise.pair_sd)
            else ""
        )
        + (f" Head slowed by an injected {inject:.1%} of throughput." if inject else "")
    )


def _reach(restarts: Sequence[Sequence[float]], level: float) -> float:
    if not restarts:
        return math.nan
    ci = RestartEvidence.of(restarts).sequence.interval(level)
    if not (math.isfinite(ci.low) and math.isfinite(ci.high)):
        return math.nan
    return max(1 - ci.low, ci.high - 1, 0.0)
