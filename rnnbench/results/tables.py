"""One CSV table of a run folder: appended row by row, synced after every append, never left with a partial
row (a failed append is cut back), and read back with every line checked (a torn last line from a kill is
reported with a :class:`~rnnbench.errors.DataWarning` and skipped). The folder that owns the tables is
:mod:`rnnbench.results.folder`."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnbench.errors import DataWarning, SchemaError, StorageError
from rnnbench.results.schema import SCHEMA_VERSION


def cell_text(value: Any) -> Any:
    """A value as its CSV cell: blank for None and NaN, ``repr`` for floats (round-trips), true/false."""
    if value is None:
        return ""
    if hasattr(value, "item") and not isinstance(value, str):  # NumPy/torch scalars → Python scalars
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a short write is possible on a nearly full disk)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def remove_quietly(path: Path) -> None:
    """Unlink if present; a file that cannot be removed is left (cleanup never hides the real error)."""
    with contextlib.suppress(OSError):
        path.unlink()


class CsvAppender:
    """Appends rows to one CSV with a fixed column order; header once; every append synced, and cut back to
    where it started if it fails, so a full disk never leaves a partial row.

    ``lock`` (a ``filelock`` lock) serialises appends from several processes of one owner; ``numeric`` names
    the columns that :meth:`read_rows` checks are numbers."""

    def __init__(
        self, path: Path, columns: Sequence[str], lock: Any = None, numeric: Sequence[str] = ()
    ) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self.lock = lock
        self.numeric = tuple(numeric)
        header = self._header()
        if header is not None and tuple(header) != self.columns:
            raise SchemaError(
                f"{self.path}: its header does not match this version's columns "
                f"(schema_version {SCHEMA_VERSION}); write to a new folder instead of resuming."
            )

    def _header(self) -> list[str] | None:
        try:
            with self.path.open(newline="", encoding="utf-8") as fh:
                first = fh.readline()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            if isinstance(exc, OSError):
                raise StorageError(self.path, exc, "read") from exc
            raise SchemaError(f"{self.path}: not a UTF-8 CSV file; restore or delete it.") from exc
        if not first:
            return None
        return next(csv.reader([first]), [])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.lock is None:
            yield
            return
        try:
            self.lock.acquire()
        except OSError as exc:
            raise StorageError(self.lock.lock_file, exc, "lock") from exc
        try:
            yield
        finally:
            self.lock.release()

    def torn_tail(self) -> bytes:
        """The bytes after the last newline: a line cut off by a kill or a full disk (empty if none)."""
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return b""
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) == b"\n":
                    return b""
                step = 4096
                pos = size
                tail = b""
                while pos > 0:
                    pos = max(0, pos - step)
                    fh.seek(pos)
                    tail = fh.read(size - pos)
                    if b"\n" in tail:
                        return tail[tail.rindex(b"\n") + 1 :]
                return tail
        except FileNotFoundError:
            return b""

    def repair(self) -> str | None:
        """Cut a torn last line (owner only: the next append must start on a fresh line). Returns what was
        cut, as a warning naming the file, or ``None``."""
        with self._locked():
            return self._repair_locked()

    def _repair_locked(self) -> str | None:
        tail = self.torn_tail()
        if not tail:
            return None
        size = self.path.stat().st_size
        try:
            os.truncate(self.path, size - len(tail))
        except OSError as exc:
            raise StorageError(self.path, exc, "repair") from exc
        fields = len(next(csv.reader([tail.decode("utf-8", "replace")]), []))
        return (
            f"{self.path}: its last line was incomplete ({fields} of {len(self.columns)} fields, no newline: "
            "a write was cut off) and has been removed; that row is measured again."
        )

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="raise")
        for row in rows:
            full = {c: cell_text(row.get(c)) for c in self.columns}
            full["schema_version"] = SCHEMA_VERSION
            writer.writerow(full)
        body = buffer.getvalue().encode("utf-8")
        with self._locked():
            self._repair_locked()
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            except OSError as exc:
                raise StorageError(self.path, exc) from exc
            start = os.fstat(fd).st_size
            try:
                if start == 0:
                    head = io.StringIO()
                    csv.writer(head).writerow(self.columns)
                    body = head.getvalue().encode("utf-8") + body
                write_all(fd, body)
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # no partial row: cut back to where this append began
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                if start == 0:
                    remove_quietly(self.path)
                raise StorageError(self.path, exc) from exc
            finally:
                os.close(fd)
        return len(rows)

    def read_rows(self) -> list[dict[str, str]]:
        """The rows written so far, as strings (for resume bookkeeping without pandas). A torn last line is
        skipped with a ``DataWarning`` naming the file; any other line that is not a row of this table (wrong
        number of fields, another schema version, text in a numeric column) is a ``SchemaError`` naming the
        file and the line."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StorageError(self.path, exc, "read") from exc
        except UnicodeDecodeError as exc:
            raise SchemaError(f"{self.path}: not a UTF-8 CSV file; restore or delete it.") from exc
        return parse_rows(self.path, text, self.columns, self.numeric)

    def rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Atomically replace the file's rows (used to drop orphans when resuming); the temporary file is
        removed if writing it fails."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with self._locked():
            try:
                with tmp.open("w", newline="", encoding="utf-8") as fh:
                    writer = csv.DictWriter(fh, fieldnames=self.columns)
                    writer.writeheader()
                    for row in rows:
                        writer.writerow({c: row.get(c, "") for c in self.columns})
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:
                remove_quietly(tmp)
                raise StorageError(self.path, exc, "rewrite") from exc


def parse_rows(
    path: Path, text: str, columns: Sequence[str], numeric: Sequence[str] = ()
) -> list[dict[str, str]]:
    """Rows of a table's text as dicts of strings, checked line by line (see ``CsvAppender.read_rows``)."""
    if text and not text.endswith("\n"):  # a torn last line: every row rnnbench writes ends with one
        cut = text.rfind("\n") + 1
        if cut == 0:
            raise SchemaError(f"{path}: the header line is incomplete; delete the file or rerun the job.")
        fragment = next(csv.reader([text[cut:]]), [])
        text = text[:cut]
        warnings.warn(DataWarning(torn_line_message(path, len(fragment), len(columns))), stacklevel=3)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    width = len(header)
    checks = [(c, header.index(c)) for c in numeric if c in header]
    version_at = header.index("schema_version") if "schema_version" in header else None
    rows: list[dict[str, str]] = []
    line = reader.line_num
    for record in reader:
        problem = _row_problem(record, width, version_at, checks)
        if problem:
            raise SchemaError(
                f"{path}: line {line + 1} is not a row of this table ({problem}); fix or delete it."
            )
        rows.append(dict(zip(header, record, strict=True)))
        line = reader.line_num
    return rows


def torn_line_message(path: Path | str, fields: int, width: int) -> str:
    """The warning every reader gives for a torn last line (the loader's too)."""
    return (
        f"{path}: the last line is incomplete ({fields} of {width} fields, no newline: a write was cut off by "
        "a kill or a full disk); skipped it. 'rnnbench run --resume' on its folder measures that case again."
    )


def _row_problem(record: list[str], width: int, version_at: int | None, checks: list[tuple[str, int]]) -> str:
    if len(record) != width:
        return f"{len(record)} fields, the header has {width}"
    if version_at is not None and record[version_at].strip() != str(SCHEMA_VERSION):
        return f"schema_version {record[version_at]!r}, expected {SCHEMA_VERSION}"
    for name, index in checks:
        cell = record[index].strip()
        if cell:
            try:
                float(cell)
            except ValueError:
                return f"column '{name}' holds {cell!r}, not a number"
    return ""
