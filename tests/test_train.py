"""The training protocol: parameter matching, forget-bias arm, common random numbers, determinism,
divergence, resume bookkeeping, learning-rate selection and the summaries."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from rnnbench.analyse.training import summarize
from rnnbench.core.progress import ProgressEvent
from rnnbench.errors import ConfigError, UnknownNameError
from rnnbench.learn.loop import _batches, train_unit
from rnnbench.learn.network import add_forget_bias, build_network
from rnnbench.learn.presets import preset_spec
from rnnbench.learn.session import finished_keys, held_out_sets, run_training
from rnnbench.learn.sizing import expand_units, match_note, solve_hidden, total_params
from rnnbench.learn.spec import TrainSpec, Unit, validate
from rnnbench.learn.tasks import make_task
from rnnbench.learn.tasks.base import Batch
from rnnbench.learn.tasks.synthetic import AddingTask
from rnnbench.results.folder import RunFolder
from rnnbench.results.loader import load_report_data

TINY = {"steps": 12, "eval_every": 6, "eval_size": 16, "batch_size": 4, "hidden": (6,), "lrs": (0.01,)}


def _spec(**kw: Any) -> TrainSpec:
    return validate(TrainSpec(**{**TINY, "seeds": 1, "tasks": ("adding",), "seq_lens": (8,), **kw}))


def test_reference_parameter_counts() -> None:
    # README (training, quick preset): adding, LSTM h=64 17,473 params ↔ GRU h=74 17,391
    assert total_params("lstm", 2, 64, 1) == 17_473
    assert total_params("gru", 2, 74, 1) == 17_391
    assert solve_hidden("gru", 2, 1, 17_473) == 74
    assert solve_hidden("lstm", 2, 1, 17_473) == 64


MATCH_TASKS = ("adding", "copy", "selective-copy", "temporal-order", "parity", "anbn", "charlm", "digits")
"""Every task but ``series`` (which needs a CSV; its sizes, I = O = 1, are the ``digits``-like small case)."""


def _match(task: str, budget: int, arch: str) -> tuple[int, dict[int, int]]:
    """The solved hidden size and every hidden size's total count up to well past it (brute force)."""
    t = make_task(task)
    h = solve_hidden(arch, t.input_size, t.output_size, budget)
    return h, {x: total_params(arch, t.input_size, x, t.output_size) for x in range(1, 2 * h + 10)}


def _off(task: str, budget: int, arch: str) -> float:
    h, counts = _match(task, budget, arch)
    return counts[h] / budget - 1


@pytest.mark.parametrize("task", MATCH_TASKS)
@pytest.mark.parametrize("budget", [17_473, 50_000, 250_000])
@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_parameter_match_is_the_closest_and_within_one_percent_where_any_h_is(
    task: str, budget: int, arch: str
) -> None:
    """The documented tolerance: the hidden size whose count is closest to the budget; within 1 % whenever
    any integer H is, and otherwise (one more hidden unit moves the count by more than 2 % of a small budget)
    the row's message says by how much it misses."""
    h, counts = _match(task, budget, arch)
    assert abs(counts[h] - budget) == min(abs(c - budget) for c in counts.values())
    unit = Unit(task, arch, 0, 10, "params", budget, h, counts[h], 0.01)
    if abs(counts[h] / budget - 1) <= 0.01:
        assert match_note(unit) == ""
    else:
        assert not any(abs(c / budget - 1) <= 0.01 for c in counts.values())
        assert counts[h + 1] - counts[h - 1] > 0.02 * budget  # neighbours straddle the budget, > 2 % apart
        assert f"{counts[h] / budget - 1:+.1%} off the budget {budget}" in match_note(unit)


