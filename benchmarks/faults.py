"""Fault injection for run folders: does a run survive what a demanding user does to it?

Runs the real CLI (``python -m rnnbench`` in subprocesses) through every scenario of the reliability issue —
two processes on one folder, a stale lock, read-only and full file systems, torn and garbage lines, ``merge``
on torn and read-only inputs, hostile run ids, ``--resume`` with other options, leftovers, a 100k-case
``--dry-run`` — and then ``kill -9``s a small multi-round run at random moments (the main process alone, or its
whole process group) and resumes it each time, until it finishes. Prints one Markdown table: per scenario the
exit codes, rows (got/expected), rows lost, duplicates, leftovers (lock, temporary and hidden files; worker
logs are kept on purpose) and a verdict. Exit 1 if any scenario fails.

Read-only and full file systems are small tmpfs mounts (root, e.g. a CI container); without root the
read-only case uses permissions and the full-disk case is skipped. Only the CLI and the files are used, so the
script also measures an older checkout: run it from outside the repository (``python -m`` puts the current
folder first on the path), e.g. ``cd /tmp && PYTHONPATH=/old/checkout python /repo/benchmarks/faults.py``.

    python benchmarks/faults.py                   # every scenario + 24 kills (about 3-4 minutes on 2 cores)
    python benchmarks/faults.py --kills 40 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

GRID = ["--arch", "lstm", "gru", "--mode", "inference", "--seq-len", "3", "4", "5", "6", "7", "8",
        "--hidden", "4", "--batch", "2", "--budget", "0.05", "--warmup", "0.02", "--threads", "1"]  # fmt: skip
"""12 cases: the folder most scenarios start from."""
TINY = ["--arch", "lstm", "gru", "--mode", "inference", "--seq-len", "3", "4", "--hidden", "4", "--batch", "2",
        "--budget", "0.02", "--warmup", "0.01", "--threads", "1"]  # fmt: skip
KILL_GRID = ["--arch", "lstm", "gru", "--mode", "inference", "train", "--seq-len", "4", "6", "8",
             "--hidden", "8", "--batch", "2", "--budget", "0.3", "--warmup", "0.05", "--threads", "1",
             "--rounds", "2"]  # fmt: skip
"""12 cases × 2 rounds (fresh worker processes): 24 rows, long enough to be killed many times."""
KILL_ROWS = 24
TRAIN = ["train", "--task", "adding", "--arm", "lstm", "--seeds", "1", "--steps", "3", "--eval-every", "3",
         "--eval-size", "8", "--val-size", "8", "--batch", "4", "--lr", "0.01", "--match", "hidden",
         "--hidden", "4", "--seq-len", "6"]  # fmt: skip
KEY = ("case_id", "threads", "round")


@dataclass
class Row:
    scenario: str
    codes: list[int] = field(default_factory=list)
    rows: str = "–"
    lost: int | str = "–"
    duplicates: int | str = "–"
    leftovers: int | str = "–"
    ok: bool | None = True
    note: str = ""


# ---- helpers -------------------------------------------------------------------------------------------------
def env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "120", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


def rnnbench(args: Sequence[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnnbench", *map(str, args)], capture_output=True, text=True,
                          env=env(), timeout=timeout, **kwargs)  # type: ignore[call-overload]  # fmt: skip


def spawn(args: Sequence[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rnnbench", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True)  # fmt: skip


def summary_rows(folder: Path) -> list[dict[str, str]]:
    """Complete rows of summary.csv (a torn last line is not a row)."""
    path = folder / "summary.csv"
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return [r for r in csv.DictReader(io.StringIO(text)) if r.get("round") not in (None, "")]


def keys(folder: Path) -> list[tuple[str, ...]]:
    return [tuple(r[k] for k in KEY) for r in summary_rows(folder)]


def duplicates(folder: Path) -> int:
    found = keys(folder)
    return len(found) - len(set(found))


def samples_match(folder: Path) -> bool:
    """Every summary row's n_samples equals its sample rows; no sample row without a summary row."""
    counts: dict[tuple[str, ...], int] = {}
    path = folder / "samples.csv"
    if path.exists():
        text = path.read_text(errors="replace")
        text = text[: text.rfind("\n") + 1]
        for r in csv.DictReader(io.StringIO(text)):
            counts[tuple(r[k] for k in KEY)] = counts.get(tuple(r[k] for k in KEY), 0) + 1
    expected = {tuple(r[k] for k in KEY): int(float(r["n_samples"] or 0)) for r in summary_rows(folder)}
    return all(counts.get(k, 0) == n for k, n in expected.items()) and set(counts) <= set(expected)


