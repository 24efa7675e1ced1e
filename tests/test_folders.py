"""Run folders as the library sees them: one owner at a time (and a dead owner's lock never blocks), no lock or
temporary files left behind, appends that never leave a partial row, safe run ids, torn and garbage lines
reported by every reader, identifier columns that stay strings, and the dtypes documented for pandas users."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rnnbench.errors import ConfigError, DataWarning, FolderInUseError, SchemaError, StorageError
from rnnbench.results import folder as folder_mod
from rnnbench.results import tables as tables_mod
from rnnbench.results.folder import OWNER_LOCK, RunFolder, check_run_id, read_owner
from rnnbench.results.loader import load, load_report_data, load_table
from rnnbench.results.schema import SCHEMA_VERSION, SUMMARY_COLUMNS, TABLES, read_csv_dtypes
from rnnbench.results.tables import CsvAppender

ROOT = Path(__file__).resolve().parents[1]


def _leftovers(path: Path) -> list[str]:
    """Files a user would not expect in a finished folder: locks, temporary files, hidden files."""
    return sorted(
        p.name for p in path.rglob("*") if p.name.endswith((".lock", ".tmp")) or p.name.startswith(".")
    )


def _summary_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in SUMMARY_COLUMNS}
    row.update(schema_version=SCHEMA_VERSION, run_id="r", case_id="c0", round=0, arch="lstm", impl="native",
               mode="inference", device="cpu", dtype="float32", seq_len=8, batch_size=2, input_size=4,
               hidden_size=4, num_layers=1, threads=1, status="ok", n_samples=3, median_s=0.1,
               tokens_per_s=160.0, fingerprint="39466357e255")  # fmt: skip
    row.update(overrides)
    return row


# ---- ownership -----------------------------------------------------------------------------------------------
_TRY = """
import sys
from rnnbench.errors import RnnbenchError
from rnnbench.results.folder import RunFolder
try:
    if sys.argv[2] == "resume":
        RunFolder.open_existing(sys.argv[1], own=True)
    else:
        RunFolder.create(sys.argv[1], {"kind": "run"}, run_id="r1")
except RnnbenchError as exc:
    print(type(exc).__name__, exc)
else:
    print("owned")
