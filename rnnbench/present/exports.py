"""Exports of gate results: Markdown (job summary, PR comment), JSON, CSV and github-action-benchmark's
``customBiggerIsBetter`` JSON.

github-action-benchmark's rules (its README, "custom" tools): the file is a JSON array of objects with ``name``
(string, unique and stable — it keys the series across commits), ``unit`` (string), ``value`` (number) and
the optional ``range`` (string such as ``"± 1.2"``) and ``extra`` (string, shown in the tooltip). A name that
changes starts a new series and a duplicate name overwrites another case, so names here include the device
and every field of the case, never a run id; ``value`` is the head's median throughput over rounds and
``range`` ``"± x"`` with x the larger side of that median's distribution-free interval (asymmetric; the action
parses only ``±``/``+-`` forms, so the exact bounds and the interval's real coverage — below 95% with ≤ 5
rounds — go in ``extra``). All strings are plain text: nothing here
prints. The Markdown tables are specified in :mod:`rnnbench.present.gate`, which the terminal tables share.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from rnnbench.errors import ConfigError
from rnnbench.gate.calibration import Calibration
from rnnbench.gate.history import MIN_RUNS, History
from rnnbench.gate.results import Comparison
from rnnbench.gate.settings import METRIC_UNIT
from rnnbench.present.durations import fmt_duration
from rnnbench.present.formatting import fmt_number, fmt_percent, fmt_ratio_interval, md_escape
from rnnbench.present.gate import (
    calibration_table,
    comparison_table,
    history_table,
    markdown_lines,
    sorted_cases,
)
from rnnbench.stats.intervals import median_ci

FORMATS: tuple[str, ...] = ("md", "json", "csv", "github-benchmark")
"""Export formats; ``github-benchmark`` is github-action-benchmark's ``customBiggerIsBetter``."""


def render(result: Comparison | Calibration | History, fmt: str) -> str:
    """``result`` in ``fmt`` (one of :data:`FORMATS`); the error names what each result supports."""
    if fmt not in FORMATS:
        from rnnbench.registry import check_choice

        check_choice("export format", fmt, FORMATS)
    if isinstance(result, Comparison):
        return {
            "md": comparison_markdown,
            "json": comparison_json,
            "csv": comparison_csv,
            "github-benchmark": benchmark_action_json,
        }[fmt](result)
    if fmt == "github-benchmark":
        raise ConfigError(
            "the github-benchmark format exports a comparison (compare or ab); use md, json or csv here."
        )
    if isinstance(result, Calibration):
        return {"md": calibration_markdown, "json": _json, "csv": calibration_csv}[fmt](result)
    return {"md": history_markdown, "json": _json, "csv": history_csv}[fmt](result)


