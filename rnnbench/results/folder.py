"""Run folders and their writers: append-and-flush CSV tables, ``metadata.json``, resume bookkeeping.

``results/<run-id>/`` holds ``metadata.json`` plus CSV tables (``summary.csv``, ``samples.csv`` for timing;
``curves.csv``, ``train_summary.csv`` for training). Rows are appended and flushed (``fsync``) after every
case, so a killed run keeps all it finished; a torn last line from a kill mid-write is cut off when the file is
reopened. All times are seconds and all memory bytes; units are a display concern.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import math
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnbench.errors import SchemaError
from rnnbench.results.schema import SCHEMA_VERSION, TABLES

if TYPE_CHECKING:  # pandas is imported lazily: writing results must not pay for it
    pass


def new_run_id(now: _dt.datetime | None = None) -> str:
    """``20261123-053210-a1b2``: sortable by time, unique across concurrent runs."""
    now = now or _dt.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _format(value: Any) -> Any:
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


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<path>.lock`` (POSIX ``flock``): concurrent workers of one run (one per
    GPU) append to the same files without interleaving rows. A no-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = Path(str(path) + ".lock")
    with lock_path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (a kill mid-write) so the next append starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        fh.seek(cut)
        fh.truncate()


class CsvAppender:
    """Appends rows to one CSV with a fixed column order; header once; every append flushed and synced."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        _repair_tail(self.path)
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if tuple(header) != self.columns:
                raise SchemaError(
                    f"{self.path}: its header does not match this version's columns "
                    f"(schema_version {SCHEMA_VERSION}); write to a new folder instead of resuming."
                )

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        with file_lock(self.path):
            return self._append_locked(rows)

    def _append_locked(self, rows: list[Mapping[str, Any]]) -> int:
        new_file = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="raise")
            if new_file:
                writer.writeheader()
            for row in rows:
                full = {c: _format(row.get(c)) for c in self.columns}
                full["schema_version"] = SCHEMA_VERSION
                writer.writerow(full)
            fh.flush()
            os.fsync(fh.fileno())
        return len(rows)

    def read_rows(self) -> list[dict[str, str]]:
        """The rows written so far, as strings (for resume bookkeeping without pandas)."""
        if not self.path.exists():
            return []
        with self.path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def rewrite(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Atomically replace the file's rows (used to drop orphans when resuming)."""
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({c: row.get(c, "") for c in self.columns})
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class RunFolder:
    """One invocation's folder: metadata plus appendable tables."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def run_id(self) -> str:
        return str(self.read_metadata().get("run_id", self.path.name))

    @classmethod
    def create(cls, root: Path, metadata: dict[str, Any], run_id: str | None = None) -> RunFolder:
        """A new folder ``root/<run-id>`` (or ``root`` itself if it is an empty/new folder named by the
        user via ``--output``)."""
        run_id = run_id or new_run_id()
        path = Path(root) / run_id
        path.mkdir(parents=True, exist_ok=False)
        folder = cls(path)
        folder.write_metadata({"schema_version": SCHEMA_VERSION, "run_id": run_id, **metadata})
        return folder

    @classmethod
    def open_existing(cls, path: Path | str) -> RunFolder:
        folder = cls(Path(path))
        if not (folder.path / "metadata.json").exists():
            raise SchemaError(
                f"{folder.path}: no metadata.json here, so this is not an rnnbench run folder; "
                "pass the folder that 'rnnbench run' created (results/<run-id>)."
            )
        return folder

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        tmp = self.path / "metadata.json.tmp"
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, self.path / "metadata.json")

    def read_metadata(self) -> dict[str, Any]:
        path = self.path / "metadata.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{path}: not valid JSON ({exc}); restore or delete the file.") from exc
        if not isinstance(data, dict):
            raise SchemaError(f"{path}: expected a JSON object.")
        return data

    def update_metadata(self, **changes: Any) -> None:
        """Read-modify-write under a lock (concurrent workers update calibration and status)."""
        with file_lock(self.path / "metadata.json"):
            data = self.read_metadata()
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(data.get(key), dict):
                    data[key] = {**data[key], **value}  # merge maps such as calibration
                else:
                    data[key] = value
            self.write_metadata(data)

    def table(self, name: str) -> CsvAppender:
        return CsvAppender(self.path / f"{name}.csv", TABLES[name])
