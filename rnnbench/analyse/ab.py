"""``ab`` and ``calibrate``: measure two sides in one job, in fresh processes, in ABBA order, then gate.

Why one job and ABBA: on shared CI runners two jobs on the same code can differ by tens of percent while one
job's spread is a fraction of a percent, so base and head must be measured side by side; and a machine that
warms up, throttles or gains a noisy neighbour drifts, which the order A B B A A B B A … cancels to first order
(each side's rounds have the same mean position in time). Every round is a fresh ``rnnbench run --rounds 1``
process, the replication unit the gate's statistics assume.

A regression found on the first rounds is re-measured on ``confirm_rounds`` fresh ABBA rounds and counts only
if it holds there too. Both stages control false alarms per run: the first comparison Holm-corrects over every
case it decides, so unchanged code gives any regression with probability ≤ α; the confirmation re-tests only
the cases that regressed, Holm-corrected over them, on rounds independent of the first, so given any first-stage
alarm it confirms one with probability ≤ α again. Unchanged code therefore fails ``ab`` (exit 1) with
probability ≤ α² per run (10⁻⁴ at α = 0.01), whatever the grid's size. The confirmation needs enough rounds for
α over its family (:meth:`GateSettings.min_rounds_for`); fewer are raised to that, with a note.

Launching is injectable (:data:`Launcher`) so the orchestration is testable without torch or a real ``run``.
Subprocesses start in the output folder, never in a checkout, because ``python -m rnnbench`` puts the current
folder first on ``sys.path`` and would silently import that checkout's rnnbench instead of the side's own.

Progress goes to an ``OnProgress`` callback as the shared :class:`~rnnbench.core.progress.ProgressEvent`, like
every long job's: a ``done`` event per finished round (``label`` its run id, ``done`` of ``total`` rounds of
the phase, ``values["seconds"]``) and a ``note`` when confirmation starts. How they look is the CLI's affair.
"""

from __future__ import annotations

import math
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.analyse.gate import CaseComparison, Comparison, case_key, compare_paths, most_severe
from rnnbench.analyse.gate_settings import (
    DEFAULT_CONFIRM_ROUNDS,
    DEFAULT_ROUNDS,
    METHODS,
    GateSettings,
    PairedSettings,
)
from rnnbench.analyse.stats import smallest_exact_p
from rnnbench.analyse.workers import (
    PairedRun,
    PairedSide,
    ProtocolUnavailable,
    WorkerFactory,
    process_factory,
    run_paired,
)
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    BenchmarkFailedError,
    ConfigError,
)

RESERVED_RUN_OPTIONS = ("--rounds", "--output", "--run-id", "-o")
"""Options ``ab``/``calibrate`` set on every ``run`` themselves; grid arguments must not repeat them."""


@dataclass(frozen=True)
class SideCommand:
    """How to start ``rnnbench`` for one side: a command prefix (``python -m rnnbench`` or a user command)
    plus arguments only this side gets (``--threads 1``)."""

    label: str
    prefix: tuple[str, ...]
    extra_args: tuple[str, ...] = ()
    serve: tuple[str, ...] = ()
    """The command that starts this side's persistent worker for the paired mode: ``<python> -m
    rnnbench.measure.worker --serve``, or ``<command> worker --serve``."""

    @classmethod
    def from_python(cls, label: str, python: str | Path | None, extra_args: Sequence[str] = ()) -> SideCommand:
        """``<python> -m rnnbench``; ``python`` defaults to this interpreter."""
        exe = str(python) if python else sys.executable
        if python and not Path(exe).exists():
            raise ConfigError(
                f"--{label}-python {exe}: no such file; pass an interpreter with rnnbench installed."
            )
        serve = (exe, "-m", "rnnbench.measure.worker", "--serve")
        return cls(label, (exe, "-m", "rnnbench"), tuple(extra_args), serve)

    @classmethod
    def from_command(cls, label: str, command: str, extra_args: Sequence[str] = ()) -> SideCommand:
        """A shell-style command that runs rnnbench, e.g. ``"uv run --project ../base rnnbench"``."""
        prefix = tuple(shlex.split(command))
        if not prefix:
            raise ConfigError(f"--{label}-cmd is empty; pass the command that starts rnnbench for this side.")
        return cls(label, prefix, tuple(extra_args), (*prefix, "worker", "--serve"))

    def paired(self, grid_args: Sequence[str]) -> PairedSide:
        """This side as the paired coordinator starts it: its worker command and its grid options."""
        serve = self.serve or (*self.prefix, "worker", "--serve")
        return PairedSide(self.label, tuple(serve), (*grid_args, *self.extra_args))


