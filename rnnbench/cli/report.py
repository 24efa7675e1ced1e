"""``rnnbench report``: result folders in, tables on the terminal and report.md / report.html / figures out.

Thin: parse, call ``rnnbench.analyse.report`` and ``rnnbench.present.render``, print. Never imports torch
(pandas and matplotlib are imported inside the command so ``rnnbench --help`` stays fast).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rnnbench.cli.app import MultiValueCommand, app, err_console, is_terminal, out_console
from rnnbench.core.parsing import parse_choices

FORMAT_CHOICES = ("md", "html", "png", "svg", "csv")


def complete_format(incomplete: str) -> list[str]:
    return [f for f in FORMAT_CHOICES if f.startswith(incomplete)]


@app.command("report", cls=MultiValueCommand)
def report_command(
    paths: list[Path] = typer.Argument(
        ...,
        help="Result folders (`results/<run-id>`), parent folders (searched recursively, e.g. results/) or CSV "
        "files (summary.csv, samples.csv, train_summary.csv, curves.csv). Runs from many machines merge.",
        show_default=False,
    ),
    out: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Folder for report.md, report.html, figures and CSVs. Default: report/ inside the folder that "
        "holds all the inputs (`results/` → `results/report/`, `results/<id>` → `results/<id>/report/`).",
    ),
    formats: list[str] = typer.Option(
        list(FORMAT_CHOICES),
        "--format",
        "-f",
        help="Files to write: md, html, png, svg, csv (several allowed). The HTML always embeds PNG figures.",
        autocompletion=complete_format,
    ),
    max_rows: int = typer.Option(30, "--max-rows", min=1, help="Rows per terminal table (files show more)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only warnings and the report's path."),
    jobs: int | None = typer.Option(
        None, "--jobs", "-j", min=1, help="Processes drawing figures (default: up to 2)."
    ),
) -> None:
    """Turn results into tables, figures and a shareable report: speed per (mode, device, dtype) with the
    GRU/LSTM ratio and its interval beside the theoretical 0.75, training outcomes, and verdicts on the
    textbook claims (fewer parameters, faster per step, faster to target, small data, memory, forget bias).

    Exits 2 with one line naming the file, the column and the fix when an input is malformed. The old
    spelling `--out` of `--output` is still accepted.

    **Examples:** `rnnbench report results/` · `rnnbench report results/<run-id> -o site/ -f html png` ·
    `rnnbench report results/ --quiet` (stdout: only the report's path)
    """
    from rich.text import Text

    from rnnbench.analyse.report import make_report
    from rnnbench.present.render import default_out_dir, terminal_renderables, write_report

    chosen = parse_choices("format", formats, FORMAT_CHOICES)
    report = make_report(paths)
    out_dir = out if out is not None else default_out_dir(paths)
    console = out_console()
    if quiet:  # warnings go to stderr, as 'run' sends them: stdout keeps only the report's path
        for warning in report.warnings:
            err_console().print(Text(f"warning: {warning}", style="yellow"))
    else:
        one_line = not is_terminal(sys.stdout)  # a pipe or CI log: each case whole on one line
        for renderable in terminal_renderables(report, max_rows=max_rows, one_line=one_line):
            console.print(renderable)
    written = write_report(report, out_dir, chosen, jobs=jobs)
    count = sum(len(v) for v in written.values())
    main = written.get("html") or written.get("md")
    where = main[0] if main else out_dir
    if quiet:  # the path alone, so that $(rnnbench report … --quiet) is the file to open
        console.print(Text(str(where)), soft_wrap=True)
    else:
        console.print(Text(f"Report: {where} ({count} files in {out_dir})"))
