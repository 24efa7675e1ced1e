"""Figures for the report, drawn with matplotlib's object API only (``Figure``, never ``pyplot``): no global
state, so figures can be built in any order, in tests and in threads, and nothing leaks between them.

This module holds the speed figures, the list of every figure (:data:`FIGURES`) and how they are written
(in parallel, forked). What all figures share — colours per architecture, styles per implementation, the
panel grid, bounded size (at most ``MAX_PANELS`` panels, each one slice of the sweep, so 100,000 rows draw
as fast as 100) — is :mod:`rnnbench.present.figure_kit`; the training figures are
:mod:`rnnbench.present.training_figures`, the minGRU/minLSTM crossover :mod:`rnnbench.present.crossover_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnbench.analyse.report import Report
from rnnbench.core.vocab import MIN_EFFECT, THEORETICAL_GRU_LSTM
from rnnbench.present.crossover_figure import crossover_figure
from rnnbench.present.figure_kit import (
    DECIDED,
    DPI,
    FONT,
    MAX_POINTS,
    PANEL_SIZE,
    FigureSpec,
    arch_color,
    handle,
    impl_style,
    legend,
    log2_x,
    log_axis,
    new_figure,
    panel_groups,
    panel_title,
    short,
    sorted_series,
    speed_ok,
    suptitle,
    sweep_slice,
    title,
    wrap_to_width,
    ylabel,
)
from rnnbench.present.training_figures import final_vs_params, memory_horizon, training_curves
from rnnbench.stats.intervals import NOMINAL_LEVEL


def throughput_figure(report: Report, x: str) -> Figure | None:
    """Tokens per second against ``x`` (seq_len or hidden_size), one line per arch/impl, error bars from
    the time interval (throughput = tokens / time, so the bars are asymmetric)."""
    ok = speed_ok(report)
    ok = ok[np.isfinite(ok["tokens_per_s"])] if len(ok) else ok
    groups = [
        (k, p) for k, p in panel_groups(ok, ("mode", "platform", "device", "dtype")) if p[x].nunique() > 1
    ]
    if not groups:
        return None
    fig, axes = new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    levels: list[float] = []
    for ax, (key, part) in zip(axes, groups, strict=True):
        data, fixed = sweep_slice(part, x)
        if "ci_level" in data.columns:
            levels += [float(v) for v in data["ci_level"] if np.isfinite(v)]
        for (arch, impl), series in sorted_series(data):
            series = series.sort_values(x)
            y = series["tokens_per_s"].to_numpy(float)
            scale = series["median_s"].to_numpy(float)
            low = y * scale / series["ci_high_s"].to_numpy(float)
            high = y * scale / series["ci_low_s"].to_numpy(float)
            yerr = np.vstack([np.nan_to_num(y - low), np.nan_to_num(high - y)]).clip(min=0)
            ls, marker = impl_style(impl)
            ax.errorbar(
                series[x], y, yerr=yerr, color=arch_color(arch), linestyle=ls, marker=marker, markersize=4,
                linewidth=1.5, capsize=2.5, elinewidth=1,
            )  # fmt: skip
            handles.setdefault(f"{arch}/{impl}", handle(f"{arch}/{impl}", arch_color(arch), ls, marker))
        log2_x(ax, data[x].to_numpy(float))
        log_axis(ax, "y")
        ax.set_xlabel("sequence length T (steps)" if x == "seq_len" else "hidden size H", fontsize=FONT)
        ylabel(ax, "throughput (tokens/s)")
        title(ax, f"{panel_title(key)}\n{fixed}")
    legend(fig, handles)
    lowest = min(levels) if levels else NOMINAL_LEVEL
    bars = (
        "95% interval bars"
        if lowest >= NOMINAL_LEVEL - 1e-12
        else f"interval bars: 95%, or the full range where ≤ 5 values allow less (down to {100 * lowest:.3g}%)"
    )
    suptitle(fig, f"Throughput vs {'sequence length' if x == 'seq_len' else 'hidden size'} (median, {bars})")
    return fig


def ratio_heatmap(report: Report) -> Figure | None:
    """GRU/LSTM time over seq_len × hidden_size per mode and device; < 1 (blue) means the GRU is faster;
    the theoretical 0.75 is the colour bar's marked line."""
    ratios = report.ratios
    if ratios.empty:
        return None
    panels = []
    for key, part in panel_groups(ratios, ("mode", "platform", "device", "dtype")):
        impl = part["impl"].value_counts().index[0] if "native" not in set(part["impl"]) else "native"
        part = part[part["impl"] == impl]
        data, fixed = sweep_slice(part, "seq_len", extra_fixed=("hidden_size",))
        grid = data.pivot_table(index="hidden_size", columns="seq_len", values="ratio", aggfunc="median")
        decided = data.assign(_decided=data["verdict"].isin(DECIDED) if "verdict" in data.columns else False)
        marks = decided.pivot_table(index="hidden_size", columns="seq_len", values="_decided", aggfunc="all")
        marks = marks.reindex(index=grid.index, columns=grid.columns).fillna(False).astype(bool)
        if grid.size:
            panels.append((key, impl, fixed, grid, marks))
    if not panels:
        return None
    fig, axes = new_figure(len(panels))
    values = np.concatenate([g.to_numpy(float).ravel() for *_, g, _ in panels])
    values = values[np.isfinite(values)]
    # Ratios are multiplicative: 0.5 and 2 are equally far from 1. The colour scale is symmetric in that
    # sense and stays positive (a linear ±spread around 1 would show impossible negative ratios).
    positive = values[values > 0]
    reach = float(np.max(np.maximum(positive, 1 / positive))) if len(positive) else 1.3
    reach = max(1.3, reach)
    norm = TwoSlopeNorm(vmin=1 / reach, vcenter=1.0, vmax=reach)
    spread = reach - 1
    image = None
    for ax, (key, impl, fixed, grid, marks) in zip(axes, panels, strict=True):
        values_grid = np.ma.masked_invalid(grid.to_numpy(float))
        image = ax.imshow(values_grid, cmap="RdBu_r", norm=norm, aspect="auto", origin="lower")
        ax.set_facecolor("#d9d9d9")  # no pair (a failed case or a shape not measured): grey, never "equal"
        ax.set_xticks(range(grid.shape[1]))
        ax.set_xticklabels([str(int(c)) for c in grid.columns])
        ax.set_yticks(range(grid.shape[0]))
        ax.set_yticklabels([str(int(i)) for i in grid.index])
        ax.grid(False)
        if grid.size <= 144:
            for (row, col), value in np.ndenumerate(grid.to_numpy(float)):
                if np.isfinite(value):
                    dark = max(value, 1 / value) > 1 + 0.6 * spread if value > 0 else False
                    mark = "" if marks.iat[row, col] else "?"
                    ax.text(
                        col, row, f"{value:.2f}{mark}", ha="center", va="center", fontsize=FONT - 1,
                        color="white" if dark else "black",
                    )  # fmt: skip
                else:
                    ax.text(col, row, "n/a", ha="center", va="center", fontsize=FONT - 1, color="#555555")
        ax.set_xlabel("sequence length T (steps)", fontsize=FONT)
        ylabel(ax, "hidden size H")
        fixed_rest = " ".join(p for p in fixed.split() if not p.startswith(("T=", "H=")))
        mode, platform, device, dtype = key
        where = platform if platform == device else f"{device} {short(platform, 30)}"
        title(ax, f"{mode} · {dtype} · {impl} · {fixed_rest}\n{where}")
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.9)
        bar.set_label(
            wrap_to_width(
                "GRU/LSTM time per iteration (< 1: the GRU took less time)", PANEL_SIZE[1] * 0.75, FONT
            ),
            fontsize=FONT,
        )
        bar.ax.axhline(THEORETICAL_GRU_LSTM, color="black", linewidth=1.2)
        bar.ax.tick_params(labelsize=FONT)
    suptitle(
        fig,
        f"GRU/LSTM time ratio (theory {THEORETICAL_GRU_LSTM}: the black line on the colour bar)\n"
        f"'?': no verdict over rounds — the interval holds 1 or reaches the ±{MIN_EFFECT:.0%} band, or one "
        "round only",
    )
    return fig


