"""The one training summariser: runs aggregated over seeds, each arm's learning rate, memory horizons, paired
differences. ``rnnbench train`` prints its end-of-run tables through ``summarize`` and ``rnnbench report``
builds its training table and claims from ``train_arms``/``chosen_rows``: one rule for each question.

- **Seeds.** A run that finished (``ok`` or ``diverged``) is a seed: a diverged seed counts as unsolved and has
  no metric. A run that failed (an error, an unsupported setting) says nothing about the cell; it is counted
  in ``failed`` and left out of every statistic.
- **Learning rate.** Per setting and arm, the rate with the lowest median validation metric over its runs;
  a diverged or failed run counts as the worst value, ties go to the smaller rate (metadata.json's
  ``protocol.lr_selection`` says the same).
- **Memory horizon.** The longest length solved by at least ``core.vocab.SOLVED_MAJORITY`` of the seeds.

Values only (frames and dataclasses): the words and tables are ``present.training``'s and
``present.display``'s. Vectorised pandas, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from rnnbench.analyse.speed import order_rank
from rnnbench.analyse.stats import Interval, t_interval, wilson_interval
from rnnbench.core.values import int_text, is_finite
from rnnbench.core.vocab import ARMS, SOLVED_MAJORITY
from rnnbench.results.schema import TRAIN_SIZE_COLUMN

# ---- settings ------------------------------------------------------------------------------------------
SETTING_COLUMNS: tuple[str, ...] = ("task", "seq_len", "match", "budget", TRAIN_SIZE_COLUMN)
"""A training "setting": a task at one length, one size (parameter budget or hidden size, per ``match``) and
one training-set size (0 = fresh data every step). Arms are compared within a setting."""

FINISHED: tuple[str, ...] = ("ok", "diverged")
"""Statuses of a run that is a seed; any other status (``error``, ``unsupported``) is a failed run."""

_NUMERIC: tuple[str, ...] = (
    "seed", "seq_len", "hidden_size", "params", "lr", "steps", "train_seconds", "final_metric",
    "baseline_metric", "normalized_metric", "steps_to_target", "seconds_to_target", "val_metric",
    "seconds_per_step", "score",
)  # fmt: skip
"""Columns the summary computes with. The loader types them; here they are only coerced (an empty cell, a
column an older table lacks), so rows built by hand summarise like loaded ones."""


def setting_keys(train: pd.DataFrame) -> list[str]:
    """The setting columns present in ``train`` (all of them in schema 1)."""
    return [c for c in SETTING_COLUMNS if c in train.columns]


def setting_label(keys: Sequence[str], values: Sequence[Any]) -> str:
    """``adding T=100 P=17473`` (parameter budget) or ``H=64`` (hidden match), ``n=200`` for a fixed
    training set."""
    named = dict(zip(keys, values, strict=True))
    parts = [str(named.get("task", ""))]
    if "seq_len" in named:
        parts.append(f"T={int_text(named['seq_len'])}")
    if "budget" in named and is_finite(named["budget"]) and float(named["budget"] or 0) > 0:
        parts.append(("H=" if named.get("match") == "hidden" else "P=") + int_text(named["budget"]))
    size = named.get(TRAIN_SIZE_COLUMN)
    if is_finite(size) and float(size or 0) > 0:
        parts.append(f"n={int_text(size)}")
    return " ".join(parts)


# ---- runs over seeds -----------------------------------------------------------------------------------
def _prepare(train: pd.DataFrame) -> pd.DataFrame:
    """Every run with the derived columns the summary needs: ``finished``, ``solved`` (and not diverged),
    censored steps/seconds, the learning-rate selector. A failed run keeps its row (it is counted and takes
    part in the learning-rate choice as the worst value) but has no metric, steps or seconds."""
    frame = train.copy()
    for col in _NUMERIC:
        frame[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame.columns else np.nan
    for col in ("budget", TRAIN_SIZE_COLUMN):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").fillna(0).astype(np.int64)
    if "match" in frame.columns:
        frame["match"] = frame["match"].fillna("").astype(str)
    frame["finished"] = frame["status"].isin(FINISHED)
    frame["failed_run"] = ~frame["finished"]
    outcome = ["final_metric", "normalized_metric", "steps_to_target", "seconds_to_target", "steps"]
    outcome += ["train_seconds", "seconds_per_step", "score"]
    if frame["failed_run"].any():
        frame[outcome] = frame[outcome].astype(float).where(frame["finished"], axis=0)
    frame["solved"] = frame["solved"].astype(bool) & ~frame["diverged"].astype(bool) & frame["finished"]
    frame["diverged"] = frame["diverged"].astype(bool) & frame["finished"]
    frame["finished_seed"] = frame["seed"].where(frame["finished"])
    # Unsolved seeds are censored at the budget: "took at least all the steps/seconds it had".
    frame["steps_c"] = frame["steps_to_target"].where(frame["solved"], frame["steps"])
    frame["seconds_c"] = frame["seconds_to_target"].where(frame["solved"], frame["train_seconds"])
    selector = frame["val_metric"]
    if selector.isna().all():
        selector = frame["normalized_metric"]
    frame["_select"] = selector.where(frame["finished"]).fillna(np.inf)
    return frame


def _t_columns(agg: pd.DataFrame, prefix: str) -> None:
    """``<prefix>_low``/``_high``: the 95% t-interval of ``<prefix>_mean`` over ``<prefix>_n`` seeds (none
    below two), as ``stats.t_interval`` computes it, for every row at once."""
    from scipy.stats import t as student_t

    n = agg[f"{prefix}_n"]
    half = student_t.ppf(0.975, (n - 1).clip(lower=1)) * agg[f"{prefix}_sd"] / np.sqrt(n.clip(lower=1))
    agg[f"{prefix}_low"] = (agg[f"{prefix}_mean"] - half).where(n > 1)
    agg[f"{prefix}_high"] = (agg[f"{prefix}_mean"] + half).where(n > 1)


def train_arms(train: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, arm, hidden size, learning rate) over seeds — the one aggregation over seeds;
    ``chosen`` marks the learning rate used in comparisons (the rule in the module docstring), so each arm gets
    its own tuned rate. ``seeds`` counts the runs that finished, ``failed`` the others."""
    if train.empty:
        return pd.DataFrame()
    frame = _prepare(train)
    keys = setting_keys(frame)
    group = [*keys, "arm", "hidden_size", "lr"]
    text = {c: (c, "first") for c in ("metric", "score_name") if c in frame.columns}
    agg = frame.groupby(group, dropna=False).agg(
        seeds=("finished_seed", "nunique"),
        failed=("failed_run", "sum"),
        params=("params", "median"),
        solved=("solved", "sum"),
        diverged=("diverged", "sum"),
        final_metric=("final_metric", "median"),
        final_mean=("final_metric", "mean"),
        final_sd=("final_metric", "std"),
        final_n=("final_metric", "count"),
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
        seconds_per_step=("seconds_per_step", "median"),
        score=("score", "mean"),
        **text,
    )
    agg = agg.reset_index()
    if "metric" not in agg.columns:
        agg["metric"] = agg["task"]
    for prefix in ("normalized", "final"):
        _t_columns(agg, prefix)
    best = agg.sort_values([*keys, "arm", "select", "lr"]).groupby([*keys, "arm"], dropna=False).head(1)
    agg["chosen"] = agg.index.isin(best.index)
    agg["_arm"] = order_rank(agg["arm"], ARMS)
    agg = agg.sort_values([*keys, "_arm", "hidden_size", "lr"]).drop(columns="_arm").reset_index(drop=True)
    return agg


