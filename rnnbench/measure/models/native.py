"""``native`` (torch.nn as shipped) and ``aten`` (the same module with cuDNN and oneDNN switched off)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnbench.core.spec import ModelConfig
from rnnbench.measure.models.base import RecurrentNet, State
from rnnbench.measure.models.weights import reference_module


@contextlib.contextmanager
def vendor_libraries_off() -> Iterator[None]:
    """Disable cuDNN and oneDNN (MKL-DNN) for the duration: PyTorch then runs its own ATen kernels.

    Toggles only the two ``enabled`` switches (``torch.backends.*.flags`` would also reset TF32 settings and
    warn on every call, inside timed code)."""
    cudnn_before = torch.backends.cudnn.enabled
    mkldnn_before = torch.backends.mkldnn.enabled
    setattr(torch.backends.cudnn, "enabled", False)  # noqa: B010  (ContextProp: typed as non-bool)
    setattr(torch.backends.mkldnn, "enabled", False)  # noqa: B010
    try:
        yield
    finally:
        setattr(torch.backends.cudnn, "enabled", cudnn_before)  # noqa: B010
        setattr(torch.backends.mkldnn, "enabled", mkldnn_before)  # noqa: B010


class NativeNet(RecurrentNet):
    """Wraps the ``torch.nn`` module itself; variable lengths go through a packed sequence."""

    impl = "native"
    backend = "detected"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config)
        self.rnn = reference_module(config)
        self.rnn.load_state_dict(weights)

    def _context(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def forward(
        self,
        x: torch.Tensor,
        hx: State | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        with self._context():
            if lengths is None:
                out, h_n = self.rnn(x, hx)
                return out, h_n
            total = x.shape[1] if self.config.batch_first else x.shape[0]
            packed = pack_padded_sequence(
                x, lengths.cpu(), batch_first=self.config.batch_first, enforce_sorted=False
            )
            packed_out, h_n = self.rnn(packed, hx)
            out, _ = pad_packed_sequence(packed_out, batch_first=self.config.batch_first, total_length=total)
            return out, h_n

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.rnn.named_parameters())


class AtenNet(NativeNet):
    """``torch.nn`` with the vendor libraries off: isolates what cuDNN / oneDNN add."""

    impl = "aten"
    backend = "aten"

    def _context(self) -> contextlib.AbstractContextManager[None]:
        return vendor_libraries_off()
