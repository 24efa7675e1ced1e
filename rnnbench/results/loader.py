"""The one loader of result folders: discovery, validation, the declared column types, run metadata.

Every reader goes through :func:`load` (or :func:`load_table` for one file): the report, the regression gate,
``history`` and the report's per-sample intervals. So a file is accepted or refused by one set of rules, with
one message naming the file, the column and the fix, and ``case_id`` is a string everywhere. The column types
are declared once, in ``schema.COLUMN_TYPES``. ``load_report_data`` adds what only the report needs
(duplicates, shape defaults, platform labels, warnings) on top.

A torn last line (no newline: a kill or a full disk cut the write off) is skipped with an
``errors.DataWarning`` naming the file, never shown as data; any other line that is not a row of the table
(another ``schema_version``, text in a numeric column, a field too many) is refused with the file and the line.
Readers never write: repairing a torn file is the job of the folder's next owner (``run --resume``).

Never imports torch: ``rnnbench report`` and ``compare`` must run on a machine without the GPU stack.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings as _warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.core.values import TRUE_TEXTS
from rnnbench.errors import ConfigError, DataWarning, SchemaError, StorageError
from rnnbench.results.schema import (
    COLUMN_TYPES,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    TABLES,
    TRAIN_SIZE_COLUMN,
    added_since,
    columns_of,
    read_csv_dtypes,
)
from rnnbench.results.tables import torn_line_message

REPORT_TABLES: tuple[str, ...] = ("summary", "train_summary", "curves")
"""The tables ``rnnbench report`` reads in full (``samples.csv`` only where a case has one round)."""


# ---- finding files ---------------------------------------------------------------------------------------
def _classify_file(path: Path) -> str:
    """Which table a CSV named on the command line holds: by its name, else by its header (a renamed copy)."""
    if path.stem in TABLES:
        return path.stem
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: the file is empty (no header); delete it or rerun the job.")
    with path.open(encoding="utf-8", errors="replace") as fh:
        header = {c.strip() for c in fh.readline().strip().split(",")}
    for name, columns in sorted(TABLES.items(), key=lambda kv: -len(kv[1])):
        # a file of an older readable schema lacks the columns added since
        if set(columns) - set(added_since(name, min(READABLE_VERSIONS))) <= header:
            return name
    raise SchemaError(
        f"{path}: not an rnnbench table (its header matches none of {', '.join(f'{n}.csv' for n in TABLES)}); "
        "pass a results folder or one of those files."
    )


def discover(paths: Sequence[Path | str]) -> dict[str, list[Path]]:
    """CSV files per table name: ``<table>.csv`` anywhere under the folders given, and the files given directly
    (classified by name, else by header). Each list is sorted and free of repeats."""
    if not paths:
        raise ConfigError("give at least one results folder or CSV file, e.g. 'rnnbench report results/'.")
    found: dict[str, list[Path]] = {name: [] for name in TABLES}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SchemaError(f"{path}: no such file or folder; pass a results folder such as results/.")
        if path.is_file():
            if path.suffix != ".csv":
                raise SchemaError(f"{path}: not a CSV file; pass a results folder or a .csv file.")
            found[_classify_file(path)].append(path)
        else:
            for csv_path in path.rglob("*.csv"):  # one walk for all tables (a history folder holds many runs)
                if csv_path.stem in found and csv_path.name == f"{csv_path.stem}.csv":
                    found[csv_path.stem].append(csv_path)
    return {name: sorted(dict.fromkeys(files)) for name, files in found.items()}


# ---- one table ---------------------------------------------------------------------------------------------
def _line_of(mask: pd.Series) -> int:
    return int(np.asarray(mask).argmax()) + 2  # header is line 1


def _apply_types(frame: pd.DataFrame, path: Path, name: str) -> pd.DataFrame:
    """Give each declared column its ``schema.ColumnKind``; a cell that is not a number is refused with the
    file, column and line, so a typo never turns a column into text that sorts and groups wrongly."""
    for col, kind in COLUMN_TYPES.get(name, {}).items():
        if col not in frame.columns:
            continue
        raw = frame[col]
        if kind in ("int", "float"):
            if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
                converted = raw  # pandas already read every cell as a number (the common case: fast)
            else:
                converted = pd.to_numeric(raw, errors="coerce")
                bad = raw.notna() & converted.isna()
                if bad.any():
                    raise SchemaError(
                        f"{path}: column '{col}' has a non-numeric value {raw[bad].iloc[0]!r} on line "
                        f"{_line_of(bad)}; fix or delete that row."
                    )
            frame[col] = converted.astype(float) if kind == "float" else converted
        elif kind == "bool":
            if not pd.api.types.is_bool_dtype(raw):
                frame[col] = raw.astype(str).str.strip().str.lower().isin(TRUE_TEXTS)
        elif kind == "text":
            frame[col] = raw.fillna("")  # read_csv read it as strings
        # "id": read as strings by read_csv (see load_table); blanks stay missing
    return frame


def _without_torn_line(path: Path, width: int) -> Path | io.BytesIO:
    """``path`` itself, or — when its last line has no newline (a write cut off by a kill or a full disk) —
    its bytes without that line, after a ``DataWarning`` naming the file. Reads only the last byte in the
    common case."""
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        if size == 0:
            raise SchemaError(f"{path}: the file is empty (no header); delete it or rerun the job.")
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return path
        fh.seek(0)
        data = fh.read()
    cut = data.rfind(b"\n") + 1
    if cut == 0:
        raise SchemaError(f"{path}: the header line is incomplete; delete the file or rerun the job.")
    fragment = data[cut:].decode("utf-8", "replace")
    fields = len(fragment.split(","))
    _warnings.warn(DataWarning(torn_line_message(path, fields, width)), stacklevel=4)
    return io.BytesIO(data[:cut])


def load_table(path: Path, name: str) -> pd.DataFrame:
    """Read and validate one table with its declared column types; errors name the file, the column and the
    fix. Adds ``source_file`` (the path, as text) so rows can be traced back to their run folder."""

    columns = TABLES[name]
    path = Path(path)
    try:
        source: Path | io.BytesIO = _without_torn_line(path, len(columns))
    except OSError as exc:
        raise StorageError(path, exc, "read") from exc
    try:
        frame = pd.read_csv(source, keep_default_na=True, low_memory=False, dtype=read_csv_dtypes(name))
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not a readable CSV ({exc}); fix or delete the broken line.") from exc
    except pd.errors.EmptyDataError:
        raise SchemaError(f"{path}: the file is empty (no header); delete it or rerun the job.") from None
    if "schema_version" not in frame.columns:
        raise SchemaError(
            f"{path}: missing column 'schema_version'; this is not an rnnbench {name}.csv "
            f"(expected columns: {', '.join(columns[:6])}, …)."
        )
    version = pd.to_numeric(frame["schema_version"], errors="coerce")
    stray = version.isna()
    if stray.any():  # a line that is not a row (a fragment glued to the next row, garbage): never data
        raise SchemaError(
            f"{path}: line {_line_of(stray)} is not a row of this table (schema_version "
            f"{frame['schema_version'][stray].iloc[0]!r}); fix or delete that line."
        )
    versions = set(version.astype(int))
    if versions - set(READABLE_VERSIONS):
        raise SchemaError(
            f"{path}: column 'schema_version' is {sorted(versions)}, but this rnnbench reads "
            f"version{'s' if len(READABLE_VERSIONS) > 1 else ''} {', '.join(map(str, READABLE_VERSIONS))}; "
            "re-run the job or use the rnnbench release that wrote it."
        )
    for added in added_since(name, min(versions, default=SCHEMA_VERSION)):  # an older file: blank columns
        if added not in frame.columns:
            frame[added] = pd.NA if added in columns_of(name, "float", "int") else ""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{path}: missing column '{missing[0]}'"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + f"; an rnnbench {name}.csv of schema {SCHEMA_VERSION} has it. Re-run the job that wrote it."
        )
    frame = _apply_types(frame, path, name)
    frame["source_file"] = str(path)
    return frame


def load_tables(files: Iterable[Path], name: str) -> pd.DataFrame:
    """Several files of one table, validated and concatenated (an empty frame with the columns if none)."""
    frames = [load_table(f, name) for f in files]
    if not frames:
        return pd.DataFrame(columns=[*TABLES[name], "source_file"])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


# ---- run metadata ------------------------------------------------------------------------------------------
@dataclass
class RunInfo:
    """One result folder's ``metadata.json``, as far as readers need it."""

    folder: Path
    run_id: str
    kind: str
    status: str
    started_at: str
    command: str
    env: dict[str, Any]
    fingerprint: dict[str, str] = field(default_factory=dict)
    """Environment hash per device (``history`` starts a new series when it changes)."""
    fingerprint_keys: dict[str, dict[str, Any]] | None = None
    """The hashed keys per device, so the gate can say *which* key differs; ``None`` when not recorded."""

    def software(self) -> dict[str, str]:
        """The software keys whose difference makes two runs incomparable."""
        return {k: str(self.env.get(k, "?")) for k in ("torch", "cuda", "cudnn", "onednn")}

    def hardware(self, device: str) -> str:
        """CPU or GPU model for ``device``; the device string itself when the metadata is missing."""
        if device.startswith("cuda"):
            gpus = self.env.get("gpus") or []
            index = int(device.split(":")[1]) if ":" in device and device.split(":")[1].isdigit() else 0
            for gpu in gpus:
                if isinstance(gpu, dict) and gpu.get("index", -1) == index and gpu.get("name"):
                    return str(gpu["name"])
            if gpus and isinstance(gpus[0], dict) and gpus[0].get("name"):
                return str(gpus[0]["name"])
            return device
        return str(self.env.get("cpu_model") or device)


