"""Exports follow their formats' rules: github-action-benchmark's customBiggerIsBetter (unique stable names with
the device, numeric value, constant unit, ``range`` "± x", ``extra`` a string), strict JSON, CSV, Markdown."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rnnbench.errors import ConfigError
from rnnbench.gate.calibration import calibration_from
from rnnbench.gate.history import build_history
from rnnbench.gate.results import Comparison
from rnnbench.gate.rounds import compare_paths
from rnnbench.gate.settings import GateSettings
from rnnbench.present.exports import (
    COMPARISON_CSV_COLUMNS,
    FORMATS,
    benchmark_action_entries,
    render,
)
from rnnbench.present.formatting import fmt_rate
from rnnbench.present.gate import (
    Target,
    calibration_table,
    comparison_table,
    history_table,
    markdown_lines,
    rich_table,
    terminal_table,
)
from tests.runfolders import noisy, write_run


@pytest.fixture
def comparison(tmp_path: Path) -> Comparison:
    """Two devices with the same shape (names must still differ), a regression, a failed case, a case only in
    base."""
    rng = np.random.default_rng(2)
    write_run(
        tmp_path / "base",
        "b",
        {"lstm": noisy(1000, 6, rng), "gru": noisy(800, 6, rng), "rnn": noisy(3000, 6, rng)},
    )
    write_run(tmp_path / "base", "bc", {"lstm@cuda:0": noisy(9000, 6, rng)}, device="cuda:0")
    write_run(
        tmp_path / "head",
        "h",
        {"lstm": noisy(600, 6, rng), "gru": noisy(800, 6, rng)},
        status={"gru": "error"},
    )
    write_run(tmp_path / "head", "hc", {"lstm@cuda:0": noisy(9000, 6, rng)}, device="cuda:0")
    return compare_paths([tmp_path / "base"], [tmp_path / "head"])


def test_github_benchmark_format_rules(comparison: Comparison) -> None:
    data = json.loads(render(comparison, "github-benchmark"))
    assert isinstance(data, list) and data
    names = [e["name"] for e in data]
    assert len(names) == len(set(names)), "names must be unique"
    for entry in data:
        assert set(entry) <= {"name", "unit", "value", "range", "extra"}
        assert {"name", "unit", "value"} <= set(entry)
        assert isinstance(entry["name"], str) and entry["name"]
        assert isinstance(entry["value"], float) and math.isfinite(entry["value"])
        assert entry["unit"] == "tokens/s"
        assert isinstance(entry["extra"], str)
        assert re.fullmatch(r"± \d+(\.\d+)?(e[+-]\d+)?", entry["range"]), entry["range"]
        assert " cpu " in entry["name"] or " cuda:0 " in entry["name"]  # the device is in the name
        assert "run" not in entry["name"]  # nothing run-specific: stable across commits
    # only cases with a head throughput: the failed GRU and the base-only RNN have none
    assert len(data) == 2
    cpu, cuda = sorted(data, key=lambda e: e["name"])
    assert cpu["name"].replace("cpu", "cuda:0") == cuda["name"]
    assert "verdict: regression" in cpu["extra"]


def test_github_benchmark_values_and_ranges(comparison: Comparison) -> None:
    """The median's interval is asymmetric: ``range`` is ``± (the larger side)``, so value ± range holds the
    whole interval (half the width would cut its long side), and ``extra`` has the bounds and the real
    coverage (6 rounds: 96.9%)."""
    by_name = {c.name: c for c in comparison.cases}
    for entry in benchmark_action_entries(comparison):
        case = by_name[entry["name"]]
        values = sorted(case.head_values)
        value = entry["value"]
        assert value == pytest.approx(case.head_value)
        half = float(entry["range"].removeprefix("± "))
        assert len(values) == 6  # 6 rounds: the 95% interval of the median is their range, x_(1)–x_(6)
        assert half == pytest.approx(max(value - values[0], values[-1] - value), rel=1e-3)
        assert half > (values[-1] - values[0]) / 2  # lopsided here: the symmetric half-width would cut it
        interval = f"head median interval {values[0]:.4g}–{values[-1]:.4g} tokens/s (96.9% coverage, 6 rounds)"
        assert interval in entry["extra"]


def test_github_benchmark_range_of_a_lopsided_interval() -> None:
    from rnnbench.present.exports import _benchmark_range

    range_text, extra = _benchmark_range([100.0, 101.0, 102.0, 140.0, 103.0], 102.0)
    assert range_text == "± 38"  # 140 − 102, not half the 40-wide range (± 20, which would miss 140)
    assert "100–140" in extra and "93.8% coverage, 5 rounds" in extra  # five rounds cannot reach 95%


def test_names_are_stable_across_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    names = []
    for k in range(2):
        write_run(tmp_path / f"b{k}", f"base-{k}", {"lstm": noisy(1000, 6, rng)})
        write_run(tmp_path / f"h{k}", f"head-{k}", {"lstm": noisy(1000, 6, rng)})
        comp = compare_paths([tmp_path / f"b{k}"], [tmp_path / f"h{k}"])
        names.append([e["name"] for e in benchmark_action_entries(comp)])
    assert names[0] == names[1]


def test_json_is_strict_and_complete(comparison: Comparison) -> None:
    text = render(comparison, "json")
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["exit_code"] == comparison.exit_code == 6
    assert data["settings"]["min_effect"] == 0.05 and data["settings"]["alpha"] == 0.01
    assert sum(data["counts"].values()) == len(data["cases"]) == len(comparison.cases)
    failed = next(c for c in data["cases"] if c["verdict"] == "error")
    assert failed["head_tokens_per_s"] is None and failed["ratio"] is None


def test_csv_has_one_row_per_case(comparison: Comparison) -> None:
    rows = list(csv.DictReader(io.StringIO(render(comparison, "csv"))))
    assert len(rows) == len(comparison.cases)
    assert tuple(rows[0]) == COMPARISON_CSV_COLUMNS
    assert rows[0]["verdict"] == "error"  # worst news first
    assert {r["device"] for r in rows} == {"cpu", "cuda:0"}


def test_markdown(comparison: Comparison) -> None:
    md = render(comparison, "md")
    assert md.startswith("## rnnbench regression gate")
    assert "exit code 6" in md and "min effect 5.0%" in md
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table_rows) == 1 + len(comparison.cases)
    for case in comparison.cases:
        assert case.name in md


def test_calibration_and_history_exports(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    write_run(tmp_path / "a", "a", {"lstm": noisy(1000, 6, rng)})
    write_run(tmp_path / "b", "b", {"lstm": noisy(1000, 6, rng)})
    cal = calibration_from(compare_paths([tmp_path / "a"], [tmp_path / "b"]))
    assert "Smallest honest --min-effect" in render(cal, "md")
    assert json.loads(render(cal, "json"))["recommended_min_effect"] == cal.recommended_min_effect
    assert len(list(csv.DictReader(io.StringIO(render(cal, "csv"))))) == 1
    hist = build_history([tmp_path])
    assert "rnnbench history" in render(hist, "md")
    assert len(list(csv.DictReader(io.StringIO(render(hist, "csv"))))) == 2
    with pytest.raises(ConfigError, match="github-benchmark format exports a comparison"):
        render(hist, "github-benchmark")
    with pytest.raises(ConfigError, match="Did you mean 'md'"):
        render(cal, "mdd")
    assert FORMATS == ("md", "json", "csv", "github-benchmark")


def test_markdown_escapes_pipes() -> None:
    from rnnbench.gate.results import CaseComparison

    case = CaseComparison("a|b", "id", {"device": "cpu"}, 1, 1, (), (), "error", "x | y")
    md = render(Comparison([case], GateSettings()), "md")
    assert "a\\|b" in md and "x \\| y" in md


# ---- one specification per table, two renderings -----------------------------------------------------------
def _markdown_cells(line: str) -> list[str]:
    """A Markdown row's cells as the reader sees them: backslash escapes and HTML entities undone."""
    import html
    import re

    cells = re.split(r"(?<!\\) \| ", line.removeprefix("| ").removesuffix(" |"))
    return [html.unescape(re.sub(r"\\(.)", r"\1", cell)) for cell in cells]


