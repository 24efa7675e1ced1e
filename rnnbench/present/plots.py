"""Figures for the report, drawn with matplotlib's object API only (``Figure``, never ``pyplot``): no global
state, so figures can be built in any order, in tests and in threads, and nothing leaks between them.

Every figure keeps one colour per architecture (``ARCH_COLORS``; the forget-bias LSTM is a lighter blue) and
one line style/marker per implementation, labels its axes with units, and is bounded in size: at most
``MAX_PANELS`` panels, each showing one slice of the sweep (the other shape fields fixed at the values with the
most data, named in the panel title), so 100,000 rows draw as fast as 100.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from rnnbench.analyse.report import Report
from rnnbench.analyse.speed import GRU_FASTER, LSTM_FASTER, NO_DIFFERENCE
from rnnbench.analyse.training import setting_keys, setting_label, success_rates
from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import ARMS, IMPLS, MIN_EFFECT, MODES, SHAPE_COLUMNS, THEORETICAL_GRU_LSTM
from rnnbench.present.formatting import fmt_rate
from rnnbench.stats.intervals import NOMINAL_LEVEL

ARCH_COLORS: dict[str, str] = {
    "lstm": "#0072B2",  # blue       (Okabe–Ito palette: distinguishable with colour-vision deficiencies)
    "lstm-fb1": "#56B4E9",  # sky blue: an LSTM variant, so a lighter shade of the LSTM's colour
    "gru": "#D55E00",  # vermillion
    "rnn": "#009E73",  # bluish green
}
OTHER_COLOR = "#777777"
IMPL_STYLES: dict[str, tuple[Any, str]] = {
    "native": ("-", "o"),
    "aten": ("--", "s"),
    "cell": (":", "^"),
    "scratch": ("-.", "v"),
    "compiled": ((0, (5, 1)), "D"),
    "numpy": ((0, (1, 1)), "x"),
}
DECIDED = (GRU_FASTER, LSTM_FASTER, NO_DIFFERENCE)
"""Pair verdicts decided over rounds (``analyse.speed.ratio_verdict``); heat-map cells without one show '?'."""
MAX_PANELS = 6
MAX_POINTS = 1500
"""Points per series in a scatter; beyond this the cloud is thinned (the files keep every case)."""
PANEL_SIZE = (4.6, 3.3)
DPI = 110
FONT = 9
DODGE_POINTS = 7.0
"""How far apart (in points, on screen) arms at one parameter budget are drawn in ``final_metric_vs_params``:
an offset that moves no data value."""


def arch_color(arch: str) -> str:
    return ARCH_COLORS.get(arch, OTHER_COLOR)


def impl_style(impl: str) -> tuple[Any, str]:
    return IMPL_STYLES.get(impl, ("-", "."))


@dataclass
class FigureSpec:
    """A figure's file stem, its caption and the function that draws it (None when there is no data)."""

    name: str
    caption: str
    build: Callable[[Report], Figure | None]


def _new_figure(panels: int, ncols: int = 3) -> tuple[Figure, list[Axes]]:
    ncols = max(1, min(ncols, panels))
    nrows = int(np.ceil(panels / ncols))
    fig = Figure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.set_visible(False)
    for ax in axes[:panels]:
        ax.tick_params(labelsize=FONT)
        ax.grid(True, which="major", alpha=0.3, linewidth=0.6)
    return fig, axes[:panels]


def wrap_to_width(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken at spaces into lines that fit ``width_in`` inches at ``fontsize`` points (an average
    glyph is taken as 0.6 em, generous for DejaVu Sans), so no title runs past its figure and gets clipped."""
    import textwrap

    chars = max(12, int(width_in * 72 / (fontsize * 0.6)))
    return "\n".join(textwrap.fill(line, chars, break_long_words=False) for line in text.split("\n"))


def _title(ax: Axes, text: str) -> None:
    fig, grid = ax.get_figure(), ax.get_gridspec()
    columns = grid.ncols if grid is not None else 1
    width = (fig.get_figwidth() if isinstance(fig, Figure) else PANEL_SIZE[0] * columns) / max(1, columns)
    ax.set_title(wrap_to_width(text, width * 0.95, FONT), fontsize=FONT, loc="left")


def _ylabel(ax: Axes, text: str) -> None:
    """A y label wrapped to the panel's height, so a long one is never cut at the figure's edge."""
    ax.set_ylabel(wrap_to_width(text, PANEL_SIZE[1] * 0.75, FONT), fontsize=FONT)


def _suptitle(fig: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width (a one-panel figure is 4.6 inches wide)."""
    fig.suptitle(wrap_to_width(text, fig.get_figwidth() * 0.95, FONT + 2), fontsize=FONT + 2)


def _legend(fig: Figure, handles: dict[str, Line2D]) -> None:
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside lower center",
            ncols=min(len(handles), 6),
            fontsize=FONT,
            frameon=False,
        )


