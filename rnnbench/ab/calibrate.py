"""``calibrate``: A/A — the same command on both sides (labels ``a`` and ``b``) — to measure how much each case
varies on this machine and the smallest ``--min-effect`` it can gate honestly; in the paired mode also the
power to catch injected slowdowns (``--inject``). The figures are :mod:`rnnbench.gate.calibration`'s."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from rnnbench.ab.channel import WorkerFactory
from rnnbench.ab.flows import ab_result, paired_else_rounds, rounds_options_unused, worker_factory
from rnnbench.ab.rounds import build_jobs, check_rounds, run_jobs
from rnnbench.ab.sequential import run_sequential, stage_alphas
from rnnbench.ab.sides import Launcher, SideCommand, check_grid_args, preflight, subprocess_launcher
from rnnbench.core.progress import OnProgress
from rnnbench.errors import ConfigError
from rnnbench.gate.calibration import Calibration, calibration_from
from rnnbench.gate.cases import case_key
from rnnbench.gate.evidence import RestartEvidence
from rnnbench.gate.rounds import compare_paths
from rnnbench.gate.settings import DEFAULT_ROUNDS, GateSettings, PairedSettings, check_method
from rnnbench.stats.power import detectable_effect
from rnnbench.stats.sequential import critical_t


def run_calibrate(
    side: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings | None = None,
    rounds: int | None = None,
    launcher: Launcher = subprocess_launcher,
    progress: OnProgress | None = None,
    check: bool = True,
    *,
    method: str = "rounds",
    paired: PairedSettings | None = None,
    inject: Sequence[float] = (),
    factory: WorkerFactory | None = None,
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
    unused = rounds_options_unused(method, rounds=rounds)
    rounds = DEFAULT_ROUNDS if rounds is None else rounds
    if check and method == "auto":
        check_rounds("--rounds", rounds, settings)
    if method == "rounds":
        return _calibrate_rounds(side, grid_args, output, settings, rounds, launcher, progress, check)
    worker_factory(
        factory, (paired or PairedSettings()).cpus, (), ()
    )  # a CPU that is not here: before anything
    out = Path(output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    preflight((replace(side, label="a"),), launcher, out)
    cal = paired_else_rounds(
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
    if unused and cal.comparison.method == "paired":
        cal.notes.append(unused)
    return cal


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


def calibrate_paired(
    side: SideCommand,
    grid_args: Sequence[str],
    output: Path,
    settings: GateSettings,
    paired: PairedSettings,
    inject: Sequence[float] = (),
    factory: WorkerFactory | None = None,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Calibration:
    """Paired A/A — and, per injected throughput drop f, the same workers with side b slowed by f,
    interleaved pair by pair in the same restarts — through the very sequential gate ``ab`` runs (pilot,
    first stage, confirmation, ``ab``'s rule with the min effect). Reports the A/A verdicts and false alarms,
    and per f the fraction of cases ``ab`` would end with a *confirmed* regression: its power against a
    slowdown of that size on this machine, at this budget."""
    out = Path(output).resolve() / "paired"
    a = replace(side, label="a").paired(grid_args)
    b = replace(side, label="b").paired(grid_args)
    chosen, cpus = worker_factory(factory, paired.cpus, a.grid_args, b.grid_args)
    conditions = (0.0, *inject)
    seq = run_sequential(
        a, b, out, settings, paired, conditions, factory=chosen, progress=progress, clock=clock
    )
    results = {f: ab_result(seq, settings, f, "a", "b", out, cpus) for f in conditions}
    aa = results[0.0].comparison
    cal = calibration_from(aa, seq.seconds)
    comparable = [c for c in aa.cases if c.verdict not in ("error", "not_comparable")]
    n = len(comparable)
    for f in inject:
        final = results[f].comparison.cases
        first = results[f].first.cases
        cal.power[f] = sum(1 for c in final if c.verdict == "regression" and c.confirmed) / n if n else math.nan
        cal.power_first[f] = sum(1 for c in first if c.verdict == "regression") / n if n else math.nan
    restarts = seq.first.run.restarts
    a1 = seq.first.alpha / max(n, 1)
    a2 = seq.confirm.alpha if seq.confirm is not None else stage_alphas(settings.alpha, True)[1]
    pid_of = {(pc.case_id, pc.base_threads, pc.head_threads): pid for pid, pc in seq.first.run.cases.items()}
    cases = []
    recommended: list[float] = []
    for cc, cal_case in zip(aa.cases, cal.cases, strict=True):
        pid = pid_of.get(case_key(cc))
        sd = RestartEvidence.of(seq.first.run.restarts_of(pid)).sequence.sd if pid else math.nan
        confirm = restarts if paired.confirm_restarts > 0 else 0
        mde = detectable_effect(sd, restarts, settings.min_effect, a1, 0.9, confirm, a2)
        need = recommended_effect(sd, restarts, settings.level)
        if math.isfinite(need):
            recommended.append(need)
        detected = {}
        if pid:
            for f in inject:
                hit = [c for c in results[f].comparison.cases if case_key(c) == case_key(cc)]
                detected[f"{f:g}"] = bool(hit and hit[0].verdict == "regression" and hit[0].confirmed)
        cases.append(replace(cal_case, detectable_effect=mde, detected=detected))
    cal.cases = cases
    if recommended:
        cal.recommended_min_effect = max(0.005, math.ceil(max(recommended) * 200 - 1e-9) / 200)
    mdes = [c.detectable_effect for c in cases if math.isfinite(c.detectable_effect)]
    cal.detectable_effect = max(mdes) if mdes else math.nan
    cal.notes = list(aa.notes)
    cal.notes.append(
        f"Recommended min effect {cal.recommended_min_effect:.1%}: per case, the 95% sequence's half-width "
        f"after {restarts} restarts plus {RECOMMEND_MARGIN_Z} standard errors (so that an A/A at this budget "
        "decides 'no change' in each case with ≈ 90% probability), the largest case, rounded up to 0.5%."
    )
    flagged = [c for c in results[0.0].first.cases if c.verdict in ("regression", "improvement")]
    if flagged:
        confirmed = sum(1 for c in aa.cases if c.confirmed)
        cal.notes.append(f"A/A: {len(flagged)} case(s) flagged in the first stage, {confirmed} confirmed.")
    return cal


RECOMMEND_MARGIN_Z = 1.645
"""Standard errors added to the sequence's half-width for the recommended min effect: |estimate| ≤ m − h
holds with ≈ 90% probability under A/A (two-sided normal quantile 0.95)."""


def recommended_effect(sd: float, restarts: int, level: float = 0.95) -> float:
    """The min effect at which an A/A case with restart spread ``sd`` (log scale) is decided "no change" by
    ``restarts`` restarts with ≈ 90% probability: (c_R + z)·sd/√R back on the ratio scale (c_R the
    confidence sequence's factor at ``level``, z = :data:`RECOMMEND_MARGIN_Z`). NaN without a spread."""
    if restarts < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan
    c = critical_t(restarts, 1 - level)
    if not math.isfinite(c):
        return math.nan
    return math.exp((c + RECOMMEND_MARGIN_Z) * sd / math.sqrt(restarts)) - 1
