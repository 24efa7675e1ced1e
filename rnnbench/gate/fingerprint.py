"""Whether two sides may be compared at all: the hard fingerprint keys (torch, CUDA, cuDNN, oneDNN, device
model, threads, numeric flags) must agree, unless ``--allow-diff`` excuses a key. One check for process
rounds (keys from each run's ``metadata.json``, per row) and paired workers (keys each worker reports).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rnnbench.core.values import int_or_none
from rnnbench.results.schema import HARD_KEYS

if TYPE_CHECKING:
    import pandas as pd

RunKeys = Mapping[str, Mapping[str, Mapping[str, Any]]]
"""run id → device → that run's fingerprint keys (``metadata.json`` ``fingerprint_keys``)."""


def key_differences(
    base: Mapping[str, set[str]], head: Mapping[str, set[str]], allow: Sequence[str] = ()
) -> list[str]:
    """``key old → new`` for each hard key whose values (JSON texts, one set per side) differ between the
    sides or inside one side, minus the allowed keys."""
    out = []
    for key in HARD_KEYS:
        if key in allow:
            continue
        b_vals, h_vals = base.get(key, set()), head.get(key, set())
        if b_vals != h_vals or len(b_vals) > 1:
            out.append(f"{key} {_show(b_vals)} → {_show(h_vals)}")
    return out


def key_sets(*keys: Mapping[str, Any]) -> dict[str, set[str]]:
    """Each hard key's values over one or more fingerprints, as JSON texts (comparable, hashable)."""
    out: dict[str, set[str]] = defaultdict(set)
    for one in keys:
        for key in HARD_KEYS:
            out[key].add(json.dumps(one.get(key), sort_keys=True, default=str))
    return out


def row_differences(
    base_keys: RunKeys,
    b_rows: pd.DataFrame,
    head_keys: RunKeys,
    h_rows: pd.DataFrame,
    allow: Sequence[str] = (),
) -> list[str]:
    """Process rounds: the differing hard keys of one case's rows on each side.

    The keys come from each run's ``metadata.json`` ``fingerprint_keys`` for the row's device, with ``threads``
    taken from the row (one run may sweep several). Without keys the ``fingerprint`` hashes are compared; a
    differing hash then cannot be excused by ``--allow-diff`` because nothing says which key differs.
    """
    b_keys, b_missing = _row_keys(base_keys, b_rows)
    h_keys, h_missing = _row_keys(head_keys, h_rows)
    if b_missing or h_missing:
        b_hash, h_hash = _hashes(b_rows), _hashes(h_rows)
        if b_hash and h_hash and b_hash != h_hash:
            return [
                f"fingerprint {'/'.join(sorted(b_hash))} ≠ {'/'.join(sorted(h_hash))} and metadata.json has no "
                "fingerprint_keys to tell which key differs"
            ]
        return []
    return key_differences(key_sets(*b_keys), key_sets(*h_keys), allow)


def _row_keys(keys: RunKeys, rows: pd.DataFrame) -> tuple[list[dict[str, Any]], bool]:
    out = []
    missing = False
    for run_id, device, threads in (
        rows[["run_id", "device", "threads"]].drop_duplicates().itertuples(index=False)
    ):
        found = keys.get(str(run_id), {}).get(str(device))
        if found is None:
            missing = True
            continue
        one = {**found}
        if int_or_none(threads) is not None:
            one["threads"] = int_or_none(threads)
        out.append(one)
    return out, missing


def _hashes(rows: pd.DataFrame) -> set[str]:
    if "fingerprint" not in rows.columns:
        return set()
    return {str(v) for v in rows["fingerprint"].dropna().unique() if str(v)}


def _show(values: set[str]) -> str:
    shown = [json.loads(v) for v in sorted(values)]
    text = "/".join(str(v) for v in shown) if shown else "?"
    return text if len(text) <= 60 else text[:57] + "…"
