"""``history``: rolling median per series (case, threads, fingerprint), flags and the two-in-a-row warning."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rnnbench.analyse.history import build_history, flag_series
from rnnbench.errors import EXIT_OK, EXIT_REGRESSION, ConfigError
from tests.runfolders import write_run


def test_flag_series_rolling_median_and_warning() -> None:
    values = [100, 101, 99, 100, 90, 100, 90, 89, 100]
    out = flag_series(values, window=5, threshold=0.05, min_history=3)
    baselines = [b for b, _, _ in out]
    flags = [f for _, f, _ in out]
    warnings = [w for _, _, w in out]
    assert all(math.isnan(b) for b in baselines[:3])  # fewer than min_history earlier runs
    assert baselines[4] == 100.0  # median of 100, 101, 99, 100
    assert flags == [False, False, False, False, True, False, True, True, False]
    assert warnings == [False] * 7 + [True, False]  # only the second of two consecutive flags warns


def test_lasting_change_becomes_the_new_normal() -> None:
    out = flag_series([100.0] * 5 + [80.0] * 6, window=5, threshold=0.05, min_history=3)
    flags = [f for _, f, _ in out]
    assert flags[5] and flags[6] and flags[7]
    assert not flags[-1]  # after about window/2 slow runs the median has moved


def test_build_history_orders_runs_and_splits_fingerprints(tmp_path: Path) -> None:
    levels = [1000, 1010, 990, 1000, 1005, 900, 880]
    for i, level in enumerate(levels):
        # ids sort differently from start times: the order must come from started_at
        write_run(tmp_path, f"run-{9 - i}", {"lstm": [level, level]}, started_at=f"2026-01-0{i + 1}T00:00:00")
    # an upgraded torch starts its own series instead of raising an alarm
    write_run(tmp_path, "run-new", {"lstm": [500.0]}, keys={"torch": "2.9"}, started_at="2026-01-09T00:00:00")
    hist = build_history([tmp_path])
    assert hist.runs == 8
    assert len(hist.cases) == 2
    main = max(hist.cases, key=lambda c: len(c.points))
    assert [p.run_id for p in main.points] == [f"run-{9 - i}" for i in range(7)]
    assert main.points[-2].flagged and main.points[-1].flagged and main.warning
    assert main.latest.ratio == pytest.approx(880 / 1000)
    other = min(hist.cases, key=lambda c: len(c.points))
    assert len(other.points) == 1 and not other.warning
    assert hist.exit_code == EXIT_REGRESSION
    assert "1 warning" in hist.summary()


def test_single_flag_does_not_warn(tmp_path: Path) -> None:
    for i, level in enumerate([1000, 1000, 1000, 1000, 800, 1000]):
        write_run(tmp_path, f"r{i}", {"lstm": [level]}, started_at=f"2026-02-0{i + 1}")
    hist = build_history([tmp_path])
    assert hist.exit_code == EXIT_OK and not hist.warnings
    assert sum(p.flagged for p in hist.cases[0].points) == 1


def test_failed_rows_are_ignored(tmp_path: Path) -> None:
    write_run(tmp_path, "r0", {"lstm": [1000.0], "gru": [1.0]}, status={"gru": "error"})
    hist = build_history([tmp_path])
    assert [c.name.split()[0] for c in hist.cases] == ["lstm"]


def test_options_are_checked(tmp_path: Path) -> None:
    write_run(tmp_path, "r0", {"lstm": [1000.0]})
    with pytest.raises(ConfigError, match="min-history"):
        build_history([tmp_path], window=2, min_history=3)
    with pytest.raises(ConfigError, match="threshold"):
        build_history([tmp_path], threshold=1.5)
