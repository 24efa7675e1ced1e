"""How the regression gate's results look: its three tables, each specified once, and the lines its commands
print.

A table is specified once — columns and cell strings, by :func:`comparison_table`, :func:`calibration_table`
and :func:`history_table` — and rendered twice: as Markdown (:func:`markdown_lines`, for the job summary and
the PR comment, see :mod:`rnnbench.present.exports`) and as a rich table on the terminal (:func:`rich_table`).
So the two cannot drift apart. Where the two renderings deliberately differ (the terminal names units in its
headers and colours verdicts; Markdown marks verdicts with emoji, which GitHub renders) the difference is
spelled out here, keyed by :data:`Target`, rather than kept in two files.

Nothing here prints: functions return values (a :class:`TableSpec`, lines, a rich ``Table``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.table import Table
from rich.text import Text

from rnnbench.core.progress import ProgressEvent
from rnnbench.gate.calibration import Calibration
from rnnbench.gate.history import MIN_RUNS, ChangePoint, History
from rnnbench.gate.results import ABResult, CaseComparison, Comparison
from rnnbench.present.durations import fmt_duration
from rnnbench.present.formatting import (
    fmt_number,
    fmt_percent,
    fmt_rate,
    fmt_ratio_interval,
    fmt_seconds,
    md_escape,
)

Target = Literal["markdown", "terminal"]
"""Where a table is shown: a Markdown document (GitHub renders it) or a rich table on a terminal."""

Align = Literal["left", "right"]


@dataclass(frozen=True)
class Column:
    """One column: its header, its alignment, and how a terminal treats long cells (``fold`` wraps them
    onto more lines, otherwise rich cuts them with an ellipsis; ``min_width`` keeps case names readable)."""

    header: str
    align: Align = "left"
    fold: bool = True
    min_width: int | None = None


@dataclass(frozen=True)
class Cell:
    """A cell's text, and a rich style the terminal applies to it (Markdown has no colour)."""

    text: str
    style: str = ""


@dataclass(frozen=True)
class TableSpec:
    """What a table shows, independent of where: columns and rows of cells, in display order."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    footnotes: tuple[str, ...] = ()
    """Texts that several rows share, said once under the table (the rows say ``[k]``)."""


# ---- comparison (compare, ab) ---------------------------------------------------------------------------
_WORST_FIRST = ("error", "regression", "inconclusive", "not_comparable", "improvement")
_SEVERITY = {v: i for i, v in enumerate(_WORST_FIRST)}

_VERDICT_MARK = {
    "regression": "❌ regression",
    "improvement": "✅ improvement",
    "no_change": "no change",
    "inconclusive": "❔ inconclusive",
    "not_comparable": "⚪ not comparable",
    "error": "💥 error",
}
"""Markdown's verdicts: an emoji reads at a glance in a PR comment."""

_VERDICT_STYLE = {
    "regression": "bold red",
    "improvement": "green",
    "inconclusive": "yellow",
    "not_comparable": "dim",
    "error": "bold magenta",
}
"""The terminal's verdicts: a colour (``no_change`` stays plain)."""

DEFAULT_TITLES: dict[type, str] = {
    Comparison: "rnnbench compare (head / base throughput)",
    Calibration: "rnnbench calibrate (A/A: same environment on both sides)",
    History: "rnnbench history (change points per series)",
}
"""The terminal tables' titles (Markdown documents carry their own headings, see ``exports``)."""


def sorted_cases(comp: Comparison) -> list[CaseComparison]:
    """Worst news first; then by name, so the output is stable."""
    return sorted(comp.cases, key=lambda c: (_SEVERITY.get(c.verdict, 9), c.name))


def _comparison_verdict(case: CaseComparison, target: Target) -> Cell:
    if target == "markdown":
        text = _VERDICT_MARK.get(case.verdict, case.verdict)
        confirmed = case.verdict == "regression" and case.confirmed
        return Cell(text + (" (confirmed)" if confirmed else ""))
    text = case.verdict + (" (confirmed)" if case.confirmed else "")
    return Cell(text, _VERDICT_STYLE.get(case.verdict, ""))


def comparison_table(comp: Comparison, target: Target) -> TableSpec:
    """One row per case, worst news first: throughputs, ratio with its interval, p, verdict, the reason.

    ``p`` is one-sided in the direction of the estimate and Holm-adjusted over the cases compared — the number
    the gate holds against α, which is the false-alarm probability of the whole run."""
    md = target == "markdown"
    columns = (
        Column("case", min_width=36),
        Column("base" if md else "base tok/s", "right", fold=False),
        Column("head" if md else "head tok/s", "right", fold=False),
        Column("ratio [interval]" if md else "ratio [95% interval]", fold=False),
        Column("p (Holm)", "right", fold=False),
        Column("verdict"),
        Column("note"),
    )
    cases = sorted_cases(comp)
    notes, footnotes = shared_texts([c.reason for c in cases])
    rows = tuple(
        (
            Cell(c.name),
            Cell(fmt_rate(c.base_value)),
            Cell(fmt_rate(c.head_value)),
            Cell(fmt_ratio_interval(c.ratio, c.ratio_low, c.ratio_high)),
            Cell(fmt_number(c.p_value, 2)),
            _comparison_verdict(c, target),
            Cell(note),
        )
        for c, note in zip(cases, notes, strict=True)
    )
    return TableSpec(columns, rows, footnotes)


