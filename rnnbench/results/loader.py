"""The one loader of result folders: discovery, validation, declared dtypes, run metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.core.values import TRUE_TEXTS
from rnnbench.errors import ConfigError, SchemaError
from rnnbench.results.schema import (
    BOOL_COLUMNS,
    EXTRA_NUMERIC,
    NUMERIC_COLUMNS,
    SCHEMA_VERSION,
    TABLES,
    TRAIN_SIZE_COLUMN,
)


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

    files = find_tables(paths, name)
    if not files:
        raise SchemaError(
            f"no {name}.csv found under {', '.join(str(p) for p in paths)}; pass folders written by "
            f"'rnnbench {'train' if name in ('train_summary', 'curves') else 'run'}'."
        )
    return pd.concat([load_table(f, name) for f in files], ignore_index=True)


# ---- loading -------------------------------------------------------------------------------------------
@dataclass
class RunInfo:
    """One result folder's metadata, as far as the report needs it."""

    folder: Path
    run_id: str
    kind: str
    status: str
    started_at: str
    command: str
    env: dict[str, Any]

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


def _classify_file(path: Path) -> str:
    """Which table a CSV named on the command line holds: by its name, else by its header (a renamed copy)."""
    if path.stem in TABLES:
        return path.stem
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: the file is empty (no header); delete it or rerun the job.")
    with path.open(encoding="utf-8", errors="replace") as fh:
        header = {c.strip() for c in fh.readline().strip().split(",")}
    for name, columns in sorted(TABLES.items(), key=lambda kv: -len(kv[1])):
        if set(columns) <= header:
            return name
    raise SchemaError(
        f"{path}: not an rnnbench table (its header matches none of {', '.join(f'{n}.csv' for n in TABLES)}); "
        "pass a results folder or one of those files."
    )


def discover(paths: Sequence[Path | str]) -> dict[str, list[Path]]:
    """CSV files per table name under folders (recursively) and among files given directly."""
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
            for name in TABLES:
                found[name].extend(find_tables([path], name))
    return {name: sorted(dict.fromkeys(files)) for name, files in found.items()}


def _line_of(frame: pd.DataFrame, mask: pd.Series) -> int:
    return int(np.asarray(mask).argmax()) + 2  # header is line 1


def _validate(frame: pd.DataFrame, path: Path, name: str) -> pd.DataFrame:
    """Numeric and boolean columns beyond what ``load_table`` checks, with the same kind of message."""
    for col in EXTRA_NUMERIC.get(name, ()):
        if col not in frame.columns or col in NUMERIC_COLUMNS.get(name, ()):
            continue
        raw = frame[col]
        converted = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & converted.isna()
        if bad.any():
            raise SchemaError(
                f"{path}: column '{col}' has a non-numeric value {raw[bad].iloc[0]!r} on line "
                f"{_line_of(frame, bad)}; fix or delete that row."
            )
        frame[col] = converted.astype(float)
    for col in BOOL_COLUMNS.get(name, ()):
        if col in frame.columns:
            text = frame[col].astype(str).str.strip().str.lower()
            frame[col] = text.isin(TRUE_TEXTS)
    if name in ("summary", "train_summary", "curves"):
        for col in ("status", "message", "arch", "impl", "mode", "device", "dtype", "workload", "task", "arm"):
            if col in frame.columns:
                frame[col] = frame[col].astype(object).where(frame[col].notna(), "").astype(str)
    return frame


def _read_metadata(folder: Path, warnings: list[str]) -> RunInfo | None:
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
    return RunInfo(
        folder=folder,
        run_id=str(data.get("run_id", folder.name)),
        kind=str(data.get("kind", "")),
        status=str(data.get("status", "")),
        started_at=str(data.get("started_at", "")),
        command=str(command),
        env=env or {},
    )


def _load_many(files: Iterable[Path], name: str) -> pd.DataFrame:
    frames = [_validate(load_table(f, name), f, name) for f in files]
    if not frames:
        return pd.DataFrame(columns=[*TABLES[name], "source_file"])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


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
    """Find, load, validate and merge every result table under ``paths``.

    Raises ``SchemaError`` (file, column, fix) for malformed input and when nothing readable is found.
    """
    files = discover(paths)
    inputs = [Path(p) for p in paths]
    if not (files["summary"] or files["train_summary"] or files["curves"]):
        raise SchemaError(
            f"no results under {', '.join(str(p) for p in inputs)}: expected summary.csv (from 'rnnbench run') "
            "or train_summary.csv / curves.csv (from 'rnnbench train') in the folder or its subfolders; "
            "run one of those first or pass the folder they wrote (results/<run-id>)."
        )
    warnings: list[str] = []
    summary = _load_many(files["summary"], "summary")
    train = _load_many(files["train_summary"], "train_summary")
    curves = _load_many(files["curves"], "curves")

    folders = sorted({Path(f).parent for name in ("summary", "train_summary", "curves") for f in files[name]})
    runs: dict[str, RunInfo] = {}
    for folder in folders:
        info = _read_metadata(folder, warnings)
        if info is None:
            warnings.append(
                f"{folder}: no metadata.json, so its environment is unknown; shown under the device name."
            )
            continue
        runs[str(folder)] = info
        if info.status and info.status != "complete":
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
    sample_files = [f for f in files["samples"] if str(f.parent) in summary_folders]
    return ReportData(summary, train, curves, runs, sample_files, inputs, warnings)


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
