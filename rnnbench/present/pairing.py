"""The one-line GRU vs LSTM verdict printed after ``rnnbench run``.

The pairing itself (same shape, impl, device, dtype and threads; a bootstrap interval over round medians, or
over one round's samples) lives in ``rnnbench.analyse.report.pair_ratios``; this module only words its result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rnnbench.core.labels import shape_tokens


def _shape_label(row: Mapping[Any, Any]) -> str:
    parts = [str(row.get("mode")), str(row.get("device"))]
    parts += shape_tokens({k: row.get(k) for k in ("seq_len", "hidden_size")})
    if row.get("impl") not in (None, "native"):
        parts.insert(0, str(row["impl"]))
    if row.get("dtype") not in (None, "float32"):
        parts.append(str(row["dtype"]))
    return ", ".join(parts)


def verdict_text(row: Mapping[Any, Any]) -> str:
    """``gru ran 1.27× faster than lstm (train, cpu, T=100, H=256) [1.22–1.31]`` from a ``pair_ratios`` row
    (``ratio`` = time(gru)/time(lstm) with ``ratio_low``/``ratio_high``), or an honest "no clear difference"
    when the interval of the speed-up contains 1, or "no interval" without replication."""
    ratio, low, high = float(row["ratio"]), float(row["ratio_low"]), float(row["ratio_high"])
    where = _shape_label(row)
    if not ratio or math.isnan(ratio):
        return f"gru vs lstm ({where}): no data"
    if math.isnan(low) or math.isnan(high):
        return f"gru/lstm time ratio {ratio:.2f} ({where}) — no interval (single sample); not a verdict"
    speed, s_low, s_high = 1 / ratio, 1 / high, 1 / low  # speed-up of the GRU over the LSTM
    if s_low > 1:
        return f"gru ran {speed:.2f}× faster than lstm ({where}) [{s_low:.2f}–{s_high:.2f}]"
    if s_high < 1:
        return f"lstm ran {1 / speed:.2f}× faster than gru ({where}) [{1 / s_high:.2f}–{1 / s_low:.2f}]"
    interval = f"[{s_low:.2f}–{s_high:.2f}]"
    return f"no clear difference between gru and lstm ({where}): speed-up {speed:.2f}× {interval}"
