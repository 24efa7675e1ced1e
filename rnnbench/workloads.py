"""Inputs for a case: padded batches, variable lengths, and the classifier workload's token batches."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def make_lengths(seq_len: int, batch: int, spread: float, seed: int = 0) -> torch.Tensor:
    """Lengths drawn uniformly from ``[ceil((1 − spread)·T), T]``, with one sequence of the full length
    (so the padded width is T). ``spread = 0`` gives all T; the result is an int64 CPU tensor."""
    import math

    import torch

    gen = torch.Generator().manual_seed(seed + 7919)
    low = max(1, math.ceil((1.0 - spread) * seq_len))
    lengths = torch.randint(low, seq_len + 1, (batch,), generator=gen, dtype=torch.int64)
    lengths[0] = seq_len
    return lengths