SHARED_TEXT_MIN = 40
"""A note at least this long, on two rows or more, is said once under the table instead of on every row (a
150-character note on 16 rows made a piped table 294 columns wide)."""


def shared_texts(texts: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
    """Each row's text, with long texts that several rows share replaced by ``[k]``, and the footnotes."""
    counts: dict[str, int] = {}
    for t in texts:
        counts[t] = counts.get(t, 0) + 1
    keys: dict[str, str] = {}
    for t in texts:
        if counts[t] > 1 and len(t) >= SHARED_TEXT_MIN and t not in keys:
            keys[t] = f"[{len(keys) + 1}]"
    return [keys.get(t, t) for t in texts], tuple(f"{k} {t}" for t, k in keys.items())


# ---- calibration --------------------------------------------------------------------------------------
def calibration_table(cal: Calibration, target: Target) -> TableSpec:
    """One row per case: its rounds, median throughput, spread, A/A ratio and the smallest effect it can gate
    honestly. Markdown lists the noisiest case first; the terminal keeps the grid's order."""
    md = target == "markdown"
    cases = list(cal.cases)
    if md:
        cases.sort(key=lambda c: -c.honest_min_effect if math.isfinite(c.honest_min_effect) else 0)
    columns = (
        Column("case"),
        Column("rounds", "right"),
        Column("median" if md else "median tok/s", "right"),
        Column("spread", "right"),
        Column("A/A ratio [interval]", "left" if md else "right"),
        Column("p (Holm)", "right"),
        Column("verdict"),
        Column("honest min effect" if md else "honest min", "right"),
        Column("90% power at" if md else "90% power", "right"),
        Column("injected: detected"),
    )
    rows = tuple(
        (
            Cell(c.name),
            Cell(str(c.rounds)),
            Cell(fmt_rate(c.median)),
            Cell(fmt_percent(c.spread)),
            Cell(fmt_ratio_interval(c.ratio, c.ratio_low, c.ratio_high)),
            Cell(fmt_number(c.p_value, 2)),
            Cell(c.verdict.replace("_", " ") if md else c.verdict),
            Cell(fmt_percent(c.honest_min_effect)),
            Cell(fmt_percent(c.detectable_effect)),
            Cell(_detected_text(c.detected)),
        )
        for c in cases
    )
    return TableSpec(columns, rows)


def _detected_text(detected: dict[str, bool]) -> str:
    """``2%: no, 5%: yes`` — per injected fraction, whether the case's slowdown was detected and confirmed."""
    if not detected:
        return "—"
    return ", ".join(f"{float(f):.0%}: {'yes' if hit else 'no'}" for f, hit in detected.items())


# ---- history ------------------------------------------------------------------------------------------
def history_table(hist: History, target: Target) -> TableSpec:
    """One row per series, warnings first, then series with a change: the latest run, the last change point
    (its run, levels before → after, magnitude, one-sided p) and the status."""
    md = target == "markdown"
    columns = (
        Column("case"),
        Column("fingerprint"),
        Column("runs", "right"),
        Column("latest" if md else "latest tok/s", "right" if md else "left"),
        Column("last change at"),
        Column("before → after" if md else "before → after tok/s"),
        Column("change [95% CI]", "right"),
        Column("p (Holm)", "right"),
        Column("status"),
    )
    rows = []
    for c in sorted(hist.cases, key=lambda c: (not c.warning, c.last_change is None, c.name)):
        cp = c.last_change
        if c.warning:
            status = Cell("⚠️ slowdown") if md else Cell("slowdown", "bold red")
        elif c.too_short:  # below MIN_RUNS the false-change rate does not hold: no claim either way
            status = Cell(
                f"too short to tell (need {max(MIN_RUNS, 2 * hist.min_size)} runs)", "" if md else "dim"
            )
        elif cp is not None:
            kind = "change" if cp.significant else "change (not significant)"
            status = Cell(kind, "" if md else "yellow")
        else:
            status = Cell("stable")
        rows.append(
            (
                Cell(c.name),
                Cell(c.fingerprint or "—"),
                Cell(str(len(c.points))),
                Cell(fmt_rate(c.latest.value)),
                Cell(cp.run_id if cp else "—"),
                Cell(f"{fmt_rate(cp.before)} → {fmt_rate(cp.after)}" if cp else "—"),
                Cell(_step_text(cp) if cp else "—"),
                Cell(fmt_number(cp.p_adjusted, 2) if cp else "—"),
                status,
            )
        )
    return TableSpec(columns, tuple(rows))


def _step_text(cp: ChangePoint) -> str:
    """``-10.2% [-13.0%, -7.3%]``: the step and its 95% interval, at one precision."""
    if not math.isfinite(cp.ratio):
        return "—"
    if not (math.isfinite(cp.low) and math.isfinite(cp.high)):
        return f"{cp.ratio - 1:+.1%}"
    return f"{cp.ratio - 1:+.1%} [{cp.low - 1:+.1%}, {cp.high - 1:+.1%}]"


# ---- rendering ----------------------------------------------------------------------------------------
def table_spec(result: Comparison | Calibration | History, target: Target) -> TableSpec:
    """The table of any gate result."""
    if isinstance(result, Comparison):
        return comparison_table(result, target)
    if isinstance(result, Calibration):
        return calibration_table(result, target)
    return history_table(result, target)


def markdown_lines(spec: TableSpec) -> list[str]:
    """A GitHub-flavoured Markdown table: header, alignment row (``---:`` is right-aligned), rows."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(md_escape(text) for text in cells) + " |"

    return [
        line([col.header for col in spec.columns]),
        "|" + "|".join("---:" if col.align == "right" else "---" for col in spec.columns) + "|",
        *(line([cell.text for cell in row]) for row in spec.rows),
        *([""] + [md_escape(f) for f in spec.footnotes] if spec.footnotes else []),
    ]


def rich_table(spec: TableSpec, title: str) -> Table:
    """A rich table for the terminal. Texts are literal (never read as rich markup), so a ``[…]`` in a case
    name, a reason or a header shows as typed."""
    caption = Text("\n".join(spec.footnotes)) if spec.footnotes else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for col in spec.columns:
        table.add_column(
            Text(col.header),
            justify=col.align,
            overflow="fold" if col.fold else "ellipsis",
            min_width=col.min_width,
        )
    for row in spec.rows:
        table.add_row(*(_text(cell) for cell in row))
    return table


def _text(cell: Cell) -> Text:
    """The cell's text with its style on the characters only (not on the column's padding around them)."""
    text = Text(cell.text)
    if cell.style:
        text.stylize(cell.style)
    return text


def terminal_table(result: Comparison | Calibration | History, title: str | None = None) -> Table:
    """The rich table of a gate result, titled ``title`` or the result's usual title."""
    return rich_table(table_spec(result, "terminal"), title or DEFAULT_TITLES[type(result)])