def test_parameter_match_misses_only_where_no_h_lands_within_one_percent() -> None:
    """The cases the 1 % test used to leave out: char-LM (I = O = 103) and digits' LSTM at the smallest
    budget, where one hidden unit is worth 3–4 % of the parameters."""
    misses = {
        (task, arch, budget)
        for task in MATCH_TASKS
        for arch in ("lstm", "gru", "rnn")
        for budget in (17_473, 50_000, 250_000)
        if abs(_off(task, budget, arch)) > 0.01
    }
    assert misses == {("charlm", "lstm", 17_473), ("charlm", "gru", 17_473), ("digits", "lstm", 17_473)}


def test_sizes_from_hidden_use_lstm_budget() -> None:
    spec = _spec(arms=("lstm", "gru", "rnn"), hidden=(64,), seq_lens=(50,))
    units = expand_units(spec, {"adding": AddingTask()})
    by_arm = {u.arm: u for u in units}
    assert by_arm["lstm"].hidden_size == 64 and by_arm["gru"].hidden_size == 74
    assert all(u.budget == 17_473 for u in units)
    assert all(abs(u.params / u.budget - 1) <= 0.01 for u in units)
    assert match_note(by_arm["gru"]) == ""
    tiny = Unit("adding", "gru", 0, 8, "params", 100, 4, 117, 0.01)
    assert "off the budget" in match_note(tiny)


def test_match_hidden_keeps_hidden() -> None:
    units = expand_units(_spec(match="hidden", hidden=(16,), arms=("lstm", "gru")), {"adding": AddingTask()})
    assert {u.hidden_size for u in units} == {16}


def test_forget_bias_arm() -> None:
    task = AddingTask()
    spec = _spec(arms=("lstm", "lstm-fb1"), match="hidden", hidden=(5,), layers=2)
    units = expand_units(spec, {"adding": task})
    nets = {u.arm: build_network(task, u, spec, "cpu") for u in units}
    a = dict(nets["lstm"].rnn.canonical_parameters())
    b = dict(nets["lstm-fb1"].rnn.canonical_parameters())
    for name in a:
        diff = (b[name] - a[name]).detach()
        if name.startswith("bias_ih"):
            assert (
                torch.allclose(diff[5:10], torch.ones(5))
                and torch.all(diff[:5] == 0)
                and torch.all(diff[10:] == 0)
            )
        else:
            assert torch.all(diff == 0), name
    w = {"bias_ih_l0": torch.zeros(8)}
    add_forget_bias(w, 2, 1)
    assert w["bias_ih_l0"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


def test_common_random_numbers() -> None:
    task = AddingTask()
    spec = _spec(arms=("lstm", "gru"))
    lstm, gru = expand_units(spec, {"adding": task})
    other_lr = Unit(**{**lstm.__dict__, "lr": 0.5})
    first = [next(_batches(task, u, spec)) for u in (lstm, gru, other_lr)]
    assert all(torch.equal(first[0].x, b.x) and torch.equal(first[0].y, b.y) for b in first[1:])
    other_seed = Unit(**{**lstm.__dict__, "seed": 1})
    assert not torch.equal(next(_batches(task, other_seed, spec)).x, first[0].x)


def test_train_pool_is_fixed() -> None:
    task = AddingTask()
    spec = _spec(train_size=6, batch_size=4)
    unit = expand_units(spec, {"adding": task})[0]
    stream = _batches(task, unit, spec)
    seen = {tuple(b.x[:, i].flatten().tolist()) for b in (next(stream) for _ in range(30)) for i in range(4)}
    assert len(seen) <= 6


def _curve(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["step"], r["train_loss"], r["eval_metric"]) for r in rows]


def test_same_seed_same_curve() -> None:
    task = AddingTask()
    spec = _spec(arms=("gru",))
    unit = expand_units(spec, {"adding": task})[0]
    held = held_out_sets(task, 8, spec, "cpu")
    one = train_unit(task, unit, spec, held, "cpu")
    two = train_unit(task, unit, spec, held, "cpu")
    assert _curve(one.curves) == _curve(two.curves)
    assert [r["step"] for r in one.curves] == [0, 6, 12]
    assert one.row["final_metric"] == two.row["final_metric"]
    assert one.row["train_seconds"] > 0 and one.row["steps"] == 12
    other = train_unit(task, Unit(**{**unit.__dict__, "seed": 1}), spec, held, "cpu")
    assert _curve(other.curves) != _curve(one.curves)


