"""Where does a parallel scan overtake the best LSTM/GRU? The crossover of minGRU/minLSTM against the fastest
classic cell, with intervals, as values (issue 24; Feng et al. 2024, "Were RNNs All We Needed?").

Per group (mode, platform, device, dtype) and per shape without ``seq_len``, for each minimal architecture and
each of its parallel-scan implementations (:data:`SCAN_IMPLS`), at each measured T:

- **ratio** = minimal time / the *fastest* LSTM-or-GRU time at that shape (the lowest median over ``lstm``/
  ``gru`` × every measured implementation). Picking the fastest after the fact favours the baseline: the
  smallest of several noisy medians is biased low, so the ratio leans towards "baseline faster" — a scan
  verdict survives that, a baseline verdict near the crossover may be the selection's doing
  (``benchmarks/coverage.py`` simulates it with two equal baselines);
- its 95% interval over rounds from ``analyse.speed.ratio_over_rounds`` (the GRU/LSTM pairing's rules:
  ≥ 5 rounds per side the bootstrap, 2–4 the log-ratio t-interval, one round no interval and no verdict);
- a **verdict** under ``analyse.speed.ratio_verdicts``' one rule, worded for this pair: ``scan faster``,
  ``baseline faster``, ``no difference`` (within ±5%), ``inconclusive``, or ``no interval`` (one round);
- the **memory ratio** (peak bytes per iteration, minimal / that same baseline case) where both were measured.

Per series (over T) the **crossover** (:func:`bracket`): the largest T where the baseline is decided faster and
the smallest T from which the scan is decided faster at every longer T — the true crossover lies in between
if every decided verdict is right. Never imports torch; never prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnbench.analyse.speed import (
    GRU_FASTER,
    LSTM_FASTER,
    NO_DIFFERENCE,
    fill_round_ratios,
    order_rank,
    ratio_verdicts,
)
from rnnbench.core.vocab import ARCHS, GROUP_COLUMNS, IMPLS, MINIMAL_ARCHS, MODES, SHAPE_COLUMNS

BASELINE_ARCHS: tuple[str, ...] = ("lstm", "gru")
"""The classic cells a scan must overtake (the vanilla RNN is no one's choice for long memory)."""
SCAN_IMPLS: tuple[str, ...] = ("scan", "compiled")
"""Minimal-cell implementations that are parallel scans (``compiled`` is the scan under torch.compile); the
sequential reference ``scratch`` is a loop, not a scan, and is left out."""

SCAN_FASTER = "scan faster"
BASELINE_FASTER = "baseline faster"
VERDICT_WORDS: dict[str, str] = {GRU_FASTER: SCAN_FASTER, LSTM_FASTER: BASELINE_FASTER}
"""``ratio_verdicts`` words its numerator's win as GRU_FASTER: here the numerator is the minimal cell."""
DECIDED: tuple[str, ...] = (SCAN_FASTER, BASELINE_FASTER, NO_DIFFERENCE)

# the crossover per series
CROSSOVER = "crossover"
SCAN_THROUGHOUT = "scan faster throughout"
NO_CROSSOVER = "no crossover"
NO_VERDICT = "no verdict"
KINDS: tuple[str, ...] = (CROSSOVER, SCAN_THROUGHOUT, NO_CROSSOVER, NO_VERDICT)

SERIES_SHAPE: tuple[str, ...] = tuple(c for c in SHAPE_COLUMNS if c != "seq_len")
SERIES_KEYS: tuple[str, ...] = (*GROUP_COLUMNS, *SERIES_SHAPE, "arch", "impl")
"""One crossover series: a group, a shape without T, a minimal architecture and its implementation."""

POINT_COLUMNS: tuple[str, ...] = (
    *SERIES_KEYS, "seq_len", "median_s", "baseline_arch", "baseline_impl", "baseline_s", "ratio", "ratio_low",
    "ratio_high", "method", "verdict", "n_minimal", "n_baseline", "memory_ratio", "peak_memory_bytes",
    "baseline_memory_bytes",
)  # fmt: skip
SERIES_COLUMNS: tuple[str, ...] = (
    *SERIES_KEYS, "kind", "low_T", "high_T", "text", "note", "lengths", "decided", "memory_low", "memory_high",
)  # fmt: skip


@dataclass(frozen=True)
class Bracket:
    """The crossover of one series. ``low_T``: the largest T where the baseline is decided faster (None: none
    is); ``high_T``: the smallest T from which the scan is decided faster at every longer T (None: the longest
    T is not scan-decided). Read as "the crossover lies in (low_T, high_T]", an open end where one is None."""

    kind: str
    low_T: int | None
    high_T: int | None
    text: str
    note: str = ""

    def holds(self, t_star: float) -> bool:
        """Whether the printed bounds admit a true crossover at ``t_star`` (``math.inf``: it never crosses
        within reach, i.e. the baseline stays faster; 0: the scan was faster all along)."""
        return (self.low_T is None or self.low_T < t_star) and (self.high_T is None or t_star <= self.high_T)


def bracket(lengths: Sequence[int], verdicts: Sequence[str]) -> Bracket:
    """The crossover from per-T verdicts (any order; one verdict per distinct T).

    - scan decided faster at every T → ``scan faster throughout`` (from the shortest T);
    - a scan-faster suffix from ``high_T`` to the longest T → ``crossover`` in (``low_T``, ``high_T``] with
      ``low_T`` the largest baseline-faster T (open below when none is decided);
    - the baseline decided faster at the longest T → ``no crossover`` up to that T;
    - otherwise (the longest T undecided, within ±5% or one round) → ``no verdict``, saying what is known.

    Only decided verdicts count (``analyse.speed``'s rule: replicated intervals only); ``no difference`` is
    neither side's. A scan-faster T below a baseline-faster T (not one crossover) is named in ``note``."""
    order = np.argsort(np.asarray(lengths, dtype=float), kind="stable")
    ts = [int(lengths[i]) for i in order]
    vs = [str(verdicts[i]) for i in order]
    if not ts:
        return Bracket(NO_VERDICT, None, None, "no lengths measured")
    baseline = [t for t, v in zip(ts, vs, strict=True) if v == BASELINE_FASTER]
    low = max(baseline) if baseline else None
    suffix = 0
    while suffix < len(vs) and vs[len(vs) - 1 - suffix] == SCAN_FASTER:
        suffix += 1
    high = ts[len(ts) - suffix] if suffix else None
    early = [t for t, v in zip(ts, vs, strict=True) if v == SCAN_FASTER and low is not None and t < low]
    note = (
        f"scan faster at T={', '.join(map(str, early))} below a baseline-faster T={low}: not one crossover"
        if early
        else ""
    )
    if suffix == len(ts):
        return Bracket(SCAN_THROUGHOUT, None, high, f"scan faster from the shortest T ({high})", note)
    if high is not None:
        if low is not None:
            text = f"between T={low} and T={high} (baseline faster at {low}, scan from {high} on)"
        else:
            text = f"at or below T={high}: scan faster from T={high} on, shorter T undecided"
        return Bracket(CROSSOVER, low, high, text, note)
    if low == ts[-1]:
        return Bracket(NO_CROSSOVER, low, None, f"no crossover up to T={low} (baseline faster there)", note)
    if low is not None:
        text = f"baseline faster up to T={low}; at T={ts[-1]}: {vs[-1]}"
    else:
        text = f"neither side decided faster at any T (at T={ts[-1]}: {vs[-1]})"
    return Bracket(NO_VERDICT, low, None, text, note)


@dataclass
class Crossover:
    """``points``: one row per (series, T) (:data:`POINT_COLUMNS`); ``series``: one row per series with its
    :class:`Bracket` and the range of memory ratios (:data:`SERIES_COLUMNS`). Both sorted for display."""

    points: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(POINT_COLUMNS)))
    series: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SERIES_COLUMNS)))

    @property
    def empty(self) -> bool:
        return self.points.empty