def _handle(label: str, color: str, linestyle: Any = "-", marker: str = "o") -> Line2D:
    return Line2D(
        [], [], color=color, linestyle=linestyle, marker=marker, markersize=5, linewidth=1.6, label=label
    )


def _short(platform: str, limit: int = 34) -> str:
    return platform if len(platform) <= limit else platform[: limit - 1] + "…"


def _panel_groups(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """Groups in a stable order (mode order first), at most ``MAX_PANELS``."""
    if frame.empty:
        return []
    groups = []
    for key, part in frame.groupby(list(keys), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        groups.append((key, part))
    if "mode" in keys:
        i = list(keys).index("mode")
        groups.sort(key=lambda kv: MODES.index(kv[0][i]) if kv[0][i] in MODES else 99)
    return groups[:MAX_PANELS]


def _sweep_slice(part: pd.DataFrame, x: str, extra_fixed: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
    """The rows of ``part`` along ``x`` with every other shape field fixed at the combination that has the
    most distinct ``x`` values (ties: most rows), and a label naming the fixed values."""
    others = [c for c in SHAPE_COLUMNS if c != x and c not in extra_fixed]
    tied_input = (
        "hidden_size" in (x, *extra_fixed)
        and "input_size" in others
        and bool((part["input_size"] == part["hidden_size"]).all())
    )
    if tied_input:  # I follows H (the default --input-size): sweep them together, label it "I=H"
        others.remove("input_size")
    counts = part.groupby(others, dropna=False, sort=True)[x].agg(["nunique", "size"])
    if counts.empty:
        return part.iloc[0:0], ""
    best = counts.sort_values(["nunique", "size"], ascending=False, kind="stable").index[0]
    best = best if isinstance(best, tuple) else (best,)
    mask = np.ones(len(part), dtype=bool)
    for col, value in zip(others, best, strict=True):
        mask &= (part[col] == value).to_numpy()
    fixed = dict(zip(others, best, strict=True))
    size_fields = ("seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "bidirectional")
    label = shape_label({k: fixed[k] for k in size_fields if k in fixed})
    if tied_input:
        label = (label + " I=H").strip()
    return part.loc[mask], label


def _sorted_series(part: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    arch_rank = {a: i for i, a in enumerate(ARMS)}
    impl_rank = {a: i for i, a in enumerate(IMPLS)}
    out = [((str(k[0]), str(k[1])), g) for k, g in part.groupby(["arch", "impl"], sort=False)]
    out.sort(key=lambda kv: (impl_rank.get(kv[0][1], 99), arch_rank.get(kv[0][0], 99)))
    return out


def _si(value: float, _pos: Any = None) -> str:
    """Tick labels without mathtext (``300k``, ``2M``, ``0.005``): mathtext layout dominates the cost of
    drawing log axes, and plain labels read just as well."""
    if value == 0 or not np.isfinite(value):
        return "0"
    if abs(value) >= 1e-3:
        return fmt_rate(value, "g")
    return f"{value:.0e}".replace("e-0", "e-")


def _log_axis(ax: Axes, which: str = "y") -> None:
    """Log scale with plain labels; call after plotting (the tick density follows the data's range)."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    low, high = (ax.dataLim.y0, ax.dataLim.y1) if which == "y" else (ax.dataLim.x0, ax.dataLim.x1)
    decades = np.log10(high / low) if low > 0 and high > low else 0.0
    # 1-2-5 ticks over a short range; only powers of ten (at most ~7) over a long one, so labels never collide
    subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=7 if which == "x" else 9))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(_si))


def _log2_x(ax: Axes, values: np.ndarray) -> None:
    ax.set_xscale("log", base=2)
    ticks = np.unique(values[np.isfinite(values)])
    if 0 < len(ticks) <= 12:
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{int(t)}" for t in ticks])
        ax.minorticks_off()


def _speed_ok(report: Report) -> pd.DataFrame:
    cases = report.cases
    if cases.empty:
        return cases
    return cases[(cases["status"] == "ok") & np.isfinite(cases["median_s"])]


def _panel_title(key: tuple[Any, ...]) -> str:
    mode, platform, device, dtype = key
    where = platform if platform == device else f"{device} {_short(platform)}"
    return f"{mode} · {where} · {dtype}"


def throughput_figure(report: Report, x: str) -> Figure | None:
    """Tokens per second against ``x`` (seq_len or hidden_size), one line per arch/impl, error bars from
    the time interval (throughput = tokens / time, so the bars are asymmetric)."""
    ok = _speed_ok(report)
    ok = ok[np.isfinite(ok["tokens_per_s"])] if len(ok) else ok
    groups = [
        (k, p) for k, p in _panel_groups(ok, ("mode", "platform", "device", "dtype")) if p[x].nunique() > 1
    ]
    if not groups:
        return None
    fig, axes = _new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    levels: list[float] = []
    for ax, (key, part) in zip(axes, groups, strict=True):
        data, fixed = _sweep_slice(part, x)
        if "ci_level" in data.columns:
            levels += [float(v) for v in data["ci_level"] if np.isfinite(v)]
        for (arch, impl), series in _sorted_series(data):
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
            handles.setdefault(f"{arch}/{impl}", _handle(f"{arch}/{impl}", arch_color(arch), ls, marker))
        _log2_x(ax, data[x].to_numpy(float))
        _log_axis(ax, "y")
        ax.set_xlabel("sequence length T (steps)" if x == "seq_len" else "hidden size H", fontsize=FONT)
        _ylabel(ax, "throughput (tokens/s)")
        _title(ax, f"{_panel_title(key)}\n{fixed}")
    _legend(fig, handles)
    lowest = min(levels) if levels else NOMINAL_LEVEL
    bars = (
        "95% interval bars"
        if lowest >= NOMINAL_LEVEL - 1e-12
        else f"interval bars: 95%, or the full range where ≤ 5 values allow less (down to {100 * lowest:.3g}%)"
    )
    _suptitle(fig, f"Throughput vs {'sequence length' if x == 'seq_len' else 'hidden size'} (median, {bars})")
    return fig


def ratio_heatmap(report: Report) -> Figure | None:
    """GRU/LSTM time over seq_len × hidden_size per mode and device; < 1 (blue) means the GRU is faster;
    the theoretical 0.75 is the colour bar's marked line."""
    ratios = report.ratios
    if ratios.empty:
        return None
    panels = []
    for key, part in _panel_groups(ratios, ("mode", "platform", "device", "dtype")):
        impl = part["impl"].value_counts().index[0] if "native" not in set(part["impl"]) else "native"
        part = part[part["impl"] == impl]
        data, fixed = _sweep_slice(part, "seq_len", extra_fixed=("hidden_size",))
        grid = data.pivot_table(index="hidden_size", columns="seq_len", values="ratio", aggfunc="median")
        decided = data.assign(_decided=data["verdict"].isin(DECIDED) if "verdict" in data.columns else False)
        marks = decided.pivot_table(index="hidden_size", columns="seq_len", values="_decided", aggfunc="all")
        marks = marks.reindex(index=grid.index, columns=grid.columns).fillna(False).astype(bool)
        if grid.size:
            panels.append((key, impl, fixed, grid, marks))
    if not panels:
        return None
    fig, axes = _new_figure(len(panels))
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
        _ylabel(ax, "hidden size H")
        fixed_rest = " ".join(p for p in fixed.split() if not p.startswith(("T=", "H=")))
        mode, platform, device, dtype = key
        where = platform if platform == device else f"{device} {_short(platform, 30)}"
        _title(ax, f"{mode} · {dtype} · {impl} · {fixed_rest}\n{where}")
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
    _suptitle(
        fig,
        f"GRU/LSTM time ratio (theory {THEORETICAL_GRU_LSTM}: the black line on the colour bar)\n"
        f"'?': no verdict over rounds — the interval holds 1 or reaches the ±{MIN_EFFECT:.0%} band, or one "
        "round only",
    )
    return fig


def memory_figure(report: Report) -> Figure | None:
    """Peak memory per iteration against sequence length, one line per arch/impl."""
    ok = _speed_ok(report)
    ok = ok[np.isfinite(ok["peak_memory_bytes"]) & (ok["peak_memory_bytes"] > 0)] if len(ok) else ok
    groups = [
        (k, p)
        for k, p in _panel_groups(ok, ("mode", "platform", "device", "dtype"))
        if p["seq_len"].nunique() > 1
    ]
    if not groups:
        return None
    fig, axes = _new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        data, fixed = _sweep_slice(part, "seq_len")
        for (arch, impl), series in _sorted_series(data):
            series = series.sort_values("seq_len")
            ls, marker = impl_style(impl)
            ax.plot(
                series["seq_len"], series["peak_memory_bytes"] / 2**20, color=arch_color(arch), linestyle=ls,
                marker=marker, markersize=4, linewidth=1.5,
            )  # fmt: skip
            handles.setdefault(f"{arch}/{impl}", _handle(f"{arch}/{impl}", arch_color(arch), ls, marker))
        _log2_x(ax, data["seq_len"].to_numpy(float))
        _log_axis(ax, "y")
        ax.set_xlabel("sequence length T (steps)", fontsize=FONT)
        _ylabel(ax, "peak memory (MiB)")
        _title(ax, f"{_panel_title(key)}\n{fixed}")
    _legend(fig, handles)
    _suptitle(fig, "Peak memory per iteration vs sequence length (median over rounds)")
    return fig


def efficiency_figure(report: Report) -> Figure | None:
    """Percent of the measured matrix-multiply peak against GEMM work per iteration, every ok case."""
    ok = _speed_ok(report)
    if len(ok):
        ok = ok[
            np.isfinite(ok["peak_fraction"]) & np.isfinite(ok["flops_per_iter"]) & (ok["flops_per_iter"] > 0)
        ]
    groups = _panel_groups(ok, ("mode", "platform", "device", "dtype"))
    if not groups:
        return None
    fig, axes = _new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        for (arch, impl), series in _sorted_series(part):
            if len(series) > MAX_POINTS:  # an evenly spaced subset: the cloud's shape, at bounded cost
                series = series.iloc[:: int(np.ceil(len(series) / MAX_POINTS))]
            marker = impl_style(impl)[1]
            ax.scatter(
                series["flops_per_iter"] / 1e9, 100 * series["peak_fraction"], color=arch_color(arch),
                marker=marker, s=16, alpha=0.75, rasterized=len(series) > 500, linewidths=0.8,
            )  # fmt: skip
            handles.setdefault(f"{arch}/{impl}", _handle(f"{arch}/{impl}", arch_color(arch), "none", marker))
        _log_axis(ax, "x")
        ax.set_xlabel("problem size (GEMM GFLOP per iteration)", fontsize=FONT)
        _ylabel(ax, "% of torch.matmul's GFLOP/s (> 100%: beats it)")
        ax.set_ylim(bottom=0)
        _title(ax, _panel_title(key))
    _legend(fig, handles)
    _suptitle(fig, "Efficiency vs problem size (GFLOP/s executed ÷ torch.matmul's GFLOP/s in the same run)")
    return fig


# ---- training ------------------------------------------------------------------------------------------
def _chosen_curves(report: Report) -> pd.DataFrame:
    """Curve points of the configurations the report compares (each arm's chosen learning rate)."""
    curves, arms = report.data.curves, report.arms
    if curves.empty or arms.empty:
        return pd.DataFrame()
    keys = [k for k in ("task", "seq_len", "match", "budget") if k in curves.columns and k in arms.columns]
    chosen = arms.loc[arms["chosen"], [*keys, "arm", "hidden_size", "lr"]].drop_duplicates()
    frame = curves.copy()
    if "budget" in frame.columns:
        frame["budget"] = frame["budget"].fillna(0).astype(np.int64)
    if "match" in frame.columns:
        frame["match"] = frame["match"].fillna("").astype(str)
    merged = frame.merge(chosen, on=[*keys, "arm", "hidden_size", "lr"])
    return merged[np.isfinite(merged["eval_metric"])]


def _metric_names(report: Report) -> dict[str, str]:
    train = report.data.train
    if train.empty or "metric" not in train.columns:
        return {}
    return {str(k): str(v) for k, v in train.groupby("task")["metric"].first().items()}


def _baselines(report: Report) -> dict[tuple[Any, ...], float]:
    train = report.data.train
    if train.empty:
        return {}
    medians = train.groupby(["task", "seq_len"])["baseline_metric"].median()
    return {cast(tuple[Any, ...], k): float(v) for k, v in medians.items()}


def training_curves(report: Report, x: str) -> Figure | None:
    """Evaluation metric against steps or seconds: per arm the median over seeds, the band the quartiles over
    seeds (min–max would let one failed seed swallow the panel: outcomes are bimodal); the dashed grey line is
    the memoryless baseline."""
    curves = _chosen_curves(report)
    if curves.empty:
        return None
    keys = [k for k in ("task", "seq_len", "match", "budget") if k in curves.columns]
    groups = _panel_groups(curves, keys)
    metric_names = _metric_names(report)
    baselines = _baselines(report)
    fig, axes = _new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        per_step = part.groupby(["arm", "step"]).agg(
            median=("eval_metric", "median"),
            low=("eval_metric", lambda v: v.quantile(0.25)),
            high=("eval_metric", lambda v: v.quantile(0.75)),
            seconds=("train_seconds", "median"),
            seeds=("seed", "nunique"),
        )
        for arm in sorted(per_step.index.get_level_values(0).unique(), key=_arm_rank):
            s = per_step.loc[arm].reset_index()
            xs = s["step"] if x == "step" else s["seconds"]
            color = arch_color(arm)
            ax.plot(xs, s["median"], color=color, linewidth=1.6)
            if s["seeds"].max() > 1:
                ax.fill_between(xs, s["low"], s["high"], color=color, alpha=0.18, linewidth=0)
            handles.setdefault(arm, _handle(arm, color, "-", ""))
        baseline = baselines.get((key[0], key[1]))
        if baseline is not None and np.isfinite(baseline):
            ax.axhline(baseline, color="#555555", linestyle="--", linewidth=1)
            handles.setdefault("memoryless baseline", _handle("memoryless baseline", "#555555", "--", ""))
        values = part["eval_metric"].to_numpy(float)
        positive = values[values > 0]
        if len(positive) and positive.max() / positive.min() > 50:
            _log_axis(ax, "y")
        ax.set_xlabel(
            "training step" if x == "step" else "training time (s, evaluation excluded)", fontsize=FONT
        )
        _ylabel(ax, f"eval {metric_names.get(str(key[0]), 'metric')} (lower is better)")
        _title(ax, setting_label(keys, list(key)))
    _legend(fig, handles)
    what = "steps" if x == "step" else "seconds"
    _suptitle(fig, f"Training curves vs {what} (median over seeds; band: quartiles over seeds)")
    return fig


def _arm_rank(arm: str) -> int:
    return ARMS.index(arm) if arm in ARMS else 99


def final_vs_params(report: Report) -> Figure | None:
    """Final evaluation metric against total parameters: small dots are seeds, large markers the median of
    each arm's chosen configuration per size."""
    chosen = report.chosen
    if chosen.empty:
        return None
    data = chosen[np.isfinite(chosen["final_metric"])]
    keys = [k for k in setting_keys(data) if k not in ("budget", "match")]
    groups = _panel_groups(data, keys)
    if not groups:
        return None
    metric_names = _metric_names(report)
    fig, axes = _new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        arms = sorted(part.groupby("arm"), key=lambda kv: _arm_rank(str(kv[0])))
        for i, (arm, series) in enumerate(arms):
            color = arch_color(str(arm))
            # Parameter-matched arms share an x value. Each arm is drawn at its true parameter count, then
            # shifted sideways on screen by a few *points* (not parameters) so none hides another; the axis
            # label says so, and the data coordinates stay true (SVG, hover tools, the CSV).
            shift = transforms.offset_copy(
                ax.transData, fig=fig, x=(i - (len(arms) - 1) / 2) * DODGE_POINTS, y=0, units="points"
            )
            ax.scatter(
                series["params"],
                series["final_metric"],
                color=color,
                s=12,
                alpha=0.45,
                linewidths=0,
                transform=shift,
            )
            med = series.groupby("params")["final_metric"].median().sort_index()
            ax.plot(
                med.index, med.to_numpy(), color=color, marker="o", markersize=6, linewidth=1.4, transform=shift
            )
            handles.setdefault(str(arm), _handle(str(arm), color, "-", "o"))
        # artists drawn through an offset transform do not grow the data limits: add the true points
        ax.update_datalim(part[["params", "final_metric"]].to_numpy(float))
        ax.autoscale_view()
        values = part["final_metric"].to_numpy(float)
        positive = values[values > 0]
        if len(positive) and positive.max() / positive.min() > 50:
            _log_axis(ax, "y")
        _log_axis(ax, "x")
        ax.set_xlabel(
            wrap_to_width(
                "parameters (total, head included)"
                + (f"; arms drawn {DODGE_POINTS:g} pt apart" if len(arms) > 1 else ""),
                PANEL_SIZE[0] * 0.9,
                FONT,
            ),
            fontsize=FONT,
        )
        _ylabel(ax, f"final {metric_names.get(str(key[0]), 'metric')} (lower is better)")
        _title(ax, setting_label(keys, list(key)))
    _legend(fig, handles)
    _suptitle(
        fig,
        "Final metric vs parameters (dots: seeds; markers: median; arms at one budget drawn side by side, "
        "offset in points, not in parameters)",
    )
    return fig


def memory_horizon(report: Report) -> Figure | None:
    """Share of seeds that solve the task against sequence length, per arm, with Wilson 95% intervals."""
    rates = success_rates(report.chosen)
    if rates.empty:
        return None
    keys = [k for k in setting_keys(report.chosen) if k != "seq_len"]
    groups = [(k, p) for k, p in _panel_groups(rates, keys) if p["seq_len"].nunique() > 1]
    if not groups:
        return None
    fig, axes = _new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        arms = sorted(part["arm"].unique(), key=_arm_rank)
        for i, arm in enumerate(arms):
            s = part[part["arm"] == arm].sort_values("seq_len")
            # arms at one length drawn side by side by an offset in points: every x stays the true length
            shift = transforms.offset_copy(
                ax.transData, fig=fig, x=(i - (len(arms) - 1) / 2) * DODGE_POINTS / 2, y=0, units="points"
            )
            xs = s["seq_len"].to_numpy(float)
            yerr = np.vstack([s["rate"] - s["low"], s["high"] - s["rate"]]).clip(min=0)
            color = arch_color(str(arm))
            bars = ax.errorbar(
                xs, s["rate"], yerr=yerr, color=color, marker="o", markersize=5, linewidth=1.6, capsize=3
            )
            for artist in bars.get_children():
                artist.set_transform(shift)
            handles.setdefault(str(arm), _handle(str(arm), color, "-", "o"))
        _log2_x(ax, part["seq_len"].to_numpy(float))
        ax.set_ylim(-0.05, 1.05)
        ax.axhline(0.5, color="#999999", linestyle=":", linewidth=1)
        ax.set_xlabel(
            "sequence length T (steps)"
            + (f"; arms drawn {DODGE_POINTS / 2:g} pt apart" if len(arms) > 1 else ""),
            fontsize=FONT,
        )
        _ylabel(ax, "success rate (share of seeds solved)")
        _title(ax, setting_label(keys, list(key)))
    _legend(fig, handles)
    _suptitle(fig, "Memory horizon: success rate vs length (95% Wilson intervals; dotted: half the seeds)")
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