class _Diverging(AddingTask):
    """Loss turns NaN at the third step of every run."""

    def __init__(self) -> None:
        self.calls = 0

    def loss(self, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
        self.calls += 1
        loss = super().loss(pred, batch)
        return loss * math.nan if self.calls % 12 == 3 else loss


def test_divergence_is_recorded_and_sweep_continues(tmp_path: Path) -> None:
    spec = _spec(arms=("lstm", "gru"))
    folder = RunFolder.create(tmp_path, {"kind": "train", "settings": spec.to_dict()})
    rows = run_training(spec, folder, tasks={"adding": _Diverging()})
    assert [r["status"] for r in rows] == ["diverged", "diverged"]
    assert all(r["diverged"] == "true" and r["solved"] == "false" and r["final_metric"] == "" for r in rows)
    assert "step 3" in rows[0]["message"]


def test_resume_skips_finished_and_drops_orphans(tmp_path: Path) -> None:
    spec = _spec(arms=("lstm", "gru"), seeds=2)
    folder = RunFolder.create(tmp_path, {"kind": "train", "settings": spec.to_dict()})
    events: list[str] = []
    rows = run_training(spec, folder, lambda e: events.append(e.kind))
    assert len(rows) == 4 and events.count("done") == 4
    curves = folder.table("curves").read_rows()
    assert len(curves) == 4 * 3
    # an orphan curve row (a kill between writing curves and the summary row) and a lost last unit
    summary = folder.table("train_summary")
    summary.rewrite(rows[:3])
    orphan = dict(curves[-1])
    folder.table("curves").rewrite([*curves[:9], orphan])
    assert len(finished_keys(folder)) == 3
    assert len(folder.table("curves").read_rows()) == 9
    events.clear()
    rows = run_training(spec, folder, lambda e: events.append(e.kind))
    assert events.count("skip") == 3 and events.count("done") == 1
    keys = [(r["arm"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4
    curve_keys = [(r["arm"], r["seed"], r["step"]) for r in folder.table("curves").read_rows()]
    assert len(curve_keys) == len(set(curve_keys)) == 12
    assert folder.read_metadata()["status"] == "complete"


def test_progress_is_core_events(tmp_path: Path) -> None:
    spec = _spec(arms=("lstm", "gru"))
    folder = RunFolder.create(tmp_path, {"kind": "train", "settings": spec.to_dict()})
    events: list[ProgressEvent] = []
    run_training(spec, folder, events.append)
    assert all(isinstance(e, ProgressEvent) for e in events)
    assert (events[0].kind, events[0].done, events[0].total) == ("plan", 0, 2)
    starts = [e for e in events if e.kind == "start"]
    assert [e.subject.arm for e in starts] == ["lstm", "gru"]
    assert all(e.label == e.subject.label() and e.total == 12 for e in starts)
    assert all("loss" in e.values and 0 < e.done <= e.total for e in events if e.kind == "step")
    evals = [e for e in events if e.kind == "eval"]
    assert [e.done for e in evals] == [0, 6, 12, 0, 6, 12] and all("metric" in e.values for e in evals)
    done = [e for e in events if e.kind == "done"]
    assert [e.status for e in done] == ["ok", "ok"] and all(e.values["row"]["steps"] == 12 for e in done)
    assert all(e.values["metric"] == e.values["row"]["final_metric"] for e in done)
    assert "selected_lr" not in folder.read_metadata()  # choosing is analysis: the CLI records it


def test_interrupt_marks_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnbench.learn.session as train_mod

    spec = _spec(arms=("lstm", "gru"))
    folder = RunFolder.create(tmp_path, {"kind": "train"})
    real = train_mod.train_unit
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_unit", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_training(spec, folder)
    assert len(folder.table("train_summary").read_rows()) == 1
    assert folder.read_metadata()["status"] == "interrupted"


def test_lr_sweep_keeps_rows_and_selects_by_validation(tmp_path: Path) -> None:
    spec = _spec(arms=("gru",), lrs=(0.001, 0.03), seeds=2)
    folder = RunFolder.create(tmp_path, {"kind": "train"})
    rows = run_training(spec, folder)
    assert len(rows) == 4 and all(r["val_metric"] for r in rows)
    report = summarize(load_report_data([folder.path]).train)
    chosen = report.selected_lr
    by_lr: dict[float, list[float]] = {}
    for r in rows:
        by_lr.setdefault(float(r["lr"]), []).append(float(r["val_metric"]))
    best = min(by_lr, key=lambda lr: sorted(by_lr[lr])[0] + sorted(by_lr[lr])[1])
    assert chosen[("adding", 8, "params", spec_budget(spec), "gru")] == best
    assert report.swept and len(report.arms) == 1 and report.arms[0].lr == best


def spec_budget(spec: TrainSpec) -> int:
    return total_params("lstm", 2, spec.hidden[0], 1)


def _row(
    arm: str, seed: int, metric: float, solved: bool, seq_len: int = 10, lr: float = 0.01, **kw: Any
) -> dict:
    return {
        "task": "adding", "arm": arm, "seed": seed, "seq_len": seq_len, "match": "params", "budget": 100,
        "hidden_size": 8, "params": 100, "lr": lr, "final_metric": metric, "baseline_metric": 1 / 6,
        "solved": solved, "diverged": False, "status": "ok", "steps_to_target": 50 if solved else None,
        "metric": "mse", "val_metric": metric, **kw,
    }  # fmt: skip


def test_summary_intervals_pairs_and_horizon() -> None:
    rows = [
        _row("lstm", 0, 0.10, False), _row("lstm", 1, 0.12, False), _row("lstm", 2, 0.005, True),
        _row("gru", 0, 0.002, True), _row("gru", 1, 0.004, True), _row("gru", 2, 0.003, True),
        _row("gru", 0, 0.15, False, seq_len=40), _row("gru", 1, 0.003, True, seq_len=40),
        _row("gru", 2, 0.004, True, seq_len=40), _row("lstm", 0, 0.16, False, seq_len=40),
        _row("lstm", 1, 0.16, False, seq_len=40), _row("lstm", 2, math.nan, False, seq_len=40, diverged=True),
    ]  # fmt: skip
    report = summarize(pd.DataFrame(rows))
    lstm10 = next(a for a in report.arms if a.arm == "lstm" and a.seq_len == 10)
    assert lstm10.n == 3 and lstm10.successes == 1
    logs = np.log([0.10, 0.12, 0.005])  # a loss over seeds: geometric mean, t-interval on the log scale
    assert lstm10.mean.estimate == pytest.approx(np.exp(logs.mean())) and lstm10.mean_scale == "geometric"
    assert lstm10.mean.high == pytest.approx(np.exp(logs.mean() + 4.302652729 * logs.std(ddof=1) / np.sqrt(3)))
    assert lstm10.mean.low < lstm10.mean.estimate < lstm10.mean.high
    assert lstm10.success.low < 1 / 3 < lstm10.success.high
    pair = next(p for p in report.pairs if p.seq_len == 10 and (p.a, p.b) == ("lstm", "gru"))
    assert pair.n == 3 and pair.success_diff == 2
    d = np.array([0.002 - 0.10, 0.004 - 0.12, 0.003 - 0.005])  # Hodges–Lehmann: median of Walsh averages
    walsh = [(d[i] + d[j]) / 2 for i in range(3) for j in range(i, 3)]
    assert pair.diff.estimate == pytest.approx(np.median(walsh)) and pair.comparison.method == "signed-rank"
    lstm40 = next(a for a in report.arms if a.arm == "lstm" and a.seq_len == 40)
    assert lstm40.diverged == 1 and lstm40.n == 3
    horizon = {h.arm: h for h in report.horizons}
    assert horizon["gru"].largest_solved == 40
    assert horizon["lstm"].largest_solved is None
    assert [r[:3] for r in horizon["lstm"].rates] == [(10, 1, 3), (40, 0, 3)]


def test_lr_choice_treats_divergence_as_worst() -> None:
    diverged = {"val_metric": "", "diverged": True, "status": "diverged"}
    rows = [_row("gru", s, math.nan, False, lr=0.1, **diverged) for s in range(2)]
    rows += [_row("gru", 2, 0.01, False, lr=0.1)]  # one good seed: the median still is the worst value
    rows += [_row("gru", s, 0.5, False, lr=0.001) for s in range(3)]
    assert summarize(pd.DataFrame(rows)).selected_lr[("adding", 10, "params", 100, "gru")] == 0.001
    # an ok run without a validation metric is not "worst": the rate cannot be chosen at all
    rows[2] = _row("gru", 2, 0.01, False, lr=0.1, val_metric="")
    summary = summarize(pd.DataFrame(rows))
    assert summary.selected_lr == {} and {a.selection for a in summary.arms} == {"none"}


def test_failed_runs_are_counted_not_seeds() -> None:
    """A failed run (error, unsupported) is no evidence about the cell: it is counted, left out of the
    statistics, and a learning rate whose runs failed is the worst choice."""
    failed = {"status": "error", "final_metric": math.nan, "val_metric": math.nan, "steps_to_target": None}
    rows = [_row("lstm", s, 0.004, True) for s in range(2)] + [_row("lstm", 2, math.nan, False, **failed)]
    rows += [_row("lstm", s, math.nan, False, lr=0.001, **failed) for s in range(3)]
    rows += [_row("gru", s, math.nan, False, **failed) for s in range(3)]
    report = summarize(pd.DataFrame(rows))
    lstm, gru = report.arms
    assert (lstm.arm, lstm.lr, lstm.n, lstm.failed, lstm.successes) == ("lstm", 0.01, 2, 1, 2)
    assert lstm.success.estimate == 1.0 and lstm.mean.estimate == pytest.approx(0.004)
    assert (gru.arm, gru.n, gru.failed, gru.successes) == ("gru", 0, 3, 0)
    assert report.selected_lr == {
        ("adding", 10, "params", 100, "lstm"): 0.01,
        ("adding", 10, "params", 100, "gru"): 0.01,
    }
    assert report.pairs == []  # no gru seed to pair with


def test_validate_errors() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'lstm-fb1'"):
        validate(TrainSpec(arms=("lstm-fb",)))
    with pytest.raises(ConfigError, match="inference-only"):
        validate(TrainSpec(impl="numpy"))
    with pytest.raises(ConfigError, match="--match params"):
        validate(TrainSpec(match="hidden", params=(1000,)))
    with pytest.raises(ConfigError, match="steps"):
        validate(TrainSpec(steps=0))


def test_spec_round_trip_and_presets() -> None:
    quick = preset_spec("quick")
    assert TrainSpec.from_dict(__import__("json").loads(__import__("json").dumps(quick.to_dict()))) == quick
    assert quick.tasks == ("adding", "copy") and quick.arms == ("lstm", "gru") and quick.seeds == 3
    assert preset_spec("quick", seeds=5, steps=None).seeds == 5
    with pytest.raises(UnknownNameError, match="Did you mean 'quick'"):
        preset_spec("quik")
    full = validate(preset_spec("full"))
    assert set(full.arms) == {"lstm", "lstm-fb1", "gru", "rnn"} and full.lr_sweep


def test_stored_training_settings_with_unknown_keys_are_refused() -> None:
    data = preset_spec("quick").to_dict()
    data["warp_drive"] = 1
    with pytest.raises(ConfigError, match="stored training settings have unknown keys \\['warp_drive'\\]"):
        TrainSpec.from_dict(data)