# ---- helpers ------------------------------------------------------------------------------------------
def _json(result: Any) -> str:
    return json.dumps(_clean_json(result.as_dict()), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _clean_json(value: Any) -> Any:
    """NaN/inf → null: strict JSON readers (browsers, jq) reject NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    return value


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            ["" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in row]
        )
    return buf.getvalue()


# ---- comparison ---------------------------------------------------------------------------------------
def comparison_markdown(comp: Comparison, title: str = "rnnbench regression gate") -> str:
    """A job-summary / PR-comment table: headline, settings, one row per case (worst first), notes."""
    s = comp.settings
    counts = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in comp.counts().items() if n) or "no cases"
    lines = [
        f"## {title}",
        "",
        f"**{counts}** — exit code {comp.exit_code}",
        "",
        method_sentence(comp)
        + (f"; allowed to differ: {', '.join(s.allow_diff)}" if s.allow_diff else "")
        + ".",
        "",
        *markdown_lines(comparison_table(comp, "markdown")),
    ]
    if comp.notes:
        lines += ["", *[f"- {md_escape(n)}" for n in comp.notes]]
    return "\n".join(lines) + "\n"


def method_sentence(comp: Comparison) -> str:
    """How the ratios, intervals and p values of this comparison were made — the method that ran (paired
    restarts or process rounds), never the other's."""
    s = comp.settings
    if comp.method == "paired":
        d = comp.design
        a1, a2 = d.get("alpha_first", s.alpha), d.get("alpha_confirm")
        confirm = (
            f"flagged at α₁ = {a1:.2g} and confirmed on fresh restarts at α₂ = {a2:.2g}"
            if a2
            else f"decided at α = {a1:.2g} without confirmation"
        )
        return (
            f"Throughput ratio head/base ({METRIC_UNIT}, bigger is better) from adjacent A/B blocks of "
            "persistent workers on the same CPUs: a trimmed mean of the pair log-ratios per restart, a "
            f"{s.level:.0%} anytime-valid interval over restarts (Lai's t confidence sequence), a one-sided "
            f"anytime p in the direction of the estimate, Holm-adjusted over the {comp.family} cases; "
            f"{confirm}; min effect {s.min_effect:.1%}, α = {s.alpha:g} — the probability that unchanged "
            f"code gives any confirmed regression in this run; {comp.base_rounds} restarts in the first stage"
        )
    return (
        f"Throughput ratio head/base ({METRIC_UNIT}, bigger is better): median of per-round medians, "
        f"{s.level:.0%} bootstrap interval over rounds, exact one-sided Mann–Whitney p in the direction of the "
        f"estimate, Holm-adjusted over the {comp.family} cases compared; min effect {s.min_effect:.1%}, "
        f"α = {s.alpha:g} — the probability that unchanged code gives any regression in this run, assuming "
        "exchangeable rounds (measured side by side in one job, as `ab` does; not folders of different jobs); "
        f"rounds {comp.base_rounds} base + {comp.head_rounds} head"
    )


def comparison_json(comp: Comparison) -> str:
    """Settings, counts, exit code and every case with its round values (NaN → null)."""
    return _json(comp)


COMPARISON_CSV_COLUMNS: tuple[str, ...] = (
    "name", "case_id", "device", "base_threads", "head_threads", "base_rounds", "head_rounds",
    "base_tokens_per_s", "head_tokens_per_s", "ratio", "ratio_low", "ratio_high", "p_value", "p_raw", "p_side",
    "verdict", "confirmed", "rounds_needed", "reason",
)  # fmt: skip
"""``p_value`` is one-sided (``p_side``: slower or faster) and Holm-adjusted over the cases compared; ``p_raw``
the same p before the correction."""


def comparison_csv(comp: Comparison) -> str:
    rows = []
    for c in sorted_cases(comp):
        d = c.as_dict()
        d["device"] = c.device
        rows.append([d.get(col) for col in COMPARISON_CSV_COLUMNS])
    return _csv(COMPARISON_CSV_COLUMNS, rows)


def _benchmark_range(values: Sequence[float], value: float) -> tuple[str | None, str]:
    """``range`` and the text ``extra`` gets for the head's median over rounds.

    The action parses only ``"± x"`` (and ``"+- x"``: it rescales x when units change) and shows any other
    text verbatim. A median's order-statistic interval is asymmetric, so ``x`` is its larger side — value ± x
    holds the whole interval, where half its width would cut the long side — and ``extra`` carries the exact
    bounds with the interval's real coverage (below 95% with ≤ 5 rounds). ``(None, "")`` with one round."""
    ci = median_ci(values)
    if not (math.isfinite(ci.low) and math.isfinite(ci.high)):
        return None, ""
    text = (
        f"; head median interval {ci.low:.4g}–{ci.high:.4g} {METRIC_UNIT} "
        f"({fmt_percent(ci.level)} coverage, {len(values)} rounds)"
    )
    return f"± {max(value - ci.low, ci.high - value):.4g}", text


def benchmark_action_entries(comp: Comparison) -> list[dict[str, Any]]:
    """github-action-benchmark ``customBiggerIsBetter`` entries: one per case with a head throughput."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in sorted(comp.cases, key=lambda c: c.name):
        value = c.head_value
        if not math.isfinite(value):
            continue
        name = c.name if c.name not in seen else f"{c.name} [{c.case_id}]"
        seen.add(name)
        units = (
            f"restarts: {len(c.head_values)}"
            if comp.method == "paired"
            else f"rounds: {len(c.base_values)} base + {len(c.head_values)} head"
        )
        extra = (
            f"verdict: {c.verdict}"
            + (" (confirmed)" if c.confirmed else "")
            + f"; ratio vs base: {fmt_ratio_interval(c.ratio, c.ratio_low, c.ratio_high)}"
            + f"; p (one-sided, Holm{', anytime' if comp.method == 'paired' else ''}): "
            + fmt_number(c.p_value, 2)
            + f"; {units}; case_id: {c.case_id}"
        )
        entry: dict[str, Any] = {"name": name, "unit": METRIC_UNIT, "value": float(value)}
        range_text, interval = _benchmark_range(c.head_values, value)
        if range_text:
            entry["range"] = range_text
        entry["extra"] = extra + interval
        entries.append(entry)
    return entries


def benchmark_action_json(comp: Comparison) -> str:
    return json.dumps(benchmark_action_entries(comp), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# ---- calibration --------------------------------------------------------------------------------------
def calibration_markdown(cal: Calibration) -> str:
    s = cal.comparison.settings
    lines = [
        "## rnnbench calibrate (A/A)",
        "",
        f"**Smallest honest --min-effect on this machine: {fmt_percent(cal.recommended_min_effect)}** "
        + (
            f"(at this budget: {cal.comparison.base_rounds} restarts in the first stage); "
            if cal.comparison.method == "paired"
            else f"(with {cal.comparison.base_rounds} rounds per side); "
        )
        + f"false alarms at min effect {s.min_effect:.1%}, α = {s.alpha:g}: {cal.false_alarms} — expected "
        f"none: α is per run and per direction (Holm over the {cal.comparison.family} cases), so an A/A run "
        f"has any false alarm with probability ≤ {2 * s.alpha:g}.",
        "",
        method_sentence(cal.comparison) + ".",
        "",
    ]
    if cal.power:
        lines += [
            "| injected throughput drop | confirmed regression (ab's rule) | flagged (first stage) |",
            "|---:|---:|---:|",
            *(f"| {f:.0%} | {v:.0%} | {cal.power_first.get(f, math.nan):.0%} |" for f, v in cal.power.items()),
            "",
            "Smallest slowdown detected with ≥ 90% power at this budget: "
            f"{fmt_percent(cal.detectable_effect)} in every case, "
            f"{fmt_percent(cal.median_detectable_effect)} in the median case; "
            f"took {fmt_duration(cal.seconds)}.",
            "",
        ]
    lines += [
        *markdown_lines(calibration_table(cal, "markdown")),
        "",
        "- spread: 1.4826·MAD/median of the per-round (per-restart) throughputs; honest min effect: the "
        "farthest "
        "the A/A ratio interval reaches from 1 — a smaller --min-effect leaves unchanged code inconclusive.",
        *(f"- {md_escape(n)}" for n in cal.notes),
    ]
    return "\n".join(lines) + "\n"


CALIBRATION_CSV_COLUMNS: tuple[str, ...] = (
    "name", "case_id", "rounds", "median_tokens_per_s", "spread", "ratio", "ratio_low", "ratio_high", "p_value",
    "verdict", "honest_min_effect", "detectable_effect",
)  # fmt: skip


def calibration_csv(cal: Calibration) -> str:
    rows = [[c.as_dict()[col] for col in CALIBRATION_CSV_COLUMNS] for c in cal.cases]
    return _csv(CALIBRATION_CSV_COLUMNS, rows)


# ---- history ------------------------------------------------------------------------------------------
def history_markdown(hist: History) -> str:
    lines = [
        "## rnnbench history",
        "",
        f"**{len(hist.warnings)} warning(s)** over {hist.runs} runs — change points per series (same case, "
        "threads and environment fingerprint) over log throughput with one noise level pooled over all series "
        f"({hist.sigma:.1%} per run); the last change of each series with its run, its magnitude (median after "
        "/ before) and 95% interval, and a p simulated for the split's choice, Holm-adjusted over all series; "
        f"a series under {MIN_RUNS} runs is too short to tell; a warning is a slowdown of more than "
        f"{hist.threshold:.0%}, significant at {hist.alpha:g}, starting within the last {hist.window} runs.",
        "",
        *markdown_lines(history_table(hist, "markdown")),
    ]
    return "\n".join(lines) + "\n"


HISTORY_CSV_COLUMNS: tuple[str, ...] = (
    "name", "case_id", "threads", "fingerprint", "run_id", "started_at", "tokens_per_s", "segment_level",
    "change_point", "change_ratio", "change_p_value", "change_significant", "warning",
)  # fmt: skip
"""One row per point; the ``change_*`` columns are filled on the run where a change point starts."""


def history_csv(hist: History) -> str:
    rows = []
    for c in hist.cases:
        at = {cp.run_id: cp for cp in c.changes}
        if c.tested is not None:  # the tested last change carries the p (Holm over the series)
            at[c.tested.run_id] = c.tested
        for p in c.points:
            d: dict[str, Any] = {
                "name": c.name, "case_id": c.case_id, "threads": c.threads, "fingerprint": c.fingerprint,
            }  # fmt: skip
            d.update(p.as_dict())
            cp = at.get(p.run_id) if p.change or (c.tested and p.run_id == c.tested.run_id) else None
            d["change_ratio"] = cp.ratio if cp else None
            d["change_p_value"] = cp.p_adjusted if cp and cp is c.tested else None
            d["change_significant"] = cp.significant if cp else None
            d["warning"] = c.warning
            rows.append([d[col] for col in HISTORY_CSV_COLUMNS])
    return _csv(HISTORY_CSV_COLUMNS, rows)