def chosen_rows(train: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """Per-seed rows (finished runs) of the chosen learning rate of every (setting, arm)."""
    if arms.empty:
        return pd.DataFrame()
    frame = _prepare(train)
    frame = frame[frame["finished"]]
    keys = setting_keys(frame)
    chosen = arms.loc[arms["chosen"], [*keys, "arm", "hidden_size", "lr"]]
    return frame.merge(chosen, on=[*keys, "arm", "hidden_size", "lr"])


# ---- seeds paired, success against length --------------------------------------------------------------
def seed_differences(a: pd.DataFrame, b: pd.DataFrame, column: str) -> np.ndarray:
    """``a − b`` of ``column``, seed by seed, over the seeds both have: common random numbers give every arm
    the same data stream for a seed, so the difference removes the stream's luck."""
    merged = a[["seed", column]].merge(b[["seed", column]], on="seed", suffixes=("_a", "_b"))
    return (merged[f"{column}_a"].astype(float) - merged[f"{column}_b"].astype(float)).to_numpy(float)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, column: str) -> Interval:
    """Mean of the per-seed differences ``a − b`` with a t-interval (non-finite differences left out)."""
    return t_interval(seed_differences(a, b, column))


def success_rates(chosen: pd.DataFrame) -> pd.DataFrame:
    """Success rate per (setting without length, arm, seq_len) with a Wilson interval: memory-horizon data."""
    if chosen.empty:
        return pd.DataFrame()
    keys = [k for k in setting_keys(chosen) if k != "seq_len"]
    g = chosen.groupby([*keys, "arm", "seq_len"], dropna=False).agg(
        solved=("solved", "sum"), seeds=("seed", "size")
    )
    g = g.reset_index()
    intervals = [wilson_interval(int(s), int(n)) for s, n in zip(g["solved"], g["seeds"], strict=True)]
    g["rate"] = [i.estimate for i in intervals]
    g["low"] = [i.low for i in intervals]
    g["high"] = [i.high for i in intervals]
    return g


