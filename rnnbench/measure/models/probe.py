"""Ask the installed torch what it can run, instead of a static table.

Half-precision support of the recurrent kernels changes between torch releases: ``_thnn_fused_*_cell_cuda``
has no BFloat16 kernel in torch 2.2, ``cudnn_is_acceptable`` rejects bfloat16 in many releases (``native`` then
runs ATen), CPU kernels gain dtypes release by release. A static table is wrong for someone; a probe is right
for the torch at hand. The probe runs a tiny instance (T=3, B=2, I=H=4) of the implementation on the device in
the dtype — forward, and backward when the mode needs it — once per process per combination (cached), and turns
"no kernel for this dtype" into an ``unsupported`` reason. Any other failure is left to the real case, which
then records an ``error`` row with its own message: a probe must never hide a bug.
"""

from __future__ import annotations

import functools
import re

_NO_KERNEL = re.compile(
    r"not implemented for '(BFloat16|Half)'|no kernel image|does not support (bfloat16|half|bf16|fp16)"
    r"|unsupported (dtype|scalar type)|expected scalar type",
    re.IGNORECASE,
)
"""How torch says "this op has no kernel for this dtype" (ATen dispatch, cuDNN, CUDA arch)."""


def is_missing_kernel(exc: BaseException) -> bool:
    """True when ``exc`` is torch reporting a missing dtype kernel (not a bug, not out of memory)."""
    return isinstance(exc, (RuntimeError, NotImplementedError, TypeError)) and bool(_NO_KERNEL.search(str(exc)))


@functools.cache
def dtype_unsupported_reason(impl: str, arch: str, mode: str, device: str, dtype: str) -> str | None:
    """Why ``impl`` cannot run ``arch`` in ``dtype`` on ``device`` with the installed torch, or ``None``.

    float32 is never probed (every implementation supports it by construction); ``compiled`` is not probed
    either (a probe would cost a compilation — its failures surface on the case itself).
    """
    if dtype == "float32" or impl in ("numpy", "compiled"):
        return None
    import torch

    from rnnbench.core.spec import ModelConfig
    from rnnbench.measure.models.build import build_model

    config = ModelConfig(arch, 4, 4)
    torch_dtype = getattr(torch, dtype)
    try:
        model = build_model(config, impl).to(device=device, dtype=torch_dtype)
        x = torch.randn(3, 2, 4, device=device, dtype=torch_dtype)
        if mode == "inference":
            with torch.inference_mode():
                model(x)
        else:
            out, _ = model(x)
            if mode != "forward":
                out.float().sum().backward()
    except Exception as exc:
        if is_missing_kernel(exc):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = f"'{impl}' {arch} {mode} on {device}"
            return f"torch {torch.__version__} has no {dtype} kernel for {where}: {first}"
        return None
    return None
