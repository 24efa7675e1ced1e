"""The report's data layer on the hand-written golden results (no torch): loading, merging, validation errors
with file/column/fix, round aggregation, LSTM/GRU pairing with intervals, training summaries and the claims."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnbench.analyse.claims import claim_speed
from rnnbench.analyse.report import build_report, make_report
from rnnbench.analyse.speed import ratio_verdict
from rnnbench.analyse.training import summarize
from rnnbench.errors import SchemaError
from rnnbench.present.display import display_speed, display_train, speed_table_title
from rnnbench.present.render import default_out_dir
from rnnbench.results.loader import ReportData, load_report_data
from rnnbench.stats import intervals

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
    # three rounds: the order-statistic interval of the round medians is their range, which covers 75%, not 95%
    assert one["ci_low_s"] == pytest.approx(rows["median_s"].min())
    assert one["ci_high_s"] == pytest.approx(rows["median_s"].max())
    assert one["ci_level"] == 0.75
    gpu = cases[(cases["platform"] == H100) & (cases["status"] == "ok")]
    assert (gpu["ci_level"] == 0.9375).all()  # one round of 5 samples: the full range, 1 − 2/2⁵


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
    # 3 rounds per side: the bootstrap would cover ~90%, so the t-interval on log round medians is used
    assert set(ratios.loc[ratios["platform"] == XEON, "method"]) == {"t-rounds"}
    assert set(ratios.loc[ratios["platform"] == H100, "method"]) == {"samples"}
    # one round: every GPU verdict is about that one process, never a bare "GRU faster"
    assert ratios.loc[ratios["platform"] == H100, "verdict"].str.endswith(" in one process").all()
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
    assert gru["GRU/LSTM [95% CI] (theory 0.75)"].str.contains(r"\[.*–.*\] \(t-rounds\)").all()
    assert (shown.loc[shown["arch/impl"] == "lstm/native", "GRU/LSTM [95% CI] (theory 0.75)"] == "").all()
    assert set(gru["verdict"]) == {"inconclusive", "LSTM faster"}
    assert shown["time / iter"].str.contains(" ms ").all()
    # three rounds: the interval of the median is their range, and says it covers 75%, not the header's 95%
    assert shown["time / iter"].str.endswith("] (75%)").all()
    assert shown["% of torch.matmul"].str.endswith("%").all()  # the header says what the share is of
    one_round = display_speed(report.tables[1])
    assert one_round["time / iter"].str.endswith("] (93.8%)").all()  # 5 samples, one round
    gpu = one_round[one_round["arch/impl"] == "gru/native"]
    assert gpu["verdict"].str.endswith("in one process").all()


def test_time_interval_at_its_level_shows_no_level() -> None:
    from rnnbench.present.formatting import fmt_interval_seconds

    assert fmt_interval_seconds(0.0072, 0.0070, 0.0074, 0.978) == "7.20 ms [7.00–7.40]"
    assert fmt_interval_seconds(0.0072, 0.0070, 0.0074, 0.75) == "7.20 ms [7.00–7.40] (75%)"


def test_claim_parameters_says_a_quarter_not_a_third(report) -> None:
    claim = _claim(report, "GRU has fewer parameters")
    assert claim.verdict == "true"
    text = " ".join(r.evidence for r in claim.rows)
    assert "exactly 25% fewer" in text and "exactly 0.75 in 41 of 41" in text


def test_claim_speed_by_mode_and_device_with_intervals(report) -> None:
    claim = _claim(report, "GRU is faster per step")
    by_scope = {r.scope: r for r in claim.rows}
    cpu_inf = by_scope[f"inference · cpu · {XEON} · float32 · native"]
    # 3 rounds per side: one shape decides (LSTM faster), eight do not — the old t-interval over shapes said
    # "false" from nine undecided shapes
    assert cpu_inf.verdict == "mixed"
    assert "LSTM faster in 1, inconclusive in 8 of 9 shape(s)" in cpu_inf.evidence
    assert "not an estimate" in cpu_inf.evidence  # the mean over shapes is a description
    cpu_train = by_scope[f"train · cpu · {XEON} · float32 · native"]
    assert cpu_train.verdict == "mixed" and "GRU faster in 7, inconclusive in 2" in cpu_train.evidence
    gpu_inf = by_scope[f"inference · cuda:0 · {H100} · float32 · native"]
    # one round: the samples say GRU in 9 of 9, but one process cannot decide a claim
    assert gpu_inf.verdict == "inconclusive"
    assert "GRU was faster in 9" in gpu_inf.evidence and "--rounds 5" in gpu_inf.evidence
    assert claim.verdict == "mixed"


def test_claims_training(report) -> None:
    # five seeds: no monotone paired rule can decide (issue 23), so what five seeds all one way used to call
    # "true" through a t-interval is inconclusive, and says it needs six
    small = _claim(report, "GRU does better than LSTM on small")
    assert small.verdict == "inconclusive" and "≥ 6 seeds needed" in " ".join(r.evidence for r in small.rows)
    memory = _claim(report, "LSTM keeps longer memories")
    verdicts = {r.scope: r.verdict for r in memory.rows}
    assert verdicts["adding P=17473 · lstm vs gru"] == "false"  # 0/5 vs 5/5 at T=200
    assert verdicts["copy P=17973 · lstm vs gru"] == "inconclusive"  # three seeds cannot decide
    target = {r.scope: r for r in _claim(report, "GRU reaches the target").rows}
    assert target["adding T=50 P=17473"].verdict == "inconclusive"  # every seed solved, but only five
    # GRU first in 5 of 5 seeds, 3 LSTM seeds never reached it: the same verdict as five finite seeds
    assert target["adding T=100 P=17473"].verdict == "inconclusive"
    assert "LSTM never reached in 3" in target["adding T=100 P=17473"].evidence
    assert target["digits T=64 P=18123 n=200"].verdict == "inconclusive"  # neither arm solved it
    bias = _claim(report, "Forget-gate bias")
    verdicts = {r.scope: r.verdict for r in bias.rows}
    # the success rates (5/5 vs 2/5) are described, not tested; the primary metric interval includes 0
    assert verdicts["adding T=100 P=17473"] == "inconclusive"
    assert set(verdicts.values()) == {"inconclusive"} and bias.verdict == "inconclusive"
    assert "primary" in bias.note


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
    assert ratio_verdict(0.75, 0.7, 0.8, "t-rounds") == "GRU faster"
    assert ratio_verdict(1.1, 1.01, 1.2, "rounds") == "LSTM faster"
    assert ratio_verdict(1.0, 0.9, 1.1, "rounds") == "inconclusive"
    assert ratio_verdict(1.0, float("nan"), float("nan"), "point") == "no interval"


def test_verdict_applies_the_five_percent_band_first() -> None:
    # 0.98 [0.975–0.985]: excludes 1, but lies within ±5% — no difference, not a GRU win
    assert ratio_verdict(0.98, 0.975, 0.985, "rounds") == "no difference"
    # excludes 1 but the estimate is inside the band: neither a win nor "no difference"
    assert ratio_verdict(0.97, 0.93, 0.99, "rounds") == "inconclusive"
    assert ratio_verdict(1.03, 1.01, 1.06, "rounds") == "inconclusive"


def test_verdict_from_one_process_says_so() -> None:
    assert ratio_verdict(0.75, 0.7, 0.8, "samples") == "GRU faster in one process"
    assert ratio_verdict(1.3, 1.2, 1.4, "samples") == "LSTM faster in one process"
    assert ratio_verdict(1.0, 0.9, 1.1, "samples") == "inconclusive"


def _ratios(rows: list[tuple[float, float, float, str]]) -> pd.DataFrame:
    """``pair_ratios``-shaped rows for one (mode, device, dtype, impl) setting, one per shape."""
    return pd.DataFrame(
        [
            {"mode": "train", "platform": "cpu", "device": "cpu", "dtype": "float32", "impl": "native",
             "seq_len": 16 * (i + 1), "ratio": r, "ratio_low": lo, "ratio_high": hi, "method": m,
             "verdict": ratio_verdict(r, lo, hi, m)}
            for i, (r, lo, hi, m) in enumerate(rows)
        ]
    )  # fmt: skip


def test_claim_speed_decides_from_each_shapes_verdict() -> None:
    # three shapes, each decisively GRU: the old t-interval over shapes (0.5, 0.8, 0.95) said "inconclusive"
    three = claim_speed(
        _ratios([(0.5, 0.48, 0.52, "rounds"), (0.8, 0.78, 0.82, "rounds"), (0.9, 0.88, 0.92, "rounds")])
    )
    assert three.verdict == "true" and "GRU faster in 3 of 3 shape(s)" in three.rows[0].evidence
    # one shape at 0.98 [0.975–0.985]: the old rule said "true"; the ±5% band applies first
    assert claim_speed(_ratios([(0.98, 0.975, 0.985, "rounds")])).verdict == "no difference"
    # one shape each way: mixed, with counts
    mixed = claim_speed(_ratios([(0.7, 0.65, 0.75, "t-rounds"), (1.4, 1.3, 1.5, "t-rounds")]))
    assert mixed.verdict == "mixed" and "GRU faster in 1, LSTM faster in 1 of 2" in mixed.rows[0].evidence
    # nothing decided: inconclusive
    assert claim_speed(_ratios([(1.0, 0.8, 1.25, "t-rounds")] * 2)).verdict == "inconclusive"
    # one round per side: decisive within the process, yet no claim verdict
    one = claim_speed(_ratios([(0.5, 0.48, 0.52, "samples")] * 3))
    assert one.verdict == "inconclusive" and "--rounds 5" in one.rows[0].evidence


def _summary_rows(gru: list[float], lstm: list[float]) -> pd.DataFrame:
    """summary.csv rows of one shape: the GRU's and the LSTM's round medians."""
    rows = []
    for arch, medians in (("gru", gru), ("lstm", lstm)):
        for i, m in enumerate(medians):
            rows.append(
                {"mode": "train", "platform": "cpu", "device": "cpu", "dtype": "float32", "impl": "native",
                 "workload": "layer", "seq_len": 100, "batch_size": 64, "input_size": 256, "hidden_size": 256,
                 "num_layers": 1, "bidirectional": False, "batch_first": False, "length_spread": 0.0,
                 "threads": 1, "arch": arch, "round": i, "status": "ok", "message": "", "median_s": m,
                 "ci_low_s": m, "ci_high_s": m, "n_samples": 7, "seq_per_s": 1.0, "tokens_per_s": 1.0,
                 "gflop_per_s": 1.0, "peak_fraction": 0.1, "peak_memory_bytes": 1, "first_iter_s": m,
                 "flops_per_iter": 1, "params": 3 if arch == "gru" else 4, "backend": "aten", "busy": False,
                 "run_id": "r", "case_id": arch})  # fmt: skip
    return pd.DataFrame(rows)


def test_pair_verdict_from_two_rounds_states_no_direction_the_bootstrap_would() -> None:
    """GRU rounds 0.90, 0.95 s against LSTM 1.00, 1.05 s: every bootstrap resample puts the GRU ahead, so the
    old 2-round bootstrap printed "gru ran 1.1× faster" — from an interval that covers 67% of the time. The
    t-interval over 2+2 rounds (t(1) = 12.7) holds 1: no direction, and the line says what would decide."""
    from rnnbench.analyse.speed import aggregate_cases, pair_ratios
    from rnnbench.present.pairing import verdict_text

    old = intervals.bootstrap_ratio_ci([0.90, 0.95], [1.00, 1.05])
    assert old.high < 1  # the old interval's (wrong) "GRU faster"
    cases, ok = aggregate_cases(_summary_rows([0.90, 0.95], [1.00, 1.05]))
    row = pair_ratios(cases, ok).iloc[0]
    assert row["method"] == "t-rounds" and row["verdict"] == "inconclusive"
    assert row["ratio_low"] < 1 < row["ratio_high"]
    line = verdict_text(row.to_dict())
    assert line.startswith("inconclusive for gru vs lstm") and "faster than" not in line
    assert "2+2 rounds" in line and "--rounds 5" in line
    # B, I, threads are in the line, so two shapes that differ only there read differently
    assert "T=100 B=64 I=256 H=256 threads=1" in line
    # a large steady difference is decided even from 2 rounds
    cases, ok = aggregate_cases(_summary_rows([0.50, 0.51], [1.00, 1.01]))
    row = pair_ratios(cases, ok).iloc[0]
    assert row["verdict"] == "GRU faster" and verdict_text(row.to_dict()).startswith("gru ran 1.99× faster")
    # five rounds each: the bootstrap over round medians
    cases, ok = aggregate_cases(_summary_rows([0.5, 0.51, 0.52, 0.5, 0.49], [1.0, 1.01, 1.02, 0.99, 1.0]))
    assert pair_ratios(cases, ok).iloc[0]["method"] == "rounds"


def test_batch_bootstrap_equals_the_scalar_one() -> None:
    rng = np.random.default_rng(3)
    for na, nb in ((3, 3), (5, 4), (1, 6), (20, 17)):
        a = np.sort(rng.lognormal(size=(25, na)), axis=1)
        b = np.sort(rng.lognormal(size=(25, nb)), axis=1)
        est, low, high = intervals.bootstrap_ratio_ci_batch(a, b)
        for i in range(0, 25, 6):
            ci = intervals.bootstrap_ratio_ci(a[i], b[i])
            assert (est[i], low[i], high[i]) == pytest.approx(
                (ci.estimate, ci.low, ci.high), rel=1e-12, nan_ok=True
            )


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
            lambda p: pd.read_csv(p).assign(schema_version=4).to_csv(p, index=False),
            ["summary.csv", "'schema_version'", "[4]", "reads versions 1, 2, 3"],
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