def memory_figure(report: Report) -> Figure | None:
    """Peak memory per iteration against sequence length, one line per arch/impl."""
    ok = speed_ok(report)
    ok = ok[np.isfinite(ok["peak_memory_bytes"]) & (ok["peak_memory_bytes"] > 0)] if len(ok) else ok
    groups = [
        (k, p)
        for k, p in panel_groups(ok, ("mode", "platform", "device", "dtype"))
        if p["seq_len"].nunique() > 1
    ]
    if not groups:
        return None
    fig, axes = new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        data, fixed = sweep_slice(part, "seq_len")
        for (arch, impl), series in sorted_series(data):
            series = series.sort_values("seq_len")
            ls, marker = impl_style(impl)
            ax.plot(
                series["seq_len"], series["peak_memory_bytes"] / 2**20, color=arch_color(arch), linestyle=ls,
                marker=marker, markersize=4, linewidth=1.5,
            )  # fmt: skip
            handles.setdefault(f"{arch}/{impl}", handle(f"{arch}/{impl}", arch_color(arch), ls, marker))
        log2_x(ax, data["seq_len"].to_numpy(float))
        log_axis(ax, "y")
        ax.set_xlabel("sequence length T (steps)", fontsize=FONT)
        ylabel(ax, "peak memory (MiB)")
        title(ax, f"{panel_title(key)}\n{fixed}")
    legend(fig, handles)
    suptitle(fig, "Peak memory per iteration vs sequence length (median over rounds)")
    return fig


