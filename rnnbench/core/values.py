"""Small value helpers shared by every layer: one rule each for "is this a number?", "is this cell true?",
"what time is it?", "make this JSON-friendly" and "what did that child say last?". Stdlib only (NumPy scalars
are recognised, not imported)."""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

TRUE_TEXTS: tuple[str, ...] = ("true", "1", "1.0", "yes")
"""How a true boolean may be spelled in a CSV cell (case-insensitive); everything else, blanks included, is
false. The loader's vectorised column parsing uses the same tuple."""


def is_finite(value: Any) -> bool:
    """True for a real, finite number (pandas gives NaN for empty cells)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def truthy(value: Any) -> bool:
    """Is this cell true? Strings by ``TRUE_TEXTS``; numbers and bools by value, with NaN false."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_TEXTS
    try:
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    except (TypeError, ValueError):
        return False


def int_or_none(value: Any) -> int | None:
    """A whole number, or None for blanks, NaN and text."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else int(f)


def int_text(value: Any) -> str:
    """A count for display: ``17473``; an em dash for anything that is not a finite number."""
    try:
        return str(int(value)) if math.isfinite(float(value)) else "—"
    except (TypeError, ValueError):
        return "—"


def plain(value: Any) -> Any:
    """NumPy scalars → Python values, NaN → None (JSON- and CSV-friendly)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def now_iso() -> str:
    """Local time to the second, ISO 8601: the ``started_at``/``finished_at`` stamp of every file."""
    return _dt.datetime.now().isoformat(timespec="seconds")


def last_lines(text: str, lines: int) -> list[str]:
    """The last ``lines`` non-blank lines of a child's output or log: what an error message quotes when a
    process rnnbench started fails (a round, a worker, a side's preflight)."""
    return [line for line in text.strip().splitlines() if line.strip()][-lines:]


def file_tail(path: Path, lines: int) -> list[str]:
    """:func:`last_lines` of a log file; none when it cannot be read."""
    try:
        return last_lines(path.read_text(errors="replace"), lines)
    except OSError:
        return []


def interval_text(
    estimate: float, low: float, high: float, digits: int = 3, signed: bool = False, sep: str = ", "
) -> str:
    """``0.00500 [0.00104, 0.01000]``: an estimate and its interval at **one precision** — the same number
    of decimals for all three, so a bound never reads rounder than the others (``.3g`` printed
    ``[0.00104, 0.01]``). The decimals give ``digits`` significant digits to the smallest bound in size when
    the interval lies on one side of 0 (a positive quantity keeps its relative precision at the low end), and
    two to the half-width when it straddles 0. ``±∞`` bounds print as ``∞``; no interval (NaN bounds)
    prints the estimate alone; ``signed`` puts ``+`` before positive numbers (differences)."""
    values = [v for v in (estimate, low, high) if math.isfinite(v)]
    if not values:
        return "—" if not math.isinf(estimate) else _infinity(estimate, signed)
    finite_bounds = [v for v in (low, high) if math.isfinite(v)]
    if finite_bounds and (min(finite_bounds) > 0 or max(finite_bounds) < 0):
        reference = min(abs(v) for v in finite_bounds)
        decimals = digits - 1 - math.floor(math.log10(reference))
    elif len(finite_bounds) == 2 and high > low:
        decimals = 1 - math.floor(math.log10((high - low) / 2))
    else:
        reference = max(abs(v) for v in values) or 1.0
        decimals = digits - 1 - math.floor(math.log10(reference))
    decimals = min(max(decimals, 0), 12)

    def one(v: float) -> str:
        if math.isinf(v):
            return _infinity(v, signed)
        return f"{v:{'+' if signed else ''}.{decimals}f}"

    text = one(estimate)
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{one(low)}{sep}{one(high)}]"
    return text


def _infinity(value: float, signed: bool) -> str:
    return ("+∞" if signed else "∞") if value > 0 else "-∞"
