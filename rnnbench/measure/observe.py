"""What a case's profiled iteration shows besides its time: the dtype the recurrent stack really computed in,
and the warnings torch gives that change what was measured. The runner and ``ddp-train`` record both in the
case's row (``compute_dtype``, a note in ``message``), so a row never claims a dtype or a measurement it did not
have."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def observing_dtype(network: Any, seen: list[str]) -> Iterator[None]:
    """Append the dtype of ``network``'s output (its first element, for an ``(output, state)`` pair) to
    ``seen`` on every forward pass while the context is open: the dtype that ran, not the one asked for (the
    same observation ``train`` records as ``compute_dtype``). A no-op for ``None``."""
    if network is None:
        yield
        return

    def hook(module: Any, inputs: Any, output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        dtype = getattr(out, "dtype", None)
        if dtype is not None:
            seen.append(str(dtype).removeprefix("torch."))

    handle = network.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


NOTED_WARNINGS: dict[str, str] = {
    r"weights are not part of single contiguous chunk of memory": (
        "cuDNN warned that the RNN weights are not one contiguous chunk: it copies them into one buffer on "
        "every call, and this time includes that copy"
    ),
}
"""Warnings torch gives that change what a case measures (regex → the note its row's ``message`` gets).
``native`` in bfloat16 can meet the first on CUDA when torch cannot flatten the weights for cuDNN."""


@contextlib.contextmanager
def noting_warnings(notes: list[str]) -> Iterator[None]:
    """Collect :data:`NOTED_WARNINGS` raised while open as notes (each once, every occurrence seen: they are
    set to ``always`` so a second case still hears torch's warning); every other warning is shown as it would
    have been without this context — also when the block raises (a case that fails to build)."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            for pattern in NOTED_WARNINGS:
                warnings.filterwarnings("always", message=f".*{pattern}")
            try:
                yield
            finally:
                caught = list(recorded)
    finally:
        for w in caught:
            note = next((n for p, n in NOTED_WARNINGS.items() if re.search(p, str(w.message))), None)
            if note is None:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
            elif note not in notes:
                notes.append(note)
