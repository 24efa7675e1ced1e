"""Run folders under the faults a demanding user causes, through the real CLI: two processes on one folder, a
read-only or full file system, torn and garbage lines, hostile run ids, ``--resume`` with other options, huge
grids. Each failed before run folders had an owner (see README "Reliability"); ``benchmarks/faults.py`` runs
the same scenarios plus random ``kill -9``s and prints the table.

Full and read-only file systems are real where this process may mount a small tmpfs (root, as in CI) and are
injected otherwise (``OSError(ENOSPC)`` from the writer, ``OSError(EROFS)`` from ``mkdir``), so every machine
runs the injected variants and root runs both.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.errors import EXIT_USAGE
from tests.runfolders import noisy, write_run
from tests.test_folders import _failing_writes, _leftovers

GRID = ["--arch", "lstm", "gru", "--mode", "inference", "--seq-len", "3", "4", "5", "6", "7", "8",
        "--hidden", "4", "--batch", "2", "--budget", "0.05", "--warmup", "0.02", "--threads", "1"]  # fmt: skip
TINY = ["--arch", "lstm", "gru", "--mode", "inference", "--seq-len", "3", "4", "--hidden", "4", "--batch", "2",
        "--budget", "0.02", "--warmup", "0.01", "--threads", "1"]  # fmt: skip
TRAIN_TINY = ["train", "--task", "adding", "--arm", "lstm", "--seeds", "1", "--steps", "3", "--eval-every", "3",
              "--eval-size", "8", "--val-size", "8", "--batch", "4", "--lr", "0.01", "--match", "hidden",
              "--hidden", "4", "--seq-len", "6"]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rnnbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())  # fmt: skip


PROGRESS_LINE = re.compile(
    r"\[\d+/\d+\] |\d+ cases × |Run folder: |Resuming |\d+ of \d+ measurements done before"
)
"""What ``run`` writes to stderr before an error: its progress (README, "Commands")."""


def _one_error_line(stderr: str) -> str:
    """The error is one line, the last on stderr; anything before it is the run's progress."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: "), stderr
    assert all(PROGRESS_LINE.match(line) for line in lines[:-1]), stderr
    assert "internal error" not in lines[-1] and "Traceback" not in stderr
    return lines[-1]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def _cut_to(folder: Path, keep: int, status: str = "interrupted") -> None:
    """Turn a finished run into an interrupted one that finished ``keep`` cases."""
    summary = pd.read_csv(folder / "summary.csv", dtype=str, keep_default_na=False)
    summary.head(keep).to_csv(folder / "summary.csv", index=False)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["status"] = status
    (folder / "metadata.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 12-case run folder to copy (module-scoped: measured once)."""
    from typer.testing import CliRunner

    from rnnbench.cli import app

    root = tmp_path_factory.mktemp("finished")
    result = CliRunner(env={"COLUMNS": "120"}).invoke(
        app, ["run", *GRID, "--output", str(root), "--run-id", "k"]
    )
    assert result.exit_code == 0, result.output
    return root / "k"


# ---- mounts --------------------------------------------------------------------------------------------------
def _mount(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def readonly(tmp_path: Path) -> Iterator[Path]:
    """A read-only folder: a read-only tmpfs where mounting works; permissions without root; else skipped
    (root ignores permission bits)."""
    path = tmp_path / "ro"
    if _mount(path, "ro,size=64k"):
        yield path
        _umount(path)
    elif os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
    else:
        pytest.skip("needs a read-only mount (mount failed) or a non-root user")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A nearly full tmpfs: 24 KiB free — enough to start a run, not to finish it."""
    path = tmp_path / "disk"
    if not _mount(path, "size=256k"):
        pytest.skip("mounting a tmpfs needs root (the injected ENOSPC test covers this machine)")
    try:
        free = shutil.disk_usage(path).free
        (path / "filler").write_bytes(b"\0" * (free - 24 * 1024))
        yield path
    finally:
        _umount(path)


# ---- defect 1: one owner per folder --------------------------------------------------------------------------
def test_two_concurrent_resumes_one_is_refused_and_nothing_is_duplicated(
    finished: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "k"
    shutil.copytree(finished, folder)
    _cut_to(folder, keep=2)
    procs = [_spawn(["run", "--resume", str(folder)]) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, EXIT_USAGE], outs
    loser = outs[[p.returncode for p in procs].index(EXIT_USAGE)][1]
    assert "is in use by PID" in _one_error_line(loser)
    after = pd.read_csv(folder / "summary.csv")
    assert len(after) == 12 and not after.duplicated(["case_id", "round", "threads"]).any()
    samples = pd.read_csv(folder / "samples.csv")
    assert samples.groupby("case_id").size().to_dict() == after.set_index("case_id")["n_samples"].to_dict()
    assert _leftovers(folder) == []


def test_the_same_run_id_twice_at_once_is_a_clear_error(tmp_path: Path) -> None:
    procs = [_spawn(["run", *TINY, "--output", str(tmp_path), "--run-id", "same"]) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, EXIT_USAGE], outs
    line = _one_error_line(outs[[p.returncode for p in procs].index(EXIT_USAGE)][1])
    assert "in use by PID" in line or "already exists" in line
    assert len(pd.read_csv(tmp_path / "same" / "summary.csv")) == 4


# ---- defect 2: I/O errors are the user's environment, not bugs -----------------------------------------------
def test_read_only_output_is_one_line_and_exit_2(cli, readonly: Path, tmp_path: Path) -> None:
    result = cli(["run", *TINY, "--output", str(readonly / "results")])
    assert result.exit_code == EXIT_USAGE, result.output
    line = _one_error_line(result.stderr)
    assert str(readonly) in line and ("read-only" in line or "permission denied" in line)
    result = cli([*TRAIN_TINY, "--output", str(readonly / "results")])
    assert result.exit_code == EXIT_USAGE and str(readonly) in _one_error_line(result.stderr)
    runs = tmp_path / "runs"
    rng = __import__("numpy").random.default_rng(1)
    base = write_run(runs, "b", {"lstm": noisy(1000, 5, rng), "gru": noisy(800, 5, rng)})
    head = write_run(runs, "h", {"lstm": noisy(1000, 5, rng), "gru": noisy(800, 5, rng)})
    for args in (
        ["report", str(base), "--out", str(readonly / "report"), "--format", "md"],
        ["merge", str(base), "--output", str(readonly), "--run-id", "m"],
        ["compare", str(base), str(head), "--export", f"md={readonly / 'gate.md'}"],
    ):
        result = cli(args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert str(readonly) in _one_error_line(result.stderr), args


def test_read_only_output_injected(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if "ro" in self.parts:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)
    result = cli(["run", *TINY, "--output", str(tmp_path / "ro" / "results")])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "file system is read-only" in _one_error_line(result.stderr)


def _assert_failed_cleanly(folder: Path, result_stderr: str) -> None:
    line = _one_error_line(result_stderr)
    assert "no space left" in line and "--resume" in line, line
    assert json.loads((folder / "metadata.json").read_text())["status"] == "failed"
    assert _leftovers(folder) == []
    for name in ("summary.csv", "samples.csv"):
        if (folder / name).exists():
            assert (folder / name).read_bytes().endswith(b"\n"), name  # no torn line


def test_a_full_disk_during_run_is_exit_2_with_metadata_failed(cli, tmp_path: Path, monkeypatch) -> None:
    from rnnbench.measure import runner

    real = runner.run_group
    state = {"groups": 0}

    def run_group(*args: object, **kwargs: object) -> object:
        state["groups"] += 1
        if state["groups"] == 2:  # the disk fills up after the first shape's rows
            _failing_writes(monkeypatch, after=300)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_group", run_group)
    result = cli(["run", *GRID, "--output", str(tmp_path), "--run-id", "full"])
    assert result.exit_code == EXIT_USAGE, result.output
    _assert_failed_cleanly(tmp_path / "full", result.stderr)
    monkeypatch.undo()
    result = cli(["run", "--resume", str(tmp_path / "full")])  # space freed: the run finishes
    assert result.exit_code == 0, result.output
    after = pd.read_csv(tmp_path / "full" / "summary.csv")
    assert len(after) == 12 and not after.duplicated(["case_id", "round", "threads"]).any()


def test_a_full_tmpfs_during_run(cli, small_disk: Path) -> None:
    """The disk fills up while the run measures: another writer takes every byte once two rows are in (a
    fixed 24 KiB of room was not enough to fail a run that takes fewer samples on a busy machine)."""
    import contextlib
    import threading

    (small_disk / "filler").unlink()
    summary = small_disk / "full" / "summary.csv"

    def fill() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if summary.exists() and summary.read_text().count("\n") >= 3:  # header + two rows
                with contextlib.suppress(OSError), (small_disk / "filler").open("wb") as fh:
                    fh.write(b"\0" * shutil.disk_usage(small_disk).free)
                return
            time.sleep(0.005)

    filler = threading.Thread(target=fill, daemon=True)
    filler.start()
    result = cli(["run", *GRID, "--output", str(small_disk), "--run-id", "full"])
    filler.join()
    assert result.exit_code == EXIT_USAGE, result.output
    _assert_failed_cleanly(small_disk / "full", result.stderr)
    (small_disk / "filler").unlink()
    result = cli(["run", "--resume", str(small_disk / "full")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(small_disk / "full" / "summary.csv")) == 12


# ---- defect 3: merge never writes its inputs -----------------------------------------------------------------
def test_merge_leaves_its_inputs_byte_identical(cli, finished: Path, tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shutil.copytree(finished, shards / "s1")
    with (shards / "s1" / "summary.csv").open("a") as fh:
        fh.write("1,k,abc,0,lst")  # a shard killed mid-write
    before = _digest(shards)
    result = cli(["merge", str(shards), "--output", str(tmp_path / "out"), "--run-id", "m"])
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr and "summary.csv: the last line is incomplete" in result.stderr
    assert _digest(shards) == before
    merged = pd.read_csv(tmp_path / "out" / "m" / "summary.csv")
    assert len(merged) == 12 and "abc" not in set(merged["case_id"])
    assert _leftovers(tmp_path / "out") == []


def test_merge_reads_a_read_only_source(cli, finished: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    if not _mount(source, "size=1m"):
        pytest.skip("needs a tmpfs mount to make a read-only source as root")
    try:
        shutil.copytree(finished, source / "s1")
        subprocess.run(["mount", "-o", "remount,ro", str(source)], check=True)
        before = _digest(source)
        result = cli(["merge", str(source), "--output", str(tmp_path / "out"), "--run-id", "m"])
        assert result.exit_code == 0, result.output
        assert _digest(source) == before
    finally:
        _umount(source)


def test_a_failed_merge_leaves_no_half_folder(cli, finished: Path, tmp_path: Path, monkeypatch) -> None:
    _failing_writes(monkeypatch, after=2000)
    result = cli(["merge", str(finished), "--output", str(tmp_path), "--run-id", "m"])
    assert result.exit_code == EXIT_USAGE and "no space left" in _one_error_line(result.stderr)
    assert not (tmp_path / "m").exists()


# ---- defect 4: torn and garbage lines ------------------------------------------------------------------------
def test_every_reader_skips_a_torn_last_line_with_a_warning(cli, tmp_path: Path) -> None:
    rng = __import__("numpy").random.default_rng(3)
    runs = tmp_path / "runs"
    base = write_run(runs, "a", {"lstm": noisy(1000, 5, rng), "gru": noisy(800, 5, rng)},
                     started_at="2026-01-01T00:00:00")  # fmt: skip
    head = write_run(runs, "b", {"lstm": noisy(1000, 5, rng), "gru": noisy(800, 5, rng)},
                     started_at="2026-01-02T00:00:00")  # fmt: skip
    torn = head / "summary.csv"
    with torn.open("a") as fh:
        fh.write("1,b,deadbeef0000,0,rnn,native,infer")
    before = torn.read_bytes()
    for args in (
        ["report", str(runs), "--out", str(tmp_path / "rep"), "--format", "md"],
        ["compare", str(base), str(head)],
        ["history", str(runs)],
    ):
        result = cli(args)
        assert result.exit_code == 0, (args, result.output)
        assert f"{torn}: the last line is incomplete" in result.output.replace("\n", ""), args
        assert "deadbeef0000" not in result.stdout and not re.search(r"\brnn\b", result.stdout), args
    assert torn.read_bytes() == before


def test_resume_reports_a_garbage_row_like_the_readers(cli, finished: Path, tmp_path: Path) -> None:
    folder = tmp_path / "k"
    shutil.copytree(finished, folder)
    _cut_to(folder, keep=3)
    with (folder / "summary.csv").open("a") as fh:
        fh.write("garbage\n")
    result = cli(["run", "--resume", str(folder)])
    assert result.exit_code == EXIT_USAGE, result.output
    line = _one_error_line(result.stderr)
    assert "summary.csv: line 5 is not a row of this table" in line
    assert _leftovers(folder) == []
    report = cli(["report", str(folder), "--out", str(tmp_path / "rep"), "--format", "md"])
    assert report.exit_code == EXIT_USAGE and "line 5 is not a row" in report.stderr


def test_resume_cuts_a_torn_row_says_so_and_measures_it_again(cli, finished: Path, tmp_path: Path) -> None:
    folder = tmp_path / "k"
    shutil.copytree(finished, folder)
    _cut_to(folder, keep=5)
    text = (folder / "summary.csv").read_text()
    (folder / "summary.csv").write_text(text[: len(text) - 40])  # the kill cut the last row's write
    result = cli(["run", "--resume", str(folder)])
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr and "its last line was incomplete" in result.stderr
    after = pd.read_csv(folder / "summary.csv")
    assert len(after) == 12 and not after.duplicated(["case_id", "round", "threads"]).any()


# ---- defects 5 and 7: run ids and --resume -------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../escape", "a/b", ".hidden"])
def test_hostile_run_ids_are_refused(cli, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "out"
    result = cli(["run", *TINY, "--output", str(out), "--run-id", bad])
    assert result.exit_code == EXIT_USAGE
    assert "is not a folder name rnnbench accepts" in _one_error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, inside or outside
    result = cli(["merge", str(tmp_path), "--output", str(out), "--run-id", bad])
    assert result.exit_code == EXIT_USAGE


def test_resume_refuses_other_options(cli, finished: Path, tmp_path: Path) -> None:
    folder = tmp_path / "k"
    shutil.copytree(finished, folder)
    _cut_to(folder, keep=12, status="complete")
    before = _digest(folder)
    result = cli(["run", "--resume", str(folder), "--arch", "rnn", "--budget", "5"])
    assert result.exit_code == EXIT_USAGE
    line = _one_error_line(result.stderr)
    assert "--resume continues the stored plan" in line and "--arch, --budget" in line
    assert _digest(folder) == before


# ---- defect 8: leftovers -------------------------------------------------------------------------------------
def test_no_lock_or_temporary_files_in_run_train_and_merge_folders(cli, tmp_path: Path) -> None:
    assert cli(["run", *TINY, "--output", str(tmp_path), "--run-id", "r"]).exit_code == 0
    assert cli([*TRAIN_TINY, "--output", str(tmp_path / "train")]).exit_code == 0
    assert cli(["merge", str(tmp_path / "r"), "--output", str(tmp_path), "--run-id", "m"]).exit_code == 0
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["metadata.json", "samples.csv", "summary.csv"]


# ---- defect 9: huge grids ------------------------------------------------------------------------------------
HUGE = ["--arch", "lstm", "gru", "--mode", "inference", "--seq-len", ",".join(map(str, range(1, 1001))),
        "--hidden", ",".join(map(str, range(1, 51)))]  # fmt: skip


def test_a_huge_dry_run_is_summarised_not_listed(cli, tmp_path: Path) -> None:
    result = cli(["run", *HUGE, "--dry-run", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "100000 cases × 1 round(s) = 100000 measurements" in result.stdout
    assert "the first 20 of 100000 cases" in result.stdout and "seq_len: 1000 values, 1 … 1000" in result.stdout
    assert "Estimated duration: about" in result.stdout and "take longer" in result.stdout
    assert len(result.stdout.splitlines()) < 60 and not any(tmp_path.iterdir())
    seq = ",".join(map(str, range(1, 26)))
    small = ["run", "--arch", "lstm", "--mode", "inference", "--hidden", "4", "--seq-len", seq, "--dry-run"]
    listed = cli([*small, "--show", "all"])
    assert listed.exit_code == 0 and "Grid: 25 cases" in listed.stdout and "│ 25 │ lstm" in listed.stdout
    few = cli([*small, "--show", "3"])
    assert few.exit_code == 0 and "the first 3 of 25 cases" in few.stdout and "│ 4 │ lstm" not in few.stdout
    assert cli(["run", "--show", "all"]).exit_code == EXIT_USAGE


def test_run_shows_size_and_estimate_and_asks_only_on_a_terminal(cli, tmp_path: Path, monkeypatch) -> None:
    from rnnbench.cli import run as run_cli
    from rnnbench.measure import plan

    monkeypatch.setattr(plan, "CONFIRM_ABOVE_S", 0.0)  # every run is "long"
    monkeypatch.setattr(run_cli, "_interactive", lambda: True)
    declined = cli(["run", *TINY, "--output", str(tmp_path)], input="n\n")
    assert declined.exit_code == 0 and "Start now?" in declined.output and "Nothing was run" in declined.output
    assert not any(tmp_path.iterdir())
    result = cli(["run", *TINY, "--output", str(tmp_path), "--yes"])
    assert result.exit_code == 0 and "Start now?" not in result.output
    assert "4 cases × 1 round(s) = 4 measurements; estimated duration: about" in result.stderr  # with progress
    monkeypatch.setattr(run_cli, "_interactive", lambda: False)  # CI, a pipe, no stdin: never asked
    quiet = cli(["run", *TINY, "--output", str(tmp_path / "ci")])
    assert (
        quiet.exit_code == 0 and "Start now?" not in quiet.output and "starting without asking" in quiet.stderr
    )


def test_ci_never_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnbench.cli import run as run_cli

    monkeypatch.setenv("CI", "true")
    assert run_cli._interactive() is False
