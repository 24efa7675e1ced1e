"""Training precision: bfloat16 means bfloat16 (an explicit copy, float32 masters), and the dtype that really
ran is observed, not assumed (issue 12, defect 4)."""

from __future__ import annotations

import pytest
import torch

from rnnbench.learn.network import build_network
from rnnbench.learn.precision import Precision
from rnnbench.learn.sizing import expand_units
from rnnbench.learn.spec import TrainSpec
from rnnbench.learn.tasks import TASKS, TaskOptions


def _setup(impl: str = "native") -> tuple[Precision, object, object]:
    task = TASKS.get("adding")(TaskOptions())
    spec = TrainSpec(
        tasks=("adding",), arms=("lstm",), seeds=1, seq_lens=(8,), hidden=(6,), match="hidden", impl=impl
    )
    unit = expand_units(spec, {"adding": task})[0]
    precision = Precision(lambda: build_network(task, unit, spec, "cpu"), "bfloat16", "cpu")
    batch = task.sample(torch.Generator().manual_seed(0), 4, 8)
    return precision, task, batch


@pytest.mark.parametrize("impl", ["native", "scratch"])
def test_bfloat16_runs_in_bfloat16_with_float32_masters(impl: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # autocast is what turned bf16 into fp16 for cuDNN RNNs: bf16 must not go through it at all
    monkeypatch.setattr(torch, "autocast", lambda *a, **k: pytest.fail("bfloat16 must not use autocast"))
    precision, task, batch = _setup(impl)
    masters = precision.weights.masters
    assert all(m.dtype == torch.float32 for m in masters)
    assert all(p.dtype == torch.bfloat16 for p in precision.network.parameters())
    before = [m.detach().clone() for m in masters]
    pred = precision.predict(batch)  # type: ignore[arg-type]
    assert pred.dtype == torch.float32 and precision.observed == "bfloat16"
    precision.step(task.loss(pred, batch))  # type: ignore[attr-defined]
    assert any(not torch.equal(b, m) for b, m in zip(before, masters, strict=True))
    # Adam updated the float32 masters and the network computes with them rounded to bf16
    for m, p in zip(masters, precision.network.parameters(), strict=True):
        assert m.dtype == torch.float32
        assert torch.equal(p, m.to(torch.bfloat16))


def test_float32_observes_float32_and_shares_one_network() -> None:
    task = TASKS.get("adding")(TaskOptions())
    spec = TrainSpec(tasks=("adding",), arms=("gru",), seeds=1, seq_lens=(8,), hidden=(6,), match="hidden")
    unit = expand_units(spec, {"adding": task})[0]
    precision = Precision(lambda: build_network(task, unit, spec, "cpu"), "float32", "cpu")
    assert not precision.weights.mixed and precision.scaler is None
    precision.predict(task.sample(torch.Generator().manual_seed(0), 4, 8))
    assert precision.observed == "float32"
