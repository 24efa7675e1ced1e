"""How one training run computes in its dtype — and which dtype really ran.

- ``float32``: as is.
- ``float16``: autocast, with a ``GradScaler`` on CUDA (fp16 gradients underflow without one); weights and Adam
  state stay float32.
- ``bfloat16``: the network is cast to bfloat16 explicitly and does the forward and backward passes; float32
  master weights (``measure.master.MasterWeights``) take the optimiser step and are rounded back. Not
  autocast: autocast's cuDNN RNN wrapper casts to *float16*, so ``--dtype bfloat16 --impl native`` on CUDA
  silently trained the RNN in fp16. bfloat16 has float32's range, so no scaler is needed; float32 masters keep
  Adam's small updates from rounding away.

The dtype the recurrent stack's output really had is recorded on the first step (``observed``) and written to
every summary row as ``compute_dtype``: a run can never claim a precision it did not use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from rnnbench.learn.network import Network
from rnnbench.learn.spec import GRAD_CLIP
from rnnbench.learn.tasks import Batch
from rnnbench.measure.master import MasterWeights


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class Precision:
    """The network of one run at one dtype, its optimiser (through float32 masters where the network is half
    precision) and the training step."""

    def __init__(self, build: Callable[[], Network], dtype: str, device: str, lr: float = 1e-3) -> None:
        self.dtype = dtype
        self.device = device
        network = build()
        if dtype == "bfloat16":
            network = network.to(torch.bfloat16)  # the explicit cast; masters below stay float32
        self.network = network
        self.weights = MasterWeights(network.parameters(), lambda ps: torch.optim.Adam(ps, lr=lr))
        self.observed: str | None = None
        is_cuda = device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda") if dtype == "float16" and is_cuda else None
        self.network.rnn.register_forward_hook(self._observe)

    def _observe(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self.observed is None:
            out = output[0] if isinstance(output, tuple) else output
            self.observed = _dtype_name(out.dtype)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast for float16 only (see the module docstring); a no-op otherwise."""
        if self.dtype != "float16":
            return contextlib.nullcontext()
        from rnnbench.measure.devices import device_type

        return torch.autocast(device_type(self.device), dtype=torch.float16)

    def inputs(self, batch: Batch) -> Batch:
        """The batch as the network takes it (inputs cast for bfloat16; targets untouched)."""
        if self.dtype != "bfloat16":
            return batch
        return Batch(batch.x.to(torch.bfloat16), batch.y, batch.mask, batch.lengths, batch.per_step)

    def predict(self, batch: Batch) -> torch.Tensor:
        """The network's predictions for ``batch``, as float32 (losses and metrics in float32)."""
        with self.autocast():
            return self.network(self.inputs(batch)).float()

    def step(self, loss: torch.Tensor) -> None:
        """Backward, clip, optimiser step — in the way this dtype needs."""
        self.weights.zero_grad()
        optimizer = self.weights.optimizer
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.weights.masters, GRAD_CLIP)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        loss.backward()
        nn.utils.clip_grad_norm_(self.weights.gradients_to_masters(), GRAD_CLIP)
        self.weights.apply()

    def train(self, mode: bool = True) -> None:
        self.network.train(mode)
