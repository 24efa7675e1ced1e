"""``history``: change points per series (case, threads, fingerprint) with their run, magnitude and
significance; the warning for a recent significant slowdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnbench.errors import EXIT_OK, EXIT_REGRESSION, ConfigError
from rnnbench.gate.history import build_history
from rnnbench.stats.changes import change_points, describe_changes
from tests.runfolders import write_run


def test_change_points_find_a_step_and_ignore_noise() -> None:
    rng = np.random.default_rng(0)
    flat = 1000 * np.exp(rng.normal(0, 0.02, 20))
    assert change_points(flat) == []
    step = flat.copy()
    step[12:] *= 0.85
    assert change_points(step) == [12]
    [(i, before, after, p, significant, n_b, n_a)] = describe_changes(step, [12])
    assert i == 12 and after / before == pytest.approx(0.85, abs=0.03)
    assert significant and p < 0.001 and (n_b, n_a) == (12, 8)


def test_false_change_points_are_rare_by_simulation() -> None:
    """20 runs of 2% lognormal noise: a spurious change in ≤ ~2% of flat series (the penalty's purpose)."""
    rng = np.random.default_rng(1)
    found = sum(bool(change_points(1000 * np.exp(rng.normal(0, 0.02, 20)))) for _ in range(300))
    assert found / 300 <= 0.04


def test_one_odd_run_is_not_a_change() -> None:
    rng = np.random.default_rng(2)
    values = 1000 * np.exp(rng.normal(0, 0.01, 17))
    values[8] = 700.0
    assert change_points(values) == []


def test_build_history_orders_runs_splits_fingerprints_and_warns(tmp_path: Path) -> None:
    levels = [1000, 1010, 990, 1000, 1005, 995, 1002, 998, 880, 885, 875]
    for i, level in enumerate(levels):
        # ids sort differently from start times: the order must come from started_at
        write_run(
            tmp_path, f"run-{20 - i}", {"lstm": [level, level]}, started_at=f"2026-01-{i + 1:02d}T00:00:00"
        )
    # an upgraded torch starts its own series instead of being a change
    write_run(tmp_path, "run-new", {"lstm": [500.0]}, keys={"torch": "2.9"}, started_at="2026-01-20T00:00:00")
    hist = build_history([tmp_path])
    assert hist.runs == 12 and len(hist.cases) == 2
    main = max(hist.cases, key=lambda c: len(c.points))
    assert [p.run_id for p in main.points] == [f"run-{20 - i}" for i in range(11)]
    [change] = main.changes
    assert change.run_id == "run-12" and change.index == 8
    assert change.ratio == pytest.approx(880 / 1000, abs=0.01) and change.significant and change.p_value < 0.01
    assert main.warning and main.points[8].change and main.latest.level == pytest.approx(880)
    other = min(hist.cases, key=lambda c: len(c.points))
    assert not other.changes and not other.warning
    assert hist.exit_code == EXIT_REGRESSION
    assert "1 warning" in hist.summary()
    data = hist.as_dict()["cases"]
    assert any(c["change_points"] and c["change_points"][0]["magnitude"] < -0.1 for c in data)


def test_old_change_and_improvement_do_not_warn(tmp_path: Path) -> None:
    levels = [1000] * 6 + [850] * 10  # a slowdown long ago (outside --window)
    for i, level in enumerate(levels):
        write_run(tmp_path / "a", f"r{i}", {"lstm": [float(level)]}, started_at=f"2026-02-{i + 1:02d}")
    hist = build_history([tmp_path / "a"], window=5)
    assert hist.cases[0].changes and not hist.cases[0].warning and hist.exit_code == EXIT_OK
    for i, level in enumerate([1000] * 8 + [1200] * 3):
        write_run(tmp_path / "b", f"r{i}", {"lstm": [float(level)]}, started_at=f"2026-02-{i + 1:02d}")
    hist = build_history([tmp_path / "b"])
    assert hist.cases[0].changes[0].ratio > 1 and hist.exit_code == EXIT_OK


def test_failed_rows_are_ignored(tmp_path: Path) -> None:
    write_run(tmp_path, "r0", {"lstm": [1000.0], "gru": [1.0]}, status={"gru": "error"})
    hist = build_history([tmp_path])
    assert [c.name.split()[0] for c in hist.cases] == ["lstm"]


def test_options_are_checked(tmp_path: Path) -> None:
    write_run(tmp_path, "r0", {"lstm": [1000.0]})
    with pytest.raises(ConfigError, match="min-history"):
        build_history([tmp_path], min_size=0)
    with pytest.raises(ConfigError, match="threshold"):
        build_history([tmp_path], threshold=1.5)
    with pytest.raises(ConfigError, match="alpha"):
        build_history([tmp_path], alpha=0.7)
