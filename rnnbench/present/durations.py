"""How a duration reads, in one place: a clock for progress lines (``0:04:05``) and a rounded figure for
estimates and totals (``12 min``). Stdlib only, so every command can import it at start-up (``--help`` stays
fast); per-iteration times with three significant digits are ``formatting.fmt_seconds``."""

from __future__ import annotations


def fmt_clock(seconds: float) -> str:
    """``0:04:05``: elapsed times and ETAs in progress lines."""
    total = max(0, round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def fmt_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``, ``2 d 3 h``: an estimate's or a long job's precision, no more."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
