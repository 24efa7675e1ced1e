"""Process rounds in ABBA order: every round a fresh ``rnnbench run --rounds 1`` process of one side.

Why ABBA: a machine that warms up, throttles or gains a noisy neighbour drifts, which the order
A B B A A B B A … cancels to first order (each side's rounds have the same mean position in time). Every round
is a fresh process, the replication unit the gate's round statistics assume
(``gate.evidence.RoundEvidence``).

Progress goes to an ``OnProgress`` callback: a ``done`` event per finished round (``label`` its run id,
``done`` of ``total`` rounds of the phase, ``values["seconds"]``).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnbench.ab.sides import Launcher, SideCommand, quoted_output
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import BenchmarkFailedError, ConfigError
from rnnbench.gate.settings import GateSettings
from rnnbench.stats.ranks import smallest_exact_p


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


def abba_order(n_per_side: int, first: str = "base", second: str = "head") -> list[tuple[str, int]]:
    """``(side, index)`` in the order A B B A A B B A …: pair k runs A then B when k is even, B then A when
    odd. With an even number of rounds per side both sides' mean positions in time are equal, so a linear
    drift cancels exactly; an odd number leaves one pair's worth of drift."""
    order: list[tuple[str, int]] = []
    for k in range(n_per_side):
        pair = [(first, k), (second, k)] if k % 2 == 0 else [(second, k), (first, k)]
        order.extend(pair)
    return order


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
            detail = quoted_output(result)
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
