"""What each implementation is and supports — metadata only, no torch import.

Building a model lives in ``rnnbench.measure.models.build``; this module answers "can this combination run?"
so that ``rnnbench list`` and sweep planning can say *why not* before anything is built. Never a silent
fallback: callers get an ``unsupported`` reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rnnbench.core.vocab import ARCHS, IMPL_ARCHS, MINIMAL_ARCHS, MODES
from rnnbench.registry import Registry


@dataclass(frozen=True)
class Implementation:
    """One way of computing the same recurrence, built from the canonical weight set."""

    name: str
    summary: str
    modes: tuple[str, ...]
    device_types: tuple[str, ...]
    dtypes: tuple[str, ...]
    variable_length: str
    backend: str
    archs: tuple[str, ...] = ARCHS
    """The architectures it computes (``core.vocab.IMPL_ARCHS``); others are refused (:func:`arch_reason`)."""

    def unsupported_reason(
        self, *, mode: str, device_type: str, dtype: str, arch: str | None = None
    ) -> str | None:
        """Why this implementation cannot run the combination, or ``None`` when it can (statically)."""
        if arch is not None and arch not in self.archs:
            return arch_reason(self.name, arch, self.archs)
        if mode not in self.modes:
            return f"implementation '{self.name}' supports modes {', '.join(self.modes)}, not '{mode}'"
        if device_type not in self.device_types:
            return f"implementation '{self.name}' runs on {', '.join(self.device_types)}, not '{device_type}'"
        if dtype not in self.dtypes:
            return f"implementation '{self.name}' supports dtypes {', '.join(self.dtypes)}, not '{dtype}'"
        return None


def arch_reason(impl: str, arch: str, archs: tuple[str, ...]) -> str:
    """Why ``impl`` has no ``arch``: torch.nn ships no minGRU/minLSTM; the scan needs a linear recurrence."""
    if arch in MINIMAL_ARCHS:
        return (
            f"implementation '{impl}' has no {arch}: torch.nn ships no minGRU/minLSTM module or cell "
            f"(use scan, scratch, compiled or numpy)"
        )
    return (
        f"implementation '{impl}' computes only {', '.join(archs)}: {arch}'s gates read h_(t-1), so its "
        "recurrence is not linear and has no parallel scan"
    )


_ALL_DTYPES = ("float32", "bfloat16", "float16")
_TORCH_DEVICES = ("cpu", "cuda")

IMPLEMENTATIONS: Registry[Implementation] = Registry("implementation")
for _impl in (
    Implementation(
        "native",
        "torch.nn.LSTM/GRU/RNN as shipped (cuDNN on CUDA, oneDNN for eligible CPU LSTMs, ATen otherwise)",
        MODES,
        _TORCH_DEVICES,
        _ALL_DTYPES,
        "packed sequence",
        "detected",
    ),
    Implementation(
        "aten",
        "the same torch.nn module with cuDNN and oneDNN switched off: PyTorch's own kernels",
        MODES,
        _TORCH_DEVICES,
        _ALL_DTYPES,
        "packed sequence",
        "aten",
    ),
    Implementation(
        "cell",
        "a Python time loop over nn.LSTMCell / nn.GRUCell / nn.RNNCell",
        MODES,
        _TORCH_DEVICES,
        _ALL_DTYPES,
        "masking by length",
        "python",
    ),
    Implementation(
        "scratch",
        "gates written out with tensor ops in a Python time loop; input projection for all steps hoisted into "
        "one GEMM (for minGRU/minLSTM: the sequential reference)",
        MODES,
        _TORCH_DEVICES,
        _ALL_DTYPES,
        "masking by length",
        "python",
    ),
    Implementation(
        "scan",
        "minGRU/minLSTM's parallel scan: chunks of 32 steps advance together in log space, then a prefix scan "
        "joins them (depth 32 + log2(T/32), not T)",
        MODES,
        _TORCH_DEVICES,
        _ALL_DTYPES,
        "masking by length",
        "scan",
    ),
    Implementation(
        "compiled",
        "torch.compile of the hand-written form: scratch's per-step cell for LSTM/GRU/RNN, on CPUs not faster "
        "than scratch (a ~15-20 us call overhead per step); the whole scan for minGRU/minLSTM",
        MODES,
        _TORCH_DEVICES,
        _ALL_DTYPES,
        "masking by length",
        "compiled",
    ),
    Implementation(
        "numpy",
        "a NumPy float64 forward pass: the oracle the others are checked against",
        ("inference",),
        ("cpu",),
        ("float32",),
        "masking by length",
        "numpy",
    ),
):
    IMPLEMENTATIONS.register(_impl.name, replace(_impl, archs=IMPL_ARCHS[_impl.name]))
