"""No task mixes host and accelerator tensors: every task's loss, evaluation and score, and the training
loop's evaluation through a real network, run under a CPU stand-in for a GPU (``tests/device_standin.py``).

On the first H100, ``train --task anbn --device cuda`` crashed in ``AnbnTask.score`` (a CPU ``arange`` against
the batch's CUDA mask); this test failed the same way on the CPU before the fix (issue 12, defect 5).
"""

from __future__ import annotations

import pytest
import torch

from rnnbench.learn.tasks import TASKS, TaskOptions
from rnnbench.learn.tasks.base import Batch, Task
from tests.device_standin import DeviceMixingError, VirtualDevice

SYNTHETIC_AND_BUNDLED = [
    "adding",
    "copy",
    "selective-copy",
    "temporal-order",
    "parity",
    "anbn",
    "charlm",
    "digits",
]


def _task(name: str) -> Task:
    try:
        return TASKS.get(name)(TaskOptions())
    except Exception as exc:  # digits needs scikit-learn (the data extra)
        pytest.skip(f"task {name} cannot be built here: {exc}")


def _held_out(task: Task, seq_len: int, size: int = 12) -> Batch:
    return task.held_out(task.check_seq_len(seq_len), size, "eval")


def _prediction(task: Task, batch: Batch) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    if task.readout == "all":
        shape = (batch.x.shape[0], batch.size, task.output_size)
    else:
        shape = (batch.size, task.output_size)
    return torch.randn(shape, generator=gen)


def test_the_standin_catches_the_bug_pattern() -> None:
    """It must fail where a GPU fails, or it tests nothing: a CPU arange against a placed mask."""
    mask = torch.ones(4, 3, dtype=torch.bool)
    mode = VirtualDevice()
    mode.place(mask)
    with mode, pytest.raises(DeviceMixingError):
        _ = torch.arange(4).unsqueeze(1) < 2 & mask
    with mode:  # the fixed form, and the CUDA-legal cases: CPU scalars, host index tensors
        ok = (torch.arange(4, device=mask.device).unsqueeze(1) < 2) & mask
        _ = ok & torch.tensor(True)
        _ = mask[:, torch.tensor([0, 2])]
    assert mode.checked_ops > 0


@pytest.mark.parametrize("name", SYNTHETIC_AND_BUNDLED)
def test_task_loss_evaluation_and_score_keep_to_one_device(name: str) -> None:
    task = _task(name)
    batch = _held_out(task, task.default_seq_len if name != "anbn" else 4)
    pred = _prediction(task, batch)
    mode = VirtualDevice()
    mode.place(batch.x, batch.y, batch.mask, pred)  # Batch.to(device) keeps lengths on the host, by design
    with mode:
        task.loss(pred, batch)
        task.evaluate(pred, batch)
        for part in batch.split(5):
            task.loss(pred[..., : part.size, :] if task.readout == "all" else pred[: part.size], part)
    assert mode.checked_ops > 0


@pytest.mark.parametrize("impl", ["native", "scratch"])
@pytest.mark.parametrize("name", ["anbn", "copy", "adding"])
def test_loop_evaluation_through_a_network_keeps_to_one_device(name: str, impl: str) -> None:
    """The loop's evaluation with the network's parameters and the batch on the stand-in device: packing
    (native) and masking (scratch) paths both."""
    from rnnbench.learn import loop
    from rnnbench.learn.network import build_network
    from rnnbench.learn.sizing import expand_units
    from rnnbench.learn.spec import TrainSpec

    task = _task(name)
    seq_len = 4 if name == "anbn" else 10
    spec = TrainSpec(
        tasks=(name,), arms=("gru",), seeds=1, seq_lens=(seq_len,), hidden=(8,), match="hidden", impl=impl
    )
    unit = expand_units(spec, {name: task})[0]
    net = build_network(task, unit, spec, "cpu")
    batch = _held_out(task, seq_len)
    mode = VirtualDevice()
    mode.place(batch.x, batch.y, batch.mask, *net.parameters(), *net.buffers())
    with mode:
        loop.evaluate(net, task, batch, spec, "cpu", chunk=5)
    assert mode.checked_ops > 0
