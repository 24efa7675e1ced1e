"""The one-line GRU vs LSTM verdict printed after ``rnnbench run``.

The pairing itself (same shape, impl, device, dtype and threads; the interval and its method) and the verdict
rule live in ``rnnbench.analyse.speed`` (``pair_ratios``, ``ratio_verdict``); this module only words them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rnnbench.analyse.speed import (
    GRU_FASTER,
    INCONCLUSIVE,
    LSTM_FASTER,
    NO_DIFFERENCE,
    ONE_PROCESS,
    ratio_verdict,
)
from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import MIN_EFFECT
from rnnbench.present.formatting import fmt_ratio_parts
from rnnbench.stats.intervals import MIN_BOOTSTRAP_ROUNDS


def shape_where(row: Mapping[Any, Any]) -> str:
    """``train, cpu, T=100 B=64 I=512 H=512 threads=1`` (impl and dtype when not native/float32): every field
    that makes two shapes differ, so two verdict lines never read the same for different cases."""
    parts = [str(row.get("mode")), str(row.get("device"))]
    if row.get("impl") not in (None, "native"):
        parts.insert(0, str(row["impl"]))
    if row.get("dtype") not in (None, "float32"):
        parts.append(str(row["dtype"]))
    label = shape_label({str(k): v for k, v in row.items()})
    return ", ".join(parts) + (f", {label}" if label else "")


def _rounds(row: Mapping[Any, Any]) -> str:
    return f"{int(row.get('n_gru', 0) or 0)}+{int(row.get('n_lstm', 0) or 0)} rounds"


def verdict_text(row: Mapping[Any, Any]) -> str:
    """One line from a ``pair_ratios`` row (``ratio`` = time(gru)/time(lstm), ``ratio_low``/``ratio_high``,
    ``method``, ``verdict``, ``n_gru``/``n_lstm``):

    - ``gru ran 1.27× faster than lstm (train, cpu, T=100 B=64 I=256 H=256) [1.22–1.31]`` — a decided pair;
    - ``… in one process …; ignores between-process noise: use --rounds 5`` — from one round's samples;
    - ``no difference …`` (the interval lies within ±5%) or ``inconclusive for …`` (it holds 1 or reaches
      into the band: the report's ``inconclusive``), saying what would decide when rounds are few;
    - ``no interval`` without replication.

    Speed-ups are printed as the faster side's ×, with the interval of that speed-up."""
    ratio, low, high = float(row["ratio"]), float(row["ratio_low"]), float(row["ratio_high"])
    method = str(row.get("method", ""))
    where = shape_where(row)
    if not ratio or math.isnan(ratio):
        return f"gru vs lstm ({where}): no data"
    verdict = row.get("verdict")
    if not isinstance(verdict, str) or not verdict:
        verdict = ratio_verdict(ratio, low, high, method)
    if math.isnan(low) or math.isnan(high):
        return f"gru/lstm time ratio {ratio:.2f} ({where}) — no interval (single sample); not a verdict"
    gru_speed, gru_interval = fmt_ratio_parts(1 / ratio, 1 / high, 1 / low)  # the GRU's speed-up over the LSTM
    lstm_speed, lstm_interval = fmt_ratio_parts(ratio, low, high)
    gru_text = f"gru ran {gru_speed}× faster than lstm ({where}) [{gru_interval}]"
    lstm_text = f"lstm ran {lstm_speed}× faster than gru ({where}) [{lstm_interval}]"
    interval = f"gru/lstm time {lstm_speed} [{lstm_interval}]"
    one_process = (
        f" — within one process ({int(row.get('n_gru', 0) or 0)}+{int(row.get('n_lstm', 0) or 0)} samples); "
        "ignores between-process noise: use --rounds 5 to compare"
    )
    if verdict == GRU_FASTER:
        return gru_text
    if verdict == LSTM_FASTER:
        return lstm_text
    if verdict == GRU_FASTER + ONE_PROCESS:
        return gru_text + one_process
    if verdict == LSTM_FASTER + ONE_PROCESS:
        return lstm_text + one_process
    if verdict.startswith(NO_DIFFERENCE):
        text = f"no difference between gru and lstm ({where}): {interval}, within ±{MIN_EFFECT:.0%}"
        return text + (one_process if verdict.endswith(ONE_PROCESS) else "")
    text = f"inconclusive for gru vs lstm ({where}): {interval}"  # the report's word for it too
    if verdict == INCONCLUSIVE and (high < 1 or low > 1):
        text += f" — the interval excludes 1 but reaches into the ±{MIN_EFFECT:.0%} band"
    if method == "samples":
        return text + one_process
    if method == "t-rounds":
        return text + (
            f" ({_rounds(row)}: a t-interval, wide with few rounds; --rounds {MIN_BOOTSTRAP_ROUNDS} or more "
            "narrows it)"
        )
    return text
