"""The crossover tables: minGRU/minLSTM's scan against the fastest LSTM/GRU at each T, one table per (mode,
platform, device, dtype), and one line per series saying where the scan overtakes (``analyse.crossover``).

Displayed strings only, shared by the terminal, Markdown and HTML (``present.render``); the figure is
``present.crossover_figure``'s. Never prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from rnnbench.analyse.crossover import (
    BASELINE_ARCHS,
    CROSSOVER,
    NO_CROSSOVER,
    NO_VERDICT,
    SCAN_THROUGHOUT,
    SERIES_SHAPE,
    Crossover,
)
from rnnbench.analyse.speed import METHOD_TEXT, shape_labels
from rnnbench.core.values import is_finite
from rnnbench.core.vocab import GROUP_COLUMNS, MIN_EFFECT
from rnnbench.present.formatting import fmt_ratio

CROSSOVER_COLUMNS: tuple[str, ...] = (
    "shape", "minimal", "T", "fastest LSTM/GRU", "time ratio [95% CI]", "verdict", "memory ratio", "rounds",
)  # fmt: skip
"""The Markdown/HTML table. ``time ratio``: minimal time / the fastest LSTM-or-GRU time at that shape."""
TERMINAL_CROSSOVER_COLUMNS: tuple[str, ...] = (
    "shape", "minimal", "T", "fastest", "ratio [95% CI]", "verdict", "memory",
)  # fmt: skip
"""80 columns: no method or rounds (the files have them); ``shape`` only when the table holds several."""

CROSSOVER_HEADING = "minGRU/minLSTM crossover: the scan against the fastest LSTM/GRU"

CROSSOVER_NOTES: tuple[str, ...] = (
    "Time ratio = the minimal cell's time per iteration (its parallel scan) / the fastest LSTM-or-GRU time at "
    f"the same shape, over every {'/'.join(BASELINE_ARCHS)} implementation measured; below 1 the scan is "
    "faster. Picking the fastest after the fact favours the baseline (the lowest of several noisy medians is "
    "biased low), so a 'scan faster' verdict survives that choice and a 'baseline faster' one next to the "
    "crossover may be the choice's doing.",
    f"Interval: {METHOD_TEXT['rounds']} from 5 rounds per side, {METHOD_TEXT['t-rounds']} from 2; one round "
    "gives no interval and no verdict. Verdict: GRU/LSTM's rule — 'scan faster' or 'baseline faster' when the "
    f"whole interval is on that side of 1 and the ratio beyond ±{MIN_EFFECT:.0%}, 'no difference' when the "
    f"interval lies within ±{MIN_EFFECT:.0%}, otherwise 'inconclusive'.",
    "Crossover: the largest T where the baseline is decided faster and the smallest T from which the scan is "
    "decided faster at every longer T; the true crossover lies between them when every decided verdict is "
    "right (simulated in benchmarks/coverage.py). 'no crossover up to T' when the baseline is decided faster "
    "at the longest T; 'no verdict' when the longest T is undecided. Memory ratio: peak memory per "
    "iteration, the minimal cell's / that same baseline case's.",
)


@dataclass
class CrossoverTable:
    """One (mode, platform, device, dtype) group: its points (one row per series and T) and its series."""

    key: tuple[str, str, str, str]
    points: pd.DataFrame
    series: pd.DataFrame
    constant: tuple[str, ...] = ()
    """Shape fields with one value over the whole table: named in the title, left out of each row's label."""


def crossover_tables(result: Crossover) -> list[CrossoverTable]:
    """The crossover split per group, in the points' display order, each row with its ``shape`` label."""
    if result.empty:
        return []
    tables = []
    series = result.series
    for key, part in result.points.groupby(list(GROUP_COLUMNS), sort=False, dropna=False):
        part = part.reset_index(drop=True)
        constant = tuple(c for c in SERIES_SHAPE if part[c].nunique(dropna=False) == 1)
        skip = ("seq_len", *constant)
        part["shape"] = shape_labels(part, skip=skip).replace("", "(one shape)")
        mine = series
        for col, value in zip(GROUP_COLUMNS, key, strict=True):
            mine = mine[mine[col] == value]
        mine = mine.reset_index(drop=True)
        mine["shape"] = shape_labels(mine, skip=skip).replace("", "(one shape)") if len(mine) else []
        tables.append(CrossoverTable(tuple(str(k) for k in key), part, mine, constant))  # type: ignore[arg-type]
    return tables