"""


def _try_from_another_process(path: Path, how: str) -> str:
    done = subprocess.run([sys.executable, "-c", _TRY, str(path), how], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr


def test_a_folder_has_one_owner_process_and_the_second_is_told_who(tmp_path: Path) -> None:
    first = RunFolder.create(tmp_path, {"kind": "run"}, run_id="r1")
    assert first.owned and read_owner(first.path)["pid"] == os.getpid()
    refused = _try_from_another_process(tmp_path / "r1", "resume")
    assert refused.startswith(f"FolderInUseError {tmp_path / 'r1'} is in use by PID {os.getpid()}"), refused
    refused = _try_from_another_process(tmp_path, "create")  # the same --run-id again, at once
    assert refused.startswith("FolderInUseError") and "in use by PID" in refused, refused
    same = RunFolder.open_existing(tmp_path / "r1", own=True)  # this process shares what it owns
    same.release()
    assert first.owned and (first.path / OWNER_LOCK).exists()  # still held: first has not released
    first.release()
    assert not (first.path / OWNER_LOCK).exists()
    assert _try_from_another_process(tmp_path / "r1", "resume") == "owned"
    with pytest.raises(ConfigError, match="already exists; pick another --run-id"):
        RunFolder.create(tmp_path, {"kind": "run"}, run_id="r1")


_HOLD = """
import sys, time
from rnnbench.results.folder import RunFolder
folder = RunFolder.create(sys.argv[1], {"kind": "run"}, run_id="held")
folder.table("summary").append([{"run_id": "held", "case_id": "c", "round": 0, "threads": 1}])
print("owned", flush=True)
time.sleep(120)
"""


def test_a_dead_owners_lock_does_not_block_a_resume(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "owned"
        with pytest.raises(FolderInUseError, match=f"in use by PID {proc.pid}"):
            RunFolder.open_existing(tmp_path / "held", own=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stale = tmp_path / "held" / OWNER_LOCK
    assert stale.exists() and read_owner(tmp_path / "held")["pid"] == proc.pid  # what kill -9 leaves
    folder = RunFolder.open_existing(tmp_path / "held", own=True)  # the kernel released the dead owner's lock
    assert read_owner(folder.path)["pid"] == os.getpid()
    folder.release()
    assert _leftovers(folder.path) == []  # the next owner cleans up what the killed one left


def test_no_lock_files_are_left_after_writing(tmp_path: Path) -> None:
    for name in ("summary.csv.lock", "metadata.json.lock"):  # what releases before this one left everywhere
        (tmp_path / name).write_text("")
    folder = RunFolder.create(tmp_path, {"kind": "run"}, run_id="r")
    folder.table("summary").append([_summary_row()])
    folder.table("samples").append([{"run_id": "r", "case_id": "c0", "round": 0, "threads": 1, "sample": 0}])
    folder.update_metadata(status="complete")
    folder.release()
    assert sorted(p.name for p in folder.path.iterdir()) == ["metadata.json", "samples.csv", "summary.csv"]
    legacy = tmp_path / "old"
    legacy.mkdir()
    (legacy / "metadata.json").write_text("{}")
    (legacy / "summary.csv.lock").write_text("")
    with RunFolder.open_existing(legacy, own=True).owning():
        pass
    assert _leftovers(legacy) == []


@pytest.mark.parametrize("bad", ["../escape", "a/b", "/abs", ".hidden", "-x", "", "a b", "x" * 129, "..", "é"])
def test_run_ids_are_one_safe_folder_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="is not a folder name rnnbench accepts"):
        RunFolder.create(tmp_path / "out", {"kind": "run"}, run_id=bad)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out" / "a").exists()
    for good in ("gpu-shard1", "20261123-101500-ab12", "run_2.b", "A"):
        assert check_run_id(good) == good


# ---- appends that never tear ---------------------------------------------------------------------------------
def _failing_writes(monkeypatch: pytest.MonkeyPatch, after: int, errno_: int = errno.ENOSPC) -> None:
    """Every write that grows a file fails after ``after`` bytes of growth (the first one half-written, as a
    nearly full disk does); writes in place (no growth) still succeed."""
    real = tables_mod.write_all
    budget = {"left": after}

    def write_all(fd: int, data: bytes) -> None:
        import fcntl

        size = os.fstat(fd).st_size
        start = size if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND else os.lseek(fd, 0, os.SEEK_CUR)
        growth = max(0, start + len(data) - size)
        if growth <= budget["left"]:
            budget["left"] -= growth
            return real(fd, data)
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno_, os.strerror(errno_))

    monkeypatch.setattr(folder_mod, "write_all", write_all)  # metadata.json
    monkeypatch.setattr(tables_mod, "write_all", write_all)  # the CSV tables


def test_a_failed_append_leaves_no_partial_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = RunFolder.create(tmp_path, {"kind": "run", "status": "running"}, run_id="r")
    table = folder.table("summary")
    table.append([_summary_row(case_id="c1")])
    before = table.path.read_bytes()
    _failing_writes(monkeypatch, after=0)
    with pytest.raises(StorageError, match=r"cannot write .*summary\.csv: no space left on the device"):
        table.append([_summary_row(case_id="c2")])
    assert table.path.read_bytes() == before  # cut back: no torn line
    folder.mark("failed")  # the temporary copy cannot be written: marked in place, never left 'running'
    assert folder.read_metadata()["status"] == "failed"
    assert not (folder.path / "metadata.json.tmp").exists()
    folder.release()


def test_a_metadata_write_that_fails_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = RunFolder.create(tmp_path, {"kind": "run"}, run_id="r")
    _failing_writes(monkeypatch, after=0, errno_=errno.EROFS)
    with pytest.raises(StorageError, match="read-only"):
        folder.update_metadata(calibration={"cpu/float32/threads=1": 1.0, "x" * 200: 2.0})
    assert sorted(p.name for p in folder.path.iterdir()) == [".owner.lock", ".write.lock", "metadata.json"]
    folder.release()


# ---- torn and garbage lines ----------------------------------------------------------------------------------
def _write_summary(path: Path, rows: list[dict[str, object]], torn: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    CsvAppender(path, SUMMARY_COLUMNS).append(rows)
    if torn:
        with path.open("a") as fh:
            fh.write(torn)
    return path


def test_readers_skip_a_torn_last_line_with_a_warning_and_never_write(tmp_path: Path) -> None:
    path = _write_summary(
        tmp_path / "run" / "summary.csv", [_summary_row()], torn=f"{SCHEMA_VERSION},r,c9,0,gr"
    )
    before = path.read_bytes()
    with pytest.warns(
        DataWarning, match=rf"summary\.csv: the last line is incomplete \(5 of {len(SUMMARY_COLUMNS)} fields"
    ):
        frame = load_table(path, "summary")
    assert frame["case_id"].tolist() == ["c0"]
    with pytest.warns(DataWarning, match="last line is incomplete"):
        results = load([tmp_path])
    assert len(results.frames["summary"]) == 1 and "incomplete" in results.warnings[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report takes it into its own warnings instead
        data = load_report_data([tmp_path])
    assert any("last line is incomplete" in w for w in data.warnings) and len(data.summary) == 1
    with pytest.warns(DataWarning, match="last line is incomplete"):
        rows = CsvAppender(path, SUMMARY_COLUMNS).read_rows()
    assert [r["case_id"] for r in rows] == ["c0"]
    assert path.read_bytes() == before  # readers never repair


def test_a_line_that_is_not_a_row_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = _write_summary(tmp_path / "summary.csv", [_summary_row(), _summary_row(case_id="c1")])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1] + "garbage\n" + lines[2])
    with pytest.raises(SchemaError, match=r"summary\.csv: line 3 is not a row of this table"):
        load_table(path, "summary")
    with pytest.raises(
        SchemaError,
        match=rf"line 3 is not a row of this table \(1 fields, the header has {len(SUMMARY_COLUMNS)}\)",
    ):
        RunFolder(tmp_path).table("summary").read_rows()
    _write_summary(tmp_path / "bad" / "summary.csv", [_summary_row(threads="one")])
    with pytest.raises(SchemaError, match="column 'threads' has a non-numeric value 'one' on line 2"):
        load_table(tmp_path / "bad" / "summary.csv", "summary")
    with pytest.raises(SchemaError, match="line 2 .*column 'threads' holds 'one', not a number"):
        RunFolder(tmp_path / "bad").table("summary").read_rows()


def test_the_owner_repairs_a_torn_tail_and_says_so(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, {"kind": "run"}, run_id="r")
    folder.table("summary").append([_summary_row()])
    with (folder.path / "summary.csv").open("a") as fh:
        fh.write("1,r,c1,0")
    (folder.path / "metadata.json.tmp").write_text("")  # a killed metadata write
    notes = folder.repair()
    assert (
        len(notes) == 1
        and f"summary.csv: its last line was incomplete (4 of {len(SUMMARY_COLUMNS)} fields" in notes[0]
    )
    assert (folder.path / "summary.csv").read_text().endswith("\n")
    assert not (folder.path / "metadata.json.tmp").exists()
    folder.release()


# ---- identifiers and dtypes ----------------------------------------------------------------------------------
def test_identifiers_are_strings_in_the_loader(tmp_path: Path) -> None:
    path = _write_summary(
        tmp_path / "summary.csv",
        [_summary_row(case_id="000123456789", run_id="20261201", fingerprint="39466357e255")],
    )
    assert pd.read_csv(path)["fingerprint"].dtype.kind == "f"  # what pandas guesses on its own
    frame = load_table(path, "summary")
    assert frame["fingerprint"].tolist() == ["39466357e255"]
    assert frame["case_id"].tolist() == ["000123456789"] and frame["run_id"].tolist() == ["20261201"]
    for name in TABLES:
        ids = {"run_id", "case_id", "fingerprint"} & set(TABLES[name])
        assert ids <= set(read_csv_dtypes(name)), name


def _documented_dtypes() -> dict[str, dict[str, Any]]:
    """The ``dtype=`` dicts results/README.md prints for pandas users, per table."""
    text = (ROOT / "results" / "README.md").read_text()
    section = text.split("## Reading the files with pandas", 1)[1]
    found = {}
    for table, body in re.findall(r"(\w+)_DTYPES = (\{.*?\})", section, flags=re.S):
        found[table.lower()] = eval(textwrap.dedent(body), {"str": str})  # our own README
    return found


def test_results_readme_documents_the_loaders_dtypes(tmp_path: Path) -> None:
    documented = _documented_dtypes()
    assert set(documented) == set(TABLES)
    for name in TABLES:
        assert documented[name] == read_csv_dtypes(name), name
    path = _write_summary(tmp_path / "summary.csv", [_summary_row()])
    frame = pd.read_csv(path, dtype=documented["summary"])  # what the README tells users to copy
    assert frame["fingerprint"].tolist() == ["39466357e255"]


def test_metadata_json_stays_readable_after_many_updates(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, {"kind": "run"}, run_id="r")
    for i in range(20):
        folder.update_metadata(calibration={f"k{i}": float(i)})
    assert len(json.loads((folder.path / "metadata.json").read_text())["calibration"]) == 20
    folder.release()


def test_an_append_waits_for_another_writers_half_written_row(tmp_path: Path) -> None:
    """Two pool workers append to one summary.csv. While one holds the write lock with half a row on disk,
    the other must wait — its torn-tail repair happens inside the lock, so it can never cut a row that is
    still being written (issue 12, defect 8)."""
    import threading
    import time

    from filelock import FileLock

    path = tmp_path / "summary.csv"
    lock_path = str(tmp_path / folder_mod.WRITE_LOCK)
    columns = ("schema_version", "run_id", "message")
    first = CsvAppender(path, columns, FileLock(lock_path, thread_local=False))
    first.append([{"run_id": "r", "message": "header and one row"}])
    second = CsvAppender(path, columns, FileLock(lock_path, thread_local=False))  # another worker's lock
    holding = threading.Event()
    writer_lock = FileLock(lock_path, thread_local=False)

    def slow_writer() -> None:
        with writer_lock, path.open("a", encoding="utf-8") as fh:
            fh.write(f"{SCHEMA_VERSION},r,first half")
            fh.flush()
            holding.set()
            time.sleep(0.4)  # the other worker tries to append meanwhile
            fh.write(" and second half\n")

    thread = threading.Thread(target=slow_writer)
    thread.start()
    holding.wait(5)
    second.append([{"run_id": "r", "message": "appended after the slow row"}])
    thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1:] == [
        f"{SCHEMA_VERSION},r,header and one row",
        f"{SCHEMA_VERSION},r,first half and second half",
        f"{SCHEMA_VERSION},r,appended after the slow row",
    ]
