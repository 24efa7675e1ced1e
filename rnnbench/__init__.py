"""rnnbench: LSTM vs GRU vs RNN speed, memory and learning, measured so the numbers can be trusted.

The Python API (``rnnbench.api``; docs/api.md): ``run``, ``ratios``, ``load``, ``train``, ``compare`` and
``report``. They are imported on first use, so ``import rnnbench`` stays cheap (no torch, NumPy or pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "compare", "load", "ratios", "report", "run", "train"]

if TYPE_CHECKING:
    from rnnbench.api import compare, load, ratios, report, run, train

_API = frozenset({"compare", "load", "ratios", "report", "run", "train"})


def __getattr__(name: str) -> Any:
    if name in _API:
        from rnnbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnnbench' has no attribute {name!r}")
