"""The one shape label: how a case's shape is written for people — ``T=64 B=16 I=128 H=128 L=2 bidir``.

Every table row, figure title, progress line and verdict builds its label here, from one tag table and one
set of rules (a field at its default is left out, so labels stay short). ``case_name`` in the regression gate
is the one deliberate variant: its strings key github-action-benchmark's series, so it spells every field
and must never change (``stable=True``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from rnnbench.core.values import truthy

SHAPE_TAGS: dict[str, str] = {
    "seq_len": "T", "batch_size": "B", "input_size": "I", "hidden_size": "H", "num_layers": "L",
    "bidirectional": "bidir", "batch_first": "batch-first", "length_spread": "spread", "workload": "workload",
    "threads": "threads",
}  # fmt: skip
"""Shape column → its tag in labels (and in table headers that list one column per varying field)."""

_STABLE_FLAGS = {"bidirectional": "bidirectional", "batch_first": "batch_first"}


def _number(value: Any) -> str:
    """``64`` for whole numbers, ``0.5`` otherwise; the text itself when it is not a number."""
    if value is None:
        return "?"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(f):
        return "?"
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _present(row: Mapping[str, Any], key: str) -> bool:
    value = row.get(key)
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def shape_tokens(row: Mapping[str, Any], skip: Collection[str] = (), stable: bool = False) -> list[str]:
    """The label's tokens for ``row`` (a ``Case`` as a dict, a result row, a figure's fixed fields).

    Fields missing from ``row`` or named in ``skip`` are left out. T, B, I and H are always written; the rest
    only when they differ from the default (one layer, unidirectional, time-major, full lengths, the plain
    layer workload, torch's thread count). ``stable=True`` is ``case_name``'s spelling: L always, the flags as
    ``bidirectional``/``batch_first``, and threads left to the caller."""
    parts: list[str] = []
    for key in ("seq_len", "batch_size", "input_size", "hidden_size"):
        if key not in skip and (stable or _present(row, key)):
            parts.append(f"{SHAPE_TAGS[key]}={_number(row.get(key, '?'))}")
    if "num_layers" not in skip and (stable or _present(row, "num_layers")):
        layers = _number(row.get("num_layers", "?"))
        if stable or layers != "1":
            parts.append(f"L={layers}")
    for key in ("bidirectional", "batch_first"):
        if key not in skip and truthy(row.get(key, False)):
            parts.append(_STABLE_FLAGS[key] if stable else SHAPE_TAGS[key])
    if "length_spread" not in skip and _present(row, "length_spread"):
        try:
            spread = float(row["length_spread"])
        except (TypeError, ValueError):
            spread = 0.0
        if spread > 0:
            parts.append(f"spread={spread:g}")
    workload = row.get("workload") if "workload" not in skip else None
    if workload and workload != "layer":
        parts.append(str(workload))
    if not stable and "threads" not in skip and _present(row, "threads"):
        threads = row["threads"]
        try:
            if float(threads) > 0:
                parts.append(f"threads={_number(threads)}")
        except (TypeError, ValueError):
            pass
    return parts


def shape_label(row: Mapping[str, Any], skip: Collection[str] = ()) -> str:
    """``T=64 B=16 I=128 H=128`` plus only the fields that differ from their defaults."""
    return " ".join(shape_tokens(row, skip))


def field_of_token(token: str) -> str:
    """The shape column a label token such as ``B=16`` or ``bidir`` came from (``workload`` otherwise)."""
    tag = token.split("=")[0]
    for key, name in SHAPE_TAGS.items():
        if name == tag:
            return key
    return "workload"
