"""Formatting for display: units, rates, intervals, and text made safe for a Markdown table. Data stay in
seconds and bytes."""

from __future__ import annotations

import html

import numpy as np

from rnnbench.stats.intervals import NOMINAL_LEVEL


# ---- display formatting (shared by every renderer) ------------------------------------------------------
def fmt_seconds(value: float | None) -> str:
    """Seconds in the unit that keeps three significant digits readable, trailing zeros kept so a column
    reads at one precision (``36.0 ms`` beside ``52.9 ms``, never ``36 ms``)."""
    if value is None or not np.isfinite(value):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(value) >= scale:
            return f"{_sig3(value / scale)} {unit}"
    return f"{_sig3(value / 1e-9)} ns"


def _sig3(number: float) -> str:
    """Three significant digits with their trailing zeros (``36.0``, ``7.20``, ``100``)."""
    return f"{number:#.3g}".rstrip(".")


def fmt_level(level: float | None, nominal: float = NOMINAL_LEVEL) -> str:
    """`` (94%)`` for an interval that covers less than ``nominal`` (a median of five values), empty for one
    that reaches it (its header says 95%) or an unknown level."""
    if level is None or not np.isfinite(level) or level >= nominal - 1e-12:
        return ""
    return f" ({100 * level:.3g}%)"


def fmt_interval_seconds(median: float, low: float, high: float, level: float | None = None) -> str:
    """``7.20 ms [7.00–7.40]``, with `` (75%)`` after it when the interval covers less than 95%.

    One unit (the median's) and one precision (the median's decimals, at least three significant digits of
    the median) for the median and both bounds: ``943 µs [827–1130]``, never ``[827–1.13e+03]``."""
    if not np.isfinite(median):
        return "—"
    text = fmt_seconds(median)
    if np.isfinite(low) and np.isfinite(high):
        unit = text.split(" ")[1]
        scale = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}[unit]
        number = text.split(" ")[0]
        decimals = len(number.split(".")[1]) if "." in number else 0
        text += f" [{low / scale:.{decimals}f}–{high / scale:.{decimals}f}]" + fmt_level(level)
    return text


def fmt_rate(value: float | None, spec: str = ".3g") -> str:
    """Counts per second with k/M/G prefixes and three significant digits (``2.99k``, ``585``).

    The one rate formatter: the speed tables, the gate's terminal tables and its Markdown exports all show
    throughput through it, so the same number reads the same everywhere. No unit: the column header has it.
    ``spec="g"`` keeps every digit (figure ticks, which are round numbers anyway).
    """
    if value is None or not np.isfinite(value):
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:{spec}}{unit}"
    return f"{value:{spec}}"


def fmt_bytes(value: float) -> str:
    """Bytes in binary units (memory is reported in bytes everywhere; this is display only)."""
    if value is None or not np.isfinite(value):
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale:
            return f"{_sig3(value / scale)} {unit}"
    return f"{value:.0f} B"


def fmt_number(value: float, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def fmt_percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal (0.0123 → ``1.2%``); ``—`` when missing."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:.1%}"


def fmt_ratio_interval(ratio: float, low: float, high: float) -> str:
    """The gate's ``0.586 [0.568, 0.617]``; ``—`` when there is no ratio.

    Kept apart from :func:`fmt_ratio` (``0.586 [0.568–0.617]``, empty when missing): the gate's exports are
    keyed and diffed by users and github-action-benchmark, so their text stays as it has been.
    """
    if not np.isfinite(ratio):
        return "—"
    return f"{ratio:.3f} [{low:.3f}, {high:.3f}]"


def fmt_ratio_parts(ratio: float, low: float, high: float) -> tuple[str, str]:
    """A GRU/LSTM ratio (or speed-up) and its interval as ``run`` and ``report`` both print them: three
    significant digits (``0.586``, ``1.77``, ``19.1``) and the bounds at the ratio's decimals (``1.73–1.82``);
    the interval is empty when it is missing. One spelling, so a run's verdict line and its report never show
    ``19.08`` beside ``19.085``."""
    if not np.isfinite(ratio):
        return "", ""
    text = _sig3(ratio)
    decimals = len(text.split(".")[1]) if "." in text else 0
    if not (np.isfinite(low) and np.isfinite(high)):
        return text, ""
    return text, f"{low:.{decimals}f}–{high:.{decimals}f}"


def fmt_ratio(ratio: float, low: float, high: float, method: str = "") -> str:
    """``1.77 [1.73–1.82] (rounds)``: :func:`fmt_ratio_parts`, with the interval's method when given."""
    if not np.isfinite(ratio):
        return ""
    value, interval = fmt_ratio_parts(ratio, low, high)
    text = value + (f" [{interval}]" if interval else "")
    if method:
        text += f" ({method})"
    return text


def md_escape(text: object) -> str:
    """Make a data string inert in a GFM table cell or list item: no HTML, no pipes, no line breaks, no
    emphasis, no links. Every Markdown rnnbench writes (reports, the gate's job summaries) escapes with this."""
    value = html.escape(str(text), quote=False)
    for ch in ("\\", "|", "*", "_", "`", "[", "]"):
        value = value.replace(ch, "\\" + ch)
    return value.replace("\r", " ").replace("\n", " ")