def leftovers(root: Path) -> list[str]:
    """Lock, temporary and hidden files (worker logs are kept on purpose)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith((".lock", ".tmp")) or p.name.startswith("."))  # fmt: skip


def status(folder: Path) -> str:
    try:
        return str(json.loads((folder / "metadata.json").read_text()).get("status"))
    except (OSError, ValueError):
        return "?"


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def one_line(stderr: str) -> bool:
    lines = [x for x in stderr.strip().splitlines() if x.strip()]
    return len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in stderr


PROGRESS = re.compile(r"\[\d+/\d+\] |\d+ cases × |Run folder: |Warning: the machine was busy")
"""Lines ``run`` prints while it measures (its plan, its folder, a line per finished case)."""


def error_after_progress(stderr: str) -> bool:
    """A failure that can only happen mid-run (the disk fills up after the first rows): the error is one
    line, the last, and everything before it is the run's own progress — no traceback, no second error."""
    lines = [x for x in stderr.strip().splitlines() if x.strip()]
    return (bool(lines) and lines[-1].startswith("Error: ") and "Traceback" not in stderr
            and all(PROGRESS.match(x) for x in lines[:-1]))  # fmt: skip


def cut_to(folder: Path, keep: int, state: str = "interrupted") -> None:
    with (folder / "summary.csv").open(newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    (folder / "summary.csv").write_text("".join(lines[: keep + 1]))
    meta = json.loads((folder / "metadata.json").read_text())
    meta["status"] = state
    (folder / "metadata.json").write_text(json.dumps(meta))


def is_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def tmpfs(path: Path, options: str) -> Iterator[bool]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        is_root()
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def read_only(path: Path) -> Iterator[bool]:
    """A read-only folder: a read-only tmpfs as root, permissions otherwise."""
    if is_root():
        with tmpfs(path, "ro,size=64k") as mounted:
            yield mounted
    else:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o555)
        try:
            yield True
        finally:
            path.chmod(0o755)


