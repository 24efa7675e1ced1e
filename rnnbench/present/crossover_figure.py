"""The crossover figure: minGRU/minLSTM's time over the fastest LSTM/GRU's against T (``analyse.crossover``).

One panel per (platform, device, dtype) and shape without T (at most ``MAX_PANELS``); in each, one line per
minimal architecture and mode — colour per architecture, line style per mode — with 95% interval bars, a line
at 1, and each series' crossover bracket shaded in its colour. Log T (powers of two), log ratio (0.5 and 2
equally far from 1). Filled markers are decided verdicts, hollow ones are not (the heat map's '?').
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator

from rnnbench.analyse.crossover import CROSSOVER, DECIDED, SERIES_SHAPE
from rnnbench.analyse.report import Report
from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import MIN_EFFECT, MODES
from rnnbench.present.figure_kit import (
    DODGE_POINTS,
    FONT,
    IMPL_STYLES,
    arch_color,
    log2_x,
    log_axis,
    new_figure,
    panel_groups,
    short,
    suptitle,
    title,
    ylabel,
)

MODE_STYLES: dict[str, tuple[Any, str]] = {
    "train": ("-", "o"),
    "inference": ("--", "s"),
    "forward": (":", "^"),
    "backward": ("-.", "v"),
    "ddp-train": ((0, (5, 1)), "D"),
}
"""Line style and marker per mode: the colour already says the architecture."""
WIDTH_IN = 7.5
HEIGHT_IN = 4.8
"""The narrowest and lowest the figure is drawn: one panel, its legend of arch/impl · mode entries and a
ratio axis tall enough for interval bars over several decades."""


def crossover_figure(report: Report) -> Figure | None:
    """Time ratio (minimal / fastest LSTM-or-GRU) against T; None when nothing was paired."""
    result = report.crossover
    if result.empty:
        return None
    points, series = result.points, result.series
    keys = ("platform", "device", "dtype", *SERIES_SHAPE)
    groups = panel_groups(points, keys)
    fig, axes = new_figure(len(groups), ncols=min(2, len(groups)))
    fig.set_figwidth(max(fig.get_figwidth(), WIDTH_IN))  # room for the legend and the title of one panel
    fig.set_figheight(max(fig.get_figheight(), HEIGHT_IN))
    handles: dict[str, Any] = {}
    shaded = False
    for ax, (key, part) in zip(axes, groups, strict=True):
        lines = sorted(
            part.groupby(["arch", "impl", "mode"], sort=False),
            key=lambda kv: (MODES.index(kv[0][2]) if kv[0][2] in MODES else 99, str(kv[0][0]), str(kv[0][1])),
        )
        where = dict(zip(keys, key, strict=True))
        brackets = 0
        for i, ((arch, impl, mode), line) in enumerate(lines):
            line = line.sort_values("seq_len")
            color = arch_color(str(arch))
            style, marker = MODE_STYLES.get(str(mode), ("-", "."))
            if len({str(i) for i in part["impl"]}) > 1:  # scan and compiled side by side: the marker says which
                marker = IMPL_STYLES.get(str(impl), ("-", marker))[1]
            x = line["seq_len"].to_numpy(float)
            y = line["ratio"].to_numpy(float)
            low = line["ratio_low"].to_numpy(float)
            high = line["ratio_high"].to_numpy(float)
            yerr = np.vstack([np.nan_to_num(y - low), np.nan_to_num(high - y)]).clip(min=0)
            # series at one T drawn a few points apart on screen (every x stays the true T)
            shift = transforms.offset_copy(
                ax.transData, fig=fig, x=(i - (len(lines) - 1) / 2) * DODGE_POINTS / 2, y=0, units="points"
            )
            ax.errorbar(
                x, y, yerr=yerr, color=color, linestyle=style, linewidth=1.5, capsize=2.5, elinewidth=1,
                marker="none", transform=shift,
            )  # fmt: skip
            decided = line["verdict"].isin(DECIDED).to_numpy()
            ax.plot(x[decided], y[decided], linestyle="none", marker=marker, color=color, markersize=5,
                    transform=shift)  # fmt: skip
            ax.plot(x[~decided], y[~decided], linestyle="none", marker=marker, markerfacecolor="white",
                    markeredgecolor=color, markersize=5, transform=shift)  # fmt: skip
            label = f"{arch}/{impl} · {mode}"
            handles.setdefault(label, Line2D([], [], color=color, linestyle=style, marker=marker, markersize=5,
                                             linewidth=1.6, label=label))  # fmt: skip
            mine = series
            for col, value in {**where, "arch": arch, "impl": impl, "mode": mode}.items():
                mine = mine[mine[col].isna() if not is_known(value) else mine[col] == value]
            if len(mine) and mine.iloc[0]["kind"] == CROSSOVER:
                bracket_low, bracket_high = mine.iloc[0]["low_T"], mine.iloc[0]["high_T"]
                left = float(bracket_low) if is_known(bracket_low) else float(x.min())
                right = float(bracket_high)
                ax.axvspan(left, right, color=color, alpha=0.08, linewidth=0)
                # and the bracket itself as a bar along the bottom: one row per series, so overlapping
                # brackets stay apart (an open lower end starts at the shortest T without an end tick)
                row = 0.04 + 0.035 * brackets
                ax.plot([left, right], [row, row], color=color, linestyle=style, linewidth=2.2,
                        transform=ax.get_xaxis_transform(), solid_capstyle="butt")  # fmt: skip
                ends = [right] if left == x.min() and not is_known(bracket_low) else [left, right]
                ax.plot(ends, [row] * len(ends), linestyle="none", marker="|", markersize=8, color=color,
                        transform=ax.get_xaxis_transform())  # fmt: skip
                brackets += 1
                shaded = True
        _limits(ax, part)
        ax.axhline(1.0, color="black", linewidth=1.0)
        ax.axhspan(1 - MIN_EFFECT, 1 + MIN_EFFECT, color="#999999", alpha=0.15, linewidth=0)
        log2_x(ax, part["seq_len"].to_numpy(float))
        log_axis(ax, "y")
        bottom, top = ax.get_ylim()
        if top / bottom < 10:  # within a decade 1-2-5 ticks leave one or two labels: add 1.5, 3, 4, 7
            ax.yaxis.set_major_locator(
                LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0), numticks=12)
            )
        ax.set_xlabel("sequence length T (steps)", fontsize=FONT)
        ylabel(ax, "time ratio: minimal / fastest LSTM-or-GRU (< 1: scan faster)")
        platform, device = str(where["platform"]), str(where["device"])
        place = platform if platform == device else f"{device} {short(platform)}"
        label = shape_label({k: where[k] for k in SERIES_SHAPE})
        title(ax, f"{place} · {where['dtype']}\n{label}")
    if shaded:
        handles["crossover bracket"] = Patch(color="#777777", alpha=0.25, label="crossover bracket")
    # columns that fit the figure's width (about 13 characters of legend text per inch at this font size,
    # plus the handle): a centred legend wider than the figure is cut off at both edges
    widest = max(len(label) for label in handles) + 6
    fig.legend(
        list(handles.values()), list(handles.keys()), loc="outside lower center", frameon=False, fontsize=FONT,
        ncols=max(1, min(len(handles), int(fig.get_figwidth() * 13 / widest))),
    )  # fmt: skip
    suptitle(
        fig,
        "Where the scan overtakes: minGRU/minLSTM time / the fastest LSTM-or-GRU time at each T (95% interval "
        f"bars; hollow: no verdict; grey band: ±{MIN_EFFECT:.0%}; shaded, and a bar at the bottom: where the "
        "crossover lies)",
    )
    return fig


def is_known(value: Any) -> bool:
    """A bracket end that exists (not None, NaN or pandas' NA)."""
    return value is not None and not pd.isna(value)


def _limits(ax: Any, part: Any) -> None:
    """Data limits from the true points (artists drawn through an offset transform do not grow them), the
    line at 1 always in view, and interval bars cut at 20× beyond the ratios: a two-round t-interval can span
    six decades and would flatten every line."""
    t = part["seq_len"].to_numpy(float)
    ratio = part["ratio"].to_numpy(float)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    values = [*ratio, 1.0]
    for col in ("ratio_low", "ratio_high"):
        bound = part[col].to_numpy(float)
        values += list(bound[np.isfinite(bound) & (bound > 0)])
    low, high = min(values), max(values)
    if len(ratio):
        low, high = max(low, min(ratio.min(), 1.0) / 20), min(high, max(ratio.max(), 1.0) * 20)
    ax.update_datalim([[t.min(), low], [t.max(), high]])
    ax.autoscale_view()
