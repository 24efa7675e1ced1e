"""The network every arm trains: the recurrent stack plus a linear head."""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.core.spec import ModelConfig
from rnnbench.learn.spec import TrainSpec, Unit
from rnnbench.learn.tasks import Batch, Task
from rnnbench.measure.models.base import RecurrentNet


# ---- one run ------------------------------------------------------------------------------------------
class Network(nn.Module):
    """Recurrent stack + linear head; reads out every step or the top layer's final state."""

    def __init__(self, rnn: RecurrentNet, head: nn.Linear, readout: str) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = head
        self.readout = readout

    def forward(self, batch: Batch) -> torch.Tensor:
        out, h_n = self.rnn(batch.x, None, batch.lengths)
        if self.readout == "all":
            return self.head(out)
        h = h_n[0] if isinstance(h_n, tuple) else h_n
        return self.head(h[-1])


def add_forget_bias(
    weights: dict[str, torch.Tensor], hidden_size: int, layers: int, amount: float = 1.0
) -> None:
    """Add ``amount`` to rows ``[H:2H]`` (the forget gate; PyTorch's gate order is i, f, g, o) of every
    layer's ``bias_ih``. ``bias_hh`` is left at its default, so the effective forget bias ``b_if + b_hf`` is
    PyTorch's U(−2/√H, 2/√H)-ish sum shifted by exactly ``amount``."""
    for layer in range(layers):
        weights[f"bias_ih_l{layer}"][hidden_size : 2 * hidden_size] += amount


def build_network(task: Task, unit: Unit, spec: TrainSpec, device: str) -> Network:
    """The arm's network for this seed, computed by the arm's implementation (``unit.impl``): canonical
    weights for ``seed`` (``torch.nn``'s for LSTM/GRU/RNN, so ``lstm`` and ``lstm-fb1`` start identical except
    the forget bias; ``nn.Linear``'s for minGRU/minLSTM), head initialised from the same seed."""
    from rnnbench.measure.devices import device_type
    from rnnbench.measure.models.build import build_model
    from rnnbench.measure.models.weights import canonical_weights

    config = ModelConfig(unit.arch, task.input_size, unit.hidden_size, spec.layers)
    weights = canonical_weights(config, unit.seed)
    if unit.arm == "lstm-fb1":
        add_forget_bias(weights, unit.hidden_size, spec.layers)
    rnn = build_model(config, unit.impl, weights, unit.seed, device_type(device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(unit.seed)
        head = nn.Linear(unit.hidden_size, task.output_size)
    return Network(rnn, head, task.readout).to(device)
