"""Task generators: shapes, hand-checked targets, fixed held-out sets, and every chance baseline equal to the
loss of the corresponding input-independent predictor measured on generated data."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from rnnbench.errors import ConfigError, UnknownNameError
from rnnbench.learn.tasks import TaskOptions, make_task, task_names
from rnnbench.learn.tasks.base import Batch, Task


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    path = tmp_path / "s.csv"
    rows = ["t,value"] + [f"{i},{math.sin(i / 5) + 0.1 * (i % 3)}" for i in range(400)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _task(name: str, csv: Path | None = None) -> Task:
    return make_task(name, TaskOptions(copy_symbols=3, csv=str(csv) if csv else None, column="value"))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", task_names())
def test_shapes(name: str, series_csv: Path) -> None:
    task = _task(name, series_csv)
    seq_len = 64 if name == "digits" else 12
    batch = task.sample(_gen(), 5, seq_len, "train")
    steps = batch.x.shape[0]
    assert batch.x.shape[1:] == (5, task.input_size)
    assert batch.x.dtype == torch.float32
    if task.readout == "all":
        assert batch.per_step
        assert batch.y.shape[:2] == (steps, 5)
    else:
        assert batch.y.shape[0] == 5
    if batch.mask is not None:
        assert batch.mask.shape == (steps, 5)
    if batch.lengths is not None:
        assert int(batch.lengths.max()) <= steps
    # a prediction of the right shape can be scored
    out = torch.zeros(*batch.y.shape[: 2 if batch.per_step else 1], task.output_size)
    ev = task.evaluate(out, batch)
    assert math.isfinite(ev.metric)


def test_unknown_task_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'adding'"):
        make_task("addng")


def test_adding_targets_by_hand() -> None:
    batch = _task("adding").sample(_gen(3), 4, 10)
    values, markers = batch.x[..., 0], batch.x[..., 1]
    assert torch.all(markers.sum(0) == 2)
    assert torch.all(markers[:5].sum(0) == 1) and torch.all(markers[5:].sum(0) == 1)
    for b in range(4):
        assert batch.y[b, 0] == pytest.approx(float(values[markers[:, b] == 1, b].sum()))


def test_copy_layout() -> None:
    task = _task("copy")  # M = 3
    batch = task.sample(_gen(), 2, 4)  # delay 4: 3 symbols, 3 blanks, delimiter, 3 blanks
    symbols = batch.x.argmax(-1)
    assert symbols.shape[0] == 4 + 2 * 3
    assert torch.all((symbols[:3] >= 1) & (symbols[:3] <= 8))
    assert torch.all(symbols[3:6] == 0) and torch.all(symbols[6] == 9) and torch.all(symbols[7:] == 0)
    assert torch.all(batch.y[:7] == 0)
    assert torch.equal(batch.y[7:], symbols[:3])


def test_selective_copy_order() -> None:
    task = make_task("selective-copy", TaskOptions(copy_symbols=3))
    batch = task.sample(_gen(1), 3, 10)
    symbols = batch.x.argmax(-1) * (batch.x.sum(-1) > 0)
    for b in range(3):
        data = symbols[:10, b][symbols[:10, b] > 0]
        assert torch.equal(batch.y[10:, b], data)  # in order of position
    assert batch.mask is not None and torch.all(batch.mask[10:]) and not batch.mask[:10].any()


def test_temporal_order_classes() -> None:
    batch = _task("temporal-order").sample(_gen(2), 16, 100)
    symbols = batch.x.argmax(-1)
    for b in range(16):
        col = symbols[:, b]
        pos = torch.nonzero(col >= 6).flatten()
        assert len(pos) == 2 and 10 <= pos[0] <= 20 and 50 <= pos[1] <= 60
        assert col[0] == 4 and col[-1] == 5
        assert batch.y[b] == 2 * (col[pos[0]] - 6) + (col[pos[1]] - 6)


def test_parity_targets_and_longer_eval() -> None:
    task = _task("parity")
    batch = task.sample(_gen(), 8, 6, "train")
    assert batch.lengths is not None and int(batch.lengths.max()) <= 6
    bits = batch.x[..., 1]
    assert torch.equal(batch.y, bits.sum(0).long() % 2)
    ev = task.held_out(6, 32, "eval")
    assert ev.lengths is not None and int(ev.lengths.min()) >= 7 and int(ev.lengths.max()) <= 12
    val = task.held_out(6, 32, "val")
    assert val.lengths is not None and int(val.lengths.max()) <= 6


def test_anbn_strings_by_hand() -> None:
    task = _task("anbn")
    batch = task.strings(torch.tensor([2, 1]))
    # n=2: S a a b b → targets a a b b E;  n=1: S a b → a b E (padded)
    assert batch.x[:, 0].argmax(-1).tolist() == [0, 1, 1, 2, 2]
    assert batch.y[:, 0].tolist() == [0, 0, 1, 1, 2]
    assert batch.y[:3, 1].tolist() == [0, 1, 2]
    assert batch.mask is not None and batch.mask[:, 1].tolist() == [True, True, True, False, False]
    assert task.held_out(4, 0, "eval").size == 12  # n = 1..3N, once each
    # a perfect predictor generalises to every n; one that fails at n=3 stops at 2
    ev = task.held_out(2, 0, "eval")
    perfect = torch.nn.functional.one_hot(ev.y, 3).float()
    assert task.score(perfect, ev) == 6
    broken = perfect.clone()
    broken[-1, 2] = 0  # n=3 is column 2: its deterministic final E (position 6) is wrong
    broken[6, 2] = torch.tensor([1.0, 0.0, 0.0])
    assert task.score(broken, ev) == 2


def _constant_logits(batch: Batch, probs: torch.Tensor) -> torch.Tensor:
    shape = (*batch.y.shape[: 2 if batch.per_step else 1], probs.numel())
    return probs.clamp_min(1e-30).log().expand(shape).clone()


def test_adding_baseline_is_constant_predictor() -> None:
    task = _task("adding")
    batch = task.sample(_gen(5), 40_000, 20)
    mse = float(task.evaluate(torch.ones_like(batch.y), batch).metric)
    assert mse == pytest.approx(task.baseline(20), abs=0.003)
    assert task.baseline(20) == pytest.approx(1 / 6)


@pytest.mark.parametrize(("m", "delay"), [(3, 4), (5, 10), (10, 100)])
def test_copy_baseline_is_memoryless_predictor(m: int, delay: int) -> None:
    task = make_task("copy", TaskOptions(copy_symbols=m))
    batch = task.sample(_gen(), 64, delay)
    total = delay + 2 * m
    logits = torch.full((total, 64, 10), -1e9)
    logits[: total - m, :, 0] = 0.0  # blank, certainly, until the answer
    logits[total - m :, :, 1:9] = 0.0  # then uniform over the 8 symbols
    ev = task.evaluate(logits, batch)
    assert ev.metric == pytest.approx(task.baseline(delay), rel=1e-5)
    # README: M·ln 8 / (T + 2M) — the M answers at ln 8 each, every other step certain — for every case
    assert task.baseline(delay) == pytest.approx(m * math.log(8) / (delay + 2 * m), rel=1e-12)
    assert ev.score is not None and ev.score < 0.3  # recall at chance (arg-max picks symbol 1)


def test_copy_reference_baseline_value() -> None:
    assert make_task("copy").baseline(100) == pytest.approx(0.1733, abs=1e-4)


def test_selective_copy_baseline() -> None:
    task = make_task("selective-copy", TaskOptions(copy_symbols=4))
    batch = task.sample(_gen(), 128, 12)
    probs = torch.zeros(10)
    probs[1:9] = 1 / 8
    assert task.evaluate(_constant_logits(batch, probs), batch).metric == pytest.approx(
        task.baseline(12), rel=1e-5
    )


@pytest.mark.parametrize(("name", "classes", "seq_len"), [("temporal-order", 4, 30), ("parity", 2, 8)])
def test_classification_baseline_is_class_frequency_predictor(name: str, classes: int, seq_len: int) -> None:
    task = _task(name)
    batch = task.sample(_gen(7), 20_000, seq_len, "eval")
    freq = torch.bincount(batch.y, minlength=classes).float() / batch.size
    ev = task.evaluate(_constant_logits(batch, freq), batch)
    assert ev.metric == pytest.approx(task.baseline(seq_len), abs=0.002)


def test_anbn_baseline_is_unigram_predictor() -> None:
    task = _task("anbn")
    ev = task.held_out(5, 0, "eval")
    assert ev.mask is not None
    counts = torch.bincount(ev.y[ev.mask], minlength=3).float()
    got = task.evaluate(_constant_logits(ev, counts / counts.sum()), ev).metric
    assert got == pytest.approx(task.baseline(5, ev), rel=1e-5)


def test_charlm_baseline_is_unigram_predictor() -> None:
    task = _task("charlm")
    assert len(task.vocab) > 50  # pydoc_data.topics, shipped with Python
    ev = task.held_out(50, 40, "eval")
    counts = torch.bincount(ev.y.reshape(-1), minlength=task.output_size).float()
    got = task.evaluate(_constant_logits(ev, counts / counts.sum()), ev).metric
    assert got == pytest.approx(task.baseline(50, ev), rel=1e-4)
    assert 3.0 < task.baseline(50, ev) < 6.0  # bits per character


def test_series_baseline_is_persistence(series_csv: Path) -> None:
    task = _task("series", series_csv)
    ev = task.held_out(10, 100, "eval")
    assert task.evaluate(ev.x.clone(), ev).metric == pytest.approx(task.baseline(10, ev), rel=1e-6)


def test_series_errors(series_csv: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'value'"):
        make_task("series", TaskOptions(csv=str(series_csv), column="valeu"))
    with pytest.raises(ConfigError, match="--csv FILE and --column NAME"):
        make_task("series")


def test_digits_baseline_and_split() -> None:
    task = _task("digits")
    ev = task.held_out(64, 0, "eval")
    assert ev.size == 360 and ev.x.shape == (64, 360, 1)
    freq = torch.bincount(ev.y, minlength=10).float() / ev.size
    assert task.evaluate(_constant_logits(ev, freq), ev).metric == pytest.approx(
        task.baseline(64, ev), rel=1e-5
    )
    assert task.baseline(64, ev) == pytest.approx(math.log(10), abs=0.02)  # classes nearly balanced
    with pytest.raises(ConfigError, match="fixed length of 64"):
        task.check_seq_len(32)


def test_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ConfigError, match=r"pip install scikit-learn \(rnnbench is not on PyPI"):
        make_task("digits")


@pytest.mark.parametrize("name", ["adding", "copy", "temporal-order", "parity"])
def test_held_out_sets_are_fixed(name: str) -> None:
    task = _task(name)
    seq_len = 20
    a, b = task.held_out(seq_len, 16, "eval"), task.held_out(seq_len, 16, "eval")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    val = task.held_out(seq_len, 16, "val")
    assert not torch.equal(a.x, val.x)
