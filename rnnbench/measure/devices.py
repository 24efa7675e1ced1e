"""Which devices exist here, and turning ``cpu`` / ``cuda`` / ``cuda:N`` / ``auto`` into a concrete one."""

from __future__ import annotations

import re

from rnnbench.errors import ConfigError, DeviceUnavailableError

_DEVICE_RE = re.compile(r"^(cpu|cuda|auto)(?::(\d+))?$")
LIST_HINT = "Run 'rnnbench list' to see the devices usable here."


def parse_device(spec: str) -> tuple[str, int | None]:
    """Syntax only (no torch): ``("cuda", 1)`` for ``cuda:1``; raises ``ConfigError`` for anything else."""
    match = _DEVICE_RE.match(spec.strip().lower())
    if not match or (match.group(1) != "cuda" and match.group(2) is not None):
        raise ConfigError(f"Unknown device '{spec}'. Use cpu, cuda, cuda:N or auto. {LIST_HINT}")
    return match.group(1), (int(match.group(2)) if match.group(2) is not None else None)


def device_type(spec: str) -> str:
    """``cpu`` or ``cuda`` for a resolved device string."""
    return parse_device(spec)[0]


def available_devices() -> list[str]:
    """``cpu`` plus ``cuda:N`` for every visible GPU."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def cuda_unavailable_reason() -> str | None:
    """Why CUDA cannot be used here, or ``None``."""
    import torch

    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) was built without CUDA"
    if not torch.cuda.is_available():
        return "no NVIDIA GPU or driver is visible to torch"
    return None


def resolve_device(spec: str) -> str:
    """A device that exists here: ``auto`` → ``cuda`` if present else ``cpu``; ``cuda`` → ``cuda:0``.

    Raises ``DeviceUnavailableError`` (with the reason and how to list devices) for an absent device.
    """
    kind, index = parse_device(spec)
    if kind == "cpu":
        return "cpu"
    reason = cuda_unavailable_reason()
    if kind == "auto":
        return "cpu" if reason else "cuda:0"
    if reason:
        raise DeviceUnavailableError(f"Device '{spec}' is not available: {reason}. {LIST_HINT}")
    import torch

    index = 0 if index is None else index
    if index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"Device '{spec}' is not available: only {torch.cuda.device_count()} GPU(s) visible. {LIST_HINT}"
        )
    return f"cuda:{index}"
