"""The small things a reader trips over: one unit and one precision inside an interval, "CPU build" instead of
"CUDA None", no "--threads 1" advice to a run that had one thread."""

from __future__ import annotations

import pandas as pd

from rnnbench.present.formatting import fmt_interval_seconds, fmt_seconds


def test_times_keep_three_significant_digits_with_their_zeros() -> None:
    """A column of times reads at one precision: ``36.0 ms`` beside ``52.9 ms`` (``.3g`` printed ``36 ms``)."""
    assert [fmt_seconds(v) for v in (0.036, 0.0529, 1e-4, 0.5, 12.0)] == [
        "36.0 ms", "52.9 ms", "100 µs", "500 ms", "12.0 s",
    ]  # fmt: skip
    assert fmt_seconds(None) == "—" and fmt_seconds(float("nan")) == "—"


def test_interval_has_one_unit_and_one_precision() -> None:
    assert fmt_interval_seconds(943e-6, 827e-6, 1.13e-3) == "943 µs [827–1130]"
    assert fmt_interval_seconds(0.0072, 0.0070, 0.0074) == "7.20 ms [7.00–7.40]"
    assert fmt_interval_seconds(2.5, 2.41, 2.66, 0.75) == "2.50 s [2.41–2.66] (75%)"
    assert "e+" not in fmt_interval_seconds(9.99e-4, 9.0e-4, 2.2e-3)


def test_sources_line_says_cpu_build() -> None:
    from rnnbench.present.render import _cuda_text

    assert _cuda_text({"cuda": "None", "cudnn": "None"}) == "CPU build"
    assert _cuda_text({"cuda": "12.4", "cudnn": "90100"}) == "CUDA 12.4, cuDNN 90100"


def test_sources_in_the_html_of_a_cpu_run(tmp_path) -> None:
    from pathlib import Path

    from rnnbench.analyse.report import make_report
    from rnnbench.present.render import html_report, source_lines

    report = make_report([Path(__file__).parent / "golden"])
    for info in report.data.runs.values():
        info.env["cuda"] = None
        info.env["cudnn"] = None
    lines = source_lines(report)
    assert lines and all("CPU build" in line and "None" not in line for line in lines)
    assert "CUDA None" not in html_report(report)


def _summary(threads: int) -> pd.DataFrame:
    rows = [
        {"arch": a, "impl": "native", "mode": "inference", "status": "ok", "message": "", "median_s": 1e-3,
         "iqr_s": 5e-4, "busy": True, "other_cpu_frac": 0.4, "threads": threads}
        for a in ("lstm", "gru")
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_noisy_hint_never_says_threads_1_to_a_one_thread_run() -> None:
    from rnnbench.present.run_summary import _warnings

    one = " ".join(_warnings(_summary(1)))
    assert "noisy" in one and "--threads 1" not in one and "raise --budget" in one
    two = " ".join(_warnings(_summary(2)))
    assert "set --threads 1" in two and "(--threads 1)" in two


def test_train_plan_groups_seeds() -> None:
    from types import SimpleNamespace

    from rnnbench.present.training import plan_renderables

    units = [
        SimpleNamespace(task="adding", arm=arm, seed=s, seq_len=50, match="params", budget=100, hidden_size=4,
                        params=99, lr=0.01, impl=impl)
        for s in range(3) for arm, impl in (("gru", "native"), ("mingru", "scan"))
    ]  # fmt: skip
    spec = SimpleNamespace(steps=10, batch_size=4, device="cpu", dtype="float32", impl="native")
    table, line = plan_renderables(units, spec)
    assert table.row_count == 2 and line.startswith("6 runs of up to 10 steps")
    assert "implementations: gru native, mingru scan;" in line  # --impl applies per arm: the plan says which


def test_readme_block_sizes_match_the_settings() -> None:
    from pathlib import Path

    from rnnbench.core.spec import Settings
    from rnnbench.measure.presets import RUN_PRESETS

    readme = " ".join(
        (Path(__file__).resolve().parents[1] / "docs" / "timing.md").read_text(encoding="utf-8").split()
    )
    default = Settings().min_block_s * 1000
    quick = RUN_PRESETS.get("quick").settings.min_block_s * 1000
    assert f"(≥ {default:g} ms by default; ≥ {quick:g} ms in the `quick` preset" in readme