def read_run_info(folder: Path) -> RunInfo | None:
    """``folder/metadata.json`` as a ``RunInfo``; ``None`` when the folder has none (a copied CSV)."""
    path = folder / "metadata.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc}); restore or delete the file.") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected a JSON object; restore or delete the file.")
    env = data.get("env") if isinstance(data.get("env"), dict) else {}
    command = data.get("command", "")
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    hashes = data.get("fingerprint")
    keys = data.get("fingerprint_keys")
    return RunInfo(
        folder=folder,
        run_id=str(data.get("run_id", folder.name)),
        kind=str(data.get("kind", "")),
        status=str(data.get("status", "")),
        started_at=str(data.get("started_at", "")),
        command=str(command),
        env=env or {},
        fingerprint={str(d): str(fp) for d, fp in hashes.items()} if isinstance(hashes, dict) else {},
        fingerprint_keys=(
            {str(d): dict(v) for d, v in keys.items() if isinstance(v, dict)}
            if isinstance(keys, dict)
            else None
        ),
    )


# ---- the loader --------------------------------------------------------------------------------------------
@dataclass
class Results:
    """What :func:`load` returns: validated frames per table, each run folder's metadata, the files read."""

    frames: dict[str, pd.DataFrame]
    """One frame per table asked for (empty, with the columns, where no file holds it)."""
    runs: dict[str, RunInfo]
    """Metadata per run folder (the folder as text, as in the frames' ``source_file`` parents); folders without
    ``metadata.json`` are absent."""
    files: dict[str, list[Path]]
    """Every table file found, per table, also those not loaded (the report reads samples lazily)."""
    inputs: list[Path]
    folders: list[Path]
    """The folders holding the loaded tables, sorted."""
    warnings: list[str] = field(default_factory=list)
    """What was left out while reading (a torn last line), one line each naming the file; also issued as
    ``DataWarning``s, which the CLI prints."""

    def run_of(self, table_file: Path) -> RunInfo | None:
        """The metadata of the run folder holding ``table_file``."""
        return self.runs.get(str(Path(table_file).parent))