def crossover_title(table: CrossoverTable) -> str:
    """``train · cpu · Intel Xeon · float32 · B=8 I=64 H=64``: the group and the shape every row shares."""
    mode, platform, device, dtype = table.key
    where = platform if platform == device else f"{device} · {platform}"
    first = table.points.head(1)
    fixed = shape_labels(first, skip=[c for c in (*SERIES_SHAPE, "seq_len") if c not in table.constant])
    label = fixed.iloc[0] if len(fixed) else ""
    return f"{mode} · {where} · {dtype}" + (f" · {label}" if label else "")


def _memory(value: Any) -> str:
    return f"{float(value):.2f}×" if is_finite(value) else "—"


def display_crossover(table: CrossoverTable, terminal: bool = False) -> pd.DataFrame:
    """The displayed strings of one crossover table (``terminal``: :data:`TERMINAL_CROSSOVER_COLUMNS`); the
    ``shape`` column only when the table holds several shapes (the title names a single one)."""
    rows = []
    for r in cast(list[dict[str, Any]], table.points.to_dict("records")):
        method = "" if terminal or r["method"] == "point" else str(r["method"])
        ratio = fmt_ratio(r["ratio"], r["ratio_low"], r["ratio_high"], method) or "—"
        baseline = f"{r['baseline_arch']}/{r['baseline_impl']}"
        cells = [r["shape"], f"{r['arch']}/{r['impl']}", str(int(r["seq_len"])), baseline, ratio, r["verdict"]]
        cells.append(_memory(r["memory_ratio"]))
        if not terminal:
            cells.append(f"{int(r['n_minimal'])}+{int(r['n_baseline'])}")
        rows.append(tuple(cells))
    columns = list(TERMINAL_CROSSOVER_COLUMNS if terminal else CROSSOVER_COLUMNS)
    shown = pd.DataFrame(rows, columns=columns)
    if table.points["shape"].nunique() <= 1:  # the title names the one shape
        shown = shown.drop(columns=["shape"])
    return shown


def series_line(row: dict[str, Any], with_shape: bool = False) -> str:
    """``mingru/scan: crossover between T=64 and T=256 (…); memory 1.5–1.9× the baseline's`` — one series."""
    name = f"{row['arch']}/{row['impl']}"
    if with_shape and row.get("shape"):
        name += f" ({row['shape']})"
    kind = str(row["kind"])
    head = {
        CROSSOVER: "crossover",
        SCAN_THROUGHOUT: "no crossover",
        NO_CROSSOVER: "no crossover",
        NO_VERDICT: "no verdict",
    }.get(kind, kind)
    text = str(row["text"])
    body = text if text.startswith(head) else f"{head} — {text}"
    decided = f"{int(row['decided'])} of {int(row['lengths'])} lengths decided"
    line = f"{name}: {body} [{decided}]"
    low, high = row.get("memory_low", math.nan), row.get("memory_high", math.nan)
    if is_finite(low) and is_finite(high):
        low, high = float(low), float(high)
        span = f"{low:.2f}×" if abs(high - low) < 0.005 else f"{low:.2f}–{high:.2f}×"
        line += f"; peak memory {span} the baseline's"
    if row.get("note"):
        line += f" ({row['note']})"
    return line


def series_lines(table: CrossoverTable) -> list[str]:
    """:func:`series_line` for each series of the table (the shape named when the table has several)."""
    several = table.series["shape"].nunique() > 1 if len(table.series) else False
    return [
        series_line(r, with_shape=several) for r in cast(list[dict[str, Any]], table.series.to_dict("records"))
    ]


def crossover_digest(result: Crossover) -> list[str]:
    """One line per series over every group, for summaries: ``train · cpu · float32: mingru/scan: …``."""
    lines = []
    for table in crossover_tables(result):
        mode, _, device, dtype = table.key
        lines += [f"{mode} · {device} · {dtype}: {line}" for line in series_lines(table)]
    return lines
