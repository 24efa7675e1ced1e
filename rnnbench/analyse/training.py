"""The one training summariser: runs aggregated over seeds, each arm's learning rate, memory horizons, paired
comparisons. ``rnnbench train`` prints its end-of-run tables through ``summarize`` and ``rnnbench report``
builds its training table and claims from ``train_arms``/``chosen_rows``/``compare_seeds``: one rule for each
question.

- **Seeds.** A run that finished (``ok`` or ``diverged``) is a seed. A run that failed (an error, an
  unsupported setting) says nothing about the cell; it is counted in ``failed`` and left out of every statistic.
- **Diverged and unsolved seeds.** A diverged seed is unsolved, never reached the target and has the worst
  metric (``+inf`` in the ``*_w`` columns and every median and paired comparison; a mean and its t-interval
  cannot hold an infinite value, so they are over the other seeds and say how many diverged). A seed that did
  not reach the target — unsolved or diverged — took ``+inf`` steps and seconds: later than every seed that
  did. It is *not* censored at the steps it ran (a run that diverges at step 40 is not fast), and not at the
  configured budget either: ``train_summary.csv`` does not record the step budget, and any finite stand-in
  would invent a time the seed never reached.
- **Learning rate.** Per setting and arm with several rates, the rate with the lowest median validation
  metric over its runs; a diverged or failed run counts as the worst value, ties go to the smaller rate
  (metadata.json's ``protocol.lr_selection`` says the same). Without a validation metric for every run that
  trained, no rate is chosen — choosing on the evaluation metric would let the evaluation set pick the winner —
  so every rate is shown, none is compared, and the claims say why. A single rate needs no choice.
- **Paired comparisons**: seeds paired, one rule (``analyse.seeds``).
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

from rnnbench.analyse.seeds import SeedComparison, compare_seeds, seed_differences
from rnnbench.analyse.speed import order_rank
from rnnbench.core.values import int_text, is_finite
from rnnbench.core.vocab import ARMS, SOLVED_MAJORITY
from rnnbench.results.schema import TRAIN_SIZE_COLUMN
from rnnbench.stats.intervals import Interval, wilson_interval

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
NEVER = math.inf
"""Steps or seconds to target of a seed that never reached it (unsolved or diverged), and the metric of a
diverged seed: worse than every value a seed reached."""

WORST_COLUMNS: tuple[str, ...] = ("final_metric", "normalized_metric")
"""Metrics that get a ``<name>_w`` column: the metric, ``+inf`` for a seed that diverged (or finished without
one)."""

SELECTIONS: tuple[str, ...] = ("validation", "only rate", "none")
"""How ``train_arms`` chose a (setting, arm)'s learning rate: by the validation metric, the only rate run, or
none (several rates and no validation metric)."""

UNCHOSEN_ATTR = "rnnbench_unchosen"
"""``chosen_rows(...).attrs`` key: the settings whose learning rate could not be chosen (read it with
``unchosen_settings``)."""


def _prepare(train: pd.DataFrame) -> pd.DataFrame:
    """Every run with the derived columns the summary needs: ``finished``, ``solved`` (and not diverged),
    ``steps_c``/``seconds_c`` (to target; ``NEVER`` when not reached), the ``*_w`` metrics (``+inf`` when
    diverged), ``_select`` (the validation metric, worst when missing). A failed run keeps its row (it is
    counted and takes part in the learning-rate choice as the worst value) but has no metric, steps or
    seconds."""
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
    # Not reached = NEVER, whatever the run's own step count: a run that diverged at step 40 stopped early
    # because it failed, not because it got there.
    for col, source in (("steps_c", "steps_to_target"), ("seconds_c", "seconds_to_target")):
        frame[col] = frame[source].where(frame["solved"], NEVER).where(frame["finished"])
    for col in WORST_COLUMNS:
        worst = frame["diverged"] | frame[col].isna()
        frame[f"{col}_w"] = frame[col].mask(worst, np.inf).where(frame["finished"])
    ran = frame["finished"] & ~frame["diverged"]
    frame["_no_val"] = ran & frame["val_metric"].isna()
    frame["_select"] = frame["val_metric"].where(ran).fillna(np.inf)
    return frame


def _log_columns(frame: pd.DataFrame) -> None:
    """``<metric>_log`` (the log of a positive metric) and ``<metric>_nonpos`` (a value ≤ 0) for the
    per-arm intervals of ``_t_columns``."""
    for col in ("final_metric", "normalized_metric"):
        value = frame[col]
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"{col}_log"] = np.log(value.where(value > 0))
        frame[f"{col}_nonpos"] = value <= 0


def _t_columns(agg: pd.DataFrame, prefix: str) -> None:
    """``<prefix>_mean``/``_low``/``_high``/``_scale``: each arm's centre over its ``<prefix>_n`` seeds with a
    metric (none below two), for every row at once.

    A loss is positive and right-skewed over seeds (a few seeds train badly), so the interval is a t-interval
    on the **log** scale, turned back: the geometric mean with bounds that are always positive and cover at
    95% for lognormal seeds — the arithmetic t-interval went below zero (CE 0.01, 0.02, 0.30: [−0.30, 0.52])
    and covered 82% for lognormal σ = 1 over 5 seeds (``benchmarks/coverage.py``). A metric with a value
    ≤ 0 has no log: the arithmetic mean and t-interval then, its low bound cut at 0 (``_scale`` says which).
    Diverged seeds have no metric; they are counted (``diverged``) and shown beside the interval, not hidden
    in it."""
    from scipy.stats import t as student_t

    n = agg[f"{prefix}_n"]
    t = student_t.ppf(0.975, (n - 1).clip(lower=1))
    geometric = agg[f"{prefix}_nonpos"] == 0
    half_log = t * agg[f"{prefix}_lsd"] / np.sqrt(n.clip(lower=1))
    half = t * agg[f"{prefix}_sd"] / np.sqrt(n.clip(lower=1))
    arithmetic = agg[f"{prefix}_mean"]
    agg[f"{prefix}_mean"] = np.where(geometric, np.exp(agg[f"{prefix}_lmean"]), arithmetic)
    low = np.where(geometric, np.exp(agg[f"{prefix}_lmean"] - half_log), (arithmetic - half).clip(lower=0))
    high = np.where(geometric, np.exp(agg[f"{prefix}_lmean"] + half_log), arithmetic + half)
    agg[f"{prefix}_low"] = pd.Series(low, index=agg.index).where(n > 1)
    agg[f"{prefix}_high"] = pd.Series(high, index=agg.index).where(n > 1)
    agg[f"{prefix}_scale"] = np.where(geometric, "geometric", "arithmetic")
    for col in (f"{prefix}_lmean", f"{prefix}_lsd", f"{prefix}_nonpos"):
        del agg[col]


def train_arms(train: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, arm, hidden size, learning rate) over seeds — the one aggregation over seeds.
    ``chosen`` marks the learning rate used in comparisons and ``selection`` says how it was chosen (the rule
    in the module docstring), so each arm gets its own tuned rate, or none. ``seeds`` counts the runs that
    finished, ``failed`` the others. Medians (metric, steps and seconds to target) count a diverged or
    unsolved seed as the worst value (``inf`` when half or more are); the centres and their intervals
    (``_t_columns``: geometric means with log-scale t-intervals) are over the seeds with a metric
    (``final_n``/``normalized_n``), the diverged ones counted in ``diverged``."""
    if train.empty:
        return pd.DataFrame()
    frame = _prepare(train)
    _log_columns(frame)
    keys = setting_keys(frame)
    group = [*keys, "arm", "hidden_size", "lr"]
    text = {c: (c, "first") for c in ("metric", "score_name") if c in frame.columns}
    agg = frame.groupby(group, dropna=False).agg(
        seeds=("finished_seed", "nunique"),
        failed=("failed_run", "sum"),
        params=("params", "median"),
        solved=("solved", "sum"),
        diverged=("diverged", "sum"),
        final_metric=("final_metric_w", "median"),
        final_mean=("final_metric", "mean"),
        final_sd=("final_metric", "std"),
        final_n=("final_metric", "count"),
        final_lmean=("final_metric_log", "mean"),
        final_lsd=("final_metric_log", "std"),
        final_nonpos=("final_metric_nonpos", "sum"),
        baseline_metric=("baseline_metric", "median"),
        normalized=("normalized_metric_w", "median"),
        normalized_mean=("normalized_metric", "mean"),
        normalized_sd=("normalized_metric", "std"),
        normalized_n=("normalized_metric", "count"),
        normalized_lmean=("normalized_metric_log", "mean"),
        normalized_lsd=("normalized_metric_log", "std"),
        normalized_nonpos=("normalized_metric_nonpos", "sum"),
        select=("_select", "median"),
        no_val=("_no_val", "any"),
        steps_to_target=("steps_c", "median"),
        seconds_to_target=("seconds_c", "median"),
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
    by_arm = agg.groupby([*keys, "arm"], dropna=False)
    rates = by_arm["lr"].transform("nunique")
    missing_val = by_arm["no_val"].transform("any").astype(bool)
    agg["selection"] = np.where(rates <= 1, "only rate", np.where(missing_val, "none", "validation"))
    best = agg.sort_values([*keys, "arm", "select", "lr"]).groupby([*keys, "arm"], dropna=False).head(1)
    agg["chosen"] = agg.index.isin(best.index) & (agg["selection"] != "none")
    agg["_arm"] = order_rank(agg["arm"], ARMS)
    agg = agg.sort_values([*keys, "_arm", "hidden_size", "lr"]).drop(columns=["_arm", "no_val"])
    return agg.reset_index(drop=True)


def chosen_rows(train: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """Per-seed rows (finished runs) of the chosen learning rate of every (setting, arm). The settings whose
    rate could not be chosen have no rows here; ``unchosen_settings`` names them so a claim can say why."""
    if arms.empty:
        return pd.DataFrame()
    frame = _prepare(train)
    frame = frame[frame["finished"]]
    keys = setting_keys(frame)
    chosen = arms.loc[arms["chosen"], [*keys, "arm", "hidden_size", "lr"]]
    out = frame.merge(chosen, on=[*keys, "arm", "hidden_size", "lr"])
    unchosen = arms[arms["selection"] == "none"]
    labels: dict[str, list[str]] = {}
    for r in cast(list[dict[str, Any]], unchosen.to_dict("records")):
        arm_list = labels.setdefault(setting_label(keys, [r[k] for k in keys]), [])
        if r["arm"] not in arm_list:
            arm_list.append(str(r["arm"]))
    out.attrs[UNCHOSEN_ATTR] = [f"{label} ({', '.join(sorted(a))})" for label, a in labels.items()]
    return out


def unchosen_settings(chosen: pd.DataFrame) -> list[str]:
    """``adding T=100 P=17473 (gru, lstm)``: each setting of ``chosen_rows``'s input with arms that ran
    several learning rates without a validation metric — no rate chosen, so not compared."""
    return list(chosen.attrs.get(UNCHOSEN_ATTR, []))


NO_VALIDATION = (
    "several learning rates and no validation metric: no rate is chosen (choosing on the evaluation metric "
    "would let the evaluation set pick the winner), so these arms are not compared; rerun the sweep with "
    "'rnnbench train' (it records val_metric) or use one --lr"
)
"""Why a setting in ``unchosen_settings`` has no comparison, in words."""


# ---- success against length -----------------------------------------------------------------------
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
    """One arm at one (task, length, size) with its chosen learning rate, over seeds (or, when no rate could
    be chosen, one of its rates: ``selection == "none"``)."""

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
    """Geometric mean final metric with its log-scale t-interval over the ``mean_n`` seeds that have one
    (not the diverged: ``diverged`` counts them); the arithmetic mean, low bound cut at 0, when a value is
    ≤ 0 (``mean_scale``)."""
    mean_n: int
    median: float
    """Median final metric, a diverged seed the worst (``inf`` when half or more diverged)."""
    successes: int
    success: Interval
    diverged: int
    failed: int
    median_steps_to_target: float
    """Median over seeds, a seed that never reached the target counted as ``inf``."""
    seconds_per_step: float
    score_name: str
    mean_score: float
    selection: str = "only rate"
    """How the rate was chosen: one of ``SELECTIONS``."""
    mean_scale: str = "geometric"
    """``geometric`` (log-scale interval) or ``arithmetic`` (a value ≤ 0)."""


@dataclass(frozen=True)
class PairedDifference:
    """``b`` against ``a`` on the final metric, seed by seed (same data stream), a diverged seed the worst:
    ``comparison`` is ``b − a`` under the one paired rule (its ``a_*`` fields count ``b``'s seeds, its ``b_*``
    fields ``a``'s), ``diff`` its estimate with the t-interval (no interval when a seed diverged)."""

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
    comparison: SeedComparison


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
    """The chosen rate of each (setting, arm), or every rate where none could be chosen."""
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
    ("gru", "mingru"),
    ("lstm", "minlstm"),
)
"""Paired differences shown, as (a, b) → b − a: GRU − LSTM first, the question users ask; each minimal cell
against the classic cell it simplifies (Feng et al. 2024)."""


def _float(value: Any) -> float:
    return float(value) if is_finite(value) else math.nan


def _float_or_inf(value: Any) -> float:
    """A number where ``inf`` means something (a median that is the worst value, "never reached")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) or math.isinf(number) else math.nan


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
        mean_n=int(r["final_n"]),
        median=_float_or_inf(r["final_metric"]),
        successes=int(r["solved"]),
        success=wilson_interval(int(r["solved"]), n),
        diverged=int(r["diverged"]),
        failed=int(r["failed"]),
        median_steps_to_target=_float_or_inf(r["steps_to_target"]),
        seconds_per_step=_float(r["seconds_per_step"]),
        score_name=_text(r.get("score_name"), ""),
        mean_score=_float(r["score"]),
        selection=str(r["selection"]),
        mean_scale=str(r["final_scale"]),
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
            comparison = compare_seeds(rows_b, rows_a, "final_metric_w")
            out.append(
                PairedDifference(
                    str(named["task"]),
                    int(named["seq_len"]),
                    str(named.get("match", "")),
                    int(named.get("budget", 0)),
                    a,
                    b,
                    _text(rows_a["metric"].iloc[0] if "metric" in rows_a else None, "metric"),
                    comparison.seeds,
                    comparison.interval,
                    int(seed_differences(rows_b, rows_a, "solved").sum()),
                    comparison,
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
    learning rate's intervals over seeds (every rate where none could be chosen), the paired comparisons and
    — across lengths — memory horizons."""
    arms = train_arms(train)
    chosen = chosen_rows(train, arms)
    picked = arms[arms["chosen"] | (arms["selection"] == "none")] if not arms.empty else arms
    summaries = [_arm_summary(r) for r in cast(list[dict[str, Any]], picked.to_dict("records"))]
    selected = {(s.task, s.seq_len, s.match, s.budget, s.arm): s.lr for s in summaries if s.selection != "none"}
    swept = bool(len(train)) and pd.to_numeric(train["lr"], errors="coerce").nunique() > 1
    return TrainSummary(summaries, _pairs(chosen), _horizons(chosen), selected, swept)