def efficiency_figure(report: Report) -> Figure | None:
    """Percent of the measured matrix-multiply peak against GEMM work per iteration, every ok case."""
    ok = speed_ok(report)
    if len(ok):
        ok = ok[
            np.isfinite(ok["peak_fraction"]) & np.isfinite(ok["flops_per_iter"]) & (ok["flops_per_iter"] > 0)
        ]
    groups = panel_groups(ok, ("mode", "platform", "device", "dtype"))
    if not groups:
        return None
    fig, axes = new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        for (arch, impl), series in sorted_series(part):
            if len(series) > MAX_POINTS:  # an evenly spaced subset: the cloud's shape, at bounded cost
                series = series.iloc[:: int(np.ceil(len(series) / MAX_POINTS))]
            marker = impl_style(impl)[1]
            ax.scatter(
                series["flops_per_iter"] / 1e9, 100 * series["peak_fraction"], color=arch_color(arch),
                marker=marker, s=16, alpha=0.75, rasterized=len(series) > 500, linewidths=0.8,
            )  # fmt: skip
            handles.setdefault(f"{arch}/{impl}", handle(f"{arch}/{impl}", arch_color(arch), "none", marker))
        log_axis(ax, "x")
        ax.set_xlabel("problem size (GEMM GFLOP per iteration)", fontsize=FONT)
        ylabel(ax, "% of torch.matmul's GFLOP/s (> 100%: beats it)")
        ax.set_ylim(bottom=0)
        title(ax, panel_title(key))
    legend(fig, handles)
    suptitle(fig, "Efficiency vs problem size (GFLOP/s executed ÷ torch.matmul's GFLOP/s in the same run)")
    return fig


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "throughput_vs_seq_len",
        "Throughput against sequence length, one line per architecture/implementation.",
        lambda r: throughput_figure(r, "seq_len"),
    ),
    FigureSpec(
        "throughput_vs_hidden",
        "Throughput against hidden size, one line per architecture/implementation.",
        lambda r: throughput_figure(r, "hidden_size"),
    ),
    FigureSpec("ratio_heatmap", "GRU/LSTM time ratio over sequence length × hidden size.", ratio_heatmap),
    FigureSpec("memory_vs_seq_len", "Peak memory against sequence length.", memory_figure),
    FigureSpec(
        "crossover",
        "minGRU/minLSTM time over the fastest LSTM/GRU time against T, with the crossover bracket shaded.",
        crossover_figure,
    ),
    FigureSpec(
        "efficiency",
        "Efficiency (% of torch.matmul's GFLOP/s in the same run) against problem size.",
        efficiency_figure,
    ),
    FigureSpec(
        "training_curves_steps",
        "Training curves against steps, seed bands.",
        lambda r: training_curves(r, "step"),
    ),
    FigureSpec(
        "training_curves_seconds",
        "Training curves against wall-clock seconds, seed bands.",
        lambda r: training_curves(r, "seconds"),
    ),
    FigureSpec("final_metric_vs_params", "Final metric against parameters.", final_vs_params),
    FigureSpec(
        "memory_horizon", "Memory horizon: success rate against sequence length per arm.", memory_horizon
    ),
)