def _nothing_found(paths: Sequence[Path | str], names: Sequence[str]) -> str:
    where = ", ".join(str(p) for p in paths)
    if len(names) == 1:
        writer = "train" if names[0] in ("train_summary", "curves") else "run"
        return f"no {names[0]}.csv found under {where}; pass folders written by 'rnnbench {writer}'."
    return (
        f"no results under {where}: expected summary.csv (from 'rnnbench run') "
        "or train_summary.csv / curves.csv (from 'rnnbench train') in the folder or its subfolders; "
        "run one of those first or pass the folder they wrote (results/<run-id>)."
    )


def load(paths: Sequence[Path | str], tables: Sequence[str] = ("summary",)) -> Results:
    """Find, read and validate ``tables`` under ``paths`` (folders, searched recursively, or CSV files) and the
    metadata of every run folder that holds one of them.

    Raises ``SchemaError`` (file, column, fix) for malformed input and when none of ``tables`` is found.
    """
    files = discover(paths)
    if not any(files[name] for name in tables):
        raise SchemaError(_nothing_found(paths, tables))
    with _collect_data_warnings() as notes:
        frames = {name: load_tables(files[name], name) for name in tables}
    for note in notes:  # re-issued, so callers that only take the frames still let the user know
        _warnings.warn(DataWarning(note), stacklevel=2)
    folders = sorted({f.parent for name in tables for f in files[name]})
    runs = {str(folder): info for folder in folders if (info := read_run_info(folder)) is not None}
    return Results(frames, runs, files, [Path(p) for p in paths], folders, notes)