def _fastest_baselines(ok: pd.DataFrame) -> pd.DataFrame:
    """Per shape (seq_len included): the LSTM-or-GRU case with the lowest median time."""
    keys = [*GROUP_COLUMNS, *SHAPE_COLUMNS]
    base = ok[ok["arch"].isin(BASELINE_ARCHS)].sort_values("median_s", kind="stable")
    best = base.drop_duplicates(subset=keys, keep="first")
    return best[[*keys, "arch", "impl", "gid", "rounds", "median_s", "peak_memory_bytes"]].rename(
        columns={
            "arch": "baseline_arch",
            "impl": "baseline_impl",
            "gid": "gid_baseline",
            "rounds": "n_baseline",
            "median_s": "baseline_s",
            "peak_memory_bytes": "baseline_memory_bytes",
        }
    )


def crossover_points(cases: pd.DataFrame, rounds: pd.DataFrame) -> pd.DataFrame:
    """Per (series, T): the ratio to the fastest baseline, its interval over rounds, method and verdict, and
    the memory ratio. ``cases`` and ``rounds`` are ``analyse.speed.aggregate_cases``' two frames."""
    if cases.empty or "median_s" not in cases.columns:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    ok = cases[(cases["status"] == "ok") & np.isfinite(cases["median_s"].astype(float))]
    minimal = ok[ok["arch"].isin(MINIMAL_ARCHS) & ok["impl"].isin(SCAN_IMPLS)]
    if minimal.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    keep = [*GROUP_COLUMNS, *SHAPE_COLUMNS, "arch", "impl", "gid", "rounds", "median_s", "peak_memory_bytes"]
    points = minimal[keep].merge(_fastest_baselines(ok), on=[*GROUP_COLUMNS, *SHAPE_COLUMNS])
    if points.empty:
        return pd.DataFrame(columns=list(POINT_COLUMNS))
    points = points.rename(columns={"rounds": "n_minimal"}).reset_index(drop=True)
    points["ratio"] = points["median_s"] / points["baseline_s"]
    points["ratio_low"] = np.nan
    points["ratio_high"] = np.nan
    points["method"] = "point"
    fill_round_ratios(points, rounds, ("n_minimal", "n_baseline"), ("gid", "gid_baseline"))
    raw = ratio_verdicts(points["ratio"], points["ratio_low"], points["ratio_high"], points["method"])
    points["verdict"] = [VERDICT_WORDS.get(str(v), str(v)) for v in raw]
    mine = points["peak_memory_bytes"].astype(float)
    theirs = points["baseline_memory_bytes"].astype(float)
    points["memory_ratio"] = (mine / theirs).where((mine > 0) & (theirs > 0))
    points["_mode"] = order_rank(points["mode"], MODES)
    points["_arch"] = order_rank(points["arch"], ARCHS)
    points["_impl"] = order_rank(points["impl"], IMPLS)
    points = points.sort_values(
        ["_mode", "platform", "device", "dtype", *SERIES_SHAPE, "_arch", "_impl", "seq_len"], kind="stable"
    )
    return points[list(POINT_COLUMNS)].reset_index(drop=True)


def crossover_series(points: pd.DataFrame) -> pd.DataFrame:
    """One row per series: its :func:`bracket`, how many lengths were measured and decided, and the range of
    its memory ratios."""
    if points.empty:
        return pd.DataFrame(columns=list(SERIES_COLUMNS))
    rows = []
    for key, part in points.groupby(list(SERIES_KEYS), sort=False, dropna=False):
        found = bracket(part["seq_len"].astype(int).tolist(), part["verdict"].tolist())
        memory = part["memory_ratio"].astype(float)
        memory = memory[np.isfinite(memory)]
        rows.append(
            (
                *key,
                found.kind,
                found.low_T,
                found.high_T,
                found.text,
                found.note,
                len(part),
                int(part["verdict"].isin(DECIDED).sum()),
                float(memory.min()) if len(memory) else np.nan,
                float(memory.max()) if len(memory) else np.nan,
            )
        )
    series = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
    for col in ("low_T", "high_T"):
        series[col] = series[col].astype("Int64")
    return series


def crossover_of(cases: pd.DataFrame, rounds: pd.DataFrame) -> Crossover:
    """The points and the series in one call (what ``analyse.report`` uses)."""
    points = crossover_points(cases, rounds)
    return Crossover(points, crossover_series(points))
