"""Which case is which, on both sides of a comparison: the descriptors a case is shown with, its stable name,
how thread counts are matched across sides, and the verdict a case gets from its statuses alone (before any
statistics). Process rounds (``gate.rounds``) and paired blocks (``ab.coordinator``) both use these, so the two
methods match and name cases the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from rnnbench.core.labels import shape_tokens
from rnnbench.core.values import plain

if TYPE_CHECKING:
    import pandas as pd

    from rnnbench.gate.results import CaseComparison

CASE_FIELDS: tuple[str, ...] = (
    "arch", "impl", "mode", "device", "dtype", "seq_len", "batch_size", "input_size", "hidden_size",
    "num_layers", "bidirectional", "batch_first", "length_spread", "workload",
)  # fmt: skip
"""Descriptors shown for a case (the ``case_id`` hash covers them; ``threads`` is kept apart)."""

FAILED_STATUSES = frozenset({"error", "oom"})
ABSENT_STATUSES = frozenset({"unsupported", "skipped"})

CaseKey = tuple[str, int | None, int | None]
"""``(case_id, base_threads, head_threads)``: one compared case."""

T = TypeVar("T")


def case_key(case: CaseComparison) -> CaseKey:
    return case.case_id, case.base_threads, case.head_threads


def case_labels(rows: pd.DataFrame) -> dict[str, Any]:
    """The :data:`CASE_FIELDS` of a case, from its last row, as plain values with ``None`` for blank cells
    (the loader reads a blank text cell as ``""``; ``case_name`` writes a missing field as ``?``)."""
    labels = {f: plain(rows[f].iloc[-1]) for f in CASE_FIELDS if f in rows.columns}
    return {k: None if isinstance(v, str) and not v else v for k, v in labels.items()}


def case_name(labels: Mapping[str, Any], threads: int | None) -> str:
    """A stable, readable name: ``lstm native inference cpu float32 T=32 B=8 I=64 H=64 L=1 threads=2``.

    It includes the device (two machines or GPUs must not share a series in github-action-benchmark) and only
    the fields that identify the case, never a run id or a timestamp, so the same case keeps its name across
    runs.
    """
    known = {k: v for k, v in labels.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
    parts = [str(known.get(k, "?")) for k in ("arch", "impl", "mode", "device", "dtype")]
    parts += shape_tokens(known, stable=True)
    if threads is not None:
        parts.append(f"threads={threads}")
    return " ".join(parts)


def unique_names(cases: list[CaseComparison]) -> list[CaseComparison]:
    """Append the case id where two cases would share a name (e.g. a field not in the name differs)."""
    seen: dict[str, int] = defaultdict(int)
    for case in cases:
        seen[case.name] += 1
    out = []
    for case in cases:
        if seen[case.name] > 1:
            case = replace(case, name=f"{case.name} [{case.case_id}]")
        out.append(case)
    return out


def sorted_threads(threads: Iterable[int | None]) -> list[int | None]:
    return sorted(threads, key=lambda t: (t is None, t or 0))


def match_threads(base: list[T], head: list[T]) -> list[tuple[T | None, T | None]]:
    """Match the thread counts (or anything keyed by them) one case has on each side: equal values pair up;
    if nothing pairs and each side has exactly one left over, those pair (``--threads 2`` against
    ``--threads 1``: the fingerprint check then decides whether they may be compared); the rest stand
    alone."""
    common = [t for t in base if t in head]
    pairs: list[tuple[T | None, T | None]] = [(t, t) for t in common]
    rest_b = [t for t in base if t not in common]
    rest_h = [t for t in head if t not in common]
    if len(rest_b) == 1 and len(rest_h) == 1 and not common:
        return [(rest_b[0], rest_h[0])]
    pairs += [(t, None) for t in rest_b] + [(None, t) for t in rest_h]
    return pairs


def status_verdict(base: Mapping[str, str] | None, head: Mapping[str, str] | None) -> tuple[str, str] | None:
    """The verdict a case gets from its statuses (status → first message, per side) before any statistics:
    ``not_comparable`` when it exists on one side only or was run on neither (unsupported/skipped), ``error``
    when a side failed (error/oom). ``None``: the statuses allow a comparison."""
    if base is None or head is None:
        return "not_comparable", f"only in {'head' if base is None else 'base'}"
    failed = [
        f"{side}: {status} ({msg})" if msg else f"{side}: {status}"
        for side, statuses in (("base", base), ("head", head))
        for status, msg in statuses.items()
        if status in FAILED_STATUSES
    ]
    if failed:
        return "error", "; ".join(failed)
    if set(base) | set(head) <= ABSENT_STATUSES:
        return "not_comparable", f"not run on either side ({', '.join(sorted(set(base) | set(head)))})"
    return None
