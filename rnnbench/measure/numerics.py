"""One numeric policy per run: whether float32 work on NVIDIA GPUs may use TF32 tensor cores.

PyTorch's defaults disagree with each other: cuDNN (so ``native`` RNNs) may use TF32, while matmul (so
``aten``, ``cell``, ``scratch``, ``compiled`` and the GEMM the peak is calibrated with) runs IEEE float32. Left
alone, a float32 run compares TF32 cuDNN with IEEE everything else: ``verify`` reports a mismatch on a correct
setup (seen on an H100: 5e-4 against a 2e-5 tolerance), ``native``/``aten`` speed-ups mix in TF32, and
``peak_fraction`` divides TF32 work by an IEEE peak. So rnnbench sets both switches together — off by default
(IEEE, the numbers ``float32`` promises), on with ``--tf32`` — before anything is built or calibrated, and
records the policy.

torch ≥ 2.9 also has a new API (``fp32_precision`` per backend and op) and raises when a legacy read meets
new-API settings that the legacy flags do not match (an RNN precision of ``ieee`` set through the new API while
the legacy cuDNN flag still says TF32). The legacy setters, in contrast, update the new API's state
consistently (``none``, which resolves to IEEE, or ``tf32``) on every torch from 2.2 on, so :func:`set_tf32`
uses them and both kinds of reader — ours, the user's — keep working.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any


def set_tf32(enabled: bool) -> None:
    """Allow (``True``) or forbid (``False``) TF32 for float32 matmuls and cuDNN together.

    Has no effect on CPUs or pre-Ampere GPUs, which have no TF32; harmless to call anywhere.
    """
    import torch

    with warnings.catch_warnings():  # a future torch may deprecate the legacy setters: not the user's concern
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


@contextlib.contextmanager
def tf32_policy(enabled: bool) -> Iterator[None]:
    """:func:`set_tf32` for the duration, the previous flags restored after: for library calls (``verify``)
    that must not change a caller's process-wide settings."""
    before = tf32_flags()
    set_tf32(enabled)
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch

            torch.backends.cuda.matmul.allow_tf32 = before["cuda_matmul_tf32"]
            torch.backends.cudnn.allow_tf32 = before["cudnn_tf32"]


def tf32_flags() -> dict[str, bool]:
    """Whether TF32 is allowed for float32 matmuls and for cuDNN right now.

    Read through the legacy getters (consistent after :func:`set_tf32`); when something else set the new API
    inconsistently, they raise, and the new API's resolved per-op values answer instead (cuDNN: the RNN op).
    """
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {
                "cuda_matmul_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32),
            }
    except RuntimeError:  # torch ≥ 2.9, legacy and new API mixed by someone else
        b: Any = torch.backends  # the new API's attributes are not in every torch's stubs
        matmul = _resolve(b.cuda.matmul.fp32_precision, b.fp32_precision)
        rnn = _resolve(b.cudnn.rnn.fp32_precision, b.cudnn.fp32_precision, b.fp32_precision)
        return {"cuda_matmul_tf32": matmul == "tf32", "cudnn_tf32": rnn == "tf32"}


def _resolve(*levels: str) -> str:
    """The new API's inheritance: the first setting other than ``none``, from the op up; ``none`` is IEEE."""
    return next((level for level in levels if level != "none"), "ieee")


def policy_name(enabled: bool) -> str:
    """``tf32`` or ``ieee``: the float32 math a run asked for, as rows and fingerprints record it."""
    return "tf32" if enabled else "ieee"


def math_name(dtype: str, tf32: bool) -> str:
    """What a row's ``math`` column says: the float32 policy (:func:`policy_name`) on float32 rows; on a
    float16 or bfloat16 row the dtype itself, since the TF32 policy changes nothing there and ``ieee`` would
    claim IEEE float32 for half-precision work."""
    return policy_name(tf32) if dtype == "float32" else dtype


def verify_tolerance(dtype: str, tf32: bool, device_type: str) -> float:
    """Relative tolerance ``verify`` accepts against float64-free references.

    IEEE float32 agrees to ~1e-6 and is held to 2e-5. TF32 keeps a 10-bit mantissa (like float16) for the
    products, so a TF32 run is held to float16's tolerance — only on CUDA, where TF32 exists.
    """
    base = {"float32": 2e-5, "bfloat16": 5e-2, "float16": 1e-2}[dtype]
    if dtype == "float32" and tf32 and device_type == "cuda":
        return 1e-2
    return base
