"""Environment capture: the versions, hardware and settings a result depends on, and a fingerprint of them.

``capture()`` imports torch (lazily, inside the function) — it is what ``metadata.json`` records;
``fingerprint()`` hashes only the *hard* keys, the ones that make two runs not comparable.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux) or ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (affinity and cgroup-aware where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _onednn_version(config: str) -> str | None:
    match = re.search(r"(?:oneDNN|MKL-DNN)[^\n]*?v(\d+\.\d+(?:\.\d+)?)", config)
    return match.group(1) if match else None


def _blas(config: str) -> str | None:
    match = re.search(r"BLAS_INFO=([^,\s]+)", config)
    blas = match.group(1) if match else None
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", config)
    if blas == "mkl" and mkl:
        return f"mkl {mkl.group(1)}"
    return blas


NVIDIA_VERSION_FILE = "/proc/driver/nvidia/version"
"""The kernel module's version (Linux): ``NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.03 …``."""


def gpu_driver_version() -> str | None:
    """The NVIDIA driver's version (``580.159.03``), or None where there is none.

    Results depend on it (cuDNN and cuBLAS pick kernels by what the driver offers), so it is a hard fingerprint
    key. Read from the kernel module's version file, else from NVML (``nvidia-ml-py``, which ``nvidia-smi``
    uses: some sandboxes have no ``/proc/driver``), else the CUDA version the driver supports, labelled as such
    (``CUDA driver API 13.0``) — never left blank when a GPU is visible and something can tell."""
    try:
        with open(NVIDIA_VERSION_FILE, encoding="utf-8") as fh:
            match = re.search(r"Kernel Module\s+(?:for \S+\s+)?(\d+(?:\.\d+)+)", fh.read())
        if match:
            return match.group(1)
    except OSError:
        pass
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # not installed, or NVML cannot talk to this driver
        pass
    try:
        import torch

        api = int(getattr(torch._C, "_cuda_getDriverVersion")())  # noqa: B009  e.g. 13000; 0 without a driver
    except Exception:
        return None
    return f"CUDA driver API {api // 1000}.{api % 1000 // 10}" if api > 0 else None


def capture() -> dict[str, Any]:
    """Everything ``rnnbench env`` shows and ``metadata.json`` records."""
    import torch

    config = torch.__config__.show()
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            gpus.append(
                {
                    "index": i,
                    "name": props.name,
                    "memory_bytes": int(props.total_memory),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "onednn": _onednn_version(config),
        "mkldnn_enabled": bool(torch.backends.mkldnn.is_available()),
        "blas": _blas(config),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "intra_op_threads": torch.get_num_threads(),
        "inter_op_threads": torch.get_num_interop_threads(),
        "gpus": gpus,
        "gpu_driver": gpu_driver_version() if gpus else None,
        "numeric_flags": numeric_flags(),
        "executable": sys.executable,
    }


def numeric_flags() -> dict[str, Any]:
    """Settings that change which kernels run or their precision (TF32, deterministic, matmul precision)."""
    import torch

    from rnnbench.measure.numerics import tf32_flags

    return {
        "matmul_precision": torch.get_float32_matmul_precision(),
        **tf32_flags(),  # read through the API they were set with (mixing old and new raises on torch ≥ 2.9)
        "deterministic": bool(torch.are_deterministic_algorithms_enabled()),
    }


def fingerprint_keys(env: dict[str, Any], device: str, threads: int) -> dict[str, Any]:
    """The hard keys for one device of a captured environment (``driver``: the NVIDIA driver on a CUDA device,
    None elsewhere; ``schema.HARD_KEYS`` names them all)."""
    cuda = device.startswith("cuda") and bool(env.get("gpus"))
    if cuda:
        index = int(device.split(":")[1]) if ":" in device else 0
        model = env["gpus"][min(index, len(env["gpus"]) - 1)]["name"]
    else:
        model = env.get("cpu_model")
    return {
        "torch": env.get("torch"),
        "cuda": env.get("cuda"),
        "cudnn": env.get("cudnn"),
        "onednn": env.get("onednn"),
        "device_model": model,
        "threads": threads,
        "numeric_flags": env.get("numeric_flags"),
        "driver": env.get("gpu_driver") if cuda else None,
    }


def fingerprint(keys: dict[str, Any]) -> str:
    """Short stable hash of ``fingerprint_keys`` output."""
    blob = json.dumps(keys, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
