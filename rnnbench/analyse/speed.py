"""Speed aggregation: rounds into cases, GRU/LSTM pairing with intervals and verdicts, speed tables.

One rule decides every GRU vs LSTM speed verdict the tool prints (``run``'s verdict lines, the report's tables,
figures and claims): :func:`ratio_verdict` on the interval :func:`pair_ratios` computes, whose method depends
on how much replication there is (see ``pair_ratios``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import ARCHS, CASE_KEYS, IMPLS, MIN_EFFECT, MODES, PAIR_KEYS, SHAPE_COLUMNS
from rnnbench.results.loader import load_tables
from rnnbench.stats import intervals


# ---- speed ---------------------------------------------------------------------------------------------
def _order_statistic_index(n: int) -> tuple[int, int]:
    """Positions (0-based, in sorted order) of ``intervals.median_ci``'s bounds for ``n`` values: the same
    interval, computed once per n instead of once per case."""
    ci = intervals.median_ci(np.arange(n, dtype=float))
    return int(ci.low), int(ci.high)


def aggregate_cases(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per case (over rounds and runs) and the ok rows with their case id (``gid``) and rank.

    Time is the median of round medians; its interval is the row's own (within-round, order-statistic)
    interval with one round, and ``intervals.median_ci`` over the round medians with several (the full range
    below six rounds). ``ci_level`` is that interval's exact coverage (``intervals.median_ci_level`` of the
    samples or rounds it rests on): 93.75% for a range of five, 75% for three — displays print it when it is
    below 95%. Rates, efficiency and memory are medians over rounds.
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
        first_n_samples=("n_samples", "first"),
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
    basis = agg["rounds"].where(agg["rounds"] >= 2, agg["first_n_samples"]).fillna(0).astype(int)
    agg["ci_level"] = basis.map(lambda n: intervals.median_ci_level(int(n)))
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
    cases = agg.drop(columns=["first_ci_low_s", "first_ci_high_s", "first_n_samples"]).reset_index()
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


# ---- the GRU/LSTM verdict -------------------------------------------------------------------------------
GRU_FASTER = "GRU faster"
LSTM_FASTER = "LSTM faster"
NO_DIFFERENCE = "no difference"
INCONCLUSIVE = "inconclusive"
NO_INTERVAL = "no interval"
ONE_PROCESS = " in one process"
"""Suffix of a verdict from one round's samples: true of that process, silent about the next one."""

REPLICATED_METHODS: tuple[str, ...] = ("rounds", "t-rounds")
"""Interval methods over fresh processes (the replication unit): only these may decide a claim."""

METHOD_TEXT: dict[str, str] = {
    "rounds": "95% bootstrap over round medians",
    "t-rounds": "95% t-interval over log round medians (fewer than 5 rounds per side)",
    "samples": "one round's samples: ignores between-process noise",
    "point": "no interval",
}
"""How each ``method`` of :func:`pair_ratios` is named wherever it is printed."""


def ratio_verdict(estimate: float, low: float, high: float, method: str = "rounds") -> str:
    """The one GRU/LSTM speed verdict rule (``ratio`` = time(GRU)/time(LSTM); ``m`` = ``MIN_EFFECT``, 5%):

    1. no finite interval → ``no interval``;
    2. the practical band first: an interval wholly inside ``[1 − m, 1 + m]`` → ``no difference`` (a 2% gap
       measured to ±0.5% is real but not worth a choice);
    3. ``GRU faster`` when the whole interval is below 1 *and* the estimate is beyond the band (< 1 − m);
       ``LSTM faster`` mirrored — the regression gate's rule;
    4. anything else → ``inconclusive`` (the interval holds 1, or excludes 1 but reaches into the band).

    Verdicts from ``samples`` (one round) carry :data:`ONE_PROCESS`: that interval ignores between-process
    noise, so it says what one process saw, never what the next run will see.
    """
    return str(ratio_verdicts([estimate], [low], [high], [method])[0])


def ratio_verdicts(estimate: ArrayLike, low: ArrayLike, high: ArrayLike, method: ArrayLike) -> np.ndarray:
    """:func:`ratio_verdict` over arrays (one element per pair): the rule itself, vectorised so a report
    over 100,000 rows words every pair without a Python loop."""
    est, lo, hi = (np.asarray(v, dtype=float) for v in (estimate, low, high))
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
        same = (lo >= 1 - MIN_EFFECT) & (hi <= 1 + MIN_EFFECT)
        gru = (hi < 1) & (est < 1 - MIN_EFFECT)
        lstm = (lo > 1) & (est > 1 + MIN_EFFECT)
    verdict = np.select(
        [~finite, same, gru, lstm], [NO_INTERVAL, NO_DIFFERENCE, GRU_FASTER, LSTM_FASTER], INCONCLUSIVE
    ).astype(object)
    decided = finite & (same | gru | lstm) & (np.asarray(method, dtype=object) == "samples")
    verdict[decided] = verdict[decided] + ONE_PROCESS
    return verdict