# ---- lines the commands print -------------------------------------------------------------------------
def progress_line(event: ProgressEvent) -> str | None:
    """A line for an ``ab``/``calibrate`` progress event (``[3/12] head-r1 done in 4.2 s``, or the event's
    message); ``None`` for events not worth a line."""
    if event.kind == "done":
        took = fmt_seconds(event.values.get("seconds", 0.0))
        return f"[{event.done}/{event.total}] {event.label} done in {took}"
    if event.kind in ("note", "warning"):
        return event.message
    return None


def ab_summary(result: ABResult) -> str:
    """Where the rounds are and how long the whole A/B took."""
    return f"Measurements in {result.output}; took {fmt_duration(result.seconds.get('total', 0))}."


def calibration_summary(cal: Calibration) -> str:
    """The answer a calibration is run for: the smallest honest ``--min-effect``, and the false alarms at
    the current one (α is per run and direction, so an A/A run has any with probability ≤ 2α)."""
    s = cal.comparison.settings
    power = "; ".join(
        f"injected {f:.0%} throughput drop ended a confirmed regression (ab's rule) in {v:.0%} of cases"
        for f, v in cal.power.items()
    )
    mde = (
        f"; smallest slowdown detected with ≥ 90% power: {fmt_percent(cal.detectable_effect)} in every case, "
        f"{fmt_percent(cal.median_detectable_effect)} in the median case"
        if math.isfinite(cal.detectable_effect)
        else ""
    )
    how = "paired blocks" if cal.comparison.method == "paired" else "process rounds"
    return (
        f"Smallest honest --min-effect here ({how}): {fmt_percent(cal.recommended_min_effect)}; false alarms "
        "at "
        f"{s.min_effect:.1%}: {cal.false_alarms} (expected none: at α={s.alpha:g} per run, an A/A run has any "
        f"with probability ≤ {2 * s.alpha:g})"
        + (f"; {power}" if power else "")
        + mde
        + f"; took {fmt_duration(cal.seconds)}."
    )
