"""The report's data layer on the hand-written golden results (no torch): loading, merging, validation errors
with file/column/fix, round aggregation, LSTM/GRU pairing with intervals, training summaries and the claims."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnbench.analyse import stats
from rnnbench.analyse.report import build_report, make_report
from rnnbench.analyse.speed import ratio_verdict
from rnnbench.analyse.training import summarize
from rnnbench.errors import SchemaError
from rnnbench.present.display import display_speed, display_train, speed_table_title
from rnnbench.present.render import default_out_dir
from rnnbench.results.loader import ReportData, load_report_data

GOLDEN = Path(__file__).parent / "golden"
CPU_RUN = GOLDEN / "20261101-090000-aaaa"
GPU_RUN = GOLDEN / "20261102-100000-bbbb"
TRAIN_RUN = GOLDEN / "20261103-110000-cccc"
XEON = "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz"
H100 = "NVIDIA H100 80GB HBM3"


@pytest.fixture(scope="module")
def report():
    return make_report([GOLDEN])


def _claim(report, start: str):
    return next(c for c in report.claims if c.statement.startswith(start))


def test_loads_every_table_and_names_platforms(report) -> None:
    data: ReportData = report.data
    assert len(data.summary) == 162 + 72
    assert set(data.summary["platform"]) == {XEON, H100}
    assert len(data.train) == 126 and len(data.curves) > 0
    assert {info.kind for info in data.runs.values()} == {"run", "train"}
    assert [f.name for f in data.sample_files] == ["samples.csv"]


def test_rounds_aggregate_into_cases_with_order_statistic_interval(report) -> None:
    cases = report.cases
    cpu = cases[(cases["platform"] == XEON) & (cases["status"] == "ok")]
    assert (cpu["rounds"] == 3).all()
    raw = report.data.summary
    one = cpu.iloc[0]
    rows = raw[(raw["case_id"].notna()) & (raw["platform"] == XEON) & (raw["arch"] == one["arch"])
               & (raw["mode"] == one["mode"]) & (raw["seq_len"] == one["seq_len"])
               & (raw["hidden_size"] == one["hidden_size"])]  # fmt: skip
    assert one["median_s"] == pytest.approx(rows["median_s"].median())
    # three rounds: the 95% order-statistic interval of the round medians is their range
    assert one["ci_low_s"] == pytest.approx(rows["median_s"].min())
    assert one["ci_high_s"] == pytest.approx(rows["median_s"].max())


def test_failed_case_keeps_status_and_message(report) -> None:
    failed = report.cases[report.cases["status"] == "oom"]
    assert len(failed) == 1
    row = failed.iloc[0]
    assert (row["arch"], row["mode"], row["seq_len"], row["hidden_size"]) == ("gru", "train", 256, 256)
    assert "out of memory" in row["message"]
    shown = pd.concat([display_speed(t) for t in report.tables])
    assert shown["status"].str.startswith("oom: ").sum() == 1


def test_ratio_methods_rounds_samples_and_paired_by_shape(report) -> None:
    ratios = report.ratios
    assert set(ratios.loc[ratios["platform"] == XEON, "method"]) == {"rounds"}
    assert set(ratios.loc[ratios["platform"] == H100, "method"]) == {"samples"}
    # the GRU that ran out of memory has no pair; every other GRU has one per impl
    assert len(ratios) == 2 * 9 + 2 * (9 + 3) - 1
    assert (ratios["ratio_low"] <= ratios["ratio"]).all() and (ratios["ratio"] <= ratios["ratio_high"]).all()
    gpu = ratios[(ratios["platform"] == H100) & (ratios["mode"] == "inference") & (ratios["impl"] == "native")]
    assert gpu["ratio"].median() == pytest.approx(0.77, abs=0.05)


def test_speed_tables_per_mode_device_dtype_with_ratio_beside_theory(report) -> None:
    titles = [speed_table_title(t) for t in report.tables]
    assert len(titles) == 4
    assert titles[0].startswith(f"inference · cpu · {XEON} · float32")
    shown = display_speed(report.tables[0])
    assert "GRU/LSTM [95% CI] (theory 0.75)" in shown.columns
    gru = shown[shown["arch/impl"] == "gru/native"]
    assert gru["GRU/LSTM [95% CI] (theory 0.75)"].str.contains(r"\[.*–.*\] \(rounds\)").all()
    assert (shown.loc[shown["arch/impl"] == "lstm/native", "GRU/LSTM [95% CI] (theory 0.75)"] == "").all()
    assert shown["time / iter"].str.contains(" ms ").all()
    assert shown["% peak"].str.endswith("%").all()


def test_claim_parameters_says_a_quarter_not_a_third(report) -> None:
    claim = _claim(report, "GRU has fewer parameters")
    assert claim.verdict == "true"
    text = " ".join(r.evidence for r in claim.rows)
    assert "exactly 25% fewer" in text and "exactly 0.75 in 41 of 41" in text


def test_claim_speed_by_mode_and_device_with_intervals(report) -> None:
    claim = _claim(report, "GRU is faster per step")
    by_scope = {r.scope: r for r in claim.rows}
    cpu_inf = by_scope[f"inference · cpu · {XEON} · float32 · native"]
    assert cpu_inf.verdict == "false"  # oneDNN LSTM against ATen GRU: GRU slower on CPU inference
    gpu_inf = by_scope[f"inference · cuda:0 · {H100} · float32 · native"]
    assert gpu_inf.verdict == "true" and "[" in gpu_inf.evidence
    assert claim.verdict == "mixed"


def test_claims_training(report) -> None:
    assert _claim(report, "GRU does better than LSTM on small").verdict == "true"
    memory = _claim(report, "LSTM keeps longer memories")
    verdicts = {r.scope: r.verdict for r in memory.rows}
    assert verdicts["adding P=17473 · lstm vs gru"] == "false"  # 0/5 vs 5/5 at T=200
    assert verdicts["copy P=17973 · lstm vs gru"] == "inconclusive"  # three seeds cannot decide
    target = {r.scope: r.verdict for r in _claim(report, "GRU reaches the target").rows}
    assert target["adding T=100 P=17473"] == "true"
    assert target["digits T=64 P=18123 n=200"] == "inconclusive"  # neither arm solved it
    bias = _claim(report, "Forget-gate bias")
    assert {r.verdict for r in bias.rows} <= {"true", "inconclusive", "false", "mixed"}
    assert any(r.verdict == "true" for r in bias.rows)


def test_training_chooses_each_arms_learning_rate(report) -> None:
    arms = report.arms
    adding = arms[(arms["task"] == "adding") & (arms["seq_len"] == 100) & (arms["budget"] == 17473)]
    lstm = adding[adding["arm"] == "lstm"]
    assert len(lstm) == 2
    assert lstm.loc[lstm["chosen"], "lr"].item() == pytest.approx(0.003)
    shown = display_train(arms)
    assert shown["used"].eq("✓").sum() == arms["chosen"].sum()
    assert shown["setting"].str.contains("n=200").any()


def test_train_summary_is_the_reports_aggregation(report) -> None:
    """``rnnbench train``'s end-of-run summary and the report pick the same learning rates, count the same
    seeds and find the same memory horizons (one summariser, one threshold)."""
    train = report.data.train
    summary = summarize(train[train["train_size"] == 0])
    chosen = report.arms[report.arms["chosen"] & (report.arms["train_size"] == 0)]
    assert len(summary.arms) == len(chosen) == len(summary.selected_lr)
    for s, (_, row) in zip(summary.arms, chosen.iterrows(), strict=True):
        assert (s.task, s.seq_len, s.arm, s.lr) == (row["task"], row["seq_len"], row["arm"], row["lr"])
        assert (s.n, s.successes) == (row["seeds"], row["solved"])
        assert summary.selected_lr[(s.task, s.seq_len, s.match, s.budget, s.arm)] == row["lr"]
    horizon = {(h.task, h.budget, h.arm): h.largest_solved for h in summary.horizons}
    memory = {r.scope: r.evidence for r in _claim(report, "LSTM keeps longer memories").rows}
    assert horizon[("adding", 17473, "lstm")] == 50 and horizon[("adding", 17473, "gru")] == 200
    assert "lstm T=50, gru T=200" in memory["adding P=17473 · lstm vs gru"]
    assert horizon[("adding", 17473, "rnn")] is None


def test_verdict_is_inconclusive_when_interval_straddles_one() -> None:
    assert ratio_verdict(0.7, 0.8) == "GRU faster"
    assert ratio_verdict(1.01, 1.2) == "LSTM faster"
    assert ratio_verdict(0.9, 1.1) == "inconclusive"
    assert ratio_verdict(float("nan"), float("nan")) == "no interval"


def test_batch_bootstrap_equals_the_scalar_one() -> None:
    rng = np.random.default_rng(3)
    for na, nb in ((3, 3), (5, 4), (1, 6), (20, 17)):
        a = np.sort(rng.lognormal(size=(25, na)), axis=1)
        b = np.sort(rng.lognormal(size=(25, nb)), axis=1)
        est, low, high = stats.bootstrap_ratio_ci_batch(a, b)
        for i in range(0, 25, 6):
            ci = stats.bootstrap_ratio_ci(a[i], b[i])
            assert (est[i], low[i], high[i]) == pytest.approx((ci.estimate, ci.low, ci.high), rel=1e-12)


# ---- inputs --------------------------------------------------------------------------------------------
def _copy(tmp_path: Path, *folders: Path) -> Path:
    root = tmp_path / "results"
    for folder in folders:
        shutil.copytree(folder, root / folder.name)
    return root


def test_csv_files_and_single_folders_are_accepted(tmp_path: Path) -> None:
    data = load_report_data([CPU_RUN / "summary.csv", TRAIN_RUN])
    assert len(data.summary) == 162 and len(data.train) == 126
    renamed = tmp_path / "mine.csv"
    shutil.copy(CPU_RUN / "summary.csv", renamed)
    assert len(load_report_data([renamed]).summary) == 162  # recognised by its header


def test_mixed_environments_warn_and_stay_apart(tmp_path: Path) -> None:
    root = _copy(tmp_path, CPU_RUN)
    other = root / "20261105-000000-dddd"
    shutil.copytree(CPU_RUN, other)
    meta = json.loads((other / "metadata.json").read_text())
    meta["env"]["torch"] = "2.14.0"
    meta["run_id"] = "20261105-000000-dddd"
    (other / "metadata.json").write_text(json.dumps(meta))
    summary = pd.read_csv(other / "summary.csv")
    summary["run_id"] = "20261105-000000-dddd"
    summary.to_csv(other / "summary.csv", index=False)
    report = make_report([root])
    assert any(
        "mixed environments" in w and "torch 2.13.0" in w and "torch 2.14.0" in w for w in report.warnings
    )
    assert len(report.tables) == 4  # two software versions of one CPU: separate tables


def test_duplicate_folder_is_counted_once(tmp_path: Path) -> None:
    root = _copy(tmp_path, CPU_RUN)
    shutil.copytree(CPU_RUN, root / "copy")
    data = load_report_data([root])
    assert len(data.summary) == 162
    assert any("appear twice" in w for w in data.warnings)


def _broken(tmp_path: Path, edit) -> Path:
    root = _copy(tmp_path, CPU_RUN)
    path = root / CPU_RUN.name / "summary.csv"
    edit(path)
    return root


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p.write_text(""), ["summary.csv", "empty", "rerun"]),
        (
            lambda p: pd.read_csv(p).drop(columns=["median_s"]).to_csv(p, index=False),
            ["summary.csv", "missing column 'median_s'", "Re-run"],
        ),
        (
            lambda p: pd.read_csv(p).assign(schema_version=2).to_csv(p, index=False),
            ["summary.csv", "'schema_version'", "[2]", "reads version 1"],
        ),
        (
            lambda p: (
                pd.read_csv(p)
                .assign(median_s=lambda f: f["median_s"].astype(object).where(f.index != 4, "fast"))
                .to_csv(p, index=False)
            ),
            ["summary.csv", "column 'median_s'", "'fast'", "line 6", "fix or delete"],
        ),
        (
            lambda p: (
                pd.read_csv(p)
                .assign(seq_len=lambda f: f["seq_len"].astype(object).where(f.index != 0, "long"))
                .to_csv(p, index=False)
            ),
            ["column 'seq_len'", "'long'", "line 2"],
        ),
    ],
    ids=["empty", "missing-column", "schema-version", "non-numeric", "non-numeric-key"],
)
def test_malformed_inputs_name_file_column_and_fix(tmp_path: Path, edit, expected: list[str]) -> None:
    root = _broken(tmp_path, edit)
    with pytest.raises(SchemaError) as info:
        load_report_data([root])
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


def test_folder_without_results(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SchemaError, match=r"no results under .*empty.*summary\.csv.*rnnbench run"):
        load_report_data([tmp_path / "empty"])
    with pytest.raises(SchemaError, match="no such file or folder"):
        load_report_data([tmp_path / "missing"])
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(SchemaError, match="not an rnnbench table"):
        load_report_data([other])


def test_bad_metadata_json(tmp_path: Path) -> None:
    root = _copy(tmp_path, CPU_RUN)
    (root / CPU_RUN.name / "metadata.json").write_text("{not json")
    with pytest.raises(SchemaError, match=r"metadata\.json: not valid JSON"):
        load_report_data([root])


def test_only_training_or_only_speed(tmp_path: Path) -> None:
    speed = build_report(load_report_data([CPU_RUN]))
    assert speed.arms.empty
    assert _claim(speed, "GRU reaches").verdict == "no data"
    train = build_report(load_report_data([TRAIN_RUN]))
    assert not train.tables
    assert _claim(train, "GRU is faster per step").verdict == "no data"
    assert _claim(train, "GRU has fewer parameters").verdict == "true"  # arithmetic needs no timing data


def test_default_out_dir(tmp_path: Path) -> None:
    root = _copy(tmp_path, CPU_RUN, GPU_RUN)
    assert default_out_dir([root]) == root.resolve() / "report"
    assert default_out_dir([root / CPU_RUN.name]) == (root / CPU_RUN.name).resolve() / "report"
    assert default_out_dir([root / CPU_RUN.name, root / GPU_RUN.name]) == root.resolve() / "report"
    assert default_out_dir([root / CPU_RUN.name / "summary.csv"]) == (root / CPU_RUN.name).resolve() / "report"
