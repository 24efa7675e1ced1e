"""``run`` checks what can fail before it announces its plan (issue 23): a taken run id, an output that cannot
be written and a file system without room for the run are refused with the error as the only line on stderr
and nothing created — the plan line ("N cases × R round(s) = …") used to come first, so the error was not
one line (``benchmarks/faults.py`` failed three scenarios on that)."""

from __future__ import annotations

import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from rnnbench.errors import EXIT_USAGE, ConfigError, StorageError
from rnnbench.results.folder import check_output

TINY = ["--arch", "lstm", "--mode", "inference", "--seq-len", "3", "--hidden", "4", "--batch", "2",
        "--budget", "0.02", "--warmup", "0.01", "--threads", "1"]  # fmt: skip


def _only_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr  # no plan line, no progress before the error
    assert lines[0].startswith("Error: ") and "Traceback" not in stderr
    return lines[0]


def test_a_taken_run_id_is_one_line_before_the_plan(cli, tmp_path: Path) -> None:
    (tmp_path / "same").mkdir()
    result = cli(["run", *TINY, "--output", str(tmp_path), "--run-id", "same"])
    assert result.exit_code == EXIT_USAGE
    assert "already exists" in _only_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same"] and not any((tmp_path / "same").iterdir())


def test_an_output_that_cannot_be_written_is_one_line_before_the_plan(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = cli(["run", *TINY, "--output", str(blocker / "results")])
    assert result.exit_code == EXIT_USAGE
    line = _only_line(result.stderr)
    assert str(blocker / "results") in line and "not a folder" in line


def test_a_read_only_output_is_refused_by_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a read-only mount (no root): ``os.access`` says no and ``statvfs`` says read-only."""
    real_statvfs = os.statvfs
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    with pytest.raises(StorageError, match="permission denied"):
        check_output(tmp_path / "results")

    class ReadOnly:
        def __init__(self, path: object) -> None:
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY  # type: ignore[arg-type]

    monkeypatch.setattr(os, "statvfs", ReadOnly)
    with pytest.raises(StorageError, match="read-only") as raised:
        check_output(tmp_path / "results" / "deeper")
    assert raised.value.errno == errno.EROFS and str(tmp_path / "results" / "deeper") in str(raised.value)
    assert not (tmp_path / "results").exists()


def test_no_room_for_the_run_is_refused_before_anything_is_created(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, (1 << 30) - 1000, 1000))
    result = cli(["run", *TINY, "--output", str(tmp_path / "out"), "--run-id", "r"])
    assert result.exit_code == EXIT_USAGE
    line = _only_line(result.stderr)
    assert (
        "no space left" in line
        and "1000 B free" in line
        and "at least 1.1 KiB" in line
        and "nothing was created" in line
    )
    assert not (tmp_path / "out").exists()


def test_the_room_a_run_needs_is_a_lower_bound_of_what_it_writes() -> None:
    """``RunPlan.min_bytes`` stays below what any run writes (the quick grid's 12-case run: 14.6 KB; a failed
    case's summary row alone is over 100 bytes), so the check cannot refuse a run that fits."""
    from rnnbench.core.spec import Settings, SweepSpec
    from rnnbench.measure.sweep import RunGrid, RunPlan

    plan = RunPlan(SweepSpec(), Settings(), 1, RunGrid(12, ((None,) * 12,)))  # type: ignore[arg-type]
    assert plan.total == 12
    assert 1024 + 12 * 100 == plan.min_bytes() < 14_600


def test_check_output_refuses_a_taken_or_hostile_run_id(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        check_output(tmp_path, "taken")
    with pytest.raises(ConfigError, match="is not a folder name"):
        check_output(tmp_path, "../escape")
    check_output(tmp_path / "new" / "deeper", "fresh", need_bytes=1024)  # nothing in the way
    assert not (tmp_path / "new").exists()
