"""Speed aggregation: rounds into cases, GRU/LSTM pairing with intervals, speed tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from rnnbench.analyse import stats
from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import ARCHS, CASE_KEYS, IMPLS, MODES, PAIR_KEYS, SHAPE_COLUMNS
from rnnbench.results.loader import load_tables


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
    samples = load_tables(files, "samples")[["run_id", "case_id", "round", "seconds"]]
    samples = samples.merge(wanted, on=["run_id", "case_id", "round"])
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
    """One (mode, platform, device, dtype) group: the numbers of all its cases (``data``, one ``shape`` label
    per row); ``present.display`` turns it into a title and displayed strings."""

    key: tuple[str, str, str, str]
    data: pd.DataFrame
    constant: tuple[str, ...] = ()
    """Shape fields with one value over the whole table: named in the title, left out of each row's label."""


def shape_labels(frame: pd.DataFrame, skip: Sequence[str] = ()) -> pd.Series:
    """``core.labels.shape_label`` per row, computed once per distinct shape (a 100,000-row report has a few
    hundred), so tables and figures spell shapes exactly as progress lines and verdicts do."""
    columns = [c for c in SHAPE_COLUMNS if c in frame.columns]
    if frame.empty:
        return pd.Series("", index=frame.index, dtype=object)
    group = frame.groupby(columns, sort=False, dropna=False).ngroup()
    firsts = frame.loc[~group.duplicated(), columns]
    labels = {
        int(g): shape_label({str(k): v for k, v in row.items()}, skip)
        for g, row in zip(group[firsts.index], firsts.to_dict("records"), strict=True)
    }
    return group.map(labels).astype(object)


def order_rank(values: pd.Series, order: Sequence[str]) -> pd.Series:
    """Each value's position in ``order`` (a ``core.vocab`` tuple), unknown values last: a sort key that keeps
    tables in the vocabulary's display order rather than alphabetical."""
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
    frame["_arch"] = order_rank(frame["arch"], ARCHS)
    frame["_impl"] = order_rank(frame["impl"], IMPLS)
    frame["_mode"] = order_rank(frame["mode"], MODES)
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
