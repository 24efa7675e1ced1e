"""Process rounds: compare two sets of result folders per case — ``compare`` and ``ab --method rounds``.

Each side is one or more run folders read through the one loader; a case's observation is one throughput
(``tokens_per_s``, bigger is better) per round ``(run_id, round)`` (:func:`round_throughputs`, also
``history``'s building block). Cases are matched by ``case_id`` and thread count (``gate.cases``), checked for
statuses and fingerprints, and the comparable ones decided together (``gate.verdict.settle``, Holm over them)
on :class:`~rnnbench.gate.evidence.RoundEvidence`. The tests assume exchangeable rounds (all measured side by
side in one job, as ``ab`` does); folders from different jobs or machines differ by more than their rounds
show, which no test over rounds covers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnbench.core.values import int_or_none, truthy
from rnnbench.gate.cases import (
    CaseKey,
    case_labels,
    case_name,
    match_threads,
    sorted_threads,
    status_verdict,
)
from rnnbench.gate.evidence import RoundEvidence
from rnnbench.gate.fingerprint import row_differences
from rnnbench.gate.results import PENDING, CaseComparison, Comparison
from rnnbench.gate.settings import METRIC, GateSettings
from rnnbench.gate.verdict import settle

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Side:
    """The summary rows of one side (one or more run folders) and each run's fingerprint keys per device."""

    rows: pd.DataFrame
    keys: dict[str, dict[str, dict[str, Any]]]
    sources: list[str]

    @property
    def rounds(self) -> int:
        """Distinct replication units ``(run_id, round)``."""
        if self.rows.empty:
            return 0
        return int(self.rows[["run_id", "round"]].drop_duplicates().shape[0])


def load_side(paths: Sequence[Path | str]) -> Side:
    """Read every ``summary.csv`` under ``paths`` (through the one loader) and the ``fingerprint_keys`` of each
    run's metadata, keyed by every run id found in that folder's rows and the folder's own run id."""
    from rnnbench.results.loader import load

    results = load(paths, ("summary",))
    rows = results.frames["summary"]
    keys: dict[str, dict[str, dict[str, Any]]] = {}
    for table in results.files["summary"]:
        info = results.run_of(table)
        if info is None or info.fingerprint_keys is None:
            continue
        run_ids = {str(r) for r in rows.loc[rows["source_file"] == str(table), "run_id"].dropna().unique()}
        run_ids.add(info.run_id)
        for run_id in run_ids:
            keys[run_id] = {device: dict(v) for device, v in info.fingerprint_keys.items()}
    return Side(rows=rows, keys=keys, sources=[str(p) for p in paths])


def compare_paths(
    base: Sequence[Path | str],
    head: Sequence[Path | str],
    settings: GateSettings | None = None,
    only: Collection[CaseKey] | None = None,
) -> Comparison:
    """Load both sides and compare them (see :func:`compare_sides`). Base and head naming the same folders is
    said first in the notes: every round is then compared with itself, which is no A/A test of anything."""
    comp = compare_sides(load_side(base), load_side(head), settings or GateSettings(), only)
    same = {Path(p).resolve() for p in base} == {Path(p).resolve() for p in head}
    if same:
        comp.notes.insert(
            0,
            "base and head are the same folder(s): every round is compared with itself, so this says nothing "
            "about a change (for the noise of this machine, run 'rnnbench calibrate').",
        )
    return comp


def compare_sides(
    base: Side, head: Side, settings: GateSettings, only: Collection[CaseKey] | None = None
) -> Comparison:
    """Per case: match base and head rows, check fingerprints and statuses; then decide every comparable case
    together (:func:`rnnbench.gate.verdict.settle`), so that α holds for the run.

    ``only`` restricts the comparison (and so the family) to those cases: ``ab`` re-tests just the
    regressions it confirms, at α over them.
    """
    base_groups = _group(base.rows)
    head_groups = _group(head.rows)
    cases: list[CaseComparison] = []
    notes: list[str] = []
    for case_id in sorted(set(base_groups) | set(head_groups)):
        b_threads = base_groups.get(case_id, {})
        h_threads = head_groups.get(case_id, {})
        for b_t, h_t in match_threads(sorted_threads(b_threads), sorted_threads(h_threads)):
            if only is not None and (case_id, b_t, h_t) not in only:
                continue
            b_rows = b_threads.get(b_t) if b_t is not None else None
            h_rows = h_threads.get(h_t) if h_t is not None else None
            cases.append(_compare_case(case_id, b_t, h_t, b_rows, h_rows, base, head, settings))
    evidence = [RoundEvidence.of(c.base_values, c.head_values, settings) for c in cases if c.verdict == PENDING]
    cases, family = settle(cases, evidence, settings)
    if any(c.verdict == "not_comparable" and c.reason.startswith("fingerprint") for c in cases):
        notes.append(
            "Some cases are not comparable because the environments differ; if that difference is what you "
            "want to measure (a torch upgrade, a thread count), pass --allow-diff KEY."
        )
    if (base.rounds and base.rounds < settings.min_rounds) or (
        head.rounds and head.rounds < settings.min_rounds
    ):
        notes.append(
            f"{base.rounds}+{head.rounds} rounds: a verdict needs ≥ {settings.min_rounds} rounds per side; "
            "every case will be inconclusive."
        )
    elif family > 1 and min(base.rounds, head.rounds) < settings.min_rounds_for(family):
        notes.append(
            f"α={settings.alpha:g} is the false-alarm probability of the whole run, shared among {family} "
            f"cases (Holm): an exact one-sided test needs ≥ {settings.min_rounds_for(family)} rounds per side "
            f"to reach α/{family}; with {base.rounds}+{head.rounds} rounds no regression or improvement can be "
            "called — only no change or inconclusive."
        )
    busy = {label: _busy_rounds(side.rows) for label, side in (("base", base), ("head", head))}
    if any(busy.values()):
        notes.append(
            f"'run' flagged rounds measured on a busy machine (base {busy['base']} of {base.rounds}, head "
            f"{busy['head']} of {head.rounds}); other processes inflate times, often by far (OpenMP threads "
            "spin when oversubscribed). Rerun on a quieter machine or with --threads 1."
        )
    comp = Comparison(
        cases=cases,
        settings=settings,
        base_sources=base.sources,
        head_sources=head.sources,
        base_rounds=base.rounds,
        head_rounds=head.rounds,
        notes=notes,
        family=family,
    )
    honest = comp.honest_min_effect
    if math.isfinite(honest):
        comp.notes.append(
            f"Process rounds: these data can decide only effects beyond {honest:.1%} (the farthest a ratio "
            "interval reaches from 1 — the honest min effect they support); folders from different jobs also "
            "differ by between-job drift no test over rounds sees. 'rnnbench ab' measures both sides paired in "
            "one job and decides effects of a few percent."
        )
    return comp


