"""The runner: rows and units, backends, memory, and every failure path becoming a row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from rnnbench.core.progress import ProgressEvent
from rnnbench.core.spec import Settings, SweepSpec
from rnnbench.measure import runner
from rnnbench.measure.machine_load import LoadRecord
from rnnbench.measure.shard import shard_of
from rnnbench.measure.sweep import execute, open_run, prepare_run, start_run
from rnnbench.results.folder import RunFolder
from rnnbench.results.schema import SCHEMA_VERSION, SUMMARY_COLUMNS

FAST = Settings(budget_s=0.05, warmup_max_s=0.02, warmup_min_iters=1, min_block_s=0.001, min_samples=3)


def _run(tmp_path: Path, spec: SweepSpec, settings: Settings = FAST) -> tuple[RunFolder, pd.DataFrame]:
    run = start_run(spec, settings, 1, tmp_path, run_id="t")
    events: list[ProgressEvent] = []
    execute(run, events.append)
    assert events[0].kind == "round_start" and events[-1].kind == "round_done"
    return run.folder, pd.read_csv(run.folder.path / "summary.csv")


def _tiny(**axes: object) -> SweepSpec:
    base = {"seq_len": (5,), "hidden_size": (8,), "batch_size": (3,), "threads": (1,)}
    base.update(axes)
    return SweepSpec(**base)  # type: ignore[arg-type]


def test_rows_schema_units_and_formulas(tmp_path: Path) -> None:
    folder, df = _run(tmp_path, _tiny(arch=("lstm", "gru", "rnn"), impl=("native", "aten", "scratch")))
    assert list(df.columns) == list(SUMMARY_COLUMNS)
    assert (df["schema_version"] == SCHEMA_VERSION).all()
    assert (df["status"] == "ok").all(), df[["arch", "impl", "message"]]
    assert ((df["median_s"] > 0) & (df["median_s"] < 1)).all()  # seconds, not ms
    assert (df["ci_low_s"] <= df["median_s"]).all() and (df["median_s"] <= df["ci_high_s"]).all()
    # Worked by hand for I = H = 8, one layer, B·T = 3·5 = 15 tokens, inference: parameters G·H·(I+H+2) =
    # 8·18·G = 144·G; forward GEMM FLOPs 2·G·H·(I+H)·15 = 2·8·16·15·G = 3840·G (G = 4, 3, 1)
    by_hand = {"lstm": (576, 15_360), "gru": (432, 11_520), "rnn": (144, 3_840)}
    for _, row in df.iterrows():
        assert (row["params"], row["flops_per_iter"]) == by_hand[row["arch"]], (row["arch"], row["impl"])
        assert row["tokens_per_iter"] == 15
        assert row["tokens_per_s"] == pytest.approx(15 / row["median_s"])
        assert row["peak_memory_bytes"] > 0
        assert row["gflop_per_s"] == pytest.approx(row["flops_per_iter"] / row["median_s"] / 1e9)
        assert 0 < row["peak_fraction"] < 5
    backends = {(r.arch, r.impl): r.backend for r in df.itertuples()}
    assert backends[("gru", "native")] == "aten"  # PyTorch never sends GRU to oneDNN on CPU
    assert backends[("lstm", "native")] in {"onednn", "aten"}
    assert backends[("lstm", "aten")] == "aten"
    assert backends[("gru", "scratch")] == "python"
    samples = pd.read_csv(folder.path / "samples.csv")
    counts = samples.groupby("case_id").size()
    assert all(counts[r.case_id] == r.n_samples for r in df.itertuples())
    meta = folder.read_metadata()
    assert meta["status"] == "complete" and meta["calibration"]


def test_all_modes_variable_lengths_and_classifier(tmp_path: Path) -> None:
    spec = _tiny(
        arch=("lstm", "gru"),
        mode=("inference", "forward", "backward", "train"),
        length_spread=(0.5,),
        workload=("layer", "classifier"),
        num_layers=(2,),
        bidirectional=(True,),
    )
    _, df = _run(tmp_path, spec)
    assert (df["status"] == "ok").all(), df[["mode", "workload", "message"]]
    assert (df["tokens_per_iter"] < 15).any()  # packed: real tokens only
    train = df[(df["mode"] == "train") & (df["workload"] == "layer")].iloc[0]
    fwd = df[(df["mode"] == "forward") & (df["workload"] == "layer")].iloc[0]
    assert train["flops_per_iter"] > 2 * fwd["flops_per_iter"]


def test_masked_loops_count_executed_steps_and_real_tokens(tmp_path: Path) -> None:
    """Variable lengths: ``native`` packs (computes only real steps), ``scratch`` masks (computes all B·T
    steps). GFLOP/s counts the work executed, tokens/s the real tokens — for both."""
    _, df = _run(tmp_path, _tiny(arch=("gru",), impl=("native", "scratch"), length_spread=(0.5,)))
    assert (df["status"] == "ok").all(), df[["impl", "message"]]
    native = df[df["impl"] == "native"].iloc[0]
    scratch = df[df["impl"] == "scratch"].iloc[0]
    real = int(native["tokens_per_iter"])
    assert real < 15 and scratch["tokens_per_iter"] == real
    per_step = 2 * 3 * 8 * (8 + 8)  # GRU, I = H = 8: 2·G·H·(I+H) = 768 FLOPs per computed step
    assert native["flops_per_iter"] == per_step * real
    assert scratch["flops_per_iter"] == per_step * 15  # B·T = 3·5, masked steps are computed too
    assert scratch["tokens_per_s"] == pytest.approx(real / scratch["median_s"])


def test_unsupported_and_skipped_rows(tmp_path: Path) -> None:
    spec = _tiny(arch=("gru",), impl=("numpy",), mode=("train", "inference"), device=("cpu", "cuda"))
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA to see skipped rows")
    _, df = _run(tmp_path, spec)
    by = {(r.device, r.mode): (r.status, r.message) for r in df.itertuples()}
    assert by[("cpu", "train")][0] == "unsupported" and "inference" in by[("cpu", "train")][1]
    assert by[("cpu", "inference")][0] == "ok"
    assert all(
        status == "skipped" and "not available" in msg
        for (dev, _), (status, msg) in by.items()
        if dev == "cuda"
    )


def test_error_while_building_is_a_row_and_the_partner_still_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner.prepare

    def flaky(case, device):  # type: ignore[no-untyped-def]
        if case.arch == "gru":
            raise RuntimeError("boom from a broken implementation")
        return real(case, device)

    monkeypatch.setattr(runner, "prepare", flaky)
    _, df = _run(tmp_path, _tiny(arch=("lstm", "gru")))
    rows = {r.arch: r for r in df.itertuples()}
    assert rows["gru"].status == "error" and "boom" in rows["gru"].message
    assert rows["lstm"].status == "ok"


def test_out_of_memory_while_timing_is_an_oom_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner.prepare

    def oom_on_gru(case, device):  # type: ignore[no-untyped-def]
        prepared = real(case, device)
        if case.arch == "gru":
            calls = {"n": 0}
            original = prepared.timed.run

            def run() -> object:
                calls["n"] += 1
                if calls["n"] > 2:
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
                return original()

            prepared.timed.run = run
        return prepared

    monkeypatch.setattr(runner, "prepare", oom_on_gru)
    _, df = _run(tmp_path, _tiny(arch=("lstm", "gru"), seq_len=(5, 6)))
    assert set(df[df["arch"] == "gru"]["status"]) == {"oom"}
    assert set(df[df["arch"] == "lstm"]["status"]) == {"ok"}  # the sweep went on
    assert len(df) == 4


def test_busy_machine_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "between", lambda a, b: LoadRecord(3.5, 0.6, 0.0))
    _, df = _run(tmp_path, _tiny(arch=("lstm",)))
    assert bool(df["busy"].iloc[0]) is True
    assert df["other_cpu_frac"].iloc[0] == pytest.approx(0.6)


def test_resume_skips_done_cases_and_drops_orphan_samples(tmp_path: Path) -> None:
    folder, df = _run(tmp_path, _tiny(arch=("lstm", "gru")))
    samples_before = (folder.path / "samples.csv").read_text()
    folder.table("samples").append(
        [{"run_id": "t", "case_id": "orphan", "round": 0, "threads": 1, "seconds": 1.0}]
    )
    execute(open_run(folder.path), lambda e: None)
    assert len(pd.read_csv(folder.path / "summary.csv")) == len(df)
    assert (folder.path / "samples.csv").read_text() == samples_before


def test_backend_from_ops() -> None:
    assert runner.backend_from_ops({"aten::_cudnn_rnn", "aten::lstm"}, "native") == "cudnn"
    assert runner.backend_from_ops({"aten::mkldnn_rnn_layer"}, "native") == "onednn"
    assert runner.backend_from_ops({"aten::gru"}, "native") == "aten"
    assert runner.backend_from_ops(set(), "cell") == "python"
    assert runner.backend_from_ops(set(), "compiled") == "compiled"


@pytest.mark.cuda
def test_cuda_paths_record_events_memory_and_cudnn(tmp_path: Path) -> None:
    spec = _tiny(arch=("lstm", "gru"), device=("cuda",), dtype=("float32", "float16", "bfloat16"),
                 mode=("inference", "train"), hidden_size=(256,), seq_len=(64,), batch_size=(32,))  # fmt: skip
    _, df = _run(tmp_path, spec, Settings(budget_s=0.3))
    assert (df["status"] == "ok").all(), df[["dtype", "message"]]
    assert (df["backend"] == "cudnn").all()
    assert (df["cuda_event_median_s"] > 0).all()
    assert (df["peak_memory_bytes"] > 0).all()
    assert ((df["cuda_event_median_s"] / df["median_s"]).between(0.5, 1.5)).all()


def test_the_grid_is_expanded_once_on_the_way_to_the_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[SweepSpec] = []
    original = SweepSpec.expand

    def counting(self: SweepSpec) -> list:
        calls.append(self)
        return original(self)

    monkeypatch.setattr(SweepSpec, "expand", counting)
    run = prepare_run(_tiny(arch=("lstm", "gru"), seq_len=(5, 6)), FAST, 1, tmp_path, run_id="once")
    events: list[ProgressEvent] = []
    execute(run, events.append)  # one round, in this process: it runs the cases prepare_run expanded
    assert len(calls) == 1
    assert run.total == 4 == sum(e.kind == "done" for e in events)
    assert [e.kind for e in events if e.kind in ("start", "done")] == ["start", "start", "done", "done"] * 2
    done = next(e for e in events if e.kind == "done")
    assert done.status == "ok" and done.values["row"]["status"] == "ok" and done.label == done.subject.label()
    assert run.folder.read_metadata()["grid_cases"] == 4


def test_a_reopened_folder_has_the_grid_it_was_started_with(tmp_path: Path) -> None:
    spec = _tiny(arch=("lstm", "gru"), seq_len=(3, 4, 5, 6, 7))
    run = start_run(spec, FAST, 2, tmp_path, run_id="g", shard=(2, 3), pool=["cpu", "cpu"])
    again = open_run(run.folder.path)
    assert again.grid == run.grid and again.rounds == 2 and again.pool == ["cpu", "cpu"]
    assert run.grid.grid_size == 10 and run.total == 2 * len(run.grid.cases)
    shard = shard_of(spec.expand(), 2, 3)
    assert sorted(c.case_id for c in run.grid.cases) == sorted(c.case_id for c in shard)
    assert run.grid.part(0) + run.grid.part(1) == run.grid.cases


def test_worker_events_cross_the_process_boundary_without_rows(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnbench.measure.worker import _emit

    _emit(ProgressEvent("done", label="lstm/native", status="oom", values={"row": {"a": 1}, "n": 2}))
    event = ProgressEvent.from_json(capsys.readouterr().out.strip())
    assert event == ProgressEvent("done", label="lstm/native", status="oom", values={"n": 2})
