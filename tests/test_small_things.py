"""The small things a new user met in the first hour (issue 22), each as it was seen and as it must be now.

Covered elsewhere: ``--quiet`` printing only the path (run, train: ``test_cli_piped.py``; report:
``test_cli_report.py`` and ``test_cli_piped.py``), ``Default: 0.15`` in ``run --help``
(``test_cli_options.py``), ``list`` within 100 columns in a pipe (``test_cli_piped.py``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.runfolders import write_run


def test_run_and_report_word_and_round_a_ratio_alike() -> None:
    """Before: ``run`` said "no clear difference" and 19.08 where ``report`` said "inconclusive" and 19.085."""
    from rnnbench.analyse.speed import ratio_verdict
    from rnnbench.present.formatting import fmt_ratio
    from rnnbench.present.pairing import verdict_text

    row: dict[str, Any] = {
        "mode": "train", "device": "cpu", "impl": "native", "dtype": "float32", "seq_len": 64,
        "batch_size": 16, "input_size": 64, "hidden_size": 64, "threads": 1, "n_gru": 5, "n_lstm": 5,
        "method": "rounds", "ratio": 19.085, "ratio_low": 0.93, "ratio_high": 41.237,
    }  # fmt: skip
    row["verdict"] = ratio_verdict(row["ratio"], row["ratio_low"], row["ratio_high"])
    line = verdict_text(row)
    assert row["verdict"] == "inconclusive" and line.startswith("inconclusive for gru vs lstm")
    assert fmt_ratio(19.085, 0.93, 41.237) == "19.1 [0.9–41.2]" and "19.1 [0.9–41.2]" in line
    decided = {**row, "ratio": 0.5862, "ratio_low": 0.5681, "ratio_high": 0.6173, "verdict": "GRU faster"}
    assert fmt_ratio(0.5862, 0.5681, 0.6173) == "0.586 [0.568–0.617]"
    assert verdict_text(decided).startswith("gru ran 1.71× faster than lstm") and "[1.62–1.76]" in verdict_text(
        decided
    )


def test_threads_zero_is_torchs_default_in_run_as_in_train(cli) -> None:
    """Before: ``run --threads 0`` was an error while ``train --threads 0`` meant torch's default."""
    result = cli(["run", "--threads", "0", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "threads: default" in result.stdout
    assert "0 or not given: torch's default" in " ".join(cli(["run", "--help"]).stdout.split())
    result = cli(["run", "--threads", "-1", "--dry-run"])
    assert result.exit_code == 2 and "--threads must be ≥ 0" in result.output


def test_a_dry_run_refuses_a_device_that_is_not_here(cli) -> None:
    """Before: ``run --device cuda --dry-run`` exited 0 on a machine without CUDA; the run itself exits 2."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is here")
    result = cli(["run", "--device", "cuda", "--dry-run"])
    assert result.exit_code == 2 and result.output.startswith("Error: Device 'cuda' is not available")
    result = cli(["run", "--device", "cpu", "cuda", "--dry-run"])  # one of two absent: warned, as the run does
    assert result.exit_code == 0 and "Warning: Device 'cuda' is not available" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"), [(["--budget", "-1"], "--budget"), (["--target-precision", "0"], "--target-precision")]
)
def test_a_bad_setting_names_its_option(cli, args: list[str], named: str) -> None:
    """Before: ``--budget -1`` said "per-case time budget must be > 0 s"."""
    result = cli(["run", *args, "--dry-run"])
    assert result.exit_code == 2 and result.output.startswith(f"Error: {named} ")


def test_batch_has_a_short_flag_everywhere(cli) -> None:
    result = cli(["run", "-b", "4", "8", "--dry-run"])
    assert result.exit_code == 0 and "batch: 4, 8" in result.stdout
    for command in ("run", "train", "verify"):
        help_text = cli([command, "--help"]).stdout
        assert "--batch" in help_text and "-b " in help_text, command


def test_log_tick_labels_never_repeat_inside_one_decade() -> None:
    """Before: efficiency.png labelled five x ticks "2e-4" (1.6e-4 … 2.4e-4 at one significant digit)."""
    from matplotlib.figure import Figure

    from rnnbench.present.figure_kit import log_axis

    for low, high in ((1.5e-4, 2.5e-4), (3.1e-5, 3.9e-5), (0.0012, 0.0019), (2e-4, 9e-2)):
        fig = Figure()
        ax = fig.add_subplot()
        ax.scatter([low, high], [1, 2])
        log_axis(ax, "x")
        fig.canvas.draw()
        x0, x1 = sorted(ax.get_xlim())
        shown = [
            t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks(), strict=True) if x0 <= v <= x1
        ]
        assert len(shown) >= 2 and len(set(shown)) == len(shown), (low, high, shown)
        assert all(math.isclose(float(s), v, rel_tol=0.01) for s, v in zip(shown, sorted(
            v for v in ax.get_xticks() if x0 <= v <= x1), strict=True))  # fmt: skip


def test_history_does_not_call_a_one_run_series_stable(cli, tmp_path: Path) -> None:
    """Before: one run was "stable". (The wording and the runs needed are history's own: issue 23.)"""
    write_run(tmp_path, "r1", {"lstm": [1000.0]}, started_at="2026-11-01T10:00:00Z")
    result = cli(["history", str(tmp_path), "-f", "md"])
    assert result.exit_code == 0, result.output
    assert "too short to tell" in result.stdout and "stable" not in result.stdout
