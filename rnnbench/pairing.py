"""GRU vs LSTM on identical shapes: the time ratio with its interval and an honest one-line verdict.

With several rounds the interval resamples round medians (rounds are the independent unit); with one round it
resamples that round's block samples, which understates between-process variation — the output says which.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rnnbench.stats import bootstrap_ratio_ci

if TYPE_CHECKING:
    import pandas as pd

PAIR_KEYS: tuple[str, ...] = (
    "mode", "device", "dtype", "impl", "workload", "seq_len", "batch_size", "input_size", "hidden_size",
    "num_layers", "bidirectional", "batch_first", "length_spread", "threads",
)  # fmt: skip
"""Columns that must be equal for two rows to be the same shape (``Case.shape_key`` plus the impl)."""

THEORY_GRU_OVER_LSTM = 0.75
"""GEMM FLOPs (and parameters) of a GRU over an LSTM of the same shape: 3 gate blocks against 4."""


def arch_ratios(
    summary: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    numerator: str = "gru",
    denominator: str = "lstm",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per shape where both architectures have ``ok`` rows: medians, ``ratio`` = time(num)/time(den),
    ``ratio_low``/``ratio_high`` (95% bootstrap), ``basis`` (rounds, samples or none), ``verdict``."""
    import pandas as pd

    ok = summary[summary["status"] == "ok"]
    keys = [k for k in PAIR_KEYS if k in ok.columns]
    out: list[dict[str, Any]] = []
    for shape, group in ok.groupby(keys, dropna=False, sort=False):
        num = group[group["arch"] == numerator]
        den = group[group["arch"] == denominator]
        if num.empty or den.empty:
            continue
        num_rounds = num.groupby(["run_id", "round"])["median_s"].median()
        den_rounds = den.groupby(["run_id", "round"])["median_s"].median()
        if len(num_rounds) >= 2 and len(den_rounds) >= 2:
            basis, a, b = "rounds", num_rounds.to_numpy(), den_rounds.to_numpy()
        elif samples is not None and not samples.empty:
            a = samples[samples["case_id"].isin(num["case_id"])]["seconds"].to_numpy()
            b = samples[samples["case_id"].isin(den["case_id"])]["seconds"].to_numpy()
            basis = "samples" if len(a) >= 2 and len(b) >= 2 else "none"
            if basis == "none":
                a, b = num_rounds.to_numpy(), den_rounds.to_numpy()
        else:
            basis, a, b = "none", num_rounds.to_numpy(), den_rounds.to_numpy()
        ci = bootstrap_ratio_ci(a, b, seed=seed)
        if basis == "none":
            low = high = math.nan
        else:
            low, high = ci.low, ci.high
        row = dict(zip(keys, shape if isinstance(shape, tuple) else (shape,), strict=True))
        row.update(
            numerator=numerator,
            denominator=denominator,
            num_median_s=float(num_rounds.median()),
            den_median_s=float(den_rounds.median()),
            ratio=ci.estimate,
            ratio_low=low,
            ratio_high=high,
            basis=basis,
            rounds=int(min(len(num_rounds), len(den_rounds))),
        )
        row["verdict"] = verdict_text(row)
        out.append(row)
    return pd.DataFrame(out)


def _shape_label(row: dict[str, Any]) -> str:
    parts = [
        str(row.get("mode")),
        str(row.get("device")),
        f"T={row.get('seq_len')}",
        f"H={row.get('hidden_size')}",
    ]
    if row.get("impl") not in (None, "native"):
        parts.insert(0, str(row["impl"]))
    if row.get("dtype") not in (None, "float32"):
        parts.append(str(row["dtype"]))
    return ", ".join(parts)


def verdict_text(row: dict[str, Any]) -> str:
    """``gru ran 1.27× faster than lstm (train, cpu, T=100, H=256) [1.22–1.31]``, or an honest "no clear
    difference" when the interval of the speed-up contains 1, or "no interval" without replication."""
    num, den = row["numerator"], row["denominator"]
    ratio, low, high = row["ratio"], row["ratio_low"], row["ratio_high"]
    where = _shape_label(row)
    if not ratio or math.isnan(ratio):
        return f"{num} vs {den} ({where}): no data"
    if math.isnan(low) or math.isnan(high):
        return f"{num}/{den} time ratio {ratio:.2f} ({where}) — no interval (single sample); not a verdict"
    speed, s_low, s_high = 1 / ratio, 1 / high, 1 / low  # speed-up of num over den
    if s_low > 1:
        return f"{num} ran {speed:.2f}× faster than {den} ({where}) [{s_low:.2f}–{s_high:.2f}]"
    if s_high < 1:
        return f"{den} ran {1 / speed:.2f}× faster than {num} ({where}) [{1 / s_high:.2f}–{1 / s_low:.2f}]"
    interval = f"[{s_low:.2f}–{s_high:.2f}]"
    return f"no clear difference between {num} and {den} ({where}): speed-up {speed:.2f}× {interval}"