@dataclass(frozen=True)
class RoundJob:
    """One scheduled round: which side, its index on that side, the phase (``r`` first rounds, ``c``
    confirmation), where ``run`` writes (``output/run_id``) and the full command."""

    side: str
    index: int
    phase: str
    output: Path
    run_id: str
    argv: tuple[str, ...]

    @property
    def folder(self) -> Path:
        return self.output / self.run_id


@dataclass(frozen=True)
class LaunchResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0


Launcher = Callable[[Sequence[str], Path], LaunchResult]
"""Runs a command (argv) in a working folder and returns its exit status and output."""


def subprocess_launcher(argv: Sequence[str], cwd: Path) -> LaunchResult:
    """The real launcher: a child process with captured output."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    return LaunchResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def abba_order(n_per_side: int, first: str = "base", second: str = "head") -> list[tuple[str, int]]:
    """``(side, index)`` in the order A B B A A B B A …: pair k runs A then B when k is even, B then A when
    odd. With an even number of rounds per side both sides' mean positions in time are equal, so a linear
    drift cancels exactly; an odd number leaves one pair's worth of drift."""
    order: list[tuple[str, int]] = []
    for k in range(n_per_side):
        pair = [(first, k), (second, k)] if k % 2 == 0 else [(second, k), (first, k)]
        order.extend(pair)
    return order


def check_grid_args(grid_args: Sequence[str]) -> None:
    """Refuse grid arguments that would fight the ones each round gets (one round, its own folder)."""
    for arg in grid_args:
        name = arg.split("=", 1)[0]
        if name in RESERVED_RUN_OPTIONS:
            raise ConfigError(
                f"'{name}' is set by ab/calibrate for every round; leave it out of the grid arguments "
                "(use --rounds and --output of ab/calibrate instead)."
            )


def check_rounds(option: str, rounds: int, settings: GateSettings, allow_zero: bool = False) -> None:
    """Refuse round counts with which no verdict is possible even for a single case (the exact one-sided test
    can never reach α, or the bootstrap interval has too few rounds). More cases need more rounds; the
    comparison says so once it knows how many cases there are."""
    if allow_zero and rounds == 0:
        return
    if rounds < settings.min_rounds:
        raise ConfigError(
            f"{option} {rounds} can never give a decision at α={settings.alpha:g}: the smallest one-sided "
            f"exact p with {rounds}+{rounds} rounds is {smallest_exact_p(rounds, rounds):.2g}, and a verdict "
            f"needs ≥ {settings.min_rounds} rounds per side (more for many cases: α is shared among them). "
            f"Use ≥ {settings.min_rounds}" + (" or 0 to skip confirmation." if allow_zero else ".")
        )


def build_jobs(
    sides: tuple[SideCommand, SideCommand],
    grid_args: Sequence[str],
    n_per_side: int,
    output: Path,
    phase: str = "r",
) -> list[RoundJob]:
    """The ABBA schedule as concrete ``run`` commands: ``<prefix> run <grid> <side args> --rounds 1 --output
    <output>/<label> --run-id <label>-<phase><k>``."""
    a, b = sides
    by_label = {a.label: a, b.label: b}
    jobs = []
    for label, k in abba_order(n_per_side, a.label, b.label):
        side = by_label[label]
        out = (output / label).resolve()
        run_id = f"{label}-{phase}{k}"
        argv = (
            *side.prefix,
            "run",
            *grid_args,
            *side.extra_args,
            "--rounds",
            "1",
            "--output",
            str(out),
            "--run-id",
            run_id,
        )
        jobs.append(RoundJob(label, k, phase, out, run_id, argv))
    return jobs


def _tail(text: str, lines: int = 15) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


