"""What one timed iteration runs: inputs for a case, the ``classifier`` workload, and the per-mode callables.

``layer`` times the recurrent stack alone. ``classifier`` times token embedding → recurrent stack → mean
pooling over each sequence's real steps → linear head, over variable-length token batches: the shape of a
typical text classifier, so the cell's cost is seen inside a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rnnbench.core.flops import executed_tokens
from rnnbench.measure.models.catalog import IMPLEMENTATIONS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from rnnbench.measure.models.base import RecurrentNet

VOCAB_SIZE = 1000
NUM_CLASSES = 4


def make_lengths(seq_len: int, batch: int, spread: float, seed: int = 0) -> torch.Tensor:
    """Lengths drawn uniformly from ``[ceil((1 − spread)·T), T]``, with one sequence of the full length
    (so the padded width is T). ``spread = 0`` gives all T; the result is an int64 CPU tensor."""
    import torch

    gen = torch.Generator().manual_seed(seed + 7919)
    low = max(1, math.ceil((1.0 - spread) * seq_len))
    lengths = torch.randint(low, seq_len + 1, (batch,), generator=gen, dtype=torch.int64)
    lengths[0] = seq_len
    return lengths


def _classifier_class() -> type[nn.Module]:
    from torch import nn

    from rnnbench.measure.models.base import DeviceCopy

    class Classifier(nn.Module):
        """Embedding → recurrent stack → masked mean pooling → linear head."""

        def __init__(self, rnn: RecurrentNet, embed_dim: int) -> None:
            super().__init__()
            cfg = rnn.config
            self.embedding = nn.Embedding(VOCAB_SIZE, embed_dim)
            self.rnn = rnn
            self.head = nn.Linear(cfg.directions * cfg.hidden_size, NUM_CLASSES)
            self.batch_first = cfg.batch_first
            self._lengths = DeviceCopy()

        def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
            out, _ = self.rnn(self.embedding(tokens), None, lengths)
            time_dim = 1 if self.batch_first else 0
            # outputs past each sequence's end are exactly zero (the common interface's contract)
            summed = out.sum(dim=time_dim)
            if lengths is None:
                pooled = summed / out.shape[time_dim]
            else:
                # the lengths' device copy is made once, not in every timed pass (a host→device copy syncs)
                pooled = summed / self._lengths.get(lengths, out.device, out.dtype).unsqueeze(1)
            return self.head(pooled)

    return Classifier


@dataclass
class Workload:
    """A built model with its inputs: ``forward()`` runs one pass, ``loss(output)`` reduces it."""

    model: nn.Module
    inputs: tuple[Any, ...]
    targets: torch.Tensor | None
    tokens: int
    """Real tokens per batch (the sum of the lengths): what tokens/s counts."""
    extra_flops_fwd: int
    executed_tokens: int
    """Time steps the recurrent kernels compute (``core.flops.executed_tokens``): ``tokens`` when packed,
    ``B·T`` when the implementation masks; what the FLOP count uses."""

    def forward(self) -> Any:
        return self.model(*self.inputs)

    def loss(self, output: Any) -> torch.Tensor:
        import torch.nn.functional as F

        if self.targets is not None:
            return F.cross_entropy(output.float(), self.targets)
        out = output[0] if isinstance(output, tuple) else output
        return out.float().square().mean()


def build_workload(
    rnn: RecurrentNet,
    *,
    workload: str,
    seq_len: int,
    batch: int,
    length_spread: float,
    device: str,
    dtype: torch.dtype,
    seed: int,
) -> Workload:
    """Inputs on ``device`` in ``dtype`` (tokens stay int64), and the model moved there."""
    import torch

    cfg = rnn.config
    gen = torch.Generator().manual_seed(seed)
    lengths = make_lengths(seq_len, batch, length_spread, seed) if length_spread > 0 else None
    tokens = int(lengths.sum()) if lengths is not None else batch * seq_len
    packed = IMPLEMENTATIONS.get(rnn.impl).variable_length == "packed sequence"
    executed = executed_tokens(batch, seq_len, tokens, packed)
    shape = (batch, seq_len) if cfg.batch_first else (seq_len, batch)
    on_device = "cpu" if rnn.impl == "numpy" else device
    if workload == "classifier":
        model: nn.Module = _classifier_class()(rnn, cfg.input_size)
        ids = torch.randint(0, VOCAB_SIZE, shape, generator=gen).to(on_device)
        targets = torch.randint(0, NUM_CLASSES, (batch,), generator=gen).to(on_device)
        model = model.to(device=on_device, dtype=dtype)
        head_flops = 2 * cfg.directions * cfg.hidden_size * NUM_CLASSES * batch
        return Workload(model, (ids, lengths), targets, tokens, head_flops, executed)
    x = torch.randn((*shape, cfg.input_size), generator=gen).to(device=on_device, dtype=dtype)
    model = rnn.to(device=on_device, dtype=dtype)
    return Workload(model, (x, None, lengths), None, tokens, 0, executed)
