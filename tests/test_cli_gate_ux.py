"""The gate commands in a user's hands: ``compare``, ``ab``, ``calibrate`` and ``history`` piped at 80 columns
(one line per case, verdict, p and note never folded or cut), progress on stderr (a line per finished restart
with its ETA in a pipe, a bar at a terminal, nothing with ``--quiet``), ``--quiet``, examples in ``--help`` and
completion of their option values."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from rnnbench.core.progress import ProgressEvent
from rnnbench.errors import EXIT_OK, EXIT_REGRESSION
from tests.runfolders import noisy, write_run

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fake_worker.py"
ESCAPES = re.compile(r"\x1b\[|\r")


@pytest.fixture
def base_slow(tmp_path: Path) -> tuple[Path, Path]:
    """Base and a head whose LSTM is 40% slower, six rounds each (GRU unchanged)."""
    rng = np.random.default_rng(3)
    base = {"lstm": noisy(1000, 6, rng, 0.005), "gru": noisy(800, 6, rng, 0.005)}
    slow = {"lstm": noisy(600, 6, rng, 0.005), "gru": noisy(800, 6, rng, 0.005)}
    return write_run(tmp_path / "base", "b", base), write_run(tmp_path / "head", "h", slow)


def _case_lines(text: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    return {name: [line for line in text.splitlines() if line.lstrip("│ ").startswith(name)] for name in names}


# ---- piped at 80 columns: one line per case, nothing cut ----------------------------------------------------
def test_compare_piped_keeps_each_case_on_one_line(cli80: Any, base_slow: tuple[Path, Path]) -> None:
    result = cli80(["compare", *map(str, base_slow)])
    assert result.exit_code == EXIT_REGRESSION, result.output
    out = result.stdout
    assert not ESCAPES.search(out) and "…" not in out
    rows = [line for line in out.splitlines() if "/native" in line or "lstm" in line or "gru" in line]
    regress = [line for line in rows if "regression" in line]
    assert len(regress) == 1 and "lstm" in regress[0]
    # the verdict, its p (Holm) and the ratio interval sit on the case's own line
    assert re.search(r"0\.6\d* \[0\.\d+, 0\.\d+\]", regress[0]) and re.search(r"\b0\.0\d*\b", regress[0])
    assert any("gru" in line and ("no_change" in line or "inconclusive" in line) for line in rows)
    assert max(len(line) for line in out.splitlines()) > 80  # it took the width its content needs


def test_history_piped_keeps_each_series_on_one_line(cli80: Any, tmp_path: Path) -> None:
    for i, level in enumerate([1000, 1002, 998, 1000, 1001, 999, 1000, 1000, 850, 845, 840]):
        write_run(tmp_path, f"r{i}", {"lstm": [float(level)]}, started_at=f"2026-03-{i + 1:02d}")
    result = cli80(["history", str(tmp_path)])
    assert result.exit_code == EXIT_REGRESSION, result.output
    [line] = [line for line in result.stdout.splitlines() if "slowdown" in line]
    assert "lstm" in line and "r8" in line and "-15" in line and "→" in line
    assert not ESCAPES.search(result.stdout)


def _calibrate(cli80: Any, out: Path, *extra: str) -> Any:
    cmd = f"{sys.executable} {FAKE} ok"
    return cli80(
        ["calibrate", "--cmd", cmd, "--method", "paired", "--restarts", "4", "--pairs", "4",
         "--confirm-restarts", "0", "-o", str(out), *extra]
    )  # fmt: skip


def test_calibrate_piped_progress_lines_and_one_line_per_case(cli80: Any, tmp_path: Path) -> None:
    """Real worker processes (tests/fake_worker.py speaks the protocol without torch)."""
    result = _calibrate(cli80, tmp_path / "cal")
    assert result.exit_code == EXIT_OK, result.output
    err, out = result.stderr, result.stdout
    assert not ESCAPES.search(err) and not ESCAPES.search(out)
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == [f"[{k}/4" for k in range(1, len(progress) + 1)]
    for line in progress:  # the sequential gate: how many cases are decided, and at most the budget left
        assert re.fullmatch(
            r"\[\d/4\] first restart \(\d/2 decided\) done in \d+(\.\d+)? m?s "
            r"\(\d:\d\d:\d\d elapsed, ETA ≤ \d:\d\d:\d\d\)",
            line,
        ), line
    assert "pilot restart" in err  # the pilot's choice of block length and pairs is said
    assert "Smallest honest --min-effect" in err
    lines = _case_lines(out, ("lstm", "gru"))
    assert all(len(v) == 1 for v in lines.values()), out  # one line per case
    assert "Results:" not in out


def test_calibrate_quiet_prints_only_the_folder(cli80: Any, tmp_path: Path) -> None:
    result = _calibrate(cli80, tmp_path / "cal", "-q")
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout.strip() == str(tmp_path / "cal")  # the bare path: $(rnnbench calibrate -q …)
    assert not any(line.startswith("[") for line in result.stderr.splitlines())
    assert "Smallest honest --min-effect" in result.stderr  # the answer is still given, on stderr


def test_compare_quiet(cli80: Any, base_slow: tuple[Path, Path]) -> None:
    result = cli80(["compare", *map(str, base_slow), "--quiet"])
    assert result.exit_code == EXIT_REGRESSION
    assert result.stdout == "" and "1 regression" in result.stderr and "Note:" not in result.stderr
    as_json = cli80(["compare", *map(str, base_slow), "-q", "-f", "json"])  # an explicit format still prints
    assert as_json.stdout.lstrip().startswith("{") and as_json.exit_code == EXIT_REGRESSION


# ---- the progress view itself --------------------------------------------------------------------------------
def _done(n: int, total: int, phase: str, seconds: float = 1.0) -> ProgressEvent:
    return ProgressEvent(
        "done",
        label=f"{phase} restart",
        done=n,
        total=total,
        status="ok",
        values={"seconds": seconds, "phase": phase},
    )


def test_gate_progress_lines_per_phase(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnbench.cli.gate import GateProgress

    with GateProgress(quiet=False) as view:  # capsys' stderr is not a terminal: plain lines
        assert view.bar is None
        view.on_event(_done(1, 2, "first"))
        view.on_event(ProgressEvent("note", message="1 regression(s); confirming only those cases"))
        view.on_event(_done(2, 2, "first"))
        view.on_event(_done(1, 3, "confirm"))  # a new phase: its own count and ETA
        view.on_event(ProgressEvent("warning", message="a worker was slow"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[1/2] first restart done in 1.00 s (0:00:01 elapsed, ETA 0:00:01)")
    assert lines[1] == "1 regression(s); confirming only those cases"
    assert lines[2].startswith("[2/2] first restart") and lines[2].endswith("ETA 0:00:00)")
    assert lines[3].startswith("[1/3] confirm restart done in 1.00 s (0:00:01 elapsed, ETA 0:00:02)")
    assert lines[4] == "Warning: a worker was slow"


def test_gate_progress_quiet_keeps_only_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnbench.cli.gate import GateProgress

    with GateProgress(quiet=True) as view:
        view.on_event(_done(1, 2, "first"))
        view.on_event(ProgressEvent("note", message="a note"))
        view.on_event(ProgressEvent("warning", message="fell back"))
    assert capsys.readouterr().err == "Warning: fell back\n"


def test_gate_progress_bar_at_a_terminal() -> None:
    from rnnbench.cli.gate import GateProgress

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    with GateProgress(quiet=False, console=console) as view:
        assert view.bar is not None
        view.on_event(_done(1, 4, "first"))
        view.on_event(_done(1, 2, "confirm"))
        tasks = list(view.bar.tasks)
    assert [(t.description, t.completed, t.total) for t in tasks] == [
        ("first restart", 1, 4),
        ("confirm restart", 1, 2),
    ]
    assert "[1/4]" not in buffer.getvalue()  # a bar, not log lines


# ---- help and completion --------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["compare", "ab", "calibrate", "history"])
def test_gate_help_has_examples_and_quiet(cli80: Any, command: str) -> None:
    text = " ".join(cli80([command, "--help"]).stdout.split())
    assert "Examples:" in text and f"rnnbench {command} " in text.split("Examples:")[1]
    assert "--quiet" in text and "-q" in text


def test_gate_completion() -> None:
    from rnnbench.cli.gate_options import (
        complete_allow_diff,
        complete_export,
        complete_file_format,
        complete_gate_format,
        complete_method,
    )

    assert complete_gate_format("") == ["table", "md", "json", "csv", "github-benchmark"]
    assert complete_file_format("") == ["table", "md", "json", "csv"]
    assert complete_method("p") == ["paired"]
    assert "torch" in complete_allow_diff("") and complete_allow_diff("cud") == ["cuda", "cudnn"]
    assert complete_export("j") == ["json="] and complete_export("md=re") == []
    from rnnbench.present.exports import FORMATS

    assert complete_export("") == [f"{fmt}=" for fmt in FORMATS]  # the same formats --export accepts


def test_compare_same_folder_and_a_shared_note_said_once(cli80: Any, tmp_path: Path) -> None:
    """``compare A A`` says that base and head are the same folder; the long note every row shares (3 rounds:
    too few for a verdict) is said once under the table (``[1]``) instead of on every row, so a piped table
    stays narrow."""
    rng = np.random.default_rng(4)
    base = write_run(
        tmp_path / "base", "b", {"lstm": noisy(1000, 3, rng, 0.01), "gru": noisy(800, 3, rng, 0.01)}
    )
    result = cli80(["compare", str(base), str(base)])
    assert "base and head are the same folder(s)" in result.stderr
    lines = result.stdout.splitlines()
    assert sum("[1]" in line for line in lines) == 3  # two rows refer to it, one line says it
    [note] = [line for line in lines if line.startswith("[1] ")]
    assert "rounds: a verdict needs ≥ 5 per side" in note
    assert max(len(line) for line in lines) <= 160


def test_shared_texts_become_footnotes() -> None:
    from rnnbench.present.gate import shared_texts

    long = "x" * 50
    rows, notes = shared_texts([long, "short", long, "short", "y" * 45])
    assert rows == ["[1]", "short", "[1]", "short", "y" * 45] and notes == (f"[1] {long}",)