def run_jobs(
    jobs: Sequence[RoundJob], launcher: Launcher, cwd: Path, progress: OnProgress | None = None
) -> float:
    """Run the jobs in order; the first failure stops everything (exit 6 with the child's stderr tail).

    Returns the seconds taken. An existing round folder is refused rather than mixed with new rounds. Each
    finished round is reported as a ``done`` event (``done`` of ``total`` jobs, ``values["seconds"]``).
    """
    emit = progress or ignore
    start = time.perf_counter()
    for i, job in enumerate(jobs, 1):
        if job.folder.exists():
            raise ConfigError(f"{job.folder} exists already; pass a new --output folder for this comparison.")
        job.output.mkdir(parents=True, exist_ok=True)
        result = launcher(job.argv, cwd)
        if result.returncode != 0:
            detail = _tail(result.stderr) or _tail(result.stdout) or "(no output)"
            raise BenchmarkFailedError(
                f"round {job.run_id} failed with exit status {result.returncode}: "
                f"{shlex.join(job.argv)}\n{detail}"
            )
        if not (job.folder / "summary.csv").exists():
            raise BenchmarkFailedError(
                f"round {job.run_id} exited 0 but wrote no {job.folder / 'summary.csv'}; is "
                f"'{shlex.join(job.argv[:3])}' an rnnbench that has the 'run' command?"
            )
        emit(
            ProgressEvent(
                "done",
                label=job.run_id,
                done=i,
                total=len(jobs),
                status="ok",
                values={"seconds": result.seconds, "side": job.side, "phase": job.phase},
                subject=job,
            )
        )
    return time.perf_counter() - start


def preflight(sides: Sequence[SideCommand], launcher: Launcher, cwd: Path) -> None:
    """``<prefix> run --help`` for each side, so a wrong interpreter fails in seconds, not after N rounds."""
    for side in sides:
        argv = (*side.prefix, "run", "--help")
        result = launcher(argv, cwd)
        if result.returncode != 0:
            detail = _tail(result.stderr) or _tail(result.stdout) or "(no output)"
            raise BenchmarkFailedError(
                f"{side.label}: '{shlex.join(argv)}' failed with exit status {result.returncode}; that side "
                f"cannot run benchmarks:\n{detail}"
            )


# ---- ab -----------------------------------------------------------------------------------------------
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
    _check_method(method)
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
    try:
        return run_ab_paired(
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
        )
    except ProtocolUnavailable as exc:
        if method == "paired":
            raise ConfigError(
                f"{exc}; pass --method rounds (or auto) to compare it in process rounds."
            ) from None
        fallback = _fallback_note(exc)
    (progress or ignore)(ProgressEvent("warning", message=fallback))
    result = run_ab_rounds(
        base,
        head,
        grid_args,
        output,
        settings,
        rounds,
        confirm_rounds,
        launcher,
        progress,
        check,
        preflighted=True,
    )
    result.comparison.notes.insert(0, fallback)
    return result


def _check_method(method: str) -> None:
    if method not in METHODS:
        from rnnbench.registry import check_choice

        check_choice("method", method, METHODS)


def _fallback_note(exc: Exception) -> str:
    return (
        f"{exc}: fell back to process rounds for both sides (an rnnbench before the paired protocol, or "
        "another version of it). Process rounds decide only large effects on a noisy machine — see the "
        "honest min effect below; upgrade that side's rnnbench for the paired mode."
    )


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
        final_cases = _apply_confirmation(first.cases, confirmation)
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


def _apply_confirmation(cases: Sequence[CaseComparison], confirmation: Comparison) -> list[CaseComparison]:
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


# ---- the paired mode ------------------------------------------------------------------------------------
def _pair_ids(run: PairedRun, cases: Sequence[CaseComparison]) -> set[str]:
    """The coordinator's pair ids of these compared cases (matched by case id and both thread counts)."""
    wanted = {case_key(c) for c in cases}
    return {pid for pid, pc in run.cases.items() if (pc.case_id, pc.base_threads, pc.head_threads) in wanted}


def _percent_text(value: float) -> str:
    """``1.8%``; ``over 100%`` for an interval too wide to mean anything (2 restarts); ``—`` for none."""
    if not math.isfinite(value):
        return "—"
    return "over 100%" if value >= 1 else f"{value:.1%}"