def workers_of(folder: Path) -> list[int]:
    """PIDs of worker processes still writing into ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"rnnbench.measure.worker" in cmd and str(folder).encode() in cmd:
                found.append(int(entry.name))
    return found


# ---- the scenarios -------------------------------------------------------------------------------------------
def concurrent_resumes(base: Path, work: Path) -> Row:
    folder = work / "concurrent" / "k"
    shutil.copytree(base, folder)
    cut_to(folder, keep=2)
    procs = [spawn(["run", "--resume", folder]) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    refused = [o[1] for p, o in zip(procs, outs, strict=True) if p.returncode == 2]
    n = len(keys(folder))
    row = Row("two `run --resume` of one folder at once", codes, f"{n}/12", 0, duplicates(folder),
              len(leftovers(folder)))  # fmt: skip
    row.ok = codes == [0, 2] and n == 12 and row.duplicates == 0 and samples_match(folder) and not row.leftovers
    row.note = "second: " + (refused[0].strip().splitlines()[-1] if refused else "not refused")
    return row


def same_run_id(work: Path) -> Row:
    out = work / "same-id"
    first = spawn(["run", *TINY, "--output", out, "--run-id", "same"])
    time.sleep(0.3)
    second = spawn(["run", *TINY, "--output", out, "--run-id", "same"])
    outs = [first.communicate(timeout=600), second.communicate(timeout=600)]
    codes = [first.returncode, second.returncode]
    n = len(keys(out / "same"))
    row = Row("two `run --run-id same`, 0.3 s apart", codes, f"{n}/4", 0, duplicates(out / "same"),
              len(leftovers(out)))  # fmt: skip
    row.ok = sorted(codes) == [0, 2] and n == 4 and one_line(outs[codes.index(max(codes))][1])
    row.note = outs[1][1].strip().splitlines()[-1] if outs[1][1].strip() else ""
    return row


def stale_lock(work: Path) -> Row:
    out = work / "stale"
    proc = spawn(["run", *GRID, "--budget", "0.3", "--output", out, "--run-id", "k"])
    deadline = time.time() + 120
    while len(keys(out / "k")) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = set(keys(out / "k"))
    stale = [p.name for p in (out / "k").iterdir() if p.name.endswith(".lock")]
    done = rnnbench(["run", "--resume", out / "k"])
    after = keys(out / "k")
    row = Row("kill -9, stale lock left, then `--resume`", [done.returncode], f"{len(after)}/12",
              len(before - set(after)), duplicates(out / "k"), len(leftovers(out)))  # fmt: skip
    row.ok = done.returncode == 0 and len(after) == 12 and row.duplicates == 0 and not row.leftovers
    row.note = f"left by the kill: {', '.join(stale) or 'no lock file'}"
    return row


def read_only_outputs(base: Path, work: Path) -> list[Row]:
    ro = work / "ro"
    rows = []
    with read_only(ro) as ok:
        if not ok:
            return [Row("read-only output", ok=None, note="skipped: mounting a tmpfs failed")]
        checks: list[tuple[str, list[object]]] = [
            ("run --output", ["run", *TINY, "--output", ro / "results"]),
            ("train --output", [*TRAIN, "--output", ro / "results"]),
            ("report --out", ["report", base, "--out", ro / "report", "--format", "md"]),
            ("merge --output", ["merge", base, "--output", ro, "--run-id", "m"]),
            ("compare --export", ["compare", base, base, "--export", f"md={ro / 'gate.md'}"]),
        ]
        for name, args in checks:
            done = rnnbench([str(a) for a in args])
            row = Row(f"read-only `{name}`", [done.returncode])
            row.ok = done.returncode == 2 and one_line(done.stderr) and str(ro) in done.stderr
            row.note = (done.stderr.strip().splitlines() or [""])[-1]
            rows.append(row)
    return rows


def no_room(work: Path) -> Row:
    """A file system with less free space than the run must write: refused before anything is created,
    in one line; with the space freed, the same command runs."""
    disk = work / "no-room"
    with tmpfs(disk, "size=256k") as mounted:
        if not mounted:
            return Row("no room for `run`", ok=None, note="skipped: mounting a tmpfs needs root")
        with contextlib.suppress(OSError), (disk / "filler").open("wb") as fh:  # every byte taken
            fh.write(b"\0" * shutil.disk_usage(disk).free)
        done = rnnbench(["run", *GRID, "--output", disk, "--run-id", "full"])
        created = (disk / "full").exists()
        (disk / "filler").unlink()
        again = rnnbench(["run", *GRID, "--output", disk, "--run-id", "full"])
        n = len(keys(disk / "full"))
        row = Row("no room for `run` (a full disk), then the same command", [done.returncode, again.returncode],
                  f"{n}/12", 0, duplicates(disk / "full"), len(leftovers(disk)))  # fmt: skip
        row.ok = (done.returncode == 2 and one_line(done.stderr) and "free" in done.stderr and not created
                  and again.returncode == 0 and n == 12 and not row.leftovers)  # fmt: skip
        row.note = (done.stderr.strip().splitlines() or [""])[-1]
        return row


def full_disk(work: Path) -> Row:
    """The disk fills up while ``run`` measures (another writer takes the space after the first rows):
    exit 2, the error the last line after the run's progress, metadata ``failed``, no torn line; with the
    space freed, ``--resume`` finishes the run."""
    disk = work / "disk"
    with tmpfs(disk, "size=1m") as mounted:
        if not mounted:
            return Row("disk full during `run`", ok=None, note="skipped: mounting a tmpfs needs root")
        folder = disk / "full"
        proc = spawn(["run", *GRID, "--output", disk, "--run-id", "full"])
        deadline = time.time() + 120
        while len(keys(folder)) < 2 and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        filled = proc.poll() is None
        if filled:  # the other writer: everything but a few bytes
            with contextlib.suppress(OSError), (disk / "filler").open("wb") as fh:
                fh.write(b"\0" * max(shutil.disk_usage(disk).free - 512, 0))
        _, stderr = proc.communicate(timeout=600)
        torn = [n for n in ("summary.csv", "samples.csv")
                if (folder / n).exists() and not (folder / n).read_bytes().endswith(b"\n")]  # fmt: skip
        state, left = status(folder), leftovers(disk)
        with contextlib.suppress(FileNotFoundError):
            (disk / "filler").unlink()
        resumed = rnnbench(["run", "--resume", folder])
        n = len(keys(folder))
        codes = [proc.returncode, resumed.returncode]
        row = Row("disk full during `run`, then `--resume`", codes, f"{n}/12", 0, duplicates(folder),
                  len(left) + len(leftovers(disk)))  # fmt: skip
        row.ok = (filled and proc.returncode == 2 and error_after_progress(stderr) and state == "failed"
                  and not torn and resumed.returncode == 0 and n == 12 and not row.leftovers)  # fmt: skip
        row.note = f"status after the error: {state}; torn lines: {len(torn)}" + (
            "" if filled else "; finished first"
        )
        return row


def merge_inputs(base: Path, work: Path) -> Row:
    shards = work / "merge-src"
    with tmpfs(shards, "size=2m") as mounted:
        shutil.copytree(base, shards / "s1")
        with (shards / "s1" / "summary.csv").open("a") as fh:
            fh.write("1,k,abcdef012345,0,lst")  # a shard killed mid-write
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(shards)], check=True)
        before = digest(shards)
        done = rnnbench(["merge", shards, "--output", work / "merge-out", "--run-id", "m"])
        same = digest(shards) == before
        n = len(keys(work / "merge-out" / "m"))
        name = "`merge` of a torn" + (", read-only" if mounted else "") + " shard"
        row = Row(name, [done.returncode], f"{n}/12", 0, duplicates(work / "merge-out" / "m"),
                  len(leftovers(work / "merge-out")))  # fmt: skip
        row.ok = done.returncode == 0 and same and n == 12 and "incomplete" in done.stderr
        row.note = f"inputs byte-identical: {'yes' if same else 'NO'}"
        return row


def torn_readers(base: Path, work: Path) -> list[Row]:
    runs = work / "torn"
    shutil.copytree(base, runs / "a")
    shutil.copytree(base, runs / "b")
    with (runs / "b" / "summary.csv").open("a") as fh:
        fh.write("1,b,deadbeef0000,0,rnn,native,infer")
    rows = []
    for name, args in (
        ("report", ["report", runs, "--out", work / "torn-report", "--format", "md"]),
        ("compare", ["compare", runs / "a", runs / "b"]),
        ("history", ["history", runs]),
    ):
        done = rnnbench(args)
        shown = bool(re.search(r"\brnn\b|deadbeef", done.stdout))
        warned = "incomplete" in done.stderr + done.stdout
        row = Row(f"torn last line: `{name}`", [done.returncode])
        row.ok = done.returncode in (0, 1, 4) and not shown and warned
        row.note = f"warned: {'yes' if warned else 'no'}; torn row shown as data: {'YES' if shown else 'no'}"
        rows.append(row)
    return rows


def garbage_resume(base: Path, work: Path) -> Row:
    folder = work / "garbage" / "k"
    shutil.copytree(base, folder)
    cut_to(folder, keep=3)
    with (folder / "summary.csv").open("a") as fh:
        fh.write("garbage\n")
    done = rnnbench(["run", "--resume", folder])
    row = Row("`run --resume` with a garbage row", [done.returncode], leftovers=len(leftovers(folder)))
    row.ok = done.returncode == 2 and one_line(done.stderr) and "line 5" in done.stderr
    row.note = (done.stderr.strip().splitlines() or [""])[-1]
    return row


def hostile_ids(work: Path) -> Row:
    codes, escaped = [], []
    for bad in ("../escape", "a/b"):
        out = work / "hostile" / "out"
        out.mkdir(parents=True, exist_ok=True)
        done = rnnbench(["run", *TINY, "--output", out, "--run-id", bad])
        codes.append(done.returncode)
        escaped += [str(p) for p in (work / "hostile").rglob("*") if p.is_file()]
        shutil.rmtree(work / "hostile")
    row = Row("`--run-id ../escape`, `--run-id a/b`", codes)
    row.ok = codes == [2, 2] and not escaped
    row.note = f"files written: {len(escaped)}"
    return row


def fingerprint_dtype(base: Path, work: Path) -> Row:
    folder = work / "dtype"
    shutil.copytree(base, folder)
    text = (folder / "summary.csv").read_text()
    first = summary_rows(folder)[0]["fingerprint"]
    (folder / "summary.csv").write_text(text.replace(first, "39466357e255"))
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from rnnbench.results.loader import load_table; "
         "f = load_table(sys.argv[1], 'summary'); print(repr(f['fingerprint'].iloc[0]))",
         str(folder / "summary.csv")], capture_output=True, text=True, env=env())  # fmt: skip
    value = probe.stdout.strip()
    row = Row("fingerprint `39466357e255` in the loader", [probe.returncode])
    row.ok = value == "'39466357e255'"
    row.note = f"loaded as {value or probe.stderr.strip()[-60:]}"
    return row


def resume_options(base: Path, work: Path) -> Row:
    folder = work / "options" / "k"
    shutil.copytree(base, folder)
    before = digest(folder)
    done = rnnbench(["run", "--resume", folder, "--arch", "rnn", "--budget", "5"])
    row = Row("`run --resume DIR --arch rnn --budget 5`", [done.returncode])
    row.ok = done.returncode == 2 and one_line(done.stderr) and digest(folder) == before
    row.note = (done.stderr.strip().splitlines() or ["(accepted silently)"])[-1]
    return row


def leftover_files(base: Path, work: Path) -> Row:
    out = work / "leftovers"
    codes = [
        rnnbench(["run", *TINY, "--output", out, "--run-id", "r"]).returncode,
        rnnbench([*TRAIN, "--output", out / "train"]).returncode,
        rnnbench(["merge", out / "r", "--output", out, "--run-id", "m"]).returncode,
    ]
    left = leftovers(out)
    row = Row("leftovers after `run`, `train`, `merge`", codes, leftovers=len(left))
    row.ok = codes == [0, 0, 0] and not left
    row.note = ", ".join(sorted({Path(p).name for p in left}))[:70]
    return row


def huge_dry_run(work: Path) -> Row:
    seq, hidden = ",".join(map(str, range(1, 1001))), ",".join(map(str, range(1, 51)))
    args = ["run", "--arch", "lstm", "gru", "--mode", "inference", "--seq-len", seq, "--hidden", hidden,
            "--dry-run", "--output", work / "dry"]  # fmt: skip
    start = time.perf_counter()
    done = rnnbench(args)
    seconds = time.perf_counter() - start
    lines = len(done.stdout.splitlines())
    row = Row("`--dry-run` of 100,000 cases", [done.returncode])
    row.ok = done.returncode == 0 and seconds <= 2.0 and lines < 100
    row.note = f"{seconds:.2f} s wall, {lines} lines printed"
    return row


def random_kills(work: Path, kills: int, seed: int, log: Callable[[str], None]) -> Row:
    """``kill -9`` a 2-round run (fresh worker processes) at random moments, resuming it each time; a folder
    that finishes is checked and a new one started, until ``kills`` kills have landed."""
    rng = random.Random(seed)
    root = work / "kills"
    folders: list[Path] = []
    codes: list[int] = []
    lost = orphans = unusable = landed = attempts = 0
    seen: dict[Path, set[tuple[str, ...]]] = {}
    folder = root / "k0"
    while landed < kills and attempts < kills * 3:
        attempts += 1
        if folder not in folders:
            folders.append(folder)
        if (folder / "metadata.json").exists():
            cmd: list[object] = ["run", "--resume", folder]
        else:
            if folder.exists():  # killed between creating the folder and writing its metadata
                unusable += 1
                shutil.rmtree(folder)
            cmd = ["run", *KILL_GRID, "--output", root, "--run-id", folder.name]
        proc = spawn(cmd)
        delay = rng.uniform(0.3, 7.0)
        try:
            proc.communicate(timeout=delay)
            codes.append(proc.returncode)
        except subprocess.TimeoutExpired:
            group = landed % 2 == 0  # alternate: the whole process group, or the main process alone
            before = set(keys(folder))
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
            proc.communicate()
            landed += 1
            time.sleep(0.3)
            stray = workers_of(folder)
            orphans += len(stray)
            for pid in stray:  # ours: started by the run this script killed
                os.kill(pid, signal.SIGKILL)
            lost += len(before - set(keys(folder)))
            log(f"kill {landed}/{kills} after {delay:.1f} s ({'group' if group else 'main process'}): "
                f"{len(keys(folder))}/{KILL_ROWS} rows")  # fmt: skip
        seen.setdefault(folder, set()).update(keys(folder))
        if len(set(keys(folder))) >= KILL_ROWS:  # every row is in: go on killing a fresh folder
            folder = root / f"k{len(folders)}"
    for f in folders:  # finish every folder without a kill
        if (f / "metadata.json").exists() and status(f) != "complete":
            done = rnnbench(["run", "--resume", f])
            codes.append(done.returncode)
        elif f.exists() and not (f / "metadata.json").exists():
            unusable += 1
            shutil.rmtree(f)
    finished = [f for f in folders if (f / "metadata.json").exists()]
    rows_total = sum(len(set(keys(f))) for f in finished)
    lost += sum(len(seen.get(f, set()) - set(keys(f))) for f in finished)
    dup = sum(duplicates(f) for f in finished)
    left = sum(len(leftovers(f)) for f in finished)
    consistent = all(samples_match(f) and status(f) == "complete" for f in finished)
    row = Row(f"`kill -9` × {landed} at random moments, `--resume` each time", sorted(set(codes)),
              f"{rows_total}/{KILL_ROWS * len(finished)}", lost, dup, left)  # fmt: skip
    row.ok = (landed >= kills and 3 not in codes and rows_total == KILL_ROWS * len(finished) and lost == 0
              and dup == 0 and left == 0 and consistent and orphans == 0)  # fmt: skip
    row.note = (f"{len(finished)} folder(s); orphan workers: {orphans}; folders without metadata: {unusable}; "
                f"samples match n_samples: {'yes' if consistent else 'NO'}")  # fmt: skip
    return row


def table(rows: list[Row], work: Path | None = None) -> str:
    out = ["| scenario | exit codes | rows | lost | duplicates | leftovers | result | note |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        verdict = "skipped" if r.ok is None else ("ok" if r.ok else "**FAIL**")
        codes = ", ".join(map(str, r.codes)) or "–"
        note = r.note.replace(f"{work}/", "").replace(str(work), "") if work else r.note
        note = note if len(note) <= 80 else note[:79] + "…"
        cells = [r.scenario, codes, r.rows, r.lost, r.duplicates, r.leftovers, verdict, note.replace("|", "/")]
        out.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=24, help="kill -9s to land [24]")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments [1]")
    parser.add_argument("--only", default=None, help="run only scenarios whose function name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"  {message}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="rnnbench-faults-"))
    started = time.time()
    try:
        log(f"work folder {work}")
        first = rnnbench(["run", *GRID, "--output", work / "base", "--run-id", "k"])
        if first.returncode != 0:
            print(first.stderr, file=sys.stderr)
            return 1
        base = work / "base" / "k"
        steps: list[tuple[str, Callable[[], Row | list[Row]]]] = [
            ("concurrent_resumes", lambda: concurrent_resumes(base, work)),
            ("same_run_id", lambda: same_run_id(work)),
            ("stale_lock", lambda: stale_lock(work)),
            ("read_only_outputs", lambda: read_only_outputs(base, work)),
            ("no_room", lambda: no_room(work)),
            ("full_disk", lambda: full_disk(work)),
            ("merge_inputs", lambda: merge_inputs(base, work)),
            ("torn_readers", lambda: torn_readers(base, work)),
            ("garbage_resume", lambda: garbage_resume(base, work)),
            ("hostile_ids", lambda: hostile_ids(work)),
            ("fingerprint_dtype", lambda: fingerprint_dtype(base, work)),
            ("resume_options", lambda: resume_options(base, work)),
            ("leftover_files", lambda: leftover_files(base, work)),
            ("huge_dry_run", lambda: huge_dry_run(work)),
            ("random_kills", lambda: random_kills(work, args.kills, args.seed, log)),
        ]
        rows: list[Row] = []
        for name, step in steps:
            if args.only and args.only not in name:
                continue
            log(name)
            try:
                result = step()
            except Exception as exc:  # a scenario that crashes the script is a failed scenario
                result = Row(name, ok=False, note=f"{type(exc).__name__}: {exc}")
            rows += result if isinstance(result, list) else [result]
        print(table(rows, work))
        failed = sum(r.ok is False for r in rows)
        print(f"\n{len(rows)} scenarios, {failed} failed, {time.time() - started:.0f} s "
              f"({'root: tmpfs mounts' if is_root() else 'not root: no tmpfs'})")  # fmt: skip
        return 1 if failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
