"""How one training run computes in its dtype — and which dtype really ran.

- ``float32``: as is.
- ``float16``: autocast, with a ``GradScaler`` on CUDA (fp16 gradients underflow without one); weights and Adam
  state stay float32.
- ``bfloat16``: an explicit bfloat16 copy of the network does the forward and backward passes; float32 master
  weights take the optimiser step and are copied back. Not autocast: autocast's cuDNN RNN wrapper casts to
  *float16*, so ``--dtype bfloat16 --impl native`` on CUDA silently trained the RNN in fp16. bfloat16 has
  float32's range, so no scaler is needed; float32 masters keep Adam's small updates from rounding away.

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


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class Precision:
    """The networks and the step of one run at one dtype; ``master`` is the float32 network the optimiser
    owns (and that checkpoints, parameter counts and evaluation read), ``compute`` the one that runs."""

    def __init__(self, build: Callable[[], Network], dtype: str, device: str) -> None:
        self.dtype = dtype
        self.device = device
        self.master = build()
        self.compute = self.master
        self.observed: str | None = None
        if dtype == "bfloat16":
            self.compute = build().to(torch.bfloat16)  # same seed: the same weights, cast
            self._copy_master_to_compute()
        is_cuda = device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda") if dtype == "float16" and is_cuda else None
        self.compute.rnn.register_forward_hook(self._observe)

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
        """The batch as the compute network takes it (inputs cast for bfloat16; targets untouched)."""
        if self.dtype != "bfloat16":
            return batch
        return Batch(batch.x.to(torch.bfloat16), batch.y, batch.mask, batch.lengths, batch.per_step)

    def predict(self, batch: Batch) -> torch.Tensor:
        """The compute network's predictions for ``batch``, as float32 (losses and metrics in float32)."""
        with self.autocast():
            return self.compute(self.inputs(batch)).float()

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward, clip, optimiser step — in the way this dtype needs."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(self.master.parameters(), GRAD_CLIP)
            self.scaler.step(optimizer)
            self.scaler.update()
            return
        loss.backward()
        if self.compute is not self.master:
            for m, c in zip(self.master.parameters(), self.compute.parameters(), strict=True):
                m.grad = None if c.grad is None else c.grad.float()
                c.grad = None
        nn.utils.clip_grad_norm_(self.master.parameters(), GRAD_CLIP)
        optimizer.step()
        if self.compute is not self.master:
            self._copy_master_to_compute()

    @torch.no_grad()
    def _copy_master_to_compute(self) -> None:
        for m, c in zip(self.master.parameters(), self.compute.parameters(), strict=True):
            c.copy_(m)

    def train(self, mode: bool = True) -> None:
        self.master.train(mode)
        self.compute.train(mode)