@contextlib.contextmanager
def _collect_data_warnings() -> Iterator[list[str]]:
    """Catch the ``DataWarning``s issued inside, as text (other warnings pass through)."""
    notes: list[str] = []
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always", DataWarning)
        yield notes
    for item in caught:
        if issubclass(item.category, DataWarning):
            notes.append(str(item.message))
        else:
            _warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def load_results(paths: Sequence[Path | str], name: str = "summary") -> pd.DataFrame:
    """All ``<name>.csv`` tables under ``paths``, validated and concatenated (``load`` for one table)."""
    return load(paths, (name,)).frames[name]


# ---- the report's view -------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """Validated, merged inputs. ``summary`` has a ``platform`` column; empty frames mean "no such data"."""

    summary: pd.DataFrame
    train: pd.DataFrame
    curves: pd.DataFrame
    runs: dict[str, RunInfo]
    sample_files: list[Path]
    inputs: list[Path]
    warnings: list[str] = field(default_factory=list)


def _platform_labels(runs: dict[str, RunInfo], pairs: pd.DataFrame, warnings: list[str]) -> dict[tuple, str]:
    """Hardware label per (folder, device). Where one hardware model appears with different software (torch,
    CUDA, cuDNN, oneDNN), the differing versions are appended so those results stay in separate tables."""
    rows = []
    for folder, device in pairs.itertuples(index=False):
        info = runs.get(folder)
        hardware = info.hardware(device) if info else str(device)
        software = info.software() if info else {}
        rows.append((folder, device, hardware, software))
    labels: dict[tuple, str] = {}
    by_hw: dict[str, list[tuple]] = {}
    for row in rows:
        by_hw.setdefault(row[2], []).append(row)
    for hardware, members in by_hw.items():
        envs = {tuple(sorted(m[3].items())) for m in members if m[3]}
        differing = [k for k in ("torch", "cuda", "cudnn", "onednn") if len({dict(e).get(k) for e in envs}) > 1]
        for folder, device, _, software in members:
            suffix = ", ".join(f"{k} {software.get(k, '?')}" for k in differing)
            labels[(folder, device)] = f"{hardware} ({suffix})" if suffix else hardware
        if differing:
            versions = sorted({", ".join(f"{k} {dict(e).get(k)}" for k in differing) for e in envs})
            warnings.append(
                f"mixed environments on {hardware}: {'; '.join(versions)}. Their results are kept in separate "
                "tables; compare across them only with care."
            )
    return labels


