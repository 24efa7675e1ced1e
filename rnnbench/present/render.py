"""Report renderers: rich renderables for the terminal, GitHub-flavoured Markdown (sized for a CI job summary)
and one self-contained HTML file (figures embedded as base64 PNG, inline CSS, no network access needed).

All three show the same numbers, formatted once by ``report.display_*``. Every string that comes from data —
file contents, messages, task names, machine names — is escaped for the format it lands in, so a result file
cannot inject markup into a report someone opens in a browser.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rnnbench import __version__
from rnnbench.analyse.claims import Claim
from rnnbench.analyse.report import Report
from rnnbench.core.vocab import MIN_EFFECT, THEORETICAL_GRU_LSTM
from rnnbench.present.crossover import (
    CROSSOVER_HEADING,
    CROSSOVER_NOTES,
    crossover_tables,
    crossover_title,
    display_crossover,
    series_lines,
)
from rnnbench.present.display import display_speed, display_train, speed_table_title
from rnnbench.present.formatting import md_escape

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rnnbench.present.plots import SavedFigure

MD_MAX_ROWS = 40
"""Rows per table in Markdown: GitHub caps a job summary at 1 MiB, and nobody reads row 500 there."""
HTML_MAX_ROWS = 400
TERMINAL_MAX_ROWS = 30

VERDICT_STYLE = {
    "true": ("✔", "#1a7f37", "green"),
    "false": ("✘", "#cf222e", "red"),
    "inconclusive": ("?", "#9a6700", "yellow"),
    "no difference": ("=", "#0969da", "blue"),
    "mixed": ("±", "#8250df", "magenta"),
    "no data": ("–", "#6e7781", "dim"),
}

METHOD_NOTES = (
    "Times are seconds per iteration (median of round medians; interval: the within-round order-statistic "
    "interval for one round, the order-statistic interval of round medians for several). Such an interval "
    "reaches 95% only from 6 values; with fewer it is the full range and carries its exact coverage, e.g. "
    "'(75%)' for 3 rounds, '(93.8%)' for 5 samples.",
    "GRU/LSTM is the time ratio at the same shape, implementation, device, dtype and threads, with a 95% "
    "interval: 'rounds' — percentile bootstrap over round medians (≥ 5 rounds per side); 't-rounds' — "
    "Student-t on the difference of mean log round medians with min(n)−1 degrees of freedom (2–4 rounds, "
    "where the bootstrap covers only 67–92%; the ratio is then of geometric means); 'samples' — one round's "
    "samples, which ignores between-process noise (its verdicts say 'in one process'); 'point' — none. At "
    f"equal sizes the GRU does {THEORETICAL_GRU_LSTM} of the LSTM's GEMM work (3 gate blocks against 4).",
    "Throughput counts real tokens; GFLOP/s counts the recurrent and input GEMMs the kernels execute "
    "(2·G·H·(I+H) per token, layer and direction, pointwise gate math excluded): for variable lengths that "
    "is the real tokens under packing (native, aten) but all B·T steps under masking (cell, scratch, "
    "compiled, numpy). '% of torch.matmul' divides by the GEMM rate torch.matmul reached in the same run, "
    "device, dtype and threads, so above 100% means the RNN's kernels beat torch's own matmul. Memory is the "
    "peak per iteration (display in binary units; files keep bytes).",
    f"Verdicts: an interval within ±{MIN_EFFECT:.0%} is 'no difference'; a side wins only when the whole "
    f"interval is on its side of 1 and the estimate is beyond ±{MIN_EFFECT:.0%}; otherwise 'inconclusive'. "
    "Only intervals over rounds decide a claim. Training comparisons use each arm's learning rate chosen on "
    "validation data, medians over seeds, Wilson intervals for success rates and paired per-seed differences.",
)


# ---- terminal ------------------------------------------------------------------------------------------
def terminal_renderables(
    report: Report, max_rows: int = TERMINAL_MAX_ROWS, one_line: bool = False
) -> list[RenderableType]:
    """Tables for the terminal: warnings, one speed table per (mode, device, dtype), training, claims.

    ``one_line`` (stdout is a pipe or a CI log): every case and every claim on one line — the verdict in a
    column of its own, a claim's evidence joined with ``;`` — so a reader or ``grep`` finds it whole."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out: list[RenderableType] = []
    for warning in report.warnings:
        out.append(Text(f"warning: {warning}", style="yellow"))
    for table in report.tables:
        shown = display_speed(table, max_rows, terminal=True, one_line=one_line)
        rich_table = Table(
            title=speed_table_title(table), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
        )
        for col in shown.columns:
            left = col in ("shape", "status", "arch/impl", "backend")
            rich_table.add_column(col, overflow="fold", justify="left" if left else "right")
        for row in shown.itertuples(index=False):
            rich_table.add_row(*(Text(str(v)) for v in row))
        out.append(rich_table)
        if len(table.data) > len(shown):
            out.append(
                Text(f"… {len(table.data) - len(shown)} more rows: see report.md / cases.csv", style="dim")
            )
    out += _terminal_crossover(report)
    if not report.arms.empty:
        shown = display_train(report.arms, max_rows * 2)
        keep = ["setting", "arm", "H", "params", "lr", "seeds", "solved", "final metric (median)",
                "steps to target", "seconds to target", "used"]  # fmt: skip
        shown = shown.assign(solved=shown["solved [95% CI]"].str.split(" ").str[0])[keep]
        rich_table = Table(
            title="Training (median over seeds; ✓ = the arm's chosen learning rate)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for col in shown.columns:
            rich_table.add_column(col, overflow="fold", no_wrap=col == "setting")
        for row in shown.itertuples(index=False):
            rich_table.add_row(*(Text(str(v)) for v in row))
        out.append(rich_table)
        if len(report.arms) > len(shown):
            out.append(Text(f"… {len(report.arms) - len(shown)} more rows: see report.md", style="dim"))
    claims = Table(title="Claims (evidence in report.md / report.html)", title_justify="left", box=box.SQUARE)
    for col in ("claim", "verdict", "where"):
        claims.add_column(col, overflow="fold")
    for claim in report.claims:
        mark, _, style = VERDICT_STYLE.get(claim.verdict, ("", "", ""))
        claims.add_row(
            Text(claim.statement),
            Text(f"{mark} {claim.verdict}", style=style),
            Text(_claim_digest(claim).replace("\n", "; ") if one_line else _claim_digest(claim)),
        )
    out.append(claims)
    return out


def _terminal_crossover(report: Report) -> list[RenderableType]:
    """One table per group (minimal/impl, T, the fastest baseline, the ratio with its interval, the verdict,
    memory), each series' crossover under it. Cells never hold a line break, so a pipe keeps rows whole."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out: list[RenderableType] = []
    for table in crossover_tables(report.crossover):
        shown = display_crossover(table, terminal=True)
        rich_table = Table(
            title=f"Crossover · {crossover_title(table)}", title_justify="left", box=box.SIMPLE_HEAD,
            pad_edge=False, collapse_padding=True,
        )  # fmt: skip
        for col in shown.columns:
            left = col in ("shape", "minimal", "fastest", "verdict")
            rich_table.add_column(
                col, overflow="fold", justify="left" if left else "right", no_wrap=col.startswith("ratio")
            )
        for row in shown.itertuples(index=False):
            rich_table.add_row(*(Text(str(v)) for v in row))
        out.append(rich_table)
        out += [Text(f"  {line}", overflow="fold") for line in series_lines(table)]
    if out:
        out.append(Text("  (time ratio < 1: the scan is faster; method in report.md)", style="dim"))
    return out


def _claim_digest(claim: Claim, limit: int = 6) -> str:
    lines = [claim.summary] if not claim.rows else []
    for row in claim.rows[:limit]:
        lines.append(f"{row.verdict}: {row.scope}")
    if len(claim.rows) > limit:
        lines.append(f"… {len(claim.rows) - limit} more in report.md")
    return "\n".join(lines)


# ---- the claims tables, defined once for Markdown and HTML -------------------------------------------------
@dataclass(frozen=True)
class VerdictTable:
    """A table whose middle column is a verdict: the claims, and each claim's evidence. Specified once, shown
    as Markdown (the verdict marked and bold) and as HTML (the verdict a coloured badge), every other cell
    escaped as data."""

    headers: tuple[str, str, str]
    rows: tuple[tuple[str, str, str], ...]


def claims_table(report: Report) -> VerdictTable:
    return VerdictTable(
        ("claim", "verdict", "summary"), tuple((c.statement, c.verdict, c.summary) for c in report.claims)
    )


def evidence_table(claim: Claim) -> VerdictTable:
    return VerdictTable(
        ("scope", "verdict", "evidence"), tuple((r.scope, r.verdict, r.evidence) for r in claim.rows)
    )


def _md_verdict_table(table: VerdictTable) -> list[str]:
    def mark(verdict: str) -> str:
        return f"{VERDICT_STYLE.get(verdict, ('',))[0]} **{md_escape(verdict)}**".strip()

    return [
        "| " + " | ".join(table.headers) + " |",
        "|---|---|---|",
        *(f"| {md_escape(a)} | {mark(v)} | {md_escape(b)} |" for a, v, b in table.rows),
    ]


def _html_verdict_table(table: VerdictTable) -> str:
    head = "".join(f'<th class="l">{_esc(h)}</th>' for h in table.headers)
    rows = "".join(
        f'<tr><td class="l">{_esc(a)}</td><td class="l">{_badge(v)}</td><td class="l">{_esc(b)}</td></tr>'
        for a, v, b in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


# ---- Markdown ------------------------------------------------------------------------------------------
def md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(md_escape(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _generated_line(report: Report) -> str:
    runs = len(report.data.runs)
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"rnnbench {__version__}, {now}, from {runs} run folder(s)"


def markdown(report: Report, figures: Sequence[SavedFigure] = (), max_rows: int = MD_MAX_ROWS) -> str:
    """The report as GitHub-flavoured Markdown; figures are linked by relative path (next to report.md)."""
    lines = [f"# {md_escape(report.title)}", "", f"_{md_escape(_generated_line(report))}_", ""]
    for warning in report.warnings:
        lines.append(f"> **Warning:** {md_escape(warning)}")
    if report.warnings:
        lines.append("")
    lines += ["## Claims", "", *_md_verdict_table(claims_table(report)), ""]
    for claim in report.claims:
        if not claim.rows:
            continue
        lines += [
            "<details>",
            f"<summary>{md_escape(claim.statement)}: {md_escape(claim.verdict)}</summary>",
            "",
            *_md_verdict_table(evidence_table(claim)),
            "",
        ]
        if claim.note:
            lines += [f"_{md_escape(claim.note)}_", ""]
        lines += ["</details>", ""]
    if report.tables:
        lines += ["## Speed", ""]
        for table in report.tables:
            shown = display_speed(table, max_rows)
            lines += [f"### {md_escape(speed_table_title(table))}", "", md_table(shown), ""]
            if len(table.data) > len(shown):
                lines += [f"_{len(table.data) - len(shown)} more rows in cases.csv._", ""]
    lines += _markdown_crossover(report)
    if not report.arms.empty:
        shown = display_train(report.arms, max_rows * 2)
        lines += [
            "## Training",
            "",
            "✓ marks each arm's chosen learning rate (lowest median validation metric).",
            "",
        ]
        lines += [md_table(shown), ""]
        if len(report.arms) > len(shown):
            lines += [f"_{len(report.arms) - len(shown)} more rows in report.html._", ""]
    if figures:
        lines += ["## Figures", ""]
        for fig in figures:
            lines += [f"![{md_escape(fig.caption)}]({fig.name}.png)", "", f"_{md_escape(fig.caption)}_", ""]
    lines += ["## Method", ""] + [f"- {md_escape(note)}" for note in METHOD_NOTES]
    sources = source_lines(report)
    if sources:
        lines += ["", "## Sources", ""] + [f"- {md_escape(s)}" for s in sources]
    return "\n".join(lines) + "\n"


def _markdown_crossover(report: Report) -> list[str]:
    tables = crossover_tables(report.crossover)
    if not tables:
        return []
    lines = [f"## {md_escape(CROSSOVER_HEADING)}", ""]
    for table in tables:
        lines += [f"### {md_escape(crossover_title(table))}", "", md_table(display_crossover(table)), ""]
        lines += [f"- {md_escape(line)}" for line in series_lines(table)] + [""]
    for note in CROSSOVER_NOTES:
        lines += [f"_{md_escape(note)}_", ""]
    return lines


# ---- HTML ----------------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1600px;
padding:16px 24px;color:#1f2328;background:#fff}
h1{font-size:26px;margin:8px 0}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:12.5px}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}td.l,th.l{text-align:left}
tr:nth-child(even) td{background:#fafbfc}
.verdict{font-weight:600;white-space:nowrap;border-radius:10px;padding:1px 8px;color:#fff}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;margin:6px 0;border-radius:6px}
figure{margin:12px 0 24px}figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{color:#57606a;font-size:13px}.muted{color:#57606a}.scroll{overflow-x:auto}
details{margin:4px 0 10px}summary{cursor:pointer}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_table(frame: pd.DataFrame, left: Sequence[str] = ()) -> str:
    def cls(col: str) -> str:
        return ' class="l"' if col in left else ""

    head = "".join(f"<th{cls(c)}>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td{cls(c)}>{_esc(v)}</td>" for c, v in zip(frame.columns, row, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    )


def _badge(verdict: str) -> str:
    mark, color, _ = VERDICT_STYLE.get(verdict, ("", "#6e7781", ""))
    return f'<span class="verdict" style="background:{color}">{_esc(mark)} {_esc(verdict)}</span>'


def html_report(report: Report, figures: Sequence[SavedFigure] = (), max_rows: int = HTML_MAX_ROWS) -> str:
    """One self-contained HTML page: inline CSS, PNG figures as data: URIs, every data string escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(report.title)}</title><style>{CSS}</style></head><body>",
        f'<h1 id="title">{_esc(report.title)}</h1>',
        f'<p class="muted">{_esc(_generated_line(report))}</p>',
    ]
    parts += [f'<div class="warn">⚠ {_esc(w)}</div>' for w in report.warnings]
    if figures:  # the first figure right under the title: the at-a-glance answer
        parts.append('<h2 id="figures">Figures</h2>')
        for fig in figures:
            data = base64.b64encode(fig.png).decode("ascii")
            parts.append(
                f'<figure id="fig-{_esc(fig.name)}"><img alt="{_esc(fig.caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{_esc(fig.caption)}</figcaption></figure>'
            )
    parts.append('<h2 id="claims">Claims</h2>' + _html_verdict_table(claims_table(report)))
    for claim in report.claims:
        if not claim.rows:
            continue
        parts.append(f"<details><summary>{_esc(claim.statement)} — evidence</summary>")
        parts.append(_html_verdict_table(evidence_table(claim)))
        if claim.note:
            parts.append(f'<p class="muted">{_esc(claim.note)}</p>')
        parts.append("</details>")
    if report.tables:
        parts.append('<h2 id="speed">Speed</h2>')
        for table in report.tables:
            shown = display_speed(table, max_rows)
            parts.append(f"<h3>{_esc(speed_table_title(table))}</h3>")
            parts.append(_html_table(shown, left=("shape", "arch/impl", "status")))
            if len(table.data) > len(shown):
                parts.append(f'<p class="muted">{len(table.data) - len(shown)} more rows in cases.csv.</p>')
    crossovers = crossover_tables(report.crossover)
    if crossovers:
        parts.append(f'<h2 id="crossover">{_esc(CROSSOVER_HEADING)}</h2>')
        for crossover in crossovers:
            parts.append(f"<h3>{_esc(crossover_title(crossover))}</h3>")
            left = ("shape", "minimal", "fastest LSTM/GRU", "verdict")
            parts.append(_html_table(display_crossover(crossover), left=left))
            parts.append(
                "<ul>" + "".join(f"<li>{_esc(line)}</li>" for line in series_lines(crossover)) + "</ul>"
            )
        parts.append('<ul class="muted">' + "".join(f"<li>{_esc(n)}</li>" for n in CROSSOVER_NOTES) + "</ul>")
    if not report.arms.empty:
        shown = display_train(report.arms, max_rows)
        parts.append('<h2 id="training">Training</h2>')
        parts.append(
            '<p class="muted">✓ marks each arm\'s chosen learning rate (lowest median validation metric).</p>'
        )
        parts.append(_html_table(shown, left=("setting", "arm")))
    parts.append(
        '<h2 id="method">Method</h2><ul>' + "".join(f"<li>{_esc(n)}</li>" for n in METHOD_NOTES) + "</ul>"
    )
    sources = source_lines(report)
    if sources:
        parts.append(
            '<h2 id="sources">Sources</h2><ul>' + "".join(f"<li>{_esc(s)}</li>" for s in sources) + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---- files ---------------------------------------------------------------------------------------------
FORMATS: tuple[str, ...] = ("md", "html", "png", "svg", "csv")


def write_report(
    report: Report, out_dir: Path, formats: Sequence[str] = FORMATS, jobs: int | None = None
) -> dict[str, list[Path]]:
    """Write the requested formats into ``out_dir``; returns the files written per format. ``csv`` writes
    ``cases.csv`` (every case, aggregated over rounds, ratios on the GRU rows) and ``ratios.csv``, and with
    minGRU/minLSTM beside LSTM/GRU ``crossover.csv`` (per series and T) and ``crossover_series.csv``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    figures: list[SavedFigure] = []
    if {"png", "svg", "html"} & set(formats):  # Markdown links figures only when PNGs are written
        from rnnbench.present.plots import save_figures

        figures = save_figures(report, out_dir, [f for f in formats if f in ("png", "svg")], jobs=jobs)
        for fmt in ("png", "svg"):
            if fmt in formats:
                written[fmt] = [p for f in figures for p in f.files if p.suffix == f".{fmt}"]
    if "md" in formats:
        path = out_dir / "report.md"
        path.write_text(markdown(report, figures if "png" in formats else ()), encoding="utf-8")
        written["md"] = [path]
    if "html" in formats:
        path = out_dir / "report.html"
        path.write_text(html_report(report, figures), encoding="utf-8")
        written["html"] = [path]
    if "csv" in formats:
        written["csv"] = []
        if not report.cases.empty:
            cases = out_dir / "cases.csv"
            report.cases.drop(columns=["gid"], errors="ignore").to_csv(cases, index=False)
            ratios = out_dir / "ratios.csv"
            report.ratios.to_csv(ratios, index=False)
            written["csv"] += [cases, ratios]
        if not report.crossover.empty:  # one row per (series, T), and each series' bracket
            points, series = out_dir / "crossover.csv", out_dir / "crossover_series.csv"
            report.crossover.points.to_csv(points, index=False)
            report.crossover.series.to_csv(series, index=False)
            written["csv"] += [points, series]
    return written


def default_out_dir(paths: Sequence[Path | str]) -> Path:
    """Where ``--out`` defaults to: ``report/`` inside the folder that holds all the inputs — ``results/report``
    for ``results/``, ``results/<id>/report`` for one run folder, the common parent folder for several inputs
    (a CSV file counts as its folder)."""
    folders = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in paths]
    if not folders:
        return Path("report")
    common = Path(_commonpath(folders))
    return common / "report"


def _commonpath(folders: Sequence[Path]) -> str:
    import os

    try:
        return os.path.commonpath([str(f) for f in folders])
    except ValueError:  # different drives
        return str(folders[0])


def source_lines(report: Report) -> list[str]:
    """One line per run folder: id, kind, status, hardware and software."""
    lines = []
    for info in sorted(report.data.runs.values(), key=lambda i: (i.started_at, i.run_id)):
        sw = info.software()
        gpus = ", ".join(str(g.get("name")) for g in info.env.get("gpus") or [] if isinstance(g, dict))
        lines.append(
            f"{info.run_id} ({info.kind or '?'}, {info.status or '?'}): {info.env.get('cpu_model', '?')}"
            + (f"; {gpus}" if gpus else "")
            + f"; torch {sw['torch']}, {_cuda_text(sw)}, oneDNN {sw['onednn']}"
        )
    return lines


def _cuda_text(software: Mapping[str, object]) -> str:
    """``CUDA 12.4, cuDNN 9.1`` — or ``CPU build`` for a torch without CUDA (never "CUDA None")."""
    cuda, cudnn = software.get("cuda"), software.get("cudnn")
    if cuda in (None, "", "None", "nan"):
        return "CPU build"
    return f"CUDA {cuda}" + (f", cuDNN {cudnn}" if cudnn not in (None, "", "None", "nan") else "")
