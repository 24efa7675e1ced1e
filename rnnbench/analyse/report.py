"""The report's data layer: find, load, validate and merge result folders; aggregate rounds into cases; pair
LSTM and GRU; summarise training; test the textbook claims. Returns DataFrames and dataclasses — rendering is
``render.py``'s job and figures are ``plots.py``'s, so the same numbers feed the terminal, Markdown and HTML.

Never prints and never imports torch (``rnnbench report`` must work on a machine without the GPU stack).
Warnings (mixed environments, partial runs, busy machines, duplicates) are returned as strings for the caller.

Everything is vectorised pandas/NumPy: a report over 100,000 summary rows must take seconds, not minutes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from rnnbench.analyse import stats
from rnnbench.core.flops import param_count
from rnnbench.errors import ConfigError, SchemaError
from rnnbench.results.folder import NUMERIC_COLUMNS, TABLES, find_tables, load_table

THEORETICAL_GRU_LSTM = 0.75
"""GRU/LSTM ratio of parameters and of GEMM FLOPs at equal sizes: 3 gate blocks against 4."""

MIN_EFFECT = 0.05
"""Relative difference below which two speeds are called "no difference" (DESIGN.md §5)."""

ARCH_ORDER: tuple[str, ...] = ("lstm", "gru", "rnn")
ARM_ORDER: tuple[str, ...] = ("lstm", "lstm-fb1", "gru", "rnn")
IMPL_ORDER: tuple[str, ...] = ("native", "aten", "cell", "scratch", "compiled", "numpy")

SHAPE_COLUMNS: tuple[str, ...] = (
    "workload", "seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "bidirectional",
    "batch_first", "length_spread", "threads",
)  # fmt: skip
"""``Case.shape_key`` without mode, device and dtype (those group the tables)."""

GROUP_COLUMNS: tuple[str, ...] = ("mode", "platform", "device", "dtype")
"""One speed table (and one figure panel) per group. ``platform`` names the hardware (CPU or GPU model), so
results from two machines with the same device string (``cpu``) are never pooled."""

PAIR_KEYS: tuple[str, ...] = (*GROUP_COLUMNS, *SHAPE_COLUMNS, "impl")
CASE_KEYS: tuple[str, ...] = (*PAIR_KEYS, "arch")

EXTRA_NUMERIC: dict[str, tuple[str, ...]] = {
    "summary": (
        "input_size", "length_spread", "n_samples", "median_s", "mean_s", "iqr_s", "ci_low_s", "ci_high_s",
        "first_iter_s", "seq_per_s", "tokens_per_s", "gflop_per_s", "peak_fraction", "params",
        "peak_memory_bytes", "flops_per_iter", "tokens_per_iter", "peak_gflop_per_s",
    ),
    "samples": ("seconds",),
    "train_summary": (
        "params", "lr", "train_seconds", "final_metric", "baseline_metric", "normalized_metric",
        "steps_to_target", "seconds_to_target", "budget", "val_metric", "train_size", "score",
    ),
    "curves": ("seq_len", "hidden_size", "lr", "train_loss", "eval_metric", "budget", "eval_score"),
}  # fmt: skip
"""Columns the report computes with, checked like ``results.NUMERIC_COLUMNS`` (empty cells allowed)."""

BOOL_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("bidirectional", "batch_first", "busy"),
    "train_summary": ("solved", "diverged"),
}

TRAIN_SIZE_COLUMN = "train_size"
"""Optional ``train_summary.csv`` column (training examples seen); needed for the small-dataset claim."""


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
            frame[col] = text.isin(("true", "1", "1.0", "yes"))
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


# ---- speed ---------------------------------------------------------------------------------------------
def _order_statistic_index(n: int) -> tuple[int, int]:
    """Positions (0-based, in sorted order) of ``stats.median_ci``'s bounds for ``n`` values: the same
    interval, computed once per n instead of once per case."""
    ci = stats.median_ci(np.arange(n, dtype=float))
    return int(ci.low), int(ci.high)


def aggregate_cases(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per case (over rounds and runs) and the ok rows with their case id (``gid``) and rank.

    Time is the median of round medians; its interval is the row's own (within-round, order-statistic)
    interval with one round, and ``stats.median_ci`` over the round medians with several (the full range
    below six rounds). Rates, efficiency and memory are medians over rounds.
    """
    if summary.empty:
        return pd.DataFrame(columns=[*CASE_KEYS, "status"]), pd.DataFrame()
    is_ok = (summary["status"] == "ok") & summary["median_s"].notna()
    ok = summary.loc[is_ok].copy()
    grouped = ok.groupby(list(CASE_KEYS), sort=False, dropna=False)
    ok["gid"] = grouped.ngroup()
    agg = grouped.agg(
        rounds=("median_s", "size"),
        median_s=("median_s", "median"),
        first_ci_low_s=("ci_low_s", "first"),
        first_ci_high_s=("ci_high_s", "first"),
        seq_per_s=("seq_per_s", "median"),
        tokens_per_s=("tokens_per_s", "median"),
        gflop_per_s=("gflop_per_s", "median"),
        peak_fraction=("peak_fraction", "median"),
        peak_memory_bytes=("peak_memory_bytes", "median"),
        first_iter_s=("first_iter_s", "median"),
        flops_per_iter=("flops_per_iter", "median"),
        params=("params", "first"),
        backend=("backend", "first"),
        busy=("busy", "any"),
        gid=("gid", "first"),
        run_id=("run_id", "first"),
    )
    ok = ok.sort_values(["gid", "median_s"], kind="stable")
    ok["rank"] = ok.groupby("gid").cumcount()
    sizes = ok.groupby("gid")["median_s"].transform("size")
    bounds = {int(n): _order_statistic_index(int(n)) for n in sizes.unique() if n >= 2}
    low_at = sizes.map(lambda n: bounds.get(int(n), (0, 0))[0])
    high_at = sizes.map(lambda n: bounds.get(int(n), (0, 0))[1])
    lows = ok.loc[(ok["rank"] == low_at) & (sizes >= 2)].set_index("gid")["median_s"]
    highs = ok.loc[(ok["rank"] == high_at) & (sizes >= 2)].set_index("gid")["median_s"]
    agg["ci_low_s"] = agg["gid"].map(lows).fillna(agg["first_ci_low_s"])
    agg["ci_high_s"] = agg["gid"].map(highs).fillna(agg["first_ci_high_s"])
    agg["status"] = "ok"
    agg["message"] = ""
    failed = summary.loc[~is_ok]
    if len(failed):
        fails = failed.groupby(list(CASE_KEYS), sort=False, dropna=False).agg(
            status=("status", "first"), message=("message", "first"), failed_rounds=("status", "size")
        )
        agg = agg.join(fails[["failed_rounds"]], how="left")
        only_failed = fails.loc[~fails.index.isin(agg.index)]
        agg = pd.concat([agg, only_failed])
    else:
        agg["failed_rounds"] = 0
    agg["failed_rounds"] = agg["failed_rounds"].fillna(0).astype(int)
    agg["rounds"] = agg["rounds"].fillna(0).astype(int)
    agg["busy"] = agg["busy"].astype("boolean").fillna(False).astype(bool)
    cases = agg.drop(columns=["first_ci_low_s", "first_ci_high_s"]).reset_index()
    cases["status"] = cases["status"].replace("", "error")
    return cases, ok


