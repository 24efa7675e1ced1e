"""A CPU stand-in for "these tensors live on the GPU": catches device mixing without a GPU.

``train --task anbn --device cuda`` crashed on the first real GPU because ``score`` built ``torch.arange(T)`` on
the CPU and combined it with the batch's CUDA mask. On a CPU-only machine every tensor is on the CPU, so such
code passes every test. :class:`VirtualDevice` is a ``TorchFunctionMode`` that labels tensors ``dev`` (meant
for the accelerator) or ``host`` and raises CUDA's own error when one op combines them, as a GPU would:

* tensors passed to :meth:`VirtualDevice.place` are ``dev``; so is every result of an op with a ``dev`` input;
* a factory call (``torch.arange``, ``zeros``, ``tensor``, …) without a ``device=`` argument is ``host`` — the
  bug pattern; with ``device=`` (typically ``x.device``) it is ``dev``;
* ``.to(<device>)`` / ``.cuda()`` make ``dev``, ``.cpu()`` makes ``host``;
* 0-dim host tensors mix freely (CUDA allows CPU scalars), and indexing a ``dev`` tensor with a host index is
  allowed (CUDA allows it too).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakTensorKeyDictionary

_FACTORIES = {
    torch.arange, torch.zeros, torch.ones, torch.full, torch.empty, torch.tensor, torch.as_tensor, torch.randn,
    torch.rand, torch.randint, torch.linspace, torch.eye, torch.randperm,
}  # fmt: skip
_INDEXING = {torch.Tensor.__getitem__, torch.Tensor.__setitem__}
_HOST_ARGUMENTS_OK = {"_pack_padded_sequence", "_pad_packed_sequence", "pack_padded_sequence"}
"""Ops that take host tensors by contract (packing wants the lengths, and keeps batch sizes, on the CPU)."""
_TO_DEVICE = {torch.Tensor.cuda}
_TO_HOST = {torch.Tensor.cpu, torch.Tensor.numpy, torch.Tensor.tolist, torch.Tensor.item}


class DeviceMixingError(RuntimeError):
    pass


class VirtualDevice(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.labels: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self.checked_ops = 0

    def place(self, *tensors: torch.Tensor | None) -> None:
        for t in tensors:
            if t is not None:
                self.labels[t] = "dev"

    def label(self, t: torch.Tensor) -> str:
        return str(self.labels.get(t, "host"))

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        leaves = [x for x in tree_flatten((args, kwargs))[0] if isinstance(x, torch.Tensor)]
        if func in _FACTORIES:
            label = "dev" if kwargs.get("device") is not None else "host"
        elif func in _TO_HOST:
            label = "host"
        elif func in _TO_DEVICE or (func is torch.Tensor.to and _names_a_device(args[1:], kwargs)):
            label = "dev"
        else:
            labels = {self.label(t) for t in leaves if t.dim() > 0 or self.label(t) == "dev"}
            name = getattr(func, "__name__", "")
            if func not in _INDEXING and name not in _HOST_ARGUMENTS_OK and labels == {"dev", "host"}:
                raise DeviceMixingError(
                    f"Expected all tensors to be on the same device, but {name or func} got "
                    "tensors on the accelerator and on the CPU (a factory call without device=?)"
                )
            self.checked_ops += 1
            label = "dev" if "dev" in labels or (leaves and self.label(leaves[0]) == "dev") else "host"
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.labels[t] = label
        return out


def _names_a_device(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    values = [*args, kwargs.get("device")]
    return any(isinstance(v, (str, torch.device)) for v in values if v is not None) or any(
        isinstance(v, torch.Tensor) for v in args
    )
