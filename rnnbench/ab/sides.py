"""The two sides of an A/B and how their processes are started.

A side is a command that runs rnnbench (``python -m rnnbench`` of its own interpreter, or a user command
such as ``uv run --project ../base rnnbench``) plus arguments only it gets. Launching is injectable
(:data:`Launcher`) so the flows are testable without torch or a real ``run``. Subprocesses start in the output
folder, never in a checkout, because ``python -m rnnbench`` puts the current folder first on ``sys.path`` and
would silently import that checkout's rnnbench instead of the side's own.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnbench.core.values import last_lines
from rnnbench.errors import BenchmarkFailedError, ConfigError

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
    def from_python(
        cls, label: str, python: str | Path | None, extra_args: Sequence[str] = (), option: str = ""
    ) -> SideCommand:
        """``<python> -m rnnbench``; ``python`` defaults to this interpreter. ``option`` is how the user gave
        it (``--base-python``, ``--python``), for the error message."""
        exe = str(python) if python else sys.executable
        if python and not Path(exe).exists():
            raise ConfigError(
                f"{option or f'--{label}-python'} {exe}: no such file; pass an interpreter with rnnbench "
                "installed."
            )
        serve = (exe, "-m", "rnnbench.measure.worker", "--serve")
        return cls(label, (exe, "-m", "rnnbench"), tuple(extra_args), serve)

    @classmethod
    def from_command(
        cls, label: str, command: str, extra_args: Sequence[str] = (), option: str = ""
    ) -> SideCommand:
        """A shell-style command that runs rnnbench, e.g. ``"uv run --project ../base rnnbench"``."""
        prefix = tuple(shlex.split(command))
        if not prefix:
            raise ConfigError(
                f"{option or f'--{label}-cmd'} is empty; pass the command that starts rnnbench for this side."
            )
        return cls(label, prefix, tuple(extra_args), (*prefix, "worker", "--serve"))

    def paired(self, grid_args: Sequence[str]) -> PairedSide:
        """This side as the paired coordinator starts it: its worker command and its grid options."""
        serve = self.serve or (*self.prefix, "worker", "--serve")
        return PairedSide(self.label, tuple(serve), (*grid_args, *self.extra_args))


@dataclass(frozen=True)
class PairedSide:
    label: str
    argv: tuple[str, ...]
    """The command that starts this side's worker (``… -m rnnbench.measure.worker --serve``)."""
    grid_args: tuple[str, ...]
    """``run``'s grid options for this side (shared grid + this side's own arguments)."""


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


def check_grid_args(grid_args: Sequence[str]) -> None:
    """Refuse grid arguments that would fight the ones each round gets (one round, its own folder)."""
    for arg in grid_args:
        name = arg.split("=", 1)[0]
        if name in RESERVED_RUN_OPTIONS:
            raise ConfigError(
                f"'{name}' is set by ab/calibrate for every round; leave it out of the grid arguments "
                "(use --rounds and --output of ab/calibrate instead)."
            )


def preflight(sides: Sequence[SideCommand], launcher: Launcher, cwd: Path) -> None:
    """``<prefix> run --help`` for each side, so a wrong interpreter fails in seconds, not after N rounds."""
    for side in sides:
        argv = (*side.prefix, "run", "--help")
        result = launcher(argv, cwd)
        if result.returncode != 0:
            detail = quoted_output(result)
            raise BenchmarkFailedError(
                f"{side.label}: '{shlex.join(argv)}' failed with exit status {result.returncode}; that side "
                f"cannot run benchmarks:\n{detail}"
            )


def quoted_output(result: LaunchResult, lines: int = 15) -> str:
    """What an error message quotes of a failed child: its stderr's last lines, else its stdout's."""
    return "\n".join(last_lines(result.stderr, lines) or last_lines(result.stdout, lines)) or "(no output)"