def _busy_rounds(rows: pd.DataFrame) -> int:
    """Rounds ``(run_id, round)`` with at least one case that ``run`` flagged as measured while busy."""
    if rows.empty or "busy" not in rows.columns:
        return 0
    flagged = rows[rows["busy"].map(truthy)]
    return int(flagged[["run_id", "round"]].drop_duplicates().shape[0])


def _group(rows: pd.DataFrame) -> dict[str, dict[int | None, pd.DataFrame]]:
    out: dict[str, dict[int | None, pd.DataFrame]] = defaultdict(dict)
    if rows.empty:
        return out
    threads = rows["threads"].map(int_or_none)
    for (case_id, t), group in rows.assign(_threads=threads).groupby(
        [rows["case_id"].astype(str), "_threads"], dropna=False, sort=True
    ):
        out[str(case_id)][int_or_none(t)] = group
    return out


def _compare_case(
    case_id: str,
    b_t: int | None,
    h_t: int | None,
    b_rows: pd.DataFrame | None,
    h_rows: pd.DataFrame | None,
    base: Side,
    head: Side,
    settings: GateSettings,
) -> CaseComparison:
    some = h_rows if h_rows is not None else b_rows
    assert some is not None
    labels = case_labels(some)
    name = case_name(labels, h_t if h_t is not None else b_t)
    b_vals = _round_values(b_rows)
    h_vals = _round_values(h_rows)

    def result(verdict: str, reason: str, **extra: Any) -> CaseComparison:
        return CaseComparison(
            name=name,
            case_id=case_id,
            labels=labels,
            base_threads=b_t,
            head_threads=h_t,
            base_values=b_vals,
            head_values=h_vals,
            verdict=verdict,
            reason=reason,
            **extra,
        )

    early = status_verdict(
        _statuses(b_rows) if b_rows is not None else None, _statuses(h_rows) if h_rows is not None else None
    )
    if early is not None:
        return result(*early)
    assert b_rows is not None and h_rows is not None
    b_status, h_status = _statuses(b_rows), _statuses(h_rows)
    if not b_vals or not h_vals:
        side, statuses = ("base", b_status) if not b_vals else ("head", h_status)
        what = ", ".join(sorted(statuses)) or "no rows"
        if "ok" in statuses:
            what += f", but no positive finite {METRIC} in its ok rows"
        return result("error", f"{side} has no usable round ({what})")
    diffs = row_differences(base.keys, b_rows, head.keys, h_rows, settings.allow_diff)
    if diffs:
        return result("not_comparable", "fingerprint differs: " + "; ".join(diffs))
    return result(PENDING, "")  # decided with the whole family in compare_sides


def _round_values(rows: pd.DataFrame | None) -> tuple[float, ...]:
    if rows is None or rows.empty:
        return ()
    return tuple(float(v) for v in round_throughputs(rows).to_numpy())


def throughput_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a round's throughput comes from: status ``ok`` and a positive, finite ``tokens_per_s``."""
    import pandas as pd

    values = pd.to_numeric(rows[METRIC], errors="coerce")
    usable = (rows["status"].astype(str).str.lower() == "ok") & np.isfinite(values) & (values > 0)
    return rows[usable]


def round_throughputs(rows: pd.DataFrame) -> pd.Series:
    """The gate's observation and ``history``'s building block: one throughput per replication unit
    ``(run_id, round)`` among :func:`throughput_rows` (the median if a round was written twice), indexed by
    ``run_id`` (as text) and ``round``, sorted. Rows without a round are left out."""
    import pandas as pd

    ok = throughput_rows(rows)
    values = pd.to_numeric(ok[METRIC], errors="coerce")
    return values.groupby([ok["run_id"].astype(str), ok["round"]], sort=True).median()


def _statuses(rows: pd.DataFrame) -> dict[str, str]:
    """Status → first message, over all rounds."""
    out: dict[str, str] = {}
    for status, message in zip(rows["status"], rows["message"], strict=True):
        key = str(status).lower() if isinstance(status, str) and status else "missing"  # the loader's blank: ""
        if key not in out:
            out[key] = message if isinstance(message, str) else ""
    return out