def _idle_note(run: PairedRun) -> str | None:
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
    from rnnbench.analyse.paired import paired_comparison

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
        pids = _pair_ids(first_run, regressed)
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
        final_cases = _apply_confirmation(first.cases, confirmation)
    comparison = replace(first, cases=final_cases, notes=list(first.notes))
    comparison.notes.insert(
        0,
        f"Paired: {first_run.restarts} restarts × {paired.pairs} pairs of ~{paired.block_s * 1000:.0f} ms "
        f"blocks per case; honest min effect of these data {_percent_text(comparison.honest_min_effect)}."
        + (f" Head slowed by an injected {inject:.1%}." if inject else ""),
    )
    idle = _idle_note(first_run)
    if idle:
        comparison.notes.append(idle)
    if confirmation is not None:
        n_conf = sum(1 for c in final_cases if c.confirmed)
        comparison.notes.append(
            f"{n_conf} of {len(regressed)} regression(s) confirmed on {paired.confirm_restarts} fresh restarts."
        )
    seconds["total"] = sum(seconds.values())
    return ABResult(comparison, first, confirmation, output, seconds)


# ---- calibrate ----------------------------------------------------------------------------------------
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


def run_calibrate(
    side: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings | None = None,
    rounds: int = DEFAULT_ROUNDS,
    launcher: Launcher = subprocess_launcher,
    progress: OnProgress | None = None,
    check: bool = True,
    *,
    method: str = "rounds",
    paired: PairedSettings | None = None,
    inject: Sequence[float] = (),
    factory: WorkerFactory = process_factory,
    clock: Callable[[], float] = time.perf_counter,
) -> Calibration:
    """A/A: the same command on both sides (labels ``a`` and ``b``), then compare — in process rounds
    (``method="rounds"``) or paired (``"paired"``; ``"auto"`` falls back to rounds when the side cannot
    serve). ``inject`` (paired only): slowdowns made on side b in the same restarts, to measure power."""
    settings = settings or GateSettings()
    _check_method(method)
    check_grid_args(grid_args)
    for f in inject:
        if not 0 < f < 1:
            raise ConfigError(f"--inject takes fractions in (0, 1) such as 2% or 0.05, got {f}.")
    if check and method == "auto":
        check_rounds("--rounds", rounds, settings)
    if method != "rounds":
        out = Path(output).resolve()
        out.mkdir(parents=True, exist_ok=True)
        preflight((replace(side, label="a"),), launcher, out)
        try:
            return calibrate_paired(
                side, grid_args, out, settings, paired or PairedSettings(), inject, factory, progress, clock
            )
        except ProtocolUnavailable as exc:
            if method == "paired":
                raise ConfigError(f"{exc}; pass --method rounds to calibrate process rounds.") from None
            note = _fallback_note(exc) + (" --inject needs the paired mode: not measured." if inject else "")
        (progress or ignore)(ProgressEvent("warning", message=note))
        cal = _calibrate_rounds(side, grid_args, output, settings, rounds, launcher, progress, check, True)
        cal.notes.insert(0, note)
        return cal
    return _calibrate_rounds(side, grid_args, output, settings, rounds, launcher, progress, check)


def _calibrate_rounds(
    side: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings,
    rounds: int,
    launcher: Launcher,
    progress: OnProgress | None,
    check: bool,
    preflighted: bool = False,
) -> Calibration:
    if check:
        check_rounds("--rounds", rounds, settings)
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    a = replace(side, label="a")
    b = replace(side, label="b")
    if not preflighted:
        preflight((a,), launcher, output)
    jobs = build_jobs((a, b), grid_args, rounds, output / "rounds", "r")
    seconds = run_jobs(jobs, launcher, output, progress)
    comparison = compare_paths([output / "rounds" / "a"], [output / "rounds" / "b"], settings)
    return calibration_from(comparison, seconds)


def _detected(case: CaseComparison, alpha: float) -> bool:
    """A slowdown the statistics see — Holm-adjusted one-sided p ≤ α, interval below 1 — whatever the min
    effect: calibration measures what the measurement can resolve; the min effect is the user's choice above
    the honest min effect."""
    return case.p_side == "slower" and case.p_value <= alpha and case.ratio_high < 1


