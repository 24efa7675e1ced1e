"""The one interface every implementation presents, matching ``torch.nn.LSTM/GRU/RNN``.

``forward(x, hx=None, lengths=None) -> (output, h_n)`` where ``h_n`` is ``(h, c)`` for LSTM. ``x`` is padded
``(T, B, I)`` (``(B, T, I)`` with ``batch_first``); ``lengths`` (1-D, int64) makes the batch variable-length:
outputs past a sequence's end are zero and its final state is taken at its own last step, exactly as
``pack_padded_sequence`` → module → ``pad_packed_sequence(total_length=T)`` gives.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.core.spec import ModelConfig

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RecurrentNet(nn.Module):
    """Base class: holds the config, the implementation name and the backend it is expected to use."""

    impl: str = ""
    backend: str = ""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    def forward(  # pragma: no cover - abstract
        self,
        x: torch.Tensor,
        hx: State | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        """This implementation's parameters under their ``torch.nn`` names (for gradient comparisons)."""
        raise NotImplementedError  # pragma: no cover


def zero_state(config: ModelConfig, batch: int, like: torch.Tensor) -> State:
    """The zero initial state ``torch.nn`` uses when ``hx`` is ``None``."""
    shape = (config.num_layers * config.directions, batch, config.hidden_size)
    h = torch.zeros(shape, dtype=like.dtype, device=like.device)
    if config.arch == "lstm":
        return h, torch.zeros_like(h)
    return h