def _load_samples(files: Sequence[Path], ok: pd.DataFrame, gids: set[int]) -> dict[int, np.ndarray]:
    """Per-sample seconds for the cases in ``gids`` (those with one round), keyed by case id."""
    if not files or not gids:
        return {}
    wanted = ok.loc[ok["gid"].isin(gids), ["run_id", "case_id", "round", "gid"]]
    frames = []
    for path in files:
        frame = _validate(load_table(path, "samples"), path, "samples")
        frames.append(frame[["run_id", "case_id", "round", "seconds"]])
    samples = pd.concat(frames, ignore_index=True).merge(wanted, on=["run_id", "case_id", "round"])
    samples = samples.dropna(subset=["seconds"])
    return {int(cast(int, g)): part["seconds"].to_numpy() for g, part in samples.groupby("gid")}


def pair_ratios(cases: pd.DataFrame, ok: pd.DataFrame, sample_files: Sequence[Path] = ()) -> pd.DataFrame:
    """GRU/LSTM time ratio per shape (and impl), with a 95% bootstrap interval and the method used:
    ``rounds`` (both cases have ≥ 2 rounds: round medians, the replication unit), ``samples`` (one round:
    that round's samples, which understates between-process noise) or ``point`` (no interval possible)."""
    columns = [*PAIR_KEYS, "ratio", "ratio_low", "ratio_high", "method", "n_gru", "n_lstm", "params_ratio"]
    if cases.empty:
        return pd.DataFrame(columns=columns)
    good = cases[cases["status"] == "ok"]
    gru = good[good["arch"] == "gru"]
    lstm = good[good["arch"] == "lstm"]
    keep = [*PAIR_KEYS, "gid", "rounds", "median_s", "params"]
    pairs = gru[keep].merge(lstm[keep], on=list(PAIR_KEYS), suffixes=("_gru", "_lstm"))
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    pairs["ratio"] = pairs["median_s_gru"] / pairs["median_s_lstm"]
    pairs["ratio_low"] = np.nan
    pairs["ratio_high"] = np.nan
    pairs["method"] = "point"
    pairs["n_gru"] = pairs["rounds_gru"]
    pairs["n_lstm"] = pairs["rounds_lstm"]
    pairs["params_ratio"] = pairs["params_gru"] / pairs["params_lstm"]

    matrix = ok.pivot(index="gid", columns="rank", values="median_s") if len(ok) else pd.DataFrame()
    by_rounds = (pairs["rounds_gru"] >= 2) & (pairs["rounds_lstm"] >= 2)
    groups: dict[Any, Any] = dict(pairs.loc[by_rounds].groupby(["rounds_gru", "rounds_lstm"]).groups)
    for (ng, nl), idx in groups.items():
        sub = pairs.loc[idx]
        num = np.asarray(matrix.loc[sub["gid_gru"]].to_numpy())[:, : int(ng)]
        den = np.asarray(matrix.loc[sub["gid_lstm"]].to_numpy())[:, : int(nl)]
        est, low, high = stats.bootstrap_ratio_ci_batch(num, den)
        pairs.loc[idx, ["ratio", "ratio_low", "ratio_high"]] = np.column_stack([est, low, high])
        pairs.loc[idx, "method"] = "rounds"

    rest = pairs.loc[~by_rounds]
    if len(rest) and sample_files:
        samples = _load_samples(sample_files, ok, set(rest["gid_gru"]) | set(rest["gid_lstm"]))
        have = rest[rest["gid_gru"].isin(samples.keys()) & rest["gid_lstm"].isin(samples.keys())]
        if len(have):
            lengths = pd.DataFrame(
                {
                    "na": have["gid_gru"].map(lambda g: len(samples[g])),
                    "nb": have["gid_lstm"].map(lambda g: len(samples[g])),
                },
                index=have.index,
            )
            by_length: dict[Any, Any] = dict(lengths.groupby(["na", "nb"]).groups)
            for (na, nb), idx in by_length.items():
                if na < 2 or nb < 2:
                    continue
                sub = pairs.loc[idx]
                num = np.stack([samples[g] for g in sub["gid_gru"]])
                den = np.stack([samples[g] for g in sub["gid_lstm"]])
                est, low, high = stats.bootstrap_ratio_ci_batch(num, den)
                pairs.loc[idx, ["ratio", "ratio_low", "ratio_high"]] = np.column_stack([est, low, high])
                pairs.loc[idx, "method"] = "samples"
                pairs.loc[idx, "n_gru"] = na
                pairs.loc[idx, "n_lstm"] = nb
    return pairs[columns].reset_index(drop=True)