@pytest.mark.parametrize("target", ["markdown", "terminal"])
def test_markdown_and_rich_render_one_table_spec_alike(
    comparison: Comparison, tmp_path: Path, target: Target
) -> None:
    """Each gate table is specified once (headers, alignment, cell strings); its Markdown and its rich table
    carry exactly those, row for row."""
    rng = np.random.default_rng(5)
    for i in range(4):
        write_run(tmp_path / "h", f"r{i}", {"lstm": [1000.0 - 100 * i]}, started_at=f"2026-03-0{i + 1}")
    write_run(tmp_path / "a", "a", {"lstm": noisy(1000, 6, rng)})
    write_run(tmp_path / "b", "b", {"lstm": noisy(1000, 6, rng)})
    cal = calibration_from(compare_paths([tmp_path / "a"], [tmp_path / "b"]))
    specs = [
        comparison_table(comparison, target),
        calibration_table(cal, target),
        history_table(build_history([tmp_path / "h"]), target),
    ]
    for spec in specs:
        header, align, *rows = markdown_lines(spec)
        table = rich_table(spec, "title")
        assert _markdown_cells(header) == [str(col.header) for col in table.columns]
        assert [col.header for col in spec.columns] == [str(col.header) for col in table.columns]
        assert align.strip("|").split("|") == [
            "---:" if col.justify == "right" else "---" for col in table.columns
        ]
        rich_rows = [list(cells) for cells in zip(*(col.cells for col in table.columns), strict=True)]
        assert len(rows) == len(rich_rows) == len(spec.rows) > 0
        for md_row, rich_row, spec_row in zip(rows, rich_rows, spec.rows, strict=True):
            assert _markdown_cells(md_row) == [str(cell) for cell in rich_row] == [c.text for c in spec_row]