@dataclass
class SavedFigure:
    """A figure written to disk: its files and the PNG bytes (for embedding in HTML)."""

    name: str
    caption: str
    files: list[Path]
    png: bytes


def _render(report: Report, index: int, out_dir: Path, formats: Sequence[str]) -> SavedFigure | None:
    import io

    spec = FIGURES[index]
    fig = spec.build(report)
    if fig is None:
        return None
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    png = buffer.getvalue()
    # The constrained layout is solved by the first save; freezing it makes the SVG save cheaper (the layout
    # pass re-measures every tick label) and keeps both files identical in arrangement.
    fig.set_layout_engine("none")
    files = []
    if "png" in formats:
        path = out_dir / f"{spec.name}.png"
        path.write_bytes(png)
        files.append(path)
    if "svg" in formats:
        path = out_dir / f"{spec.name}.svg"
        fig.savefig(path, format="svg", metadata={"Date": None})
        files.append(path)
    return SavedFigure(spec.name, spec.caption, files, png)


_FORKED: dict[str, Any] = {}
"""The report handed to forked workers (inherited through fork, never pickled)."""


def _render_forked(index: int) -> SavedFigure | None:
    return _render(_FORKED["report"], index, _FORKED["out_dir"], _FORKED["formats"])


def save_figures(
    report: Report, out_dir: Path, formats: Sequence[str] = ("png", "svg"), jobs: int | None = None
) -> list[SavedFigure]:
    """Draw every figure that has data and write it in each format; returns them in ``FIGURES`` order. The
    PNG is always rendered (the HTML embeds it) but only written when asked for.

    Drawing dominates a report's run time, so figures are drawn by ``jobs`` forked processes (default: up to
    two, the cores of a typical CI runner); each builds its own ``Figure``, which the object API makes safe.
    Where ``fork`` is unavailable, or ``jobs`` is 1, they are drawn one after another.
    """
    import multiprocessing
    import os

    out_dir.mkdir(parents=True, exist_ok=True)
    if jobs is None:
        jobs = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    indices = list(range(len(FIGURES)))
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        results = [_render(report, i, out_dir, formats) for i in indices]
    else:
        _FORKED.update(report=report, out_dir=out_dir, formats=tuple(formats))
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                # Most expensive first (the training figures), so the two workers finish together.
                order = sorted(indices, key=lambda i: -_COST.get(FIGURES[i].name, 1))
                done = dict(zip(order, pool.map(_render_forked, order, chunksize=1), strict=True))
            results = [done[i] for i in indices]
        finally:
            _FORKED.clear()
    return [r for r in results if r is not None]


_COST: dict[str, int] = {"training_curves_steps": 3, "training_curves_seconds": 3, "final_metric_vs_params": 2}