def ratio_verdict(low: float, high: float) -> str:
    """Who is faster, honestly: a side wins only when the whole interval is on its side of 1."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    if high < 1:
        return "GRU faster"
    if low > 1:
        return "LSTM faster"
    return "inconclusive"


@dataclass
class SpeedTable:
    """One (mode, platform, dtype) group: raw numbers for all cases (``data``) and the displayed strings."""

    key: tuple[str, str, str, str]
    data: pd.DataFrame
    constant: tuple[str, ...] = ()
    """Shape fields with one value over the whole table: named in the title, left out of each row's label."""

    @property
    def title(self) -> str:
        mode, platform, device, dtype = self.key
        where = platform if platform == device else f"{device} · {platform}"
        common = shape_labels(self.data.head(1)).iloc[0] if len(self.data) else ""
        fixed = " ".join(p for p in common.split() if _label_field(p) in self.constant)
        return f"{mode} · {where} · {dtype}" + (f" · {fixed}" if fixed else "")


def _label_field(part: str) -> str:
    """The shape column a label token such as ``B=16`` or ``bidir`` came from."""
    key = part.split("=")[0]
    names = {"T": "seq_len", "B": "batch_size", "I": "input_size", "H": "hidden_size", "L": "num_layers",
             "bidir": "bidirectional", "batch-first": "batch_first", "spread": "length_spread",
             "threads": "threads"}  # fmt: skip
    return names.get(key, "workload")


SPEED_DISPLAY_COLUMNS: tuple[str, ...] = (
    "shape", "arch/impl", "status", "time / iter", "tokens/s", "GFLOP/s", "% peak", "memory", "rounds",
    "backend", "GRU/LSTM [95% CI] (theory 0.75)",
)  # fmt: skip


def shape_labels(frame: pd.DataFrame, skip: Sequence[str] = ()) -> pd.Series:
    """``T=64 B=16 I=128 H=128`` plus only the fields that differ from the defaults (vectorised); fields in
    ``skip`` (constant over a table, named once in its title instead) are left out."""
    label = pd.Series("", index=frame.index, dtype=object)
    for col, name in (("seq_len", "T"), ("batch_size", "B"), ("input_size", "I"), ("hidden_size", "H")):
        if col not in skip:
            label = label + f" {name}=" + frame[col].astype(str)
    if "num_layers" not in skip:
        label = label.where(frame["num_layers"] == 1, label + " L=" + frame["num_layers"].astype(str))
    if "bidirectional" not in skip:
        label = label.where(~frame["bidirectional"].astype(bool), label + " bidir")
    if "batch_first" not in skip:
        label = label.where(~frame["batch_first"].astype(bool), label + " batch-first")
    if "length_spread" not in skip:
        spread = frame["length_spread"].astype(float)
        label = label.where(spread == 0, label + " spread=" + spread.map("{:g}".format))
    if "workload" not in skip:
        label = label.where(frame["workload"] == "layer", label + " " + frame["workload"].astype(str))
    if "threads" not in skip:
        label = label.where(frame["threads"] <= 0, label + " threads=" + frame["threads"].astype(str))
    return label.str.strip()


def _order(values: pd.Series, order: Sequence[str]) -> pd.Series:
    rank = {v: i for i, v in enumerate(order)}
    return values.map(lambda v: rank.get(v, len(order)))


def speed_tables(cases: pd.DataFrame, ratios: pd.DataFrame) -> list[SpeedTable]:
    """Cases with the GRU row's ratio attached, split per (mode, platform, device, dtype), sorted by shape."""
    if cases.empty:
        return []
    frame = cases.copy()
    if len(ratios):
        r = ratios[[*PAIR_KEYS, "ratio", "ratio_low", "ratio_high", "method"]].assign(arch="gru")
        frame = frame.merge(r, on=[*PAIR_KEYS, "arch"], how="left")
    else:
        frame = frame.assign(ratio=np.nan, ratio_low=np.nan, ratio_high=np.nan, method="")
    frame["_arch"] = _order(frame["arch"], ARCH_ORDER)
    frame["_impl"] = _order(frame["impl"], IMPL_ORDER)
    frame["_mode"] = _order(frame["mode"], ("inference", "forward", "backward", "train"))
    frame = frame.sort_values(
        ["_mode", "platform", "device", "dtype", *SHAPE_COLUMNS, "_impl", "_arch"], kind="stable"
    )
    tables = []
    for key, part in frame.groupby(["mode", "platform", "device", "dtype"], sort=False):
        part = part.reset_index(drop=True)
        constant = tuple(c for c in SHAPE_COLUMNS if part[c].nunique(dropna=False) == 1)
        part["shape"] = shape_labels(part, skip=constant).replace("", "(one shape)")
        tables.append(SpeedTable(tuple(str(k) for k in key), part, constant))  # type: ignore[arg-type]
    return tables


# ---- display formatting (shared by every renderer) ------------------------------------------------------
def fmt_seconds(value: float) -> str:
    """Seconds in the unit that keeps three significant digits readable."""
    if value is None or not np.isfinite(value):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def fmt_interval_seconds(median: float, low: float, high: float) -> str:
    if not np.isfinite(median):
        return "—"
    text = fmt_seconds(median)
    if np.isfinite(low) and np.isfinite(high):
        unit = text.split(" ")[1]
        scale = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}[unit]
        text += f" [{low / scale:.3g}–{high / scale:.3g}]"
    return text