def load_report_data(paths: Sequence[Path | str]) -> ReportData:
    """:func:`load` the report's tables under ``paths``, then merge them for the report: duplicates counted
    once, empty shape cells filled, a hardware/software ``platform`` per row, and the warnings a reader of the
    report should see (missing metadata, partial runs, mixed environments, busy machines).

    Raises ``SchemaError`` (file, column, fix) for malformed input and when nothing readable is found.
    """
    with _collect_data_warnings():  # shown once, in the report's own warnings
        loaded = load(paths, REPORT_TABLES)
    summary, train, curves = (loaded.frames[name] for name in REPORT_TABLES)
    runs = loaded.runs
    warnings: list[str] = list(loaded.warnings)
    for folder in loaded.folders:
        info = runs.get(str(folder))
        if info is None:
            warnings.append(
                f"{folder}: no metadata.json, so its environment is unknown; shown under the device name."
            )
        elif info.status and info.status != "complete":
            warnings.append(f"run {info.run_id} has status '{info.status}': its results may be partial.")

    for frame in (summary, train, curves):
        if len(frame):  # one Path per file, not per row (100k rows)
            parents = {src: str(Path(src).parent) for src in frame["source_file"].unique()}
            frame["folder"] = frame["source_file"].map(parents)
        else:
            frame["folder"] = ""

    if len(summary):
        before = len(summary)
        summary = summary.drop_duplicates(["run_id", "case_id", "round"], keep="first", ignore_index=True)
        if len(summary) < before:
            warnings.append(
                f"{before - len(summary)} summary rows appear twice (same run_id, case_id and round, e.g. a "
                "copied folder); each is counted once."
            )
        summary = _fill_shape_defaults(summary)
        pairs = summary[["folder", "device"]].drop_duplicates()
        labels = _platform_labels(runs, pairs, warnings)
        keys = pd.MultiIndex.from_frame(summary[["folder", "device"]])
        summary["platform"] = pd.Series(keys.map(labels.get), index=summary.index).fillna(summary["device"])
        busy = int(summary["busy"].sum())
        if busy:
            warnings.append(
                f"{busy} measurement(s) taken while other processes loaded the machine (busy): times may be "
                "inflated; marked '!busy'."
            )
    if len(train):
        before = len(train)
        unit = ["run_id", "task", "arm", "seed", "seq_len", "hidden_size", "lr"]
        unit += [c for c in ("match", "budget", TRAIN_SIZE_COLUMN) if c in train.columns]
        train = train.drop_duplicates(unit, keep="first", ignore_index=True)
        if len(train) < before:
            warnings.append(f"{before - len(train)} train_summary rows appear twice; each is counted once.")
    train_envs = {
        (*sorted(runs[f].software().items()), runs[f].env.get("cpu_model"))
        for f in set(train["folder"]) | set(curves["folder"])
        if f in runs
    }
    if len(train_envs) > 1:
        warnings.append(
            f"training results come from {len(train_envs)} different environments; seconds-to-target compares "
            "wall-clock times across machines."
        )
    summary_folders = set(summary["folder"]) if len(summary) else set()
    sample_files = [f for f in loaded.files["samples"] if str(f.parent) in summary_folders]
    return ReportData(summary, train, curves, runs, sample_files, loaded.inputs, warnings)


def _fill_shape_defaults(summary: pd.DataFrame) -> pd.DataFrame:
    """Empty shape cells get the ``Case`` defaults so grouping never splits a case on NaN."""
    defaults: dict[str, Any] = {"workload": "layer", "length_spread": 0.0, "threads": 0, "input_size": -1,
                                "num_layers": 1}  # fmt: skip
    for col, value in defaults.items():
        if col == "workload":
            summary[col] = summary[col].replace("", value)
        else:
            summary[col] = summary[col].fillna(value)
    for col in ("seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "threads"):
        summary[col] = summary[col].fillna(-1).astype(np.int64)
    return summary
