"""What ``rnnbench run`` shows: the grid of a dry run, the per-(mode, device) tables with the GRU/LSTM ratio
beside theory, the verdict lines, the warnings, and the ``ddp-train`` table.

Functions return Rich renderables and lines; they never print (``cli/run.py`` does). A plain ``str`` in a
returned list is a line to print verbatim (no markup, as ``console.print(line, markup=False)``); a ``Table`` is
printed as it is. The numbers come from the library: ``analyse.speed.pair_ratios`` (the same pairing as
``rnnbench report``) and the run's ``summary.csv`` / ``ddp.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.console import RenderableType
from rich.table import Table

from rnnbench.analyse.crossover import Crossover
from rnnbench.analyse.speed import METHOD_TEXT
from rnnbench.core.labels import SHAPE_TAGS, shape_label
from rnnbench.core.spec import Case
from rnnbench.core.values import truthy
from rnnbench.core.vocab import ARCHS, MIN_EFFECT, THEORETICAL_GRU_LSTM
from rnnbench.present.crossover import crossover_digest
from rnnbench.present.formatting import fmt_ratio, fmt_seconds
from rnnbench.present.pairing import verdict_text

NOISY_IQR_FRACTION = 0.10
"""A case whose IQR exceeds this share of its median is called noisy in the warnings."""

_GRID_COLUMNS = ("#", "arch", "impl", "mode", "device", "dtype", "T", "B", "I", "H", "L", "bi", "lengths",
                 "workload")  # fmt: skip
_DDP_COLUMNS = ("arch", "T", "B/rank", "H", "rank", "step", "1-process step", "scaling eff.",
                "exposed all-reduce", "global tokens/s")  # fmt: skip


# ---- --dry-run --------------------------------------------------------------------------------------------
def grid_renderables(cases: Sequence[Case], rounds: int) -> tuple[Table, str]:
    """The grid a run would measure, one row per case, and its size in measurements."""
    table = Table(title=f"Grid: {len(cases)} cases × {rounds} round(s)", title_justify="left")
    for col in _GRID_COLUMNS:
        table.add_column(col)
    for i, c in enumerate(cases, 1):
        table.add_row(
            str(i), c.arch, c.impl, c.mode, c.device, c.dtype, str(c.seq_len), str(c.batch_size),
            str(c.input_size), str(c.hidden_size), str(c.num_layers), "yes" if c.bidirectional else "",
            "fixed" if not c.length_spread else f"spread {c.length_spread:g}", c.workload,
        )  # fmt: skip
    return table, f"{len(cases)} cases × {rounds} round(s) = {len(cases) * rounds} measurements"


# ---- after a run ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    """What ``run`` prints after its last case: ``body`` on stdout (tables, then verdict lines) and
    ``warnings`` on stderr (failed, noisy and busy-machine cases), each a whole ``Warning: …`` line."""

    body: list[RenderableType] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_summary(summary: pd.DataFrame, ratios: pd.DataFrame, crossover: Crossover | None = None) -> RunSummary:
    """Per (mode, device): the median time of each architecture for each shape, the GRU/LSTM ratio with its
    interval beside theory's 0.75; then one verdict line per pair, one line per minGRU/minLSTM series against
    the fastest LSTM/GRU (``analyse.crossover``), and the warnings.

    ``summary`` is the loaded ``summary.csv`` (``results.loader``); ``ratios`` is ``analyse.speed.pair_ratios``
    over it and ``crossover`` ``analyse.crossover.crossover_of``, so ``run`` and ``report`` agree on every
    ratio."""
    body: list[RenderableType] = [
        *_speed_tables(summary, ratios),
        *_verdict_lines(ratios),
        *_crossover_lines(crossover),
    ]
    return RunSummary(body, _warnings(summary))


def _crossover_lines(crossover: Crossover | None) -> list[str]:
    if crossover is None or crossover.empty:
        return []
    header = (
        "Crossover (minGRU/minLSTM time over the fastest LSTM-or-GRU at each T, 95% intervals over rounds; the "
        "table and figure: rnnbench report):"
    )
    return [header, *(f"  {line}" for line in crossover_digest(crossover))]


def _speed_tables(summary: pd.DataFrame, ratios: pd.DataFrame) -> list[Table]:
    tables: list[Table] = []
    ok = summary[summary["status"] == "ok"]
    shape_cols = {"impl": "impl", "dtype": "dtype", **SHAPE_TAGS}
    for (mode, device), part in ok.groupby(["mode", "device"], sort=False):
        varying = [c for c in shape_cols if part[c].nunique(dropna=False) > 1]
        constant = [f"{shape_cols[c]}={part[c].iloc[0]}" for c in shape_cols if c not in varying]
        archs = [a for a in ARCHS if a in set(part["arch"])]
        table = Table(
            title=f"{mode} on {device} — median time per iteration and backend ({', '.join(constant)})",
            title_justify="left",
        )
        for col in varying:
            table.add_column(shape_cols[col], justify="right")
        for a in archs:
            table.add_column(a, justify="right")
        table.add_column("gru/lstm [95% CI]", justify="right")
        table.add_column("theory", justify="right")
        keys = list(shape_cols)
        for shape, rows in part.groupby(keys, sort=False, dropna=False):
            values = dict(zip(keys, shape, strict=True))
            by_arch = rows.groupby("arch")["median_s"].median()
            backends = rows.groupby("arch")["backend"].first()
            table.add_row(
                *(str(values[c]) for c in varying),
                *(f"{fmt_seconds(by_arch.get(a))} {backends.get(a, '')}".strip() for a in archs),
                _ratio_text(ratios, mode, device, values),
                f"{THEORETICAL_GRU_LSTM:.2f}",
            )
        tables.append(table)
    return tables


def _ratio_text(ratios: pd.DataFrame, mode: Any, device: Any, values: dict[str, Any]) -> str:
    """``0.81 [0.78–0.84]`` for the pair of this shape, ``—`` when it has none (one architecture only)."""
    if ratios.empty:
        return "—"
    sel = (ratios["mode"] == mode) & (ratios["device"] == device)
    for k, v in values.items():
        if k in ratios.columns:
            sel &= ratios[k] == v
    match = ratios[sel]
    if match.empty:
        return "—"
    r = match.iloc[0]
    return fmt_ratio(r["ratio"], r["ratio_low"], r["ratio_high"])


def _verdict_lines(ratios: pd.DataFrame) -> list[str]:
    if ratios.empty:
        return []
    methods = [m for m in METHOD_TEXT if m in set(ratios["method"])]
    header = (
        "Verdicts (time ratio gru/lstm; interval: "
        + "; ".join(METHOD_TEXT[m] for m in methods)
        + (" — use --rounds ≥ 5 for comparisons" if "samples" in methods or "point" in methods else "")
        + ". A side wins when its whole interval is on its side of 1 and the ratio is beyond "
        f"±{MIN_EFFECT:.0%}; an interval within ±{MIN_EFFECT:.0%} is no difference):"
    )
    return [header, *(f"  {verdict_text(row)}" for row in ratios.to_dict("records"))]


def _warnings(summary: pd.DataFrame) -> list[str]:
    lines = []
    failed = summary[summary["status"] != "ok"]
    for _, row in failed.iterrows():
        what = f"{row['arch']}/{row['impl']} {row['mode']} {shape_label({str(k): v for k, v in row.items()})}"
        lines.append(f"Warning: {what}: {row['status']} — {row['message']}")
    ok = summary[summary["status"] == "ok"]
    noisy = ok[ok["iqr_s"] / ok["median_s"] > NOISY_IQR_FRACTION]
    if len(noisy):
        hint = "raise --budget, set --threads 1, or close other programs"
        if _single_threaded(noisy):  # already one thread: do not suggest it
            hint = "raise --budget or --rounds, or close other programs"
        lines.append(f"Warning: {len(noisy)} case(s) are noisy (IQR/median > 10%). Hint: {hint}.")
    busy = ok[ok["busy"].map(truthy).astype(bool)]
    if len(busy):
        share = float(busy["other_cpu_frac"].max())
        fewer = "" if _single_threaded(busy) else ", or with fewer threads (--threads 1)"
        lines.append(
            f"Warning: the machine was busy during {len(busy)} case(s): other processes used up to "
            f"{share:.0%} of the CPUs. Their times may be inflated (OpenMP threads spin when "
            f"oversubscribed). Hint: rerun on a quieter machine{fewer}."
        )
    return lines


def _single_threaded(rows: pd.DataFrame) -> bool:
    """Every case of ``rows`` already ran on one intra-op thread (so "--threads 1" is no advice)."""
    if "threads" not in rows.columns:
        return False
    threads = pd.to_numeric(rows["threads"], errors="coerce")
    return bool(len(threads)) and bool((threads == 1).all())


# ---- ddp-train ----------------------------------------------------------------------------------------------
def ddp_table(ddp: pd.DataFrame) -> Table:
    """One row per rank and case of a ``ddp-train`` run (its ``ddp.csv``): step times, scaling efficiency
    against one process, the exposed all-reduce share and global throughput."""
    world, backend = int(ddp["world_size"].iloc[0]), ddp["backend"].iloc[0]
    table = Table(title=f"ddp-train, {world} processes ({backend})", title_justify="left")
    for col in _DDP_COLUMNS:
        table.add_column(col, justify="right")
    for r in ddp.to_dict("records"):
        table.add_row(
            str(r["arch"]), str(r["seq_len"]), str(r["batch_size"]), str(r["hidden_size"]), str(r["rank"]),
            fmt_seconds(r["step_median_s"]), fmt_seconds(r["single_median_s"]),
            f"{r['scaling_efficiency']:.2f}", f"{r['allreduce_frac']:.0%}", f"{r['global_tokens_per_s']:,.0f}",
        )  # fmt: skip
    return table
