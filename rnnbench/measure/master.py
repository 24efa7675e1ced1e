"""float32 master weights for an optimiser over half-precision parameters.

Adam on float16 parameters breaks after one step: its ``eps = 1e-8`` rounds to 0 in float16, the second-moment
state underflows, and the weights become inf/NaN — and NaN weights can change which code paths run (slow
denormal/NaN handling on CPUs), so even a timing-only benchmark would time something else after the first step.
The standard remedy (mixed-precision training with "master weights") keeps a float32 copy of every parameter
for the optimiser: gradients are copied up, the step runs in float32, the result is rounded back into the
half-precision parameters the model computes with. ``run --mode train`` with float16/bfloat16 times exactly
that loop, and ``train --dtype bfloat16`` trains with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class MasterWeights:
    """An optimiser step over ``params`` through float32 masters (a plain step when they are float32)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.mixed = any(p.dtype in (torch.float16, torch.bfloat16) for p in self.params)
        if self.mixed:
            self.masters = [p.detach().float().clone().requires_grad_(True) for p in self.params]
        else:
            self.masters = self.params
        self.optimizer = make_optimizer(self.masters)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
        if self.mixed:
            for m in self.masters:
                m.grad = None

    def gradients_to_masters(self) -> list[torch.Tensor]:
        """Copy the model's gradients into the masters (float32) and return the masters, e.g. to clip them
        before :meth:`apply`."""
        if self.mixed:
            for p, m in zip(self.params, self.masters, strict=True):
                m.grad = None if p.grad is None else p.grad.float()
        return self.masters

    def step(self) -> None:
        """Gradients up, the optimiser step in float32, the result rounded back into the model's parameters."""
        self.gradients_to_masters()
        self.apply()

    def apply(self) -> None:
        """The optimiser step on the masters' gradients as they are, rounded back into the model."""
        self.optimizer.step()
        if self.mixed:
            with torch.no_grad():
                for p, m in zip(self.params, self.masters, strict=True):
                    p.copy_(m)
