"""The minGRU/minLSTM crossover (issue 24): the bracket's rule for every outcome (``no verdict`` included), the
ratio to the fastest LSTM/GRU with its interval from crafted round medians, and the report's table and figure
in every format. No torch: result folders are written from the golden run's template row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rnnbench.analyse.crossover import (
    BASELINE_FASTER,
    CROSSOVER,
    NO_CROSSOVER,
    NO_VERDICT,
    SCAN_FASTER,
    SCAN_THROUGHOUT,
    bracket,
)
from rnnbench.analyse.report import make_report
from rnnbench.analyse.speed import INCONCLUSIVE, NO_DIFFERENCE, NO_INTERVAL
from rnnbench.stats import intervals
from tests.crossover_data import CURVE, crossing_folder, crossing_times, rounds_around, write_run

TS = (16, 64, 256, 1024, 4096)
B, S, U, N = BASELINE_FASTER, SCAN_FASTER, INCONCLUSIVE, NO_DIFFERENCE


# ---- the bracket: one case per outcome ------------------------------------------------------------------
def test_crossover_brackets_between_the_last_baseline_win_and_the_scan_suffix() -> None:
    found = bracket(TS, [B, B, U, S, S])
    assert (found.kind, found.low_T, found.high_T) == (CROSSOVER, 64, 1024)
    assert "between T=64 and T=1024" in found.text and not found.note
    assert found.holds(500) and found.holds(1024) and not found.holds(64) and not found.holds(2000)
    # "no difference" is neither side's: the bracket spans it
    assert (bracket(TS, [B, N, N, S, S]).low_T, bracket(TS, [B, N, N, S, S]).high_T) == (16, 1024)


def test_crossover_open_below_when_no_baseline_win_is_decided() -> None:
    found = bracket(TS, [U, U, S, S, S])
    assert (found.kind, found.low_T, found.high_T) == (CROSSOVER, None, 256)
    assert "at or below T=256" in found.text
    assert found.holds(0) and found.holds(256) and not found.holds(300)


def test_scan_faster_at_every_length() -> None:
    found = bracket(TS, [S] * 5)
    assert (found.kind, found.low_T, found.high_T) == (SCAN_THROUGHOUT, None, 16)
    assert found.text == "scan faster from the shortest T (16)"


def test_no_crossover_when_the_baseline_wins_at_the_longest_length() -> None:
    found = bracket(TS, [B] * 5)
    assert (found.kind, found.low_T, found.high_T) == (NO_CROSSOVER, 4096, None)
    assert found.text.startswith("no crossover up to T=4096")
    assert found.holds(np.inf) and not found.holds(1000)
    # a scan win below a baseline win is reported, not hidden
    odd = bracket(TS, [S, B, U, U, B])
    assert odd.kind == NO_CROSSOVER and "T=16 below a baseline-faster T=4096" in odd.note


def test_no_verdict_when_the_longest_length_is_undecided() -> None:
    nothing = bracket(TS, [U] * 5)
    assert (nothing.kind, nothing.low_T, nothing.high_T) == (NO_VERDICT, None, None)
    assert nothing.holds(300) and nothing.holds(np.inf)  # claims nothing
    one_round = bracket(TS, [NO_INTERVAL] * 5)
    assert one_round.kind == NO_VERDICT and "no interval" in one_round.text
    partial = bracket(TS, [B, B, U, U, N])
    assert (partial.kind, partial.low_T, partial.high_T) == (NO_VERDICT, 64, None)
    assert "baseline faster up to T=64" in partial.text
    # the scan wins in the middle but not at the longest T: no suffix, so no crossover is claimed
    middle = bracket(TS, [B, S, S, S, U])
    assert (middle.kind, middle.low_T, middle.high_T) == (NO_VERDICT, 16, None)
    assert bracket([], []).kind == NO_VERDICT


def test_bracket_ignores_input_order_and_names_non_monotone_wins() -> None:
    verdicts = [S, S, B, S, S]
    found = bracket(TS, verdicts)
    assert (found.kind, found.low_T, found.high_T) == (CROSSOVER, 256, 1024)
    assert "T=16, 64 below" in found.note
    order = [3, 0, 4, 2, 1]
    shuffled = bracket([TS[i] for i in order], [verdicts[i] for i in order])
    assert shuffled == found


def test_each_outcome_reads_as_one_line() -> None:
    from rnnbench.present.crossover import series_line

    def line(verdicts: list[str]) -> str:
        found = bracket(TS, verdicts)
        row = {"arch": "mingru", "impl": "scan", "kind": found.kind, "text": found.text, "note": found.note,
               "decided": sum(v in (B, S, N) for v in verdicts), "lengths": 5}  # fmt: skip
        return series_line(row)

    assert line([B, B, U, S, S]) == (
        "mingru/scan: crossover — between T=64 and T=1024 (baseline faster at 64, scan from 1024 on) "
        "[4 of 5 lengths decided]"
    )
    assert line([S] * 5).startswith("mingru/scan: no crossover — scan faster from the shortest T (16)")
    assert line([B] * 5).startswith("mingru/scan: no crossover up to T=4096 (baseline faster there)")
    assert line([U] * 5).startswith("mingru/scan: no verdict — neither side decided faster at any T")


# ---- crafted result folders: ratios, intervals, baselines ------------------------------------------------
def test_ratio_interval_and_bracket_from_fiverounds_around(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r5", crossing_times(5), memory={"mingru": 1_880_000, "lstm": 1_000_000})
    result = make_report([run]).crossover
    points, series = result.points, result.series
    assert set(points["arch"]) == {"mingru"} and set(points["impl"]) == {"scan"}  # scratch left out
    assert (points["baseline_arch"] == "lstm").all() and (points["method"] == "rounds").all()
    by_t = points.set_index("seq_len")
    for t, ratio in CURVE.items():
        assert by_t.loc[t, "ratio"] == pytest.approx(ratio)  # ratio of medians: the pattern's centre
        _, low, high = intervals.bootstrap_ratio_ci_batch(
            np.array([rounds_around(ratio * 0.001 * t, 5)]), np.array([rounds_around(0.001 * t, 5)])
        )
        assert (by_t.loc[t, "ratio_low"], by_t.loc[t, "ratio_high"]) == pytest.approx((low[0], high[0]))
    assert list(points["verdict"]) == [
        BASELINE_FASTER,
        BASELINE_FASTER,
        NO_DIFFERENCE,
        SCAN_FASTER,
        SCAN_FASTER,
    ]
    assert points["memory_ratio"].to_numpy() == pytest.approx([1.88] * 5)
    row = series.iloc[0]
    assert (row["kind"], row["low_T"], row["high_T"]) == (CROSSOVER, 64, 1024)
    assert (row["lengths"], row["decided"]) == (5, 5)
    assert row["memory_low"] == pytest.approx(1.88) and row["memory_high"] == pytest.approx(1.88)


def test_three_rounds_use_the_t_interval_and_the_fastest_baseline_per_length(tmp_path: Path) -> None:
    times = crossing_times(3)
    for t in (1024, 4096):  # the GRU is the faster baseline here: the ratio must use it
        times[("gru", "native", t)] = rounds_around(0.0005 * t, 3)
    run = write_run(tmp_path / "r3", times)
    points = make_report([run]).crossover.points.set_index("seq_len")
    assert (points["method"] == "t-rounds").all()
    assert list(points["baseline_arch"]) == ["lstm", "lstm", "lstm", "gru", "gru"]
    est, low, high = intervals.log_ratio_t_interval_batch(
        np.array([rounds_around(0.5 * 1.024, 3)]), np.array([rounds_around(0.0005 * 1024, 3)])
    )
    assert points.loc[1024, "ratio"] == pytest.approx(est[0]) == pytest.approx(1.0)
    assert (points.loc[1024, "ratio_low"], points.loc[1024, "ratio_high"]) == pytest.approx((low[0], high[0]))
    assert points.loc[1024, "verdict"] == NO_DIFFERENCE and points.loc[4096, "verdict"] == SCAN_FASTER


def test_one_round_never_decides(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r1", crossing_times(1))
    result = make_report([run]).crossover
    assert (result.points["method"] == "point").all() and (result.points["verdict"] == NO_INTERVAL).all()
    assert result.points["ratio_low"].isna().all()
    assert result.series.iloc[0]["kind"] == NO_VERDICT and result.series.iloc[0]["decided"] == 0


def test_noisy_rounds_give_no_verdict(tmp_path: Path) -> None:
    """Two rounds that disagree by ±60%: every interval holds 1, nothing is decided, no crossover claimed."""
    run = write_run(tmp_path / "noisy", crossing_times(2, spread=0.6))
    series = make_report([run]).crossover.series.iloc[0]
    assert series["kind"] == NO_VERDICT and series["decided"] == 0


def test_nothing_to_pair_gives_an_empty_crossover(tmp_path: Path) -> None:
    times = {k: v for k, v in crossing_times(3).items() if k[0] in ("lstm", "gru")}
    assert make_report([write_run(tmp_path / "classic", times)]).crossover.empty
    minimal_only = {k: v for k, v in crossing_times(3).items() if k[0] == "mingru"}
    assert make_report([write_run(tmp_path / "minimal", minimal_only)]).crossover.empty


def test_several_shapes_get_a_shape_column_panels_and_named_series(tmp_path: Path) -> None:
    from rnnbench.present.crossover import crossover_tables, display_crossover, series_lines
    from rnnbench.present.crossover_figure import crossover_figure

    write_run(tmp_path / "h64", crossing_times(3))
    slow = {k: [v * (1.0 if k[0] == "mingru" else 0.25) for v in vs] for k, vs in crossing_times(3).items()}
    write_run(tmp_path / "h128", slow, hidden=128)  # the scan 4× slower relatively: crosses later or never
    report = make_report([tmp_path])
    (table,) = crossover_tables(report.crossover)
    shown = display_crossover(table)
    assert list(shown["shape"].unique()) == ["H=64", "H=128"]
    lines = series_lines(table)
    assert lines[0].startswith("mingru/scan (H=64): crossover") and lines[1].startswith("mingru/scan (H=128): ")
    # 4 × CURVE: 1.0 at T=4096, "no difference" there, so no crossover can be placed — only what is known
    assert "no verdict — baseline faster up to T=1024; at T=4096: no difference" in lines[1]
    fig = crossover_figure(report)
    assert fig is not None and len([ax for ax in fig.axes if ax.get_visible()]) == 2


# ---- the report shows it ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crossing_report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_report([crossing_folder(tmp_path_factory.mktemp("xo"))])


def test_terminal_tables_at_80_columns_and_piped(crossing_report: Any) -> None:
    from rich.console import Console

    from rnnbench.present.render import terminal_renderables

    for width, one_line in ((80, False), (200, True)):
        console = Console(width=width, record=True, color_system=None)
        for renderable in terminal_renderables(crossing_report, one_line=one_line):
            console.print(renderable)
        text = console.export_text()
        assert "Crossover · train" in text and "Crossover · inference" in text
        assert "mingru/scan: crossover — between T=64 and T=1024" in text.replace("\n  ", " ")
        assert max(len(line) for line in text.splitlines()) <= width
        if one_line:  # each (series, T) whole on one line
            assert any(
                "mingru/scan" in line and "4096" in line and "scan faster" in line for line in text.splitlines()
            )


def test_markdown_html_and_csv_carry_the_crossover(crossing_report: Any, tmp_path: Path) -> None:
    from rnnbench.present.render import write_report

    written = write_report(crossing_report, tmp_path, ("md", "html", "csv", "png"), jobs=1)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## minGRU/minLSTM crossover" in md
    assert (
        "| minimal | T | fastest LSTM/GRU | time ratio \\[95% CI\\] | verdict |" in md
    )  # one shape: in the title
    assert "minlstm/scan: crossover — between T=256 and T=1024" in md  # 1.5 × 1.01: baseline faster at 256
    assert "picking the fastest after the fact favours the baseline" in md.lower()
    assert "![" in md and "crossover.png" in md
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="crossover"' in html and 'id="fig-crossover"' in html
    points = pd.read_csv(tmp_path / "crossover.csv")
    assert len(points) == 2 * 2 * 5 and set(points["verdict"]) >= {SCAN_FASTER, BASELINE_FASTER}
    series = pd.read_csv(tmp_path / "crossover_series.csv")
    assert sorted(series["kind"]) == [CROSSOVER] * 4
    assert tmp_path / "crossover.png" in written["png"]


def test_the_figure_draws_a_line_per_arch_and_mode_with_the_bracket(crossing_report: Any) -> None:
    from matplotlib.patches import Polygon, Rectangle

    from rnnbench.present.crossover_figure import crossover_figure

    fig = crossover_figure(crossing_report)
    assert fig is not None
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:4] == ["mingru/scan · inference", "minlstm/scan · inference", "mingru/scan · train",
                          "minlstm/scan · train"]  # fmt: skip
    assert any(label.startswith("crossover bracket") for label in labels)
    spans = [p for p in ax.patches if isinstance(p, Polygon | Rectangle)]
    assert len(spans) >= 4  # a shaded bracket per series (and the ±5% band)
    assert any(line.get_ydata()[0] == 1.0 for line in ax.get_lines() if len(line.get_ydata()) == 2)
    low, high = ax.get_ylim()
    assert low < 0.25 and high > 4.0  # every ratio in view


# ---- the run preset ---------------------------------------------------------------------------------------
def test_the_scan_preset_sweeps_t_with_five_rounds_and_only_computable_pairs(cli: Any, tmp_path: Path) -> None:
    from rnnbench.measure.presets import RUN_PRESETS, preset_rounds

    preset = RUN_PRESETS.get("scan")
    pairs = {(c.arch, c.impl) for c in preset.spec.expand()}
    assert pairs == {("lstm", "native"), ("gru", "native"), ("mingru", "scan"), ("minlstm", "scan")}
    assert preset.spec.seq_len == (16, 64, 256, 1024, 4096) and "train" in preset.spec.mode
    assert (preset_rounds("scan"), preset_rounds("quick"), preset_rounds(None)) == (5, 1, 1)
    result = cli(["run", "--preset", "scan", "--dry-run", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "40 cases × 5 round(s) = 200 measurements" in result.stdout
    assert "seq_len: 16, 64, 256, 1024, 4096" in result.stdout
    again = cli(["run", "--preset", "scan", "--rounds", "2", "-T", "16", "--dry-run", "-o", str(tmp_path)])
    assert again.exit_code == 0 and "8 cases × 2 round(s)" in again.stdout  # the command line wins
    config = tmp_path / "sweep.toml"
    config.write_text('preset = "scan"\nseq_len = [16]\n')
    from_config = cli(["run", "--config", str(config), "--dry-run", "-o", str(tmp_path)])
    assert from_config.exit_code == 0 and "8 cases × 5 round(s)" in from_config.stdout


def test_run_prints_one_crossover_line_per_series(tmp_path: Path) -> None:
    """``run``'s own summary ends with the crossover of what it just measured, as the report computes it."""
    from rnnbench.analyse.crossover import crossover_of
    from rnnbench.analyse.speed import aggregate_cases, pair_ratios
    from rnnbench.present.run_summary import run_summary
    from rnnbench.results.loader import load_report_data

    root = crossing_folder(tmp_path)
    data = load_report_data([root / "train"])
    cases, rounds = aggregate_cases(data.summary)
    body = run_summary(data.summary, pair_ratios(cases, rounds), crossover_of(cases, rounds)).body
    lines = [line for line in body if isinstance(line, str)]
    at = next(i for i, line in enumerate(lines) if line.startswith("Crossover ("))
    series = lines[at + 1 :]
    assert len(series) == 2 and all(line.startswith("  train · ") for line in series)
    assert "mingru/scan: crossover" in series[0] and "T=64" in series[0] and "T=1024" in series[0]
    assert "minlstm/scan" in series[1]
    without = run_summary(data.summary, pair_ratios(cases, rounds)).body
    assert not any(isinstance(line, str) and line.startswith("Crossover (") for line in without)
