"""What every report figure shares: one colour per architecture (``ARCH_COLORS``; the forget-bias LSTM a
lighter blue), one line style and marker per implementation, the panel grid, titles that fit, legends, axes
in SI units and powers of two, and the slice of a sweep a panel shows (the other shape fields fixed at the
values with the most data, named in the panel title). matplotlib's object API only, never ``pyplot``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from rnnbench.analyse.report import Report
from rnnbench.analyse.speed import GRU_FASTER, LSTM_FASTER, NO_DIFFERENCE
from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import ARMS, IMPLS, MODES, SHAPE_COLUMNS
from rnnbench.present.formatting import fmt_rate

ARCH_COLORS: dict[str, str] = {
    "lstm": "#0072B2",  # blue       (Okabe–Ito palette: distinguishable with colour-vision deficiencies)
    "lstm-fb1": "#56B4E9",  # sky blue: an LSTM variant, so a lighter shade of the LSTM's colour
    "gru": "#D55E00",  # vermillion
    "rnn": "#009E73",  # bluish green
    "mingru": "#E69F00",  # orange: the GRU's vermillion family
    "minlstm": "#CC79A7",  # reddish purple
}
OTHER_COLOR = "#777777"
IMPL_STYLES: dict[str, tuple[Any, str]] = {
    "native": ("-", "o"),
    "aten": ("--", "s"),
    "cell": (":", "^"),
    "scratch": ("-.", "v"),
    "scan": ("-", "P"),
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


def new_figure(panels: int, ncols: int = 3) -> tuple[Figure, list[Axes]]:
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


def title(ax: Axes, text: str) -> None:
    fig, grid = ax.get_figure(), ax.get_gridspec()
    columns = grid.ncols if grid is not None else 1
    width = (fig.get_figwidth() if isinstance(fig, Figure) else PANEL_SIZE[0] * columns) / max(1, columns)
    ax.set_title(wrap_to_width(text, width * 0.95, FONT), fontsize=FONT, loc="left")


def ylabel(ax: Axes, text: str) -> None:
    """A y label wrapped to the panel's height, so a long one is never cut at the figure's edge."""
    ax.set_ylabel(wrap_to_width(text, PANEL_SIZE[1] * 0.75, FONT), fontsize=FONT)


def suptitle(fig: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width (a one-panel figure is 4.6 inches wide)."""
    fig.suptitle(wrap_to_width(text, fig.get_figwidth() * 0.95, FONT + 2), fontsize=FONT + 2)


def legend(fig: Figure, handles: dict[str, Line2D]) -> None:
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside lower center",
            ncols=min(len(handles), 6),
            fontsize=FONT,
            frameon=False,
        )


def handle(label: str, color: str, linestyle: Any = "-", marker: str = "o") -> Line2D:
    return Line2D(
        [], [], color=color, linestyle=linestyle, marker=marker, markersize=5, linewidth=1.6, label=label
    )


def short(platform: str, limit: int = 34) -> str:
    return platform if len(platform) <= limit else platform[: limit - 1] + "…"


def panel_groups(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
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


def sweep_slice(part: pd.DataFrame, x: str, extra_fixed: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
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


def sorted_series(part: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    arch_rank = {a: i for i, a in enumerate(ARMS)}
    impl_rank = {a: i for i, a in enumerate(IMPLS)}
    out = [((str(k[0]), str(k[1])), g) for k, g in part.groupby(["arch", "impl"], sort=False)]
    out.sort(key=lambda kv: (impl_rank.get(kv[0][1], 99), arch_rank.get(kv[0][0], 99)))
    return out


def si(value: float, _pos: Any = None) -> str:
    """Tick labels without mathtext (``300k``, ``2M``, ``0.005``): mathtext layout dominates the cost of
    drawing log axes, and plain labels read just as well."""
    if value == 0 or not np.isfinite(value):
        return "0"
    if abs(value) >= 1e-3:
        return fmt_rate(value, "g")
    # up to three significant digits: a range inside one decade gets linear ticks (matplotlib's LogLocator
    # falls back to them when at most one 1-2-5 tick is in view), and one digit printed 1.6e-4 … 2.4e-4 all
    # as "2e-4" (efficiency.png repeated it five times)
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def log_axis(ax: Axes, which: str = "y") -> None:
    """Log scale with plain labels; call after plotting (the tick density follows the data's range)."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    low, high = (ax.dataLim.y0, ax.dataLim.y1) if which == "y" else (ax.dataLim.x0, ax.dataLim.x1)
    decades = np.log10(high / low) if low > 0 and high > low else 0.0
    # 1-2-5 ticks over a short range; only powers of ten (at most ~7) over a long one, so labels never collide
    subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=7 if which == "x" else 9))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(si))


def log2_x(ax: Axes, values: np.ndarray) -> None:
    ax.set_xscale("log", base=2)
    ticks = np.unique(values[np.isfinite(values)])
    if 0 < len(ticks) <= 12:
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{int(t)}" for t in ticks])
        ax.minorticks_off()


def speed_ok(report: Report) -> pd.DataFrame:
    cases = report.cases
    if cases.empty:
        return cases
    return cases[(cases["status"] == "ok") & np.isfinite(cases["median_s"])]


def panel_title(key: tuple[Any, ...]) -> str:
    mode, platform, device, dtype = key
    where = platform if platform == device else f"{device} {short(platform)}"
    return f"{mode} · {where} · {dtype}"