def fmt_rate(value: float) -> str:
    """Counts per second with k/M/G prefixes."""
    if value is None or not np.isfinite(value):
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def fmt_bytes(value: float) -> str:
    """Bytes in binary units (memory is reported in bytes everywhere; this is display only)."""
    if value is None or not np.isfinite(value):
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def fmt_number(value: float, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def fmt_ratio(ratio: float, low: float, high: float, method: str = "") -> str:
    if not np.isfinite(ratio):
        return ""
    text = f"{ratio:.3f}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{low:.3f}–{high:.3f}]"
    if method:
        text += f" ({method})"
    return text


TERMINAL_SPEED_COLUMNS: tuple[str, ...] = (
    "shape", "arch/impl", "status", "time", "tok/s", "GFLOP/s", "%peak", "memory", "backend",
    "GRU/LSTM [95% CI]",
)  # fmt: skip
"""The terminal's narrower selection: no time interval, rounds or ratio method (the files have them)."""


def display_speed(table: SpeedTable, max_rows: int | None = None, terminal: bool = False) -> pd.DataFrame:
    """The displayed strings of a speed table (only the first ``max_rows`` rows are formatted: a table over
    thousands of shapes is truncated for display, never for the data files)."""
    data = table.data if max_rows is None else table.data.head(max_rows)
    rows = []
    records = cast(list[dict[str, Any]], data.to_dict("records"))
    for r in records:
        ok = r["status"] == "ok"
        status = "ok" if ok else f"{r['status']}: {r['message']}".strip()
        if ok and r["failed_rounds"]:
            status = f"ok ({r['failed_rounds']} round(s) failed)"
        if r["busy"]:
            status += " !busy"
        method = r["method"] if isinstance(r["method"], str) and not terminal else ""
        time = (
            fmt_seconds(r["median_s"])
            if terminal
            else fmt_interval_seconds(r["median_s"], r["ci_low_s"], r["ci_high_s"])
        )
        fraction = r["peak_fraction"]
        cells = [
            r["shape"],
            f"{r['arch']}/{r['impl']}",
            status,
            time if ok else "—",
            fmt_rate(r["tokens_per_s"]),
            fmt_number(r["gflop_per_s"]),
            f"{100 * fraction:.1f}%" if is_finite(fraction) else "—",
            fmt_bytes(r["peak_memory_bytes"]),
            str(r["rounds"]),
            str(r["backend"]) if isinstance(r["backend"], str) and r["backend"] else "—",
            fmt_ratio(r["ratio"], r["ratio_low"], r["ratio_high"], method),
        ]
        if terminal:
            del cells[8]  # rounds
        rows.append(tuple(cells))
    return pd.DataFrame(rows, columns=list(TERMINAL_SPEED_COLUMNS if terminal else SPEED_DISPLAY_COLUMNS))


# ---- training ------------------------------------------------------------------------------------------
SETTING_COLUMNS: tuple[str, ...] = ("task", "seq_len", "match", "budget", TRAIN_SIZE_COLUMN)
"""A training "setting": a task at one length, one size (parameter budget or hidden size, per ``match``) and
one training-set size (0 = fresh data every step). Arms are compared within a setting."""


def setting_keys(train: pd.DataFrame) -> list[str]:
    """The setting columns present in ``train`` (all of them in schema 1)."""
    return [c for c in SETTING_COLUMNS if c in train.columns]


def _prepare_train(train: pd.DataFrame) -> pd.DataFrame:
    frame = train[train["status"].isin(("ok", "diverged"))].copy()
    for col in ("budget", TRAIN_SIZE_COLUMN):
        if col in frame.columns:
            frame[col] = frame[col].fillna(0).astype(np.int64)
    if "match" in frame.columns:
        frame["match"] = frame["match"].fillna("").astype(str)
    frame["solved"] = frame["solved"].astype(bool) & ~frame["diverged"].astype(bool)
    # Unsolved seeds are censored at the budget: "took at least all the steps/seconds it had".
    frame["steps_c"] = frame["steps_to_target"].where(frame["solved"], frame["steps"])
    frame["seconds_c"] = frame["seconds_to_target"].where(frame["solved"], frame["train_seconds"])
    selector = frame["val_metric"] if "val_metric" in frame.columns else frame["normalized_metric"]
    if selector.isna().all():
        selector = frame["normalized_metric"]
    frame["_select"] = selector.fillna(np.inf)
    return frame


def train_arms(train: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, arm, hidden size, learning rate) over seeds; ``chosen`` marks the learning rate
    used in comparisons: per setting and arm the lowest median validation metric (diverged = worst, ties to the
    smaller rate) — the rule ``rnnbench train`` selects with, so each arm gets its own tuned rate."""
    if train.empty:
        return pd.DataFrame()
    frame = _prepare_train(train)
    if frame.empty:
        return pd.DataFrame()
    keys = setting_keys(frame)
    group = [*keys, "arm", "hidden_size", "lr"]
    agg = frame.groupby(group, dropna=False).agg(
        seeds=("seed", "nunique"),
        params=("params", "median"),
        solved=("solved", "sum"),
        diverged=("diverged", "sum"),
        final_metric=("final_metric", "median"),
        baseline_metric=("baseline_metric", "median"),
        normalized=("normalized_metric", "median"),
        normalized_mean=("normalized_metric", "mean"),
        normalized_sd=("normalized_metric", "std"),
        normalized_n=("normalized_metric", "count"),
        select=("_select", "median"),
        steps_to_target=("steps_to_target", "median"),
        seconds_to_target=("seconds_to_target", "median"),
        steps=("steps", "median"),
        train_seconds=("train_seconds", "median"),
        metric=("metric", "first") if "metric" in frame.columns else ("task", "first"),
    )
    agg = agg.reset_index()
    n = agg["normalized_n"]
    from scipy.stats import t as student_t

    half = student_t.ppf(0.975, (n - 1).clip(lower=1)) * agg["normalized_sd"] / np.sqrt(n.clip(lower=1))
    agg["normalized_low"] = (agg["normalized_mean"] - half).where(n > 1)
    agg["normalized_high"] = (agg["normalized_mean"] + half).where(n > 1)
    best = agg.sort_values([*keys, "arm", "select", "lr"]).groupby([*keys, "arm"], dropna=False).head(1)
    agg["chosen"] = agg.index.isin(best.index)
    agg["_arm"] = _order(agg["arm"], ARM_ORDER)
    agg = agg.sort_values([*keys, "_arm", "hidden_size", "lr"]).drop(columns="_arm").reset_index(drop=True)
    return agg


def chosen_rows(train: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """Per-seed rows of the chosen learning rate of every (setting, arm)."""
    if arms.empty:
        return pd.DataFrame()
    frame = _prepare_train(train)
    keys = setting_keys(frame)
    chosen = arms.loc[arms["chosen"], [*keys, "arm", "hidden_size", "lr"]]
    return frame.merge(chosen, on=[*keys, "arm", "hidden_size", "lr"])


def setting_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """``adding T=100 P=17473`` (parameter budget) or ``H=64`` (hidden match), ``n=200`` for a fixed
    training set."""
    named = dict(zip(keys, values, strict=True))
    parts = [str(named.get("task", ""))]
    if "seq_len" in named:
        parts.append(f"T={_int(named['seq_len'])}")
    if "budget" in named and is_finite(named["budget"]) and float(named["budget"] or 0) > 0:
        parts.append(("H=" if named.get("match") == "hidden" else "P=") + _int(named["budget"]))
    size = named.get(TRAIN_SIZE_COLUMN)
    if is_finite(size) and float(size or 0) > 0:
        parts.append(f"n={_int(size)}")
    return " ".join(parts)


TRAIN_DISPLAY_COLUMNS: tuple[str, ...] = (
    "setting", "arm", "H", "params", "lr", "seeds", "solved [95% CI]", "final metric (median)",
    "normalized mean [95% CI]", "steps to target", "seconds to target", "diverged", "used",
)  # fmt: skip


def display_train(arms: pd.DataFrame, max_rows: int | None = None) -> pd.DataFrame:
    """Displayed strings for the training table (one row per configuration; ``used`` marks the chosen rate)."""
    if arms.empty:
        return pd.DataFrame(columns=list(TRAIN_DISPLAY_COLUMNS))
    data = arms if max_rows is None else arms.head(max_rows)
    keys = [c for c in SETTING_COLUMNS if c in data.columns]
    rows = []
    for r in data.to_dict("records"):
        w = stats.wilson_interval(int(r["solved"]), int(r["seeds"]))
        solved = f"{int(r['solved'])}/{int(r['seeds'])} [{w.low:.2f}–{w.high:.2f}]"
        norm = fmt_number(r["normalized_mean"])
        if is_finite(r["normalized_low"]):
            norm += f" [{r['normalized_low']:.3g}–{r['normalized_high']:.3g}]"
        final = fmt_number(r["final_metric"])
        if isinstance(r.get("metric"), str) and r["metric"] != r["task"] and final != "—":
            final += f" {r['metric']}"
        rows.append(
            (
                setting_label(keys, [r[k] for k in keys]),
                r["arm"],
                _int(r["hidden_size"]),
                _int(r["params"]),
                f"{r['lr']:g}" if is_finite(r["lr"]) else "—",
                str(int(r["seeds"])),
                solved,
                final,
                norm,
                fmt_number(r["steps_to_target"], 4),
                fmt_seconds(r["seconds_to_target"]),
                str(int(r["diverged"])),
                "✓" if r["chosen"] else "",
            )
        )
    return pd.DataFrame(rows, columns=list(TRAIN_DISPLAY_COLUMNS))


def _int(value: Any) -> str:
    try:
        return str(int(value)) if np.isfinite(float(value)) else "—"
    except (TypeError, ValueError):
        return "—"


# ---- claims --------------------------------------------------------------------------------------------
VERDICTS = ("true", "false", "inconclusive", "no difference", "no data", "mixed")


@dataclass
class ClaimRow:
    """The claim tested in one scope (a mode and device, a task and length, ...)."""

    scope: str
    verdict: str
    evidence: str


@dataclass
class Claim:
    """A textbook statement, its overall verdict and the evidence per scope."""

    statement: str
    verdict: str
    summary: str
    rows: list[ClaimRow] = field(default_factory=list)
    note: str = ""


def _overall(rows: list[ClaimRow]) -> tuple[str, str]:
    decisive = [r for r in rows if r.verdict != "no data"]
    if not decisive:
        return "no data", "no data for this claim in these results"
    counts: dict[str, int] = {}
    for r in decisive:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    if len(counts) == 1:
        verdict = decisive[0].verdict
        return verdict, f"{verdict} in all {len(decisive)} setting(s) tested"
    parts = ", ".join(f"{v} in {n}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return "mixed", f"{parts} of {len(decisive)} settings"


def claim_parameters(cases: pd.DataFrame, train: pd.DataFrame) -> Claim:
    """ "GRU has fewer parameters": arithmetic says exactly 3/4 (a quarter fewer) at equal sizes; the data
    confirm it per measured shape (a classifier head or a parameter-matched size changes the ratio)."""
    example = param_count("gru", 128, 128) / param_count("lstm", 128, 128)
    rows = [
        ClaimRow(
            "arithmetic (any I, H, layers)",
            "true",
            f"GRU 3·H·(I+H+2) vs LSTM 4·H·(I+H+2) per layer and direction: ratio {example:.2f}, "
            'i.e. exactly 25% fewer — not "a third fewer".',
        )
    ]
    if not cases.empty:
        ok = cases[(cases["status"] == "ok") & cases["params"].notna()]
        pairs = ok[ok["arch"] == "gru"].merge(
            ok[ok["arch"] == "lstm"], on=list(PAIR_KEYS), suffixes=("_g", "_l")
        )
        if len(pairs):
            r = pairs["params_g"] / pairs["params_l"]
            exact = int(np.isclose(r, 0.75).sum())
            rows.append(
                ClaimRow(
                    "measured shapes",
                    "true" if (r < 1).all() else "false",
                    f"{len(pairs)} LSTM/GRU pairs at equal sizes: GRU/LSTM parameters "
                    f"{r.min():.4f}–{r.max():.4f}; "
                    f"exactly 0.75 in {exact} of {len(pairs)}"
                    + (" (the rest include a classifier head)" if exact < len(pairs) else "")
                    + ".",
                )
            )
    if not train.empty and {"lstm", "gru"} <= set(train["arm"]):
        per_arm = train.groupby("arm")["params"].median()
        hidden = train.groupby("arm")["hidden_size"].median()
        rows.append(
            ClaimRow(
                "training runs (as configured)",
                "true" if per_arm["gru"] < per_arm["lstm"] else "no difference",
                f"median params: LSTM {per_arm['lstm']:,.0f} (H={hidden['lstm']:.0f}), "
                f"GRU {per_arm['gru']:,.0f} "
                f"(H={hidden['gru']:.0f}); parameter-matched runs give the GRU a larger H (≈1.155×) instead.",
            )
        )
    verdict, summary = _overall(rows)
    return Claim("GRU has fewer parameters than LSTM", verdict, summary, rows)


def speed_summary(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per (mode, platform, dtype, impl): geometric mean GRU/LSTM time ratio over shapes with a t-interval
    on log ratios (one shape: its own bootstrap interval), and how many shapes each side wins outright."""
    if ratios.empty:
        return pd.DataFrame()
    frame = ratios[np.isfinite(ratios["ratio"]) & (ratios["ratio"] > 0)].copy()
    frame["log"] = np.log(frame["ratio"])
    frame["verdict"] = [
        ratio_verdict(lo, hi) for lo, hi in zip(frame["ratio_low"], frame["ratio_high"], strict=True)
    ]
    keys = ["mode", "platform", "device", "dtype", "impl"]
    g = frame.groupby(keys, sort=False)
    out = g.agg(
        shapes=("ratio", "size"),
        log_mean=("log", "mean"),
        log_sd=("log", "std"),
        single_low=("ratio_low", "first"),
        single_high=("ratio_high", "first"),
        gru_wins=("verdict", lambda v: int((v == "GRU faster").sum())),
        lstm_wins=("verdict", lambda v: int((v == "LSTM faster").sum())),
        min_ratio=("ratio", "min"),
        max_ratio=("ratio", "max"),
        method=("method", "first"),
    ).reset_index()
    from scipy.stats import t as student_t

    n = out["shapes"]
    half = student_t.ppf(0.975, (n - 1).clip(lower=1)) * out["log_sd"].fillna(0) / np.sqrt(n)
    out["ratio"] = np.exp(out["log_mean"])
    out["low"] = np.where(n > 1, np.exp(out["log_mean"] - half), out["single_low"])
    out["high"] = np.where(n > 1, np.exp(out["log_mean"] + half), out["single_high"])
    out["_mode"] = _order(out["mode"], ("inference", "forward", "backward", "train"))
    out["_impl"] = _order(out["impl"], IMPL_ORDER)
    return out.sort_values(["_mode", "platform", "dtype", "_impl"]).drop(columns=["_mode", "_impl"])


def claim_speed(ratios: pd.DataFrame) -> Claim:
    """ "GRU is faster per step": per mode, device and implementation."""
    rows = []
    summary = speed_summary(ratios)
    for r in summary.to_dict("records"):
        low, high = r["low"], r["high"]
        if not (np.isfinite(low) and np.isfinite(high)):
            verdict = "inconclusive"
        elif high < 1:
            verdict = "true"
        elif low > 1:
            verdict = "false"
        elif low >= 1 - MIN_EFFECT and high <= 1 + MIN_EFFECT:
            verdict = "no difference"
        else:
            verdict = "inconclusive"
        where = r["platform"] if r["platform"] == r["device"] else f"{r['device']} · {r['platform']}"
        interval = f" [{low:.3f}–{high:.3f}]" if np.isfinite(low) and np.isfinite(high) else " (no interval)"
        spread = (
            f"over {r['shapes']} shapes (range {r['min_ratio']:.2f}–{r['max_ratio']:.2f}; geometric mean, "
            f"t-interval over shapes)"
            if r["shapes"] > 1
            else f"one shape (bootstrap over {r['method']})"
        )
        rows.append(
            ClaimRow(
                f"{r['mode']} · {where} · {r['dtype']} · {r['impl']}",
                verdict,
                f"GRU/LSTM time {r['ratio']:.3f}{interval} {spread} vs theory {THEORETICAL_GRU_LSTM}; "
                f"GRU faster in {r['gru_wins']}, LSTM faster in {r['lstm_wins']} of {r['shapes']} shapes.",
            )
        )
    verdict, text = _overall(rows)
    return Claim(
        "GRU is faster per step than LSTM",
        verdict,
        text,
        rows,
        note="A side wins a setting only when the whole 95% interval is on its side of 1; "
        f"'no difference' when it lies within ±{MIN_EFFECT:.0%}.",
    )


def _paired_ratio(a: pd.DataFrame, b: pd.DataFrame, column: str) -> stats.Interval:
    return stats.bootstrap_ratio_ci(a[column].to_numpy(float), b[column].to_numpy(float))


def _groups(chosen: pd.DataFrame, keys: Sequence[str]) -> Iterable[tuple[str, pd.DataFrame]]:
    """(label, rows) per setting, in a stable order."""
    for key, part in chosen.groupby(list(keys), sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        yield setting_label(keys, values), part


def claim_target(chosen: pd.DataFrame) -> Claim:
    """ "GRU reaches the target in fewer steps and seconds": median over seeds (unsolved seeds count as the
    whole budget — censored, so this favours neither arm), GRU/LSTM ratio with a bootstrap interval over
    seeds."""
    rows = []
    if not chosen.empty:
        for scope, part in _groups(chosen, setting_keys(chosen)):
            gru, lstm = part[part["arm"] == "gru"], part[part["arm"] == "lstm"]
            if gru.empty or lstm.empty:
                continue
            if not (gru["solved"].any() or lstm["solved"].any()):
                rows.append(ClaimRow(scope, "inconclusive", "neither arm reached the target in any seed."))
                continue
            s = _paired_ratio(gru, lstm, "steps_c")
            t = _paired_ratio(gru, lstm, "seconds_c")
            rows.append(
                ClaimRow(
                    scope,
                    _interval_verdict([s, t]),
                    f"solved GRU {int(gru['solved'].sum())}/{len(gru)}, LSTM {int(lstm['solved'].sum())}/"
                    f"{len(lstm)}; GRU/LSTM steps {s.estimate:.2f} [{s.low:.2f}–{s.high:.2f}], seconds "
                    f"{t.estimate:.2f} [{t.low:.2f}–{t.high:.2f}].",
                )
            )
    verdict, text = _overall(rows)
    return Claim(
        "GRU reaches the target in fewer steps and seconds",
        verdict,
        text,
        rows,
        note="Medians over seeds; a seed that never reaches the target counts as its whole budget. "
        "'true' needs both intervals (steps and seconds) below 1.",
    )


def _interval_verdict(intervals: Sequence[stats.Interval]) -> str:
    """All intervals below 1 → true; all above → false; otherwise inconclusive."""
    if all(is_finite(i.high) and i.high < 1 for i in intervals):
        return "true"
    if all(is_finite(i.low) and i.low > 1 for i in intervals):
        return "false"
    return "inconclusive"


def _paired_difference(a: pd.DataFrame, b: pd.DataFrame, column: str) -> stats.Interval:
    """Mean of per-seed differences a − b with a t-interval (common random numbers make seeds pair up)."""
    merged = a[["seed", column]].merge(b[["seed", column]], on="seed", suffixes=("_a", "_b"))
    return stats.t_interval((merged[f"{column}_a"] - merged[f"{column}_b"]).to_numpy(float))


def _difference_verdict(d: stats.Interval) -> str:
    if not (is_finite(d.low) and is_finite(d.high)):
        return "inconclusive"
    return "true" if d.high < 0 else "false" if d.low > 0 else "inconclusive"


def claim_small_data(chosen: pd.DataFrame) -> Claim:
    """ "GRU does better on small datasets": paired GRU − LSTM normalized metric (lower is better) at the
    smallest fixed training set of each task, length and size; the larger sets are listed for the trend."""
    statement = "GRU does better than LSTM on small datasets"
    if chosen.empty or TRAIN_SIZE_COLUMN not in chosen.columns or not (chosen[TRAIN_SIZE_COLUMN] > 0).any():
        return Claim(
            statement,
            "no data",
            "no data: every training run drew fresh data each step (train_size 0); run 'rnnbench train' with "
            "--train-size at two or more sizes to test this.",
        )
    rows = []
    keys = [k for k in setting_keys(chosen) if k != TRAIN_SIZE_COLUMN]
    sized = chosen[chosen[TRAIN_SIZE_COLUMN] > 0]
    for scope, part in _groups(sized, keys):
        details, verdict = [], "no data"
        for size in sorted(part[TRAIN_SIZE_COLUMN].unique()):
            at = part[part[TRAIN_SIZE_COLUMN] == size]
            gru, lstm = at[at["arm"] == "gru"], at[at["arm"] == "lstm"]
            if gru.empty or lstm.empty:
                continue
            d = _paired_difference(gru, lstm, "normalized_metric")
            details.append(f"n={_int(size)}: {d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
            if verdict == "no data":
                verdict = _difference_verdict(d)
        if details:
            rows.append(
                ClaimRow(
                    scope,
                    verdict,
                    "GRU − LSTM normalized metric (per-seed differences, < 0 favours GRU; the smallest "
                    "training set decides): " + "; ".join(details) + ".",
                )
            )
    verdict, text = _overall(rows)
    return Claim(statement, verdict, text, rows)


def success_rates(chosen: pd.DataFrame) -> pd.DataFrame:
    """Success rate per (setting without length, arm, seq_len) with a Wilson interval: memory-horizon data."""
    if chosen.empty:
        return pd.DataFrame()
    keys = [k for k in setting_keys(chosen) if k != "seq_len"]
    g = chosen.groupby([*keys, "arm", "seq_len"], dropna=False).agg(
        solved=("solved", "sum"), seeds=("seed", "size")
    )
    g = g.reset_index()
    intervals = [stats.wilson_interval(int(s), int(n)) for s, n in zip(g["solved"], g["seeds"], strict=True)]
    g["rate"] = [i.estimate for i in intervals]
    g["low"] = [i.low for i in intervals]
    g["high"] = [i.high for i in intervals]
    return g


def _horizon(rates: pd.DataFrame) -> str:
    solved = rates[rates["rate"] >= 0.5]
    return f"T={_int(solved['seq_len'].max())}" if len(solved) else "none"


def claim_memory(chosen: pd.DataFrame) -> Claim:
    """ "LSTM keeps longer memories": success rate against length; an arm is better at a length only when the
    Wilson intervals do not overlap. The horizon is the longest length solved in at least half the seeds."""
    rows = []
    rates = success_rates(chosen)
    if not rates.empty:
        keys = [k for k in setting_keys(chosen) if k != "seq_len"]
        for scope, part in _groups(rates, keys):
            if part["seq_len"].nunique() < 2:
                continue  # one length says nothing about a horizon
            for lstm_arm in ("lstm", "lstm-fb1"):
                lstm, gru = part[part["arm"] == lstm_arm], part[part["arm"] == "gru"]
                both = lstm.merge(gru, on="seq_len", suffixes=("_l", "_g"))
                if both.empty:
                    continue
                lstm_better = bool((both["low_l"] > both["high_g"]).any())
                gru_better = bool((both["low_g"] > both["high_l"]).any())
                verdict = {
                    (True, False): "true",
                    (False, True): "false",
                    (True, True): "mixed",
                    (False, False): "inconclusive",
                }[(lstm_better, gru_better)]
                per_len = "; ".join(
                    f"T={_int(t)}: {int(sl)}/{int(nl)} vs {int(sg)}/{int(ng)}"
                    for t, sl, nl, sg, ng in zip(
                        both["seq_len"],
                        both["solved_l"],
                        both["seeds_l"],
                        both["solved_g"],
                        both["seeds_g"],
                        strict=True,
                    )
                )
                rows.append(
                    ClaimRow(
                        f"{scope} · {lstm_arm} vs gru",
                        verdict,
                        f"horizon (longest T solved by ≥ half the seeds) {lstm_arm} {_horizon(lstm)}, gru "
                        f"{_horizon(gru)}; seeds solved {lstm_arm} vs gru: {per_len}.",
                    )
                )
    verdict, text = _overall(rows)
    return Claim(
        "LSTM keeps longer memories than GRU (memory horizon)",
        verdict,
        text,
        rows,
        note="An arm is better at a length only when the 95% Wilson intervals of the success rates do not "
        "overlap: with 3 seeds per length nothing can decide (3/3 against 0/3 still overlaps); 5/5 against 0/5 "
        "can.",
    )


def claim_forget_bias(chosen: pd.DataFrame) -> Claim:
    """What the forget-gate bias +1 changes: lstm-fb1 against lstm on success, metric and steps."""
    rows = []
    if not chosen.empty:
        for scope, part in _groups(chosen, setting_keys(chosen)):
            fb1, plain = part[part["arm"] == "lstm-fb1"], part[part["arm"] == "lstm"]
            if fb1.empty or plain.empty:
                continue
            d = _paired_difference(fb1, plain, "normalized_metric")
            s = _paired_ratio(fb1, plain, "steps_c")
            wf = stats.wilson_interval(int(fb1["solved"].sum()), len(fb1))
            wp = stats.wilson_interval(int(plain["solved"].sum()), len(plain))
            better = _difference_verdict(d) == "true" or wf.low > wp.high or _interval_verdict([s]) == "true"
            worse = _difference_verdict(d) == "false" or wp.low > wf.high or _interval_verdict([s]) == "false"
            verdict = (
                "mixed" if better and worse else "true" if better else "false" if worse else "inconclusive"
            )
            rows.append(
                ClaimRow(
                    scope,
                    verdict,
                    f"solved lstm-fb1 {int(fb1['solved'].sum())}/{len(fb1)} vs lstm "
                    f"{int(plain['solved'].sum())}/{len(plain)}; normalized metric difference "
                    f"{d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]; "
                    f"steps ratio {s.estimate:.2f} [{s.low:.2f}–{s.high:.2f}].",
                )
            )
    verdict, text = _overall(rows)
    return Claim(
        "Forget-gate bias +1 helps the LSTM (lstm-fb1 vs lstm; Jozefowicz et al. 2015)",
        verdict,
        text,
        rows,
        note="'true' = lstm-fb1 is better on success rate, normalized metric or steps to target with the "
        "interval clear of no effect; 'false' = worse on one of them; 'mixed' = both.",
    )


# ---- the whole report ----------------------------------------------------------------------------------
@dataclass
class Report:
    """Everything the renderers and plots need, computed once."""

    data: ReportData
    cases: pd.DataFrame
    rounds: pd.DataFrame
    ratios: pd.DataFrame
    tables: list[SpeedTable]
    arms: pd.DataFrame
    chosen: pd.DataFrame
    claims: list[Claim]
    title: str = "rnnbench report — LSTM vs GRU vs RNN"

    @property
    def warnings(self) -> list[str]:
        return self.data.warnings

    def sources(self) -> list[str]:
        """One line per run folder: id, kind, hardware and software."""
        lines = []
        for info in sorted(self.data.runs.values(), key=lambda i: (i.started_at, i.run_id)):
            sw = info.software()
            gpus = ", ".join(str(g.get("name")) for g in info.env.get("gpus") or [] if isinstance(g, dict))
            lines.append(
                f"{info.run_id} ({info.kind or '?'}, {info.status or '?'}): {info.env.get('cpu_model', '?')}"
                + (f"; {gpus}" if gpus else "")
                + f"; torch {sw['torch']}, CUDA {sw['cuda']}, cuDNN {sw['cudnn']}, oneDNN {sw['onednn']}"
            )
        return lines


def build_report(data: ReportData) -> Report:
    """Aggregate, pair and test the claims."""
    cases, rounds = aggregate_cases(data.summary)
    ratios = pair_ratios(cases, rounds, data.sample_files)
    tables = speed_tables(cases, ratios)
    arms = train_arms(data.train)
    chosen = chosen_rows(data.train, arms)
    claims = [
        claim_parameters(cases, data.train),
        claim_speed(ratios),
        claim_target(chosen),
        claim_small_data(chosen),
        claim_memory(chosen),
        claim_forget_bias(chosen),
    ]
    return Report(data, cases, rounds, ratios, tables, arms, chosen, claims)


def make_report(paths: Sequence[Path | str]) -> Report:
    """Load and build in one call (what the CLI uses)."""
    return build_report(load_report_data(paths))


def default_out_dir(paths: Sequence[Path | str]) -> Path:
    """Where ``--out`` defaults to: ``report/`` inside the folder that holds all the inputs — ``results/report``
    for ``results/``, ``results/<id>/report`` for one run folder, the common parent folder for several inputs
    (a CSV file counts as its folder)."""
    folders = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in paths]
    if not folders:
        return Path("report")
    common = Path(_commonpath(folders))
    return common / "report"


def _commonpath(folders: Sequence[Path]) -> str:
    import os

    try:
        return os.path.commonpath([str(f) for f in folders])
    except ValueError:  # different drives
        return str(folders[0])


def is_finite(value: Any) -> bool:
    """True for a real, finite number (pandas gives NaN for empty cells)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
