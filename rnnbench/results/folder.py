"""Result files: versioned schemas, append-and-flush writers, validating loaders, resume bookkeeping.

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

if TYPE_CHECKING:  # pandas is imported lazily: writing results must not pay for it
    import pandas as pd

SCHEMA_VERSION = 1

SUMMARY_COLUMNS: tuple[str, ...] = (
    # DESIGN.md §4 — columns other tools rely on
    "schema_version", "run_id", "case_id", "round", "arch", "impl", "mode", "device", "dtype",
    "seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "bidirectional", "threads",
    "status", "message", "n_samples", "median_s", "mean_s", "iqr_s", "ci_low_s", "ci_high_s",
    "first_iter_s", "seq_per_s", "tokens_per_s", "gflop_per_s", "peak_fraction", "params",
    "peak_memory_bytes", "backend",
    # extras
    "min_s", "rel_ci", "compile_s", "cuda_event_median_s", "flops_per_iter", "tokens_per_iter",
    "peak_gflop_per_s", "batch_first", "length_spread", "workload", "seed", "busy", "load_avg",
    "other_cpu_frac", "steal_frac", "fingerprint", "started_at",
)  # fmt: skip

SAMPLE_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "case_id", "round", "arch", "impl", "mode", "device", "dtype",
    "threads", "sample", "block_iters", "seconds", "cuda_event_s",
)  # fmt: skip

TRAIN_SUMMARY_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "task", "arm", "seed", "seq_len", "hidden_size", "params", "lr",
    "steps", "train_seconds", "final_metric", "baseline_metric", "normalized_metric", "solved",
    "steps_to_target", "seconds_to_target", "diverged", "status", "message",
    # extras (rnnbench train)
    "match", "budget", "metric", "score_name", "score", "val_metric", "seconds_per_step", "impl", "device",
    "dtype", "batch_size", "train_size", "num_layers", "input_size", "eval_seq_len", "started_at",
)  # fmt: skip

CURVES_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "task", "arm", "seed", "seq_len", "hidden_size", "lr", "step",
    "train_seconds", "train_loss", "eval_metric",
    # extras (rnnbench train)
    "match", "budget", "eval_score",
)  # fmt: skip

DDP_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "case_id", "arch", "impl", "device", "dtype", "seq_len", "batch_size",
    "input_size", "hidden_size", "num_layers", "bidirectional", "threads", "backend", "world_size", "rank",
    "steps", "step_median_s", "step_iqr_s", "nosync_median_s", "allreduce_frac", "single_median_s",
    "scaling_efficiency", "global_tokens_per_s", "status", "message",
)  # fmt: skip

TABLES: dict[str, tuple[str, ...]] = {
    "summary": SUMMARY_COLUMNS,
    "samples": SAMPLE_COLUMNS,
    "train_summary": TRAIN_SUMMARY_COLUMNS,
    "curves": CURVES_COLUMNS,
    "ddp": DDP_COLUMNS,
}

NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("round", "seq_len", "batch_size", "hidden_size", "num_layers", "threads"),
    "samples": ("round", "sample", "block_iters", "seconds"),
    "train_summary": ("seed", "seq_len", "hidden_size", "steps"),
    "curves": ("seed", "step", "train_seconds"),
}
"""Columns that must parse as numbers (empty allowed elsewhere: a failed case has no median)."""


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


# ---- loading -------------------------------------------------------------------------------------------
def find_tables(paths: Sequence[Path | str], name: str) -> list[Path]:
    """``<name>.csv`` files under the given folders (recursively) or given directly, in sorted order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SchemaError(f"{path}: no such file or folder.")
        if path.is_file():
            if path.suffix != ".csv":
                raise SchemaError(f"{path}: not a CSV file; pass a results folder or a .csv file.")
            if path.stem == name:
                found.append(path)
            continue
        found.extend(sorted(path.rglob(f"{name}.csv")))
    return sorted(dict.fromkeys(found))


def load_table(path: Path, name: str) -> pd.DataFrame:
    """Read and validate one table; errors name the file, the column and the fix."""
    import pandas as pd

    columns = TABLES[name]
    path = Path(path)
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: the file is empty (no header); delete it or rerun the job.")
    try:
        frame = pd.read_csv(path, keep_default_na=True, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not a readable CSV ({exc}).") from exc
    if "schema_version" not in frame.columns:
        raise SchemaError(
            f"{path}: missing column 'schema_version'; this is not an rnnbench {name}.csv "
            f"(expected columns: {', '.join(columns[:6])}, …)."
        )
    versions = set(pd.to_numeric(frame["schema_version"], errors="coerce").dropna().astype(int))
    if versions - {SCHEMA_VERSION}:
        raise SchemaError(
            f"{path}: column 'schema_version' is {sorted(versions)}, but this rnnbench reads "
            f"version {SCHEMA_VERSION}; re-run the job or use the rnnbench release that wrote it."
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{path}: missing column '{missing[0]}'"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; an rnnbench {name}.csv of schema {SCHEMA_VERSION} has it. Re-run the job that wrote it."
        )
    for col in NUMERIC_COLUMNS.get(name, ()):
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[col].notna() & converted.isna()
        if bad.any():
            row = int(bad.to_numpy().argmax()) + 2  # header is line 1
            raise SchemaError(
                f"{path}: column '{col}' has a non-numeric value {frame[col][bad].iloc[0]!r} on line "
                f"{row}; fix or delete that row."
            )
        frame[col] = converted
    frame["source_file"] = str(path)
    return frame


def load_results(paths: Sequence[Path | str], name: str = "summary") -> pd.DataFrame:
    """All ``<name>.csv`` tables under ``paths``, validated and concatenated."""
    import pandas as pd

    files = find_tables(paths, name)
    if not files:
        raise SchemaError(
            f"no {name}.csv found under {', '.join(str(p) for p in paths)}; pass folders written by "
            f"'rnnbench {'train' if name in ('train_summary', 'curves') else 'run'}'."
        )
    return pd.concat([load_table(f, name) for f in files], ignore_index=True)
