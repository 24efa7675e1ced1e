"""Small value helpers shared by every layer (stdlib only)."""

from __future__ import annotations

import math
from typing import Any


def is_finite(value: Any) -> bool:
    """True for a real, finite number (pandas gives NaN for empty cells)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def int_text(value: Any) -> str:
    """A count for display: ``17473``; an em dash for anything that is not a finite number."""
    try:
        return str(int(value)) if math.isfinite(float(value)) else "—"
    except (TypeError, ValueError):
        return "—"
