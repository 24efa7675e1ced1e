"""Build any implementation of any architecture from the canonical weight set, or say why it cannot run."""

from __future__ import annotations

from collections.abc import Callable

import torch

from rnnbench.core.spec import ModelConfig
from rnnbench.core.vocab import MINIMAL_ARCHS
from rnnbench.errors import UnsupportedError
from rnnbench.measure.models.base import RecurrentNet
from rnnbench.measure.models.catalog import IMPLEMENTATIONS, arch_reason
from rnnbench.measure.models.loops import CellNet, CompiledNet, ScratchNet, compiled_unavailable_reason
from rnnbench.measure.models.minimal import MinCompiledNet, MinScanNet, MinScratchNet
from rnnbench.measure.models.native import AtenNet, NativeNet
from rnnbench.measure.models.numpy_ref import NumpyNet
from rnnbench.measure.models.weights import canonical_weights

_CLASSES: dict[str, Callable[[ModelConfig, dict[str, torch.Tensor]], RecurrentNet]] = {
    "native": NativeNet,
    "aten": AtenNet,
    "cell": CellNet,
    "scratch": ScratchNet,
    "compiled": CompiledNet,
    "numpy": NumpyNet,
}
_MINIMAL_CLASSES: dict[str, Callable[[ModelConfig, dict[str, torch.Tensor]], RecurrentNet]] = {
    "scratch": MinScratchNet,
    "scan": MinScanNet,
    "compiled": MinCompiledNet,
    "numpy": NumpyNet,
}


def unsupported_reason(
    impl: str, *, mode: str, device_type: str, dtype: str, arch: str | None = None
) -> str | None:
    """Static capabilities (catalog) plus what this machine's torch can do; ``None`` when supported."""
    reason = IMPLEMENTATIONS.get(impl).unsupported_reason(
        mode=mode, device_type=device_type, dtype=dtype, arch=arch
    )
    if reason is None and impl == "compiled":
        reason = compiled_unavailable_reason(device_type)
    return reason


def build_model(
    config: ModelConfig,
    impl: str,
    weights: dict[str, torch.Tensor] | None = None,
    seed: int = 0,
    device_type: str = "cpu",
) -> RecurrentNet:
    """A model of ``config.arch`` computed by ``impl``, loaded from ``weights`` (default: the canonical set
    for ``seed``). Raises ``UnknownNameError`` for a bad name and ``UnsupportedError`` for an architecture the
    implementation does not compute or ``compiled`` where ``torch.compile`` cannot work."""
    implementation = IMPLEMENTATIONS.get(impl)  # did-you-mean for a bad name
    if config.arch not in implementation.archs:
        raise UnsupportedError(arch_reason(impl, config.arch, implementation.archs))
    if impl == "compiled":
        reason = compiled_unavailable_reason(device_type)
        if reason:
            raise UnsupportedError(reason)
    if weights is None:
        weights = canonical_weights(config, seed)
    classes = _MINIMAL_CLASSES if config.arch in MINIMAL_ARCHS else _CLASSES
    return classes[impl](config, weights)
