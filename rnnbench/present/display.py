"""The displayed strings of the report tables, shared by terminal, Markdown and HTML."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd

from rnnbench.analyse.speed import SpeedTable, shape_labels
from rnnbench.analyse.training import SETTING_COLUMNS, setting_label
from rnnbench.core.labels import field_of_token
from rnnbench.core.values import int_text, interval_text, is_finite
from rnnbench.core.vocab import THEORETICAL_GRU_LSTM
from rnnbench.present.formatting import (
    fmt_bytes,
    fmt_interval_seconds,
    fmt_number,
    fmt_rate,
    fmt_ratio,
    fmt_seconds,
)
from rnnbench.stats import intervals

PEAK_COLUMN = "% of torch.matmul"
"""GFLOP/s as a share of what ``torch.matmul`` reached in the same run, dtype and threads: above 100% means
the RNN's kernels beat torch's own dense GEMM, not that a hardware peak was exceeded."""

SPEED_DISPLAY_COLUMNS: tuple[str, ...] = (
    "shape", "arch/impl", "status", "time / iter", "tokens/s", "GFLOP/s", PEAK_COLUMN, "memory", "rounds",
    "backend", f"GRU/LSTM [95% CI] (theory {THEORETICAL_GRU_LSTM})", "verdict",
)  # fmt: skip


def speed_table_title(table: SpeedTable) -> str:
    """``inference · cpu · AMD EPYC · float32 · B=16 I=64``: the group, then the shape fields every row shares
    (named once here, left out of each row's label)."""
    mode, platform, device, dtype = table.key
    where = platform if platform == device else f"{device} · {platform}"
    common = shape_labels(table.data.head(1)).iloc[0] if len(table.data) else ""
    fixed = " ".join(p for p in common.split() if field_of_token(p) in table.constant)
    return f"{mode} · {where} · {dtype}" + (f" · {fixed}" if fixed else "")


TERMINAL_PEAK_COLUMN = "% matmul"
""":data:`PEAK_COLUMN` where 80 columns must hold the table; the report's method notes spell it out."""

TERMINAL_SPEED_COLUMNS: tuple[str, ...] = (
    "shape", "arch/impl", "status", "time", "tok/s", "GFLOP/s", TERMINAL_PEAK_COLUMN, "memory", "backend",
    "GRU/LSTM [95% CI]",
)  # fmt: skip
"""The terminal's narrower selection: no time interval, rounds or ratio method (the files have them); the
verdict sits on the ratio cell's second line."""


def display_speed(
    table: SpeedTable, max_rows: int | None = None, terminal: bool = False, one_line: bool = False
) -> pd.DataFrame:
    """The displayed strings of a speed table (only the first ``max_rows`` rows are formatted: a table over
    thousands of shapes is truncated for display, never for the data files).

    A time interval that covers less than 95% (a median of ≤ 5 rounds or samples) carries its exact level,
    e.g. ``7.2 ms [7.0–7.4] (75%)``; the verdict is ``analyse.speed.ratio_verdict``'s, so a one-round ratio
    reads "GRU faster in one process", never a bare "GRU faster".

    ``terminal``: the narrower selection of :data:`TERMINAL_SPEED_COLUMNS`, the verdict on the ratio cell's
    second line — or, with ``one_line`` (a pipe, a CI log), in a ``verdict`` column of its own, so each case is
    one line that ``grep`` finds whole."""
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
            else fmt_interval_seconds(r["median_s"], r["ci_low_s"], r["ci_high_s"], r.get("ci_level"))
        )
        verdict = r.get("verdict")
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
            verdict if isinstance(verdict, str) else "",
        ]
        if terminal:
            if not one_line:
                if cells[11]:
                    cells[10] += "\n" + cells[11]
                del cells[11]  # verdict: under the ratio
            del cells[8]  # rounds
        rows.append(tuple(cells))
    columns = list(TERMINAL_SPEED_COLUMNS if terminal else SPEED_DISPLAY_COLUMNS)
    if terminal and one_line:
        columns.append("verdict")
    return pd.DataFrame(rows, columns=columns)


TRAIN_DISPLAY_COLUMNS: tuple[str, ...] = (
    "setting", "arm", "H", "params", "lr", "seeds", "solved [95% CI]", "final metric (median)",
    "normalized geo. mean [95% CI]", "steps to target", "seconds to target", "diverged", "used",
)  # fmt: skip


def _worst_or_number(value: Any, worst: str, digits: int = 3) -> str:
    """A median that may be the worst value: ``inf`` reads as ``worst`` ("diverged", "not reached")."""
    return worst if value == float("inf") else fmt_number(value, digits)


NO_RATE_CHOSEN = "none: no val"
"""The ``used`` cell of every rate of an arm whose rate could not be chosen (several rates and no validation
metric — ``analyse.training``'s rule)."""


def display_train(arms: pd.DataFrame, max_rows: int | None = None) -> pd.DataFrame:
    """Displayed strings for the training table (one row per configuration; ``used`` marks the chosen rate,
    or says that none could be chosen). Medians count a diverged or unsolved seed as the worst value, so a
    median that is one reads "diverged" / "not reached"; the mean and its interval are over the seeds that did
    not diverge, and say so."""
    if arms.empty:
        return pd.DataFrame(columns=list(TRAIN_DISPLAY_COLUMNS))
    data = arms if max_rows is None else arms.head(max_rows)
    keys = [c for c in SETTING_COLUMNS if c in data.columns]
    rows = []
    for r in data.to_dict("records"):
        w = intervals.wilson_interval(int(r["solved"]), int(r["seeds"]))
        solved = f"{int(r['solved'])}/{int(r['seeds'])}"
        solved += f" [{w.low:.2f}–{w.high:.2f}]" if is_finite(w.low) else " (every run failed)"
        norm = fmt_number(r["normalized_mean"])
        if is_finite(r["normalized_low"]):  # one precision for the centre and both bounds
            norm = interval_text(r["normalized_mean"], r["normalized_low"], r["normalized_high"], sep="–")
        if r.get("normalized_scale") == "arithmetic" and norm != "—":
            norm += " (arithmetic: a value ≤ 0)"
        if int(r["diverged"]) and norm != "—":
            norm += f" (over {int(r['normalized_n'])} of {int(r['seeds'])}: {int(r['diverged'])} diverged)"
        final = _worst_or_number(r["final_metric"], "diverged")
        if isinstance(r.get("metric"), str) and r["metric"] != r["task"] and final not in ("—", "diverged"):
            final += f" {r['metric']}"
        seconds = r["seconds_to_target"]
        used = "✓" if r["chosen"] else NO_RATE_CHOSEN if r.get("selection") == "none" else ""
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
                _worst_or_number(r["steps_to_target"], "not reached", 4),
                "not reached" if seconds == float("inf") else fmt_seconds(seconds),
                str(int(r["diverged"])),
                used,
            )
        )
    return pd.DataFrame(rows, columns=list(TRAIN_DISPLAY_COLUMNS))
