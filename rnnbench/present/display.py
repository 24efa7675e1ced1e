"""The displayed strings of the report tables, shared by terminal, Markdown and HTML."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from rnnbench.analyse import stats
from rnnbench.analyse.speed import SpeedTable, shape_labels
from rnnbench.analyse.training import SETTING_COLUMNS, setting_label
from rnnbench.core.labels import field_of_token
from rnnbench.core.values import int_text, is_finite
from rnnbench.core.vocab import THEORETICAL_GRU_LSTM
from rnnbench.present.formatting import (
    fmt_bytes,
    fmt_interval_seconds,
    fmt_number,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
)

SPEED_DISPLAY_COLUMNS: tuple[str, ...] = (
    "shape", "arch/impl", "status", "time / iter", "tokens/s", "GFLOP/s", "% peak", "memory", "rounds",
    "backend", f"GRU/LSTM [95% CI] (theory {THEORETICAL_GRU_LSTM})",
)  # fmt: skip


def speed_table_title(table: SpeedTable) -> str:
    """``inference · cpu · AMD EPYC · float32 · B=16 I=64``: the group, then the shape fields every row shares
    (named once here, left out of each row's label)."""
    mode, platform, device, dtype = table.key
    where = platform if platform == device else f"{device} · {platform}"
    common = shape_labels(table.data.head(1)).iloc[0] if len(table.data) else ""
    fixed = " ".join(p for p in common.split() if field_of_token(p) in table.constant)
    return f"{mode} · {where} · {dtype}" + (f" · {fixed}" if fixed else "")


TERMINAL_SPEED_COLUMNS: tuple[str, ...] = (
    "shape", "arch/impl", "status", "time", "tok/s", "GFLOP/s", "%peak", "memory", "backend",
    "GRU/LSTM [95% CI]",
)  # fmt: skip
"""The terminal's narrower selection: no time interval, rounds or ratio method (the files have them)."""


def display_speed(table: SpeedTable, max_rows: int | None = None, terminal: bool = False) -> pd.DataFrame:
    """The displayed strings of a speed table (only the first ``max_rows`` rows are formatted: a table over
    thousands of shapes is truncated for display, never for the data files)."""
    data = table.data if max_rows is None else table.data.head(max_rows)
    rows = []
    records = cast(list[dict[str, Any]], data.to_dict("records"))
    for r in records:
        ok = r["status"] == "ok"
        status = "ok" if ok else f"{r['status']}: {r['message']}".strip()
        if ok and r["failed_rounds"]:
            status = f"ok ({r['failed_rounds']} round(s) failed)"
        if r["busy"]:
            status += " !busy"
        method = r["method"] if isinstance(r["method"], str) and not terminal else ""
        time = (
            fmt_seconds(r["median_s"])
            if terminal
            else fmt_interval_seconds(r["median_s"], r["ci_low_s"], r["ci_high_s"])
        )
        fraction = r["peak_fraction"]
        cells = [
            r["shape"],
            f"{r['arch']}/{r['impl']}",
            status,
            time if ok else "—",
            fmt_rate(r["tokens_per_s"]),
            fmt_number(r["gflop_per_s"]),
            f"{100 * fraction:.1f}%" if is_finite(fraction) else "—",
            fmt_bytes(r["peak_memory_bytes"]),
            str(r["rounds"]),
            str(r["backend"]) if isinstance(r["backend"], str) and r["backend"] else "—",
            fmt_ratio(r["ratio"], r["ratio_low"], r["ratio_high"], method),
        ]
        if terminal:
            del cells[8]  # rounds
        rows.append(tuple(cells))
    return pd.DataFrame(rows, columns=list(TERMINAL_SPEED_COLUMNS if terminal else SPEED_DISPLAY_COLUMNS))


TRAIN_DISPLAY_COLUMNS: tuple[str, ...] = (
    "setting", "arm", "H", "params", "lr", "seeds", "solved [95% CI]", "final metric (median)",
    "normalized mean [95% CI]", "steps to target", "seconds to target", "diverged", "used",
)  # fmt: skip


def display_train(arms: pd.DataFrame, max_rows: int | None = None) -> pd.DataFrame:
    """Displayed strings for the training table (one row per configuration; ``used`` marks the chosen rate)."""
    if arms.empty:
        return pd.DataFrame(columns=list(TRAIN_DISPLAY_COLUMNS))
    data = arms if max_rows is None else arms.head(max_rows)
    keys = [c for c in SETTING_COLUMNS if c in data.columns]
    rows = []
    for r in data.to_dict("records"):
        w = stats.wilson_interval(int(r["solved"]), int(r["seeds"]))
        solved = f"{int(r['solved'])}/{int(r['seeds'])}"
        solved += f" [{w.low:.2f}–{w.high:.2f}]" if is_finite(w.low) else " (every run failed)"
        norm = fmt_number(r["normalized_mean"])
        if is_finite(r["normalized_low"]):
            norm += f" [{r['normalized_low']:.3g}–{r['normalized_high']:.3g}]"
        final = fmt_number(r["final_metric"])
        if isinstance(r.get("metric"), str) and r["metric"] != r["task"] and final != "—":
            final += f" {r['metric']}"
        rows.append(
            (
                setting_label(keys, [r[k] for k in keys]),
                r["arm"],
                int_text(r["hidden_size"]),
                int_text(r["params"]),
                f"{r['lr']:g}" if is_finite(r["lr"]) else "—",
                str(int(r["seeds"])),
                solved,
                final,
                norm,
                fmt_number(r["steps_to_target"], 4),
                fmt_seconds(r["seconds_to_target"]),
                str(int(r["diverged"])),
                "✓" if r["chosen"] else "",
            )
        )
    return pd.DataFrame(rows, columns=list(TRAIN_DISPLAY_COLUMNS))
