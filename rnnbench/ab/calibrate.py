"""``calibrate``: A/A — the same command on both sides (labels ``a`` and ``b``) — to measure how much each case
varies on this machine and the smallest ``--min-effect`` it can gate honestly; in the paired mode also the
power to catch injected slowdowns (``--inject``). The figures are :mod:`rnnbench.gate.calibration`'s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from rnnbench.ab.channel import WorkerFactory, process_factory
from rnnbench.ab.coordinator import run_paired
from rnnbench.ab.flows import idle_note, paired_else_rounds
from rnnbench.ab.paired import pair_ids, paired_comparison
from rnnbench.ab.rounds import build_jobs, check_rounds, run_jobs
from rnnbench.ab.sides import Launcher, SideCommand, check_grid_args, preflight, subprocess_launcher
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import ConfigError
from rnnbench.gate.calibration import Calibration, calibration_from
from rnnbench.gate.cases import case_key
from rnnbench.gate.results import CaseComparison
from rnnbench.gate.rounds import compare_paths
from rnnbench.gate.settings import DEFAULT_ROUNDS, GateSettings, PairedSettings, check_method
from rnnbench.stats.power import detectable_effect
from rnnbench.stats.restarts import paired_evidence


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
    check_method(method)
    check_grid_args(grid_args)
    for f in inject:
        if not 0 < f < 1:
            raise ConfigError(f"--inject takes fractions in (0, 1) such as 2% or 0.05, got {f}.")
    if check and method == "auto":
        check_rounds("--rounds", rounds, settings)
    if method == "rounds":
        return _calibrate_rounds(side, grid_args, output, settings, rounds, launcher, progress, check)
    out = Path(output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    preflight((replace(side, label="a"),), launcher, out)
    return paired_else_rounds(
        method,
        lambda: calibrate_paired(
            side, grid_args, out, settings, paired or PairedSettings(), inject, factory, progress, clock
        ),
        lambda: _calibrate_rounds(side, grid_args, output, settings, rounds, launcher, progress, check, True),
        lambda cal: cal.notes,
        progress,
        refuse="pass --method rounds to calibrate process rounds.",
        extra_note=" --inject needs the paired mode: not measured." if inject else "",
    )


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
        f: pair_ids(run, [c for c in comps[f].cases if _detected(c, settings.alpha)]) for f in inject
    }
    flagged[0.0] = pair_ids(run, [c for c in aa.cases if c.verdict == "regression"])
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
            confirmed[f] = pair_ids(conf, hits)
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
    idle = idle_note(run)
    if idle:
        cal.notes.append(idle)
    return cal