def largest_solved(rates: pd.DataFrame) -> int | None:
    """The memory horizon of one arm's ``success_rates`` rows: the longest length solved by at least
    ``SOLVED_MAJORITY`` of the seeds; None when no length is."""
    solved = rates[rates["rate"] >= SOLVED_MAJORITY]
    return int(solved["seq_len"].max()) if len(solved) else None


# ---- the summary of one training run -------------------------------------------------------------------
LrKey = tuple[str, int, str, int, str]
"""(task, seq_len, match, budget, arm): where one learning rate is chosen within a training run."""


@dataclass(frozen=True)
class ArmSummary:
    """One arm at one (task, length, size) with its chosen learning rate, over seeds."""

    task: str
    seq_len: int
    match: str
    budget: int
    arm: str
    hidden_size: int
    params: int
    lr: float
    metric_name: str
    baseline: float
    n: int
    """Seeds: the runs that finished (``failed`` ones are not counted)."""
    mean: Interval
    median: float
    successes: int
    success: Interval
    diverged: int
    failed: int
    median_steps_to_target: float
    seconds_per_step: float
    score_name: str
    mean_score: float


@dataclass(frozen=True)
class PairedDifference:
    """``b − a`` of the final metric, seed by seed (same data stream), with a t-interval over seeds."""

    task: str
    seq_len: int
    match: str
    budget: int
    a: str
    b: str
    metric_name: str
    n: int
    diff: Interval
    success_diff: int
    """Seeds solved by b minus seeds solved by a."""


@dataclass(frozen=True)
class Horizon:
    """Memory horizon of one arm: success per length and the largest length solved by ≥ half the seeds."""

    task: str
    match: str
    budget: int
    arm: str
    rates: tuple[tuple[int, int, int, Interval], ...]
    """``(seq_len, successes, seeds, Wilson interval)`` in increasing length."""
    largest_solved: int | None


@dataclass(frozen=True)
class TrainSummary:
    """What ``rnnbench train`` shows at the end of a run, from the same aggregation as the report."""

    arms: list[ArmSummary]
    pairs: list[PairedDifference]
    horizons: list[Horizon]
    selected_lr: dict[LrKey, float]
    swept: bool

    def lr_table(self) -> list[dict[str, Any]]:
        """``selected_lr`` as metadata.json stores it: one record per (task, length, size, arm), sorted."""
        return [
            {"task": t, "seq_len": n, "match": m, "budget": b, "arm": a, "lr": lr}
            for (t, n, m, b, a), lr in sorted(self.selected_lr.items())
        ]


PAIRS: tuple[tuple[str, str], ...] = (
    ("lstm", "gru"),
    ("lstm-fb1", "gru"),
    ("lstm", "lstm-fb1"),
    ("gru", "rnn"),
)
"""Paired differences shown, as (a, b) → b − a: GRU − LSTM first, the question users ask."""


def _float(value: Any) -> float:
    return float(value) if is_finite(value) else math.nan


def _text(value: Any, default: str) -> str:
    """A text cell; an empty one reads back as NaN."""
    return value if isinstance(value, str) and value else default


