"""Output in a CI log: stdout piped (CliRunner's streams are not terminals) at 80 columns. No value, word or
verdict is folded or cut, progress goes to stderr as one plain line per finished case (no redraws, no escape
codes), stdout keeps the tables and a last ``Results:`` line, and ``--quiet`` keeps only that line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).parent / "golden"
FAST = ["--budget", "0.05", "--warmup", "0.02", "--threads", "1"]
TINY = ["--seq-len", "4", "--hidden", "8", "--batch", "2", "--mode", "inference"]
TRAIN_TINY = [
    "--seeds",
    "2",
    "--steps",
    "3",
    "--eval-every",
    "3",
    "--eval-size",
    "8",
    "--val-size",
    "8",
    "--batch",
    "4",
    "--lr",
    "0.01",
]
TRAIN_TINY += ["--match", "hidden", "--hidden", "4"]
ESCAPES = re.compile(r"\x1b\[|\r")


def _folder(root: Path) -> Path:
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def test_run_piped(cli80: Any, tmp_path: Path) -> None:
    result = cli80(["run", "-a", "lstm", "gru", "-d", "cpu", *TINY, *FAST, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out, err = result.stdout, result.stderr
    # progress: stderr, one line per finished case, no redraws; never on stdout
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == ["[1/2", "[2/2"]
    assert all(" ok " in line and "ETA" in line for line in progress)
    assert not ESCAPES.search(err + out) and "ETA" not in out and "2/2" not in out
    assert "cases × 1 round(s)" in err and "Run folder:" in err
    # the table: each shape one whole line with both times, the ratio and its interval
    row = next(line for line in out.splitlines() if "µs" in line or " ms " in line)
    assert re.search(r"\d+(?:\.\d+)? \[\d+(?:\.\d+)?–\d+(?:\.\d+)?\]", row) and "0.75" in row
    # each verdict one whole line: direction, scope and the hint
    verdicts = [line for line in out.splitlines() if line.startswith("  ") and "lstm" in line]
    assert len(verdicts) == 1 and "(inference, cpu, T=4 B=2 I=8 H=8 threads=1)" in verdicts[0]
    assert verdicts[0].rstrip().endswith("use --rounds 5 to compare")
    assert out.splitlines()[-1] == f"Results: {_folder(tmp_path)}"


def test_run_quiet(cli80: Any, tmp_path: Path) -> None:
    result = cli80(["run", "-a", "gru", *TINY, *FAST, "-q", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{_folder(tmp_path)}\n"  # the path alone: $(rnnbench run … -q)
    assert "[1/1]" not in result.stderr and "Run folder" not in result.stderr


def test_run_progress_counts_skipped_cases_and_prints_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnbench.cli.run import _RunProgress
    from rnnbench.core.progress import ProgressEvent

    view = _RunProgress(total=4, done_before=0, rounds=1, estimate_s=8.0, quiet=False)
    with view:
        view.on_event(ProgressEvent("warning", message="dropped 3 sample rows of an unfinished case"))
        view.on_event(ProgressEvent("round_start", done=0, total=4))
        view.on_event(ProgressEvent("done", label="gru/native inference", status="ok"))
        view.on_event(ProgressEvent("done", label="lstm/native inference", status="ok"))
        # the two cuda cases were recorded as skipped (no device): no 'done' events, only the round's end
        view.on_event(ProgressEvent("round_done", done=0, total=4))
    assert view.done == 4
    err = capsys.readouterr().err
    assert "Warning: dropped 3 sample rows of an unfinished case" in err
    assert "[1/4] ok    gru/native inference" in err and "[2/4]" in err


def test_eta_comes_from_this_process_pace() -> None:
    from rnnbench.cli.app import eta_text
    from rnnbench.present.durations import fmt_clock as clock

    assert eta_text(0.0, 0, 10, 120.0) == "~0:02:00"  # before the first case: the plan's estimate, marked
    assert eta_text(0.0, 0, 10) == "?"
    assert eta_text(10.0, 2, 8) == "0:00:40"  # 5 s per case finished here
    assert eta_text(3.0, 1, 0) == "0:00:00"
    assert clock(3725) == "1:02:05"


def test_train_piped(cli80: Any, tmp_path: Path) -> None:
    result = cli80(["train", "-t", "adding", "-T", "6", "-a", "lstm", "gru", *TRAIN_TINY, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out, err = result.stdout, result.stderr
    progress = [line for line in err.splitlines() if line.startswith("[")]
    assert len(progress) == 4 and progress[-1].startswith("[4/4] adding T=6")
    assert all("ETA" in line for line in progress)
    assert "done before" not in err  # nothing was: never "0 done before"
    assert not ESCAPES.search(err + out) and "ETA" not in out
    # every arm row whole on one line: its interval and its success rate
    for arm in ("lstm", "gru"):
        row = next(line for line in out.splitlines() if line.startswith(f"│ {arm} "))
        assert re.search(r"\d/2 \d\.\d\d \[\d\.\d\d, \d\.\d\d\]", row), row
    assert "…" not in out
    assert out.splitlines()[-1] == f"Results: {_folder(tmp_path)}"


def test_train_quiet_and_resume_line(cli80: Any, tmp_path: Path) -> None:
    result = cli80(["train", "-t", "adding", "-T", "6", "-a", "gru", *TRAIN_TINY, "-q", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{_folder(tmp_path)}\n" and "[1/2]" not in result.stderr


def test_train_ctrl_c_prints_folder_and_resume_command(
    cli80: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rnnbench.learn.session as session

    real = session.train_unit
    calls = {"n": 0}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "train_unit", interrupted)
    result = cli80(["train", "-t", "adding", "-T", "6", "-a", "gru", *TRAIN_TINY, "-o", str(tmp_path)])
    assert result.exit_code == 130
    folder = _folder(tmp_path)
    assert f"Finished runs are saved in {folder}; continue with: rnnbench train --resume {folder}" in (
        result.stderr
    )
    monkeypatch.setattr(session, "train_unit", real)
    again = cli80(["train", "--resume", str(folder)])
    assert again.exit_code == 0, again.output
    assert "1 of 2 runs done before; continuing." in again.stderr
    assert [line[:5] for line in again.stderr.splitlines() if line.startswith("[")] == ["[2/2]"]


def test_report_piped_one_line_per_case(cli80: Any, tmp_path: Path) -> None:
    result = cli80(["report", str(GOLDEN), "-o", str(tmp_path), "-f", "md"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # every GRU row carries its ratio, interval and verdict on its own line
    gru_rows = [line for line in lines if "gru/native" in line and " ok " in line]
    assert gru_rows
    # three significant digits, the bounds at the ratio's decimals: as run's verdict lines print them
    verdict = re.compile(
        r"\d+(?:\.\d+)? \[\d+(?:\.\d+)?–\d+(?:\.\d+)?\]\s+(inconclusive|GRU faster|LSTM faster|no diff)"
    )
    assert all(verdict.search(line) for line in gru_rows), gru_rows[:3]
    assert any("inconclusive" in line for line in gru_rows)
    # nothing folded: units stay with their numbers, headers whole
    assert not any(re.fullmatch(r"[│\s]*(µs|ms|s|KiB|MiB)[│\s]*", line) for line in lines)
    header = next(line for line in lines if "arch/impl" in line)
    for column in ("status", "time", "tok/s", "% matmul", "memory", "backend", "GRU/LSTM [95% CI]", "verdict"):
        assert column in header
    claims = [line for line in lines if "GRU has fewer parameters than LSTM" in line]
    assert len(claims) == 1 and "true" in claims[0] and "arithmetic" in claims[0]


def test_report_old_out_spelling_and_quiet(cli80: Any, tmp_path: Path) -> None:
    result = cli80(["report", str(GOLDEN), "--out", str(tmp_path), "-f", "md", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'report.md'}\n"  # the path alone: $(rnnbench report … -q)


def test_list_piped_one_block_per_implementation(cli80: Any) -> None:
    """Before: a table 317 columns wide. Now a block per implementation, its first line the name (grep), every
    line within 100 columns, every word of the summary and of the reason kept."""
    from rnnbench.measure.models.catalog import IMPLEMENTATIONS

    result = cli80(["list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    starts = [i for i, line in enumerate(lines) if line.split(":")[0] in IMPLEMENTATIONS]
    assert [lines[i].split(":")[0] for i in starts] == list(IMPLEMENTATIONS)
    for i, (_name, impl) in zip(starts, IMPLEMENTATIONS.items(), strict=True):
        block = []
        for line in lines[i:]:
            if block and not line.startswith(" "):
                break
            block.append(line)
        text = " ".join(" ".join(block).split())
        assert impl.summary in text and "here: cpu: " in text and "; cuda: " in text


def test_verify_piped(cli80: Any) -> None:
    result = cli80(["verify", "-a", "gru", "-i", "cell", "numpy"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "arch" in line and "impl" in line)
    for column in ("status", "output rel err", "state rel err", "grad rel err", "tolerance"):
        assert column in header
    assert sum(" ok " in line for line in result.stdout.splitlines()) == 2


def test_env_piped(cli80: Any) -> None:
    from rnnbench.measure.env import capture

    env = capture()
    result = cli80(["env"])
    assert result.exit_code == 0, result.output
    for key in ("torch", "platform", "cpu_model"):
        row = next(line for line in result.stdout.splitlines() if line.startswith(f"│ {key} "))
        assert str(env[key]) in row
    assert json.loads(cli80(["env", "--json"]).stdout)["torch"] == env["torch"]


def test_out_console_width_follows_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from rnnbench.cli.app import PIPE_WIDTH, out_console, progress_console

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert out_console().width == PIPE_WIDTH
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_console() is None  # no bar where nothing can redraw

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdout", Tty())
    monkeypatch.setattr(sys, "stderr", Tty())
    assert out_console().width == 80
    assert progress_console() is not None


def test_terminal_bar_at_80_columns_keeps_counts_and_eta() -> None:
    import io

    from rich.console import Console

    from rnnbench.cli.run import _RunProgress
    from rnnbench.core.progress import ProgressEvent

    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    view = _RunProgress(total=16, done_before=0, rounds=1, estimate_s=1260.0, quiet=False, console=console)
    with view:
        view.on_event(ProgressEvent("start", label="lstm/native inference cpu float32 T=128 B=16 I=256 H=256"))
    last = [line for line in buffer.getvalue().replace("\r", "\n").splitlines() if "ETA" in line][-1]
    assert "0/16" in last and "ETA ~0:21:00" in last and "…" in last  # the label gave way, not the figures
    assert len(last.rstrip()) <= 80
