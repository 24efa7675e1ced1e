"""Does the regression gate behave on real runs on this machine?

(a) A/A: the same interpreter and grid on both sides of ``rnnbench ab`` — every confirmed regression is a false
    alarm; the expected count is 0.
(b) A real slowdown: base ``--threads 2`` against head ``--threads 1`` (``--allow-diff threads``) — a case whose
    head is slower by more than the minimum effect should come out as a confirmed regression, or at worst as
    inconclusive with the rounds that would decide; calling it ``no_change`` would be a miss.

Prints the false-alarm count, the cases detected in (b) against the cases whose measured slowdown exceeds the
minimum effect, and the time each part took. It needs the real ``rnnbench run`` and owns the CPU while it
runs: start it on an otherwise idle machine (check ``uptime``).

    python benchmarks/gate_check.py                     # quick grid, ab's default rounds (8 per side)
    python benchmarks/gate_check.py --rounds 5 --grid "--preset quick --budget 0.3"
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

from rnnbench.ab.flows import run_ab
from rnnbench.ab.sides import SideCommand
from rnnbench.core.progress import ProgressEvent
from rnnbench.gate.settings import DEFAULT_CONFIRM_ROUNDS, DEFAULT_ROUNDS, GateSettings
from rnnbench.present.gate import progress_line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--grid", default="--preset quick", help="arguments for 'rnnbench run' [--preset quick]"
    )
    # ab's defaults: with α shared among the quick grid's 16 cases, 6 rounds per side could never call one
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help=f"rounds per side [{DEFAULT_ROUNDS}]"
    )
    parser.add_argument(
        "--confirm-rounds",
        type=int,
        default=DEFAULT_CONFIRM_ROUNDS,
        help=f"confirmation rounds per side [{DEFAULT_CONFIRM_ROUNDS}]",
    )
    parser.add_argument("--min-effect", type=float, default=0.05, help="minimum effect [0.05]")
    parser.add_argument("--python", default=sys.executable, help="interpreter with rnnbench installed")
    parser.add_argument("--output", type=Path, default=None, help="folder for the rounds [a temporary one]")
    parser.add_argument("--skip", choices=("aa", "threads"), default=None, help="skip one part")
    args = parser.parse_args(argv)

    grid = shlex.split(args.grid)
    output = args.output or Path(tempfile.mkdtemp(prefix="rnnbench-gate-check-"))
    base = SideCommand.from_python("base", args.python)
    head = SideCommand.from_python("head", args.python)

    def progress(event: ProgressEvent) -> None:
        line = progress_line(event)  # the line `rnnbench ab` prints for it (or None: not worth one)
        if line is not None:
            print(f"  {line}", file=sys.stderr, flush=True)

    status = 0
    if args.skip != "aa":
        print(f"(a) A/A over {args.grid!r}, {args.rounds}+{args.rounds} rounds …", flush=True)
        start = time.perf_counter()
        aa = run_ab(
            base,
            head,
            grid,
            output / "aa",
            GateSettings(min_effect=args.min_effect),
            rounds=args.rounds,
            confirm_rounds=args.confirm_rounds,
            progress=progress,
        )
        seconds = time.perf_counter() - start
        false_alarms = len(aa.confirmed_regressions)
        first_alarms = sum(1 for c in aa.first.cases if c.verdict == "regression")
        counts = aa.comparison.counts()
        print(
            f"(a) A/A: {len(aa.comparison.cases)} cases; confirmed regressions (false alarms): {false_alarms}; "
            f"unconfirmed first-round regressions: {first_alarms}; verdicts: "
            + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            + f"; {seconds:.0f} s"
        )
        for case in aa.comparison.cases:
            interval = f"{case.ratio:6.3f} [{case.ratio_low:.3f}, {case.ratio_high:.3f}]"
            print(f"    {case.verdict:<14} {interval} {case.name}")
        status |= false_alarms > 0

    if args.skip != "threads":
        print(f"(b) base --threads 2 vs head --threads 1 over {args.grid!r} …", flush=True)
        start = time.perf_counter()
        slow = run_ab(
            SideCommand("base", base.prefix, ("--threads", "2")),
            SideCommand("head", head.prefix, ("--threads", "1")),
            grid,
            output / "threads",
            GateSettings(min_effect=args.min_effect, allow_diff=("threads",)),
            rounds=args.rounds,
            confirm_rounds=args.confirm_rounds,
            progress=progress,
        )
        seconds = time.perf_counter() - start
        cases = slow.comparison.cases
        expected = [c for c in cases if math.isfinite(c.ratio) and c.ratio < 1 - args.min_effect]
        detected = slow.confirmed_regressions
        undecided = [c for c in expected if c not in detected and c.verdict == "inconclusive"]
        missed = [c for c in expected if c not in detected and c not in undecided]
        print(
            f"(b) threads 2→1: {len(cases)} cases; "
            f"slower by > {args.min_effect:.0%} (estimate): {len(expected)}; "
            f"confirmed regressions: {len(detected)}; inconclusive (more rounds needed): {len(undecided)}; "
            f"missed (called no_change/improvement): {len(missed)}; {seconds:.0f} s"
        )
        for case in cases:
            mark = "DETECTED" if case in detected else "MISSED" if case in missed else ""
            needed = f"~{case.rounds_needed} rounds" if case.rounds_needed else ""
            print(
                f"    {case.verdict:<14} {case.ratio:6.3f} [{case.ratio_low:.3f}, {case.ratio_high:.3f}] "
                f"{mark:<8} {needed:<11} {case.name}"
            )
        status |= bool(missed) << 1
    print(f"Rounds kept in {output}")
    return status


if __name__ == "__main__":
    sys.exit(main())
