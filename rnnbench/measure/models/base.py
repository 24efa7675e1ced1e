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


class DeviceCopy:
    """One small host tensor (sequence lengths) copied to the device once, not once per forward pass.

    A host→device copy from pageable memory synchronises the stream, so a ``lengths.to(device)`` inside every
    timed iteration stalls the GPU queue and times the CPU's launch latency instead of the kernels. The copy is
    remade only when a different tensor, device or dtype is asked for, or the source was modified in place.
    """

    def __init__(self) -> None:
        self._source: torch.Tensor | None = None
        self._key: tuple[int, torch.device, torch.dtype] | None = None
        self._copy: torch.Tensor | None = None
        self.copies = 0
        """How many copies were made (tests count them)."""

    def get(self, tensor: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
        key = (tensor._version, torch.device(device), dtype or tensor.dtype)
        if self._source is tensor and self._key == key and self._copy is not None:
            return self._copy
        self._copy = tensor.to(device=key[1], dtype=key[2])
        self._source, self._key = tensor, key
        self.copies += 1
        return self._copy


def zero_state(config: ModelConfig, batch: int, like: torch.Tensor) -> State:
    """The zero initial state ``torch.nn`` uses when ``hx`` is ``None``."""
    shape = (config.num_layers * config.directions, batch, config.hidden_size)
    h = torch.zeros(shape, dtype=like.dtype, device=like.device)
    if config.arch == "lstm":
        return h, torch.zeros_like(h)
    return h