def _arm_summary(r: dict[str, Any]) -> ArmSummary:
    n = int(r["seeds"])
    return ArmSummary(
        task=str(r["task"]),
        seq_len=int(r["seq_len"]),
        match=str(r.get("match", "")),
        budget=int(r.get("budget", 0)),
        arm=str(r["arm"]),
        hidden_size=int(r["hidden_size"]),
        params=int(r["params"]) if is_finite(r["params"]) else 0,
        lr=_float(r["lr"]),
        metric_name=_text(r.get("metric"), "metric"),
        baseline=_float(r["baseline_metric"]),
        n=n,
        mean=Interval(_float(r["final_mean"]), _float(r["final_low"]), _float(r["final_high"])),
        median=_float(r["final_metric"]),
        successes=int(r["solved"]),
        success=wilson_interval(int(r["solved"]), n),
        diverged=int(r["diverged"]),
        failed=int(r["failed"]),
        median_steps_to_target=_float(r["steps_to_target"]),
        seconds_per_step=_float(r["seconds_per_step"]),
        score_name=_text(r.get("score_name"), ""),
        mean_score=_float(r["score"]),
    )


def _pairs(chosen: pd.DataFrame) -> list[PairedDifference]:
    if chosen.empty:
        return []
    out: list[PairedDifference] = []
    keys = setting_keys(chosen)
    for key, part in chosen.groupby(keys, sort=True, dropna=False):
        named: dict[str, Any] = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        for a, b in PAIRS:
            rows_a, rows_b = part[part["arm"] == a], part[part["arm"] == b]
            if rows_a.empty or rows_b.empty:
                continue
            diffs = seed_differences(rows_b, rows_a, "final_metric")
            out.append(
                PairedDifference(
                    str(named["task"]),
                    int(named["seq_len"]),
                    str(named.get("match", "")),
                    int(named.get("budget", 0)),
                    a,
                    b,
                    _text(rows_a["metric"].iloc[0] if "metric" in rows_a else None, "metric"),
                    int(np.isfinite(diffs).sum()),
                    t_interval(diffs),
                    int(seed_differences(rows_b, rows_a, "solved").sum()),
                )
            )
    return out


def _horizons(chosen: pd.DataFrame) -> list[Horizon]:
    rates = success_rates(chosen)
    if rates.empty:
        return []
    keys = [k for k in setting_keys(chosen) if k != "seq_len"]
    out: list[tuple[tuple[Any, ...], Horizon]] = []
    for key, part in rates.groupby([*keys, "arm"], sort=True, dropna=False):
        named: dict[str, Any] = dict(zip([*keys, "arm"], key, strict=True))
        part = part.sort_values("seq_len")
        rates_by_len = tuple(
            (int(t), int(s), int(n), Interval(rate, low, high))
            for t, s, n, rate, low, high in zip(
                part["seq_len"],
                part["solved"],
                part["seeds"],
                part["rate"],
                part["low"],
                part["high"],
                strict=True,
            )
        )
        horizon = Horizon(
            str(named["task"]),
            str(named.get("match", "")),
            int(named.get("budget", 0)),
            str(named["arm"]),
            rates_by_len,
            largest_solved(part),
        )
        rank = ARMS.index(horizon.arm) if horizon.arm in ARMS else len(ARMS)
        out.append(((horizon.task, rates_by_len[0][0], horizon.match, horizon.budget, rank), horizon))
    return [h for _, h in sorted(out, key=lambda kv: kv[0])]


def summarize(train: pd.DataFrame) -> TrainSummary:
    """The summary of one training run (``train_summary.csv`` as the loader types it): per arm its chosen
    learning rate's intervals over seeds, the paired differences and — across lengths — memory horizons."""
    arms = train_arms(train)
    chosen = chosen_rows(train, arms)
    picked = arms[arms["chosen"]] if not arms.empty else arms
    summaries = [_arm_summary(r) for r in cast(list[dict[str, Any]], picked.to_dict("records"))]
    selected = {(s.task, s.seq_len, s.match, s.budget, s.arm): s.lr for s in summaries}
    swept = bool(len(train)) and pd.to_numeric(train["lr"], errors="coerce").nunique() > 1
    return TrainSummary(summaries, _pairs(chosen), _horizons(chosen), selected, swept)
