"""Training aggregation: arms over seeds, learning-rate choice, settings."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.analyse.speed import _order
from rnnbench.analyse.stats import Interval, t_interval, wilson_interval
from rnnbench.core.values import int_text, is_finite, truthy
from rnnbench.core.vocab import ARMS, SOLVED_MAJORITY
from rnnbench.results.schema import TRAIN_SIZE_COLUMN

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
    agg["_arm"] = _order(agg["arm"], ARMS)
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
        parts.append(f"T={int_text(named['seq_len'])}")
    if "budget" in named and is_finite(named["budget"]) and float(named["budget"] or 0) > 0:
        parts.append(("H=" if named.get("match") == "hidden" else "P=") + int_text(named["budget"]))
    size = named.get(TRAIN_SIZE_COLUMN)
    if is_finite(size) and float(size or 0) > 0:
        parts.append(f"n={int_text(size)}")
    return " ".join(parts)


# ---- summaries -------------------------------------------------------------------------------------------
GroupKey = tuple[str, int, str, int]
"""(task, seq_len, match, budget): the rows of one comparison."""


def _num(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def select_lrs(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int, str, int, str], float]:
    """Per (task, seq_len, match, budget, arm): the learning rate with the lowest median ``val_metric`` over
    seeds (NaN — diverged or failed — counts as worst; ties go to the smaller rate). With one rate, that one.
    """
    by: dict[tuple[str, int, str, int, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        key = (str(r["task"]), int(r["seq_len"]), str(r["match"]), int(r["budget"]), str(r["arm"]))
        value = _num(r.get("val_metric"))
        by[key][_num(r["lr"])].append(value if math.isfinite(value) else math.inf)
    chosen = {}
    for key, per_lr in by.items():
        if len(per_lr) == 1:
            chosen[key] = next(iter(per_lr))
            continue
        chosen[key] = min(per_lr, key=lambda lr: (statistics.median(per_lr[lr]), lr))
    return chosen


def _lr_table(chosen: Mapping[tuple[str, int, str, int, str], float]) -> list[dict[str, Any]]:
    return [
        {"task": t, "seq_len": n, "match": m, "budget": b, "arm": a, "lr": lr}
        for (t, n, m, b, a), lr in sorted(chosen.items())
    ]


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
class TrainReport:
    arms: list[ArmSummary]
    pairs: list[PairedDifference]
    horizons: list[Horizon]
    selected_lr: dict[tuple[str, int, str, int, str], float]
    swept: bool


PAIRS: tuple[tuple[str, str], ...] = (
    ("lstm", "gru"),
    ("lstm-fb1", "gru"),
    ("lstm", "lstm-fb1"),
    ("gru", "rnn"),
)
"""Paired differences shown, as (a, b) → b − a: GRU − LSTM first, the question users ask."""


def summarize(rows: Sequence[Mapping[str, Any]]) -> TrainReport:
    """Per-arm intervals, paired differences and memory horizons from summary rows (strings or values),
    using only each arm's selected learning rate. Failed rows count as unsolved; diverged rows too, and they
    have no metric, so means are over the seeds that finished."""
    chosen = select_lrs(rows)
    swept = len({_num(r["lr"]) for r in rows}) > 1
    picked = [
        r
        for r in rows
        if chosen.get((str(r["task"]), int(r["seq_len"]), str(r["match"]), int(r["budget"]), str(r["arm"])))
        == _num(r["lr"])
    ]
    groups: dict[tuple[GroupKey, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in picked:
        groups[((str(r["task"]), int(r["seq_len"]), str(r["match"]), int(r["budget"])), str(r["arm"]))].append(
            r
        )
    arms: list[ArmSummary] = []
    for (gk, arm), rs in groups.items():
        metrics = [_num(r["final_metric"]) for r in rs]
        finite = [m for m in metrics if math.isfinite(m)]
        successes = sum(truthy(r["solved"]) for r in rs)
        steps_t = [_num(r["steps_to_target"]) for r in rs if math.isfinite(_num(r["steps_to_target"]))]
        sps = [_num(r.get("seconds_per_step")) for r in rs if math.isfinite(_num(r.get("seconds_per_step")))]
        scores = [_num(r.get("score")) for r in rs if math.isfinite(_num(r.get("score")))]
        first = rs[0]
        arms.append(
            ArmSummary(
                task=gk[0],
                seq_len=gk[1],
                match=gk[2],
                budget=gk[3],
                arm=arm,
                hidden_size=int(first["hidden_size"]),
                params=int(_num(first["params"])),
                lr=_num(first["lr"]),
                metric_name=str(first.get("metric") or "metric"),
                baseline=_num(first["baseline_metric"]),
                n=len(rs),
                mean=t_interval(finite),
                median=statistics.median(finite) if finite else math.nan,
                successes=successes,
                success=wilson_interval(successes, len(rs)),
                diverged=sum(truthy(r["diverged"]) for r in rs),
                failed=sum(str(r["status"]) not in ("ok", "diverged") for r in rs),
                median_steps_to_target=statistics.median(steps_t) if steps_t else math.nan,
                seconds_per_step=statistics.median(sps) if sps else math.nan,
                score_name=str(first.get("score_name") or ""),
                mean_score=statistics.fmean(scores) if scores else math.nan,
            )
        )
    order = {a: i for i, a in enumerate(ARMS)}
    arms.sort(key=lambda s: (s.task, s.seq_len, s.match, s.budget, order.get(s.arm, 99)))
    pairs: list[PairedDifference] = []
    keys = sorted({gk for gk, _ in groups})
    for gk in keys:
        for a, b in PAIRS:
            if (gk, a) not in groups or (gk, b) not in groups:
                continue
            by_seed_a = {int(r["seed"]): r for r in groups[(gk, a)]}
            by_seed_b = {int(r["seed"]): r for r in groups[(gk, b)]}
            seeds = sorted(set(by_seed_a) & set(by_seed_b))
            diffs = [_num(by_seed_b[s]["final_metric"]) - _num(by_seed_a[s]["final_metric"]) for s in seeds]
            finite = [d for d in diffs if math.isfinite(d)]
            solved_diff = sum(truthy(by_seed_b[s]["solved"]) for s in seeds) - sum(
                truthy(by_seed_a[s]["solved"]) for s in seeds
            )
            pairs.append(
                PairedDifference(
                    gk[0],
                    gk[1],
                    gk[2],
                    gk[3],
                    a,
                    b,
                    str(groups[(gk, a)][0].get("metric") or "metric"),
                    len(finite),
                    t_interval(finite),
                    solved_diff,
                )
            )
    horizons: list[Horizon] = []
    by_size: dict[tuple[str, str, int, str], list[ArmSummary]] = defaultdict(list)
    for s in arms:
        by_size[(s.task, s.match, s.budget, s.arm)].append(s)
    for (task, match, budget, arm), ss in by_size.items():
        ss.sort(key=lambda s: s.seq_len)
        rates = tuple((s.seq_len, s.successes, s.n, s.success) for s in ss)
        solved_lens = [s.seq_len for s in ss if s.n and s.successes / s.n >= SOLVED_MAJORITY]
        horizons.append(Horizon(task, match, budget, arm, rates, max(solved_lens) if solved_lens else None))
    return TrainReport(arms, pairs, horizons, chosen, swept)
