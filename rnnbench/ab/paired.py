"""A paired measurement (``ab.coordinator.PairedRun``) as the gate's :class:`~rnnbench.gate.results.Comparison`.

Each case keeps the verdict its statuses gave it, or is checked for fingerprints and then decided with the
others: either now (``gate.verdict.settle`` on :class:`~rnnbench.gate.evidence.RestartEvidence`: Holm over the
cases, the gate's one verdict rule with restarts as the replication unit) or by the sequential gate, which
passes the decision each case stopped with (:mod:`rnnbench.ab.sequential`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from rnnbench.ab.coordinator import PairedCase, PairedRun
from rnnbench.core.protocol import fingerprint_slot
from rnnbench.gate.cases import CASE_FIELDS, case_key, case_name, unique_names
from rnnbench.gate.evidence import MIN_RESTARTS, RestartEvidence
from rnnbench.gate.fingerprint import key_differences, key_sets
from rnnbench.gate.results import PENDING, CaseComparison, Comparison
from rnnbench.gate.settings import GateSettings
from rnnbench.gate.verdict import Decision, settle, with_decision


def case_rows(
    run: PairedRun,
    settings: GateSettings,
    condition: float = 0.0,
    only: Collection[str] | None = None,
    base_label: str = "base",
    head_label: str = "head",
) -> list[tuple[str, CaseComparison]]:
    """(pair id, case) for every case of the run (or of ``only``): ``pending`` when it can be decided, else
    the verdict its statuses, a missing measurement or a fingerprint difference give it. ``base_values``/
    ``head_values`` hold each side's per-restart median throughput (for display; verdicts rest on pairs)."""
    rows = []
    for pid, pc in run.cases.items():
        if only is not None and pid not in only:
            continue
        threads = pc.head_threads if pc.head_threads is not None else pc.base_threads
        key = (pid, condition)
        verdict, reason = pc.verdict, pc.reason
        if verdict == PENDING and not run.log_ratios.get(key):
            verdict, reason = "error", "no pair was measured"
        if verdict == PENDING:
            diffs = fingerprint_diffs(pc, run, settings.allow_diff, base_label, head_label)
            if diffs:
                verdict, reason = "not_comparable", "fingerprint differs: " + "; ".join(diffs)
        rows.append(
            (
                pid,
                CaseComparison(
                    name=case_name(pc.labels, threads),
                    case_id=pc.case_id,
                    labels={k: pc.labels.get(k) for k in CASE_FIELDS},
                    base_threads=pc.base_threads,
                    head_threads=pc.head_threads,
                    base_values=tuple(v for v in run.base_tps.get(key, []) if math.isfinite(v)),
                    head_values=tuple(v for v in run.head_tps.get(key, []) if math.isfinite(v)),
                    verdict=verdict,
                    reason=reason,
                ),
            )
        )
    return rows


def paired_comparison(
    run: PairedRun,
    settings: GateSettings,
    condition: float = 0.0,
    only: Collection[str] | None = None,
    base_label: str = "base",
    head_label: str = "head",
    decisions: Mapping[str, Decision] | None = None,
) -> Comparison:
    """Every case of a paired measurement as a comparison. ``condition`` picks the injected slowdown whose
    pairs are judged (0: none); ``only`` restricts the cases (and the family) to those pair ids. Pending
    cases take ``decisions[pid]`` when given (the sequential gate decided them as it went), else they are
    decided together now."""
    rows = case_rows(run, settings, condition, only, base_label, head_label)
    pending = [(pid, c) for pid, c in rows if c.verdict == PENDING]
    family = len(pending)
    if decisions is not None:
        by_pid = {pid: with_decision(c, decisions[pid]) for pid, c in pending if pid in decisions}
        cases = unique_names([by_pid.get(pid, c) for pid, c in rows])
    else:
        evidence = [RestartEvidence.of(run.log_ratios[(pid, condition)]) for pid, _ in pending]
        cases, family = settle([c for _, c in rows], evidence, settings)
    notes = []
    if family > 0 and run.restarts < MIN_RESTARTS:
        notes.append(
            f"{run.restarts} restarts: a paired verdict needs ≥ {MIN_RESTARTS}; every case is inconclusive."
        )
    return Comparison(
        cases=cases,
        settings=settings,
        base_sources=[str(run.folder)] if run.folder else [],
        head_sources=[str(run.folder)] if run.folder else [],
        base_rounds=run.restarts,
        head_rounds=run.restarts,
        notes=notes,
        family=family,
        method="paired",
    )


def fingerprint_diffs(
    pc: PairedCase, run: PairedRun, allow: Sequence[str], base_label: str = "base", head_label: str = "head"
) -> list[str]:
    """Hard keys whose values differ between the two sides' workers for this case's device and threads."""
    device = str(pc.labels.get("device", ""))
    b = run.fingerprint_keys.get(base_label, {}).get(fingerprint_slot(device, pc.base_threads))
    h = run.fingerprint_keys.get(head_label, {}).get(fingerprint_slot(device, pc.head_threads))
    if b is None or h is None:
        return []
    return key_differences(key_sets(b), key_sets(h), allow)


def pair_ids(run: PairedRun, cases: Sequence[CaseComparison]) -> set[str]:
    """The coordinator's pair ids of these compared cases (matched by case id and both thread counts)."""
    wanted = {case_key(c) for c in cases}
    return {pid for pid, pc in run.cases.items() if (pc.case_id, pc.base_threads, pc.head_threads) in wanted}