def test_exports_use_the_table_specs(comparison: Comparison) -> None:
    """The Markdown export's table is the spec's Markdown, verbatim (no second copy of the table)."""
    lines = render(comparison, "md").splitlines()
    table = markdown_lines(comparison_table(comparison, "markdown"))
    start = lines.index(table[0])
    assert lines[start : start + len(table)] == table


def test_terminal_table_shows_text_literally() -> None:
    """Cells and headers are plain text on the terminal: a ``[…]`` is never read as rich markup (the A/A
    ratio header once lost its ``[interval]`` that way)."""
    from rnnbench.gate.results import CaseComparison

    case = CaseComparison("lstm [deadbeef]", "id", {"device": "cpu"}, 1, 1, (), (), "error", "see [bold]x[/]")
    out = io.StringIO()
    console = Console(width=300, file=out, color_system=None)
    console.print(terminal_table(Comparison([case], GateSettings())))
    text = out.getvalue()
    assert "lstm [deadbeef]" in text and "see [bold]x[/]" in text and "rnnbench compare" in text
    cal = calibration_from(Comparison([case], GateSettings()))
    console.print(terminal_table(cal))
    assert "A/A ratio [interval]" in out.getvalue()


def test_one_rate_formatter() -> None:
    """Throughput reads the same in every table: k/M/G, three significant digits, ``—`` when missing."""
    assert [fmt_rate(v) for v in (12.5, 999.6, 2990.0, 2.5e6, 2.5e9, -4e3, math.nan, None)] == [
        "12.5", "1e+03", "2.99k", "2.5M", "2.5G", "-4k", "—", "—",
    ]  # fmt: skip