def calibrate_paired(
    side: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings,
    paired: PairedSettings,
    inject: Sequence[float] = (),
    factory: WorkerFactory = process_factory,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Calibration:
    """Paired A/A — and, per injected fraction f, the same workers with side b slowed by f, interleaved pair
    by pair in the same restarts. Reports the A/A honest min effect and false alarms, and per f the fraction
    of cases whose slowdown is detected (Holm over the cases at α) *and* confirmed on fresh restarts of just
    those cases — the power an ``ab`` with these settings has against a regression of that size."""
    from rnnbench.analyse.paired import detectable_effect, paired_comparison, paired_evidence

    emit = progress or ignore
    out = Path(output).resolve() / "paired"
    a = replace(side, label="a").paired(grid_args)
    b = replace(side, label="b").paired(grid_args)
    conditions = (0.0, *inject)
    run = run_paired(
        a, b, out, paired, conditions, phase="first", factory=factory, progress=progress, clock=clock
    )
    seconds = run.seconds
    comps = {f: paired_comparison(run, settings, f, base_label="a", head_label="b") for f in conditions}
    aa = comps[0.0]
    flagged: dict[float, set[str]] = {
        f: _pair_ids(run, [c for c in comps[f].cases if _detected(c, settings.alpha)]) for f in inject
    }
    flagged[0.0] = _pair_ids(run, [c for c in aa.cases if c.verdict == "regression"])
    confirmed: dict[float, set[str]] = {f: set() for f in conditions}
    if paired.confirm_restarts > 0 and any(flagged.values()):
        only: dict[str, list[float]] = {}
        for f in conditions:
            for pid in flagged[f]:
                only.setdefault(pid, []).append(f)
        emit(
            ProgressEvent(
                "note",
                message=f"confirming {sum(len(v) for v in flagged.values())} detection(s) on "
                f"{paired.confirm_restarts} fresh restarts",
            )
        )
        conf = run_paired(
            a,
            b,
            out,
            paired,
            conditions,
            phase="confirm",
            restarts=paired.confirm_restarts,
            only=only,
            factory=factory,
            progress=progress,
            clock=clock,
        )
        seconds += conf.seconds
        for f in conditions:
            if not flagged[f]:
                continue
            again = paired_comparison(conf, settings, f, only=flagged[f], base_label="a", head_label="b")
            hits = [
                c for c in again.cases if (_detected(c, settings.alpha) if f else c.verdict == "regression")
            ]
            confirmed[f] = _pair_ids(conf, hits)
    cal = calibration_from(aa, seconds)
    pid_of = {(pc.case_id, pc.base_threads, pc.head_threads): pid for pid, pc in run.cases.items()}
    comparable = [c for c in aa.cases if c.verdict not in ("error", "not_comparable")]
    k = max(len(comparable), 1)
    cases = []
    for cc, cal_case in zip(aa.cases, cal.cases, strict=True):
        found = pid_of.get(case_key(cc))
        ev = paired_evidence(run.log_ratios.get((found, 0.0), [])) if found else None
        mde = (
            detectable_effect(ev.sd, ev.restarts, settings.alpha, k, 0.9, paired.confirm_restarts)
            if ev is not None
            else math.nan
        )
        detected = {f"{f:g}": found in confirmed[f] for f in inject} if found else {}
        cases.append(replace(cal_case, detectable_effect=mde, detected=detected))
    cal.cases = cases
    n = len(comparable)
    cal.power = {f: (len(confirmed[f]) / n if n else math.nan) for f in inject}
    cal.power_first = {f: (len(flagged[f]) / n if n else math.nan) for f in inject}
    mdes = [c.detectable_effect for c in cases if math.isfinite(c.detectable_effect)]
    cal.detectable_effect = max(mdes) if mdes else math.nan
    cal.notes = list(aa.notes)
    if flagged[0.0]:
        cal.notes.append(
            f"A/A: {len(flagged[0.0])} false regression(s) on the first restarts, "
            f"{len(confirmed[0.0])} confirmed."
        )
    idle = _idle_note(run)
    if idle:
        cal.notes.append(idle)
    return cal