def ratio_over_rounds(
    numerators: np.ndarray, denominators: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The ratio interval over round medians for many pairs with the same round counts (one row per pair,
    ≥ 2 rounds per side): ``(estimate, low, high, method)``.

    From ``intervals.MIN_BOOTSTRAP_ROUNDS`` rounds per side the percentile bootstrap (``rounds``: ratio of
    medians); below, the conservative log-ratio t-interval (``t-rounds``: ratio of geometric means), because
    the bootstrap's "95%" covers 67% at 2 rounds. The choice ``pair_ratios`` makes, and the one
    ``benchmarks/coverage.py`` and ``tests/test_coverage.py`` simulate."""
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if min(num.shape[1], den.shape[1]) >= intervals.MIN_BOOTSTRAP_ROUNDS:
        return (*intervals.bootstrap_ratio_ci_batch(num, den), "rounds")
    return (*intervals.log_ratio_t_interval_batch(num, den), "t-rounds")


def fill_round_ratios(
    pairs: pd.DataFrame, ok: pd.DataFrame, counts: tuple[str, str], gids: tuple[str, str]
) -> pd.Series:
    """In place, for each row of ``pairs`` whose two sides (case ids in the ``gids`` columns, round counts in
    ``counts``) both have ≥ 2 rounds: ``ratio``, ``ratio_low``, ``ratio_high`` and ``method`` from
    :func:`ratio_over_rounds` over the round medians in ``ok`` (:func:`aggregate_cases`' second frame), rows
    batched by their round counts. Returns which rows were filled. The GRU/LSTM pairing and the crossover
    (``analyse.crossover``) both compute their intervals here."""
    matrix = ok.pivot(index="gid", columns="rank", values="median_s") if len(ok) else pd.DataFrame()
    replicated = (pairs[counts[0]] >= 2) & (pairs[counts[1]] >= 2)
    groups: dict[Any, Any] = dict(pairs.loc[replicated].groupby(list(counts)).groups)
    for (n_num, n_den), idx in groups.items():
        sub = pairs.loc[idx]
        num = np.asarray(matrix.loc[sub[gids[0]]].to_numpy())[:, : int(n_num)]
        den = np.asarray(matrix.loc[sub[gids[1]]].to_numpy())[:, : int(n_den)]
        est, low, high, method = ratio_over_rounds(num, den)
        pairs.loc[idx, ["ratio", "ratio_low", "ratio_high"]] = np.column_stack([est, low, high])
        pairs.loc[idx, "method"] = method
    return replicated


def pair_ratios(cases: pd.DataFrame, ok: pd.DataFrame, sample_files: Sequence[Path] = ()) -> pd.DataFrame:
    """GRU/LSTM time ratio per shape (and impl) with a 95% interval, the method it came from and the verdict
    (:func:`ratio_verdict`). Methods, by the replication each side has:

    - ``rounds`` — both sides ≥ ``intervals.MIN_BOOTSTRAP_ROUNDS`` (5) rounds: ratio of the medians of round
      medians, percentile bootstrap over round medians (fresh processes, the replication unit);
    - ``t-rounds`` — both sides ≥ 2 rounds but fewer than 5 on one: ratio of geometric means of round medians
      with ``intervals.log_ratio_t_interval`` (the bootstrap covers only 67–92% there; this keeps 95%);
    - ``samples`` — one round: the bootstrap over that round's samples, which ignores between-process noise
      (its verdicts say "in one process");
    - ``point`` — no interval possible.
    """
    columns = [*PAIR_KEYS, "ratio", "ratio_low", "ratio_high", "method", "verdict", "n_gru", "n_lstm",
               "params_ratio"]  # fmt: skip
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

    by_rounds = fill_round_ratios(pairs, ok, ("rounds_gru", "rounds_lstm"), ("gid_gru", "gid_lstm"))

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
                est, low, high = intervals.bootstrap_ratio_ci_batch(num, den)
                pairs.loc[idx, ["ratio", "ratio_low", "ratio_high"]] = np.column_stack([est, low, high])
                pairs.loc[idx, "method"] = "samples"
                pairs.loc[idx, "n_gru"] = na
                pairs.loc[idx, "n_lstm"] = nb
    pairs["verdict"] = ratio_verdicts(pairs["ratio"], pairs["ratio_low"], pairs["ratio_high"], pairs["method"])
    return pairs[columns].reset_index(drop=True)


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
    """Cases with the GRU row's ratio, interval, method and verdict attached, split per (mode, platform,
    device, dtype), sorted by shape."""
    if cases.empty:
        return []
    frame = cases.copy()
    if len(ratios):
        r = ratios[[*PAIR_KEYS, "ratio", "ratio_low", "ratio_high", "method", "verdict"]].assign(arch="gru")
        frame = frame.merge(r, on=[*PAIR_KEYS, "arch"], how="left")
    else:
        frame = frame.assign(ratio=np.nan, ratio_low=np.nan, ratio_high=np.nan, method="", verdict="")
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
