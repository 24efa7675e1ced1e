"""``rnnbench report`` as a user types it: files and tables from the golden results, clear errors with exit
code 2, and no torch import."""

from __future__ import annotations

import shutil
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def test_report_writes_files_and_prints_tables(cli, tmp_path: Path) -> None:
    """The command end to end on one speed run (five figures: every figure of the whole golden set is drawn
    once per session by ``conftest.golden_report`` and checked in ``test_render``/``test_plots``)."""
    out = tmp_path / "out"
    result = cli(["report", str(GOLDEN / "20261101-090000-aaaa"), "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "inference · cpu · Intel(R) Xeon(R) Gold 6338" in result.output
    assert "GRU/LSTM [95% CI]" in result.output and "Claims" in result.output
    assert f"Report: {out / 'report.html'}" in result.output.replace("\n", "")
    for name in ("report.md", "report.html", "throughput_vs_seq_len.png", "ratio_heatmap.svg", "cases.csv"):
        assert (out / name).exists(), name


def test_default_out_is_beside_the_results(cli, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(GOLDEN / "20261103-110000-cccc", results / "20261103-110000-cccc")
    result = cli(["report", str(results), "--format", "md", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (results / "report" / "report.md").exists()
    assert not (results / "report" / "report.html").exists()


def test_errors_are_one_line_and_exit_2(cli, tmp_path: Path) -> None:
    result = cli(["report", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("Error: no results under")
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "summary.csv").write_text("schema_version,run_id\n")
    result = cli(["report", str(bad)])
    assert result.exit_code == 2 and "missing column" in result.output and "summary.csv" in result.output
    result = cli(["report", str(GOLDEN), "--format", "pdf"])
    assert result.exit_code == 2 and "Unknown format 'pdf'" in result.output


def test_quiet_sends_warnings_to_stderr(cli, tmp_path: Path) -> None:
    """Like 'run', '--quiet' keeps stdout for the report's path; warnings (a busy round here) go to stderr."""
    result = cli(["report", str(GOLDEN), "--format", "md", "--quiet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "busy" in result.stderr
    assert result.stdout == f"{tmp_path / 'out' / 'report.md'}\n"
