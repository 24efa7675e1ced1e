"""The paired A/B's coordinator: persistent workers per side, alternating timed blocks, restarts.

Each side runs its own worker (its interpreter or command, as for process rounds) speaking the JSON-lines
protocol of :mod:`rnnbench.core.protocol` over pipes (:mod:`rnnbench.ab.channel`). After both have built and
warmed the grid, the coordinator asks for one block at a time — A B, then B A, alternately — so exactly one
side runs while the other sleeps in a blocking pipe read. Each pair of adjacent blocks gives one log-ratio;
a *restart* (a fresh pair of workers) repeats everything, because the process itself is a source of
variation (:mod:`rnnbench.stats.restarts` has the model).

Faults end the whole measurement with one line and exit 6 (:class:`BenchmarkFailedError`): a worker that
dies (``kill -9``), answers nonsense, or does not answer within its timeout (hung); both workers are then
ended — their whole process group, so a side command's children go too — and the pairs measured so far stay
in ``pairs.csv``. A case failing on one side only is *not* fatal: that case becomes an ``error`` verdict
(exit 6 at the end) and the others are measured. Ctrl-C ends both workers and propagates.

Version skew: a side whose rnnbench predates the protocol (its worker exits or answers without a protocol
version) or speaks another version raises :class:`ProtocolUnavailable` at the first hello, before anything is
measured — ``ab``/``calibrate`` then fall back to process rounds for *both* sides and say so; nothing is
mixed.

Workers are made by an injectable :data:`~rnnbench.ab.channel.WorkerFactory`, so the protocol and the
orchestration are tested with in-process fake workers and a simulated clock (``tests/phase_sim.py``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.ab.channel import Channel, ProtocolUnavailable, WorkerFactory, WorkerFailed, process_factory
from rnnbench.ab.sides import PairedSide
from rnnbench.core import protocol
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import ConfigError
from rnnbench.gate.cases import match_threads, status_verdict
from rnnbench.gate.results import PENDING
from rnnbench.gate.settings import PairedSettings

MIN_BLOCK_S, MAX_BLOCK_S = 0.005, 0.2
DEFAULT_BLOCK_S = 0.05
"""The block length of a fixed design, and of the sequential gate when its pilot cannot choose."""
SETTLE_MAX_S = 0.2
"""The longest the coordinator waits after a block for the worker's threads to stop running (OpenMP threads
spin after a parallel region) before it starts the other side's block."""


# ---- what a paired measurement produces ----------------------------------------------------------------
@dataclass
class PairedCase:
    """One case as both sides built it: worker keys, descriptors, and whether it can still be measured; its
    pairs are in ``PairedRun.log_ratios``."""

    case_id: str
    base_key: str | None
    head_key: str | None
    labels: dict[str, Any]
    base_threads: int | None
    head_threads: int | None
    tokens_per_iter: float = math.nan
    verdict: str = PENDING
    """``pending`` while it can be measured; else the verdict its statuses gave it
    (``gate.cases.status_verdict``) or ``error`` when a block failed on one side."""
    reason: str = ""

    @property
    def pair_id(self) -> str:
        return protocol.pair_id(self.base_key, self.head_key)


@dataclass(frozen=True)
class RestartPlan:
    """What one restart measures: which cases (pair id → conditions; ``None``: every case still pending, every
    condition), how many pairs per case and condition (even: each side opens half of them), and the block
    lengths, cycled pair by pair (the pilot restart tries several; the restarts that count use one)."""

    cases: Mapping[str, Sequence[float]] | None = None
    pairs: Mapping[str, int] | int = 4
    blocks: Sequence[float] = (0.05,)
    conditions: Sequence[float] | None = None
    """With ``cases=None``: the conditions to measure (default: the session's)."""
    default_pairs: int = 4
    """Pairs of a case ``pairs`` does not name."""

    def pairs_of(self, pid: str) -> int:
        return self.pairs if isinstance(self.pairs, int) else int(self.pairs.get(pid, self.default_pairs))


@dataclass
class PairedRun:
    """Everything one phase measured: cases, pair log-ratios and per-side throughputs by (pair id, condition)
    and restart, what the pairs cost, and how busy the idle side was."""

    phase: str = "first"
    cases: dict[str, PairedCase] = field(default_factory=dict)
    log_ratios: dict[tuple[str, float], list[list[float]]] = field(default_factory=dict)
    """(pair id, condition) → one list of pair log-ratios log(head/base throughput) per restart that measured
    it."""
    base_tps: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    head_tps: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    """(pair id, condition) → per restart, the median throughput (tokens/s) of that side's blocks."""
    by_block: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    """(pair id, block length) → the log-ratios of condition-0 pairs measured at that length (the pilot's
    evidence for choosing a length)."""
    pair_seconds: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    """(pair id, block length) → wall seconds one pair took, blocks and overheads."""
    restart_costs: list[float] = field(default_factory=list)
    """Per restart: seconds from its start to its first timed block (spawning, building, warming)."""
    restart_seconds: list[float] = field(default_factory=list)
    spawned_first: list[str] = field(default_factory=list)
    """Per restart: the side spawned, greeted and built first (drawn at random)."""
    idle_cpu: list[float] = field(default_factory=list)
    """Per block: CPU seconds the *idle* worker used during the other's block, over the block's wall time."""
    restarts: int = 0
    seconds: float = 0.0
    fingerprint_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Side label → its fingerprint keys per ``device@threads``."""
    folder: Path | None = None

    def restarts_of(self, pid: str, condition: float = 0.0) -> list[list[float]]:
        return self.log_ratios.get((pid, condition), [])


# ---- the coordinator --------------------------------------------------------------------------------------
PAIR_COLUMNS = (
    "phase",
    "restart",
    "case_id",
    "base_key",
    "head_key",
    "condition",
    "pair",
    "first",
    "block_s",
    "base_s",
    "base_iters",
    "head_s",
    "head_iters",
    "log_ratio",
    "idle_cpu",
)
RESTART_COLUMNS = ("phase", "restart", "spawned_first", "cases", "setup_s", "seconds")


class PairedSession:
    """Both sides' commands, where their data go and how restarts are drawn: :meth:`restart` runs one fresh
    pair of workers through a :class:`RestartPlan`. Randomised, from ``seed``, per phase and restart: which
    side is spawned and built first, the order of the cases, and which side opens each pair (half each)."""

    def __init__(
        self,
        base: PairedSide,
        head: PairedSide,
        output: Path,
        settings: PairedSettings,
        conditions: Sequence[float] = (0.0,),
        *,
        factory: WorkerFactory = process_factory,
        clock: Callable[[], float] = time.perf_counter,
        seed: int = 0,
    ) -> None:
        self.base, self.head = base, head
        self.output = output
        self.settings = settings
        self.conditions = tuple(conditions)
        self.factory = factory
        self.clock = clock
        self.seed = seed
        self.greeted = False

    def new_run(self, phase: str) -> PairedRun:
        """An empty phase with its own ``pairs.csv`` (refused if one is there: a new --output per run)."""
        folder = self.output / phase
        folder.mkdir(parents=True, exist_ok=True)
        pairs_path = folder / "pairs.csv"
        if pairs_path.exists():
            raise ConfigError(f"{pairs_path} exists already; pass a new --output folder for this comparison.")
        with pairs_path.open("w", newline="") as fh:
            csv.writer(fh).writerow(PAIR_COLUMNS)
        with (folder / "restarts.csv").open("w", newline="") as fh:
            csv.writer(fh).writerow(RESTART_COLUMNS)
        return PairedRun(phase=phase, folder=folder)

    def restart(self, run: PairedRun, plan: RestartPlan) -> None:
        """One restart of ``run``'s phase (fresh workers, build, then ``plan``'s pairs); appends its pairs to
        ``pairs.csv`` case by case. Raises :class:`ProtocolUnavailable` at the very first hello of the
        session (fall back) and :class:`WorkerFailed` when a worker dies, hangs or breaks the protocol."""
        assert run.folder is not None
        r = run.restarts
        rng = random.Random(f"{self.seed}:{run.phase}:{r}")
        t0 = self.clock()
        spawned_first = _one_restart(self, run, plan, r, rng, t0)
        seconds = self.clock() - t0
        run.restart_seconds.append(seconds)
        run.spawned_first.append(spawned_first)
        run.restarts = r + 1
        run.seconds += seconds
        cases = len(plan.cases) if plan.cases is not None else len(run.cases)
        _append(
            run.folder / "restarts.csv",
            [[run.phase, r, spawned_first, cases, run.restart_costs[-1] if run.restart_costs else "", seconds]],
        )


def run_paired(
    base: PairedSide,
    head: PairedSide,
    output: Path,
    settings: PairedSettings,
    conditions: Sequence[float] = (0.0,),
    *,
    phase: str = "first",
    restarts: int | None = None,
    only: Mapping[str, Sequence[float]] | None = None,
    factory: WorkerFactory = process_factory,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
    seed: int = 0,
) -> PairedRun:
    """A fixed design: ``restarts`` restarts (default ``settings.max_restarts``) of ``settings.pairs`` pairs
    per case and condition at ``settings.block_s`` (50 ms when automatic) — or only the cases and conditions
    of ``only``. The sequential gate (:mod:`rnnbench.ab.sequential`) drives :class:`PairedSession` itself."""
    emit = progress or ignore
    session = PairedSession(base, head, output, settings, conditions, factory=factory, clock=clock, seed=seed)
    run = session.new_run(phase)
    plan = RestartPlan(only, settings.pairs or 4, (settings.block_s or DEFAULT_BLOCK_S,))
    n_restarts = settings.max_restarts if restarts is None else restarts
    for r in range(n_restarts):
        session.restart(run, plan)
        emit(
            ProgressEvent(
                "done",
                label=f"{phase} restart",
                done=r + 1,
                total=n_restarts,
                status="ok",
                values={"seconds": run.restart_seconds[-1], "phase": phase},
            )
        )
    return run


def _hello(chan: Channel, settings: PairedSettings, first: bool) -> None:
    try:
        reply = chan.request(protocol.hello(), settings.build_timeout_s)
    except WorkerFailed as exc:
        if first:
            raise ProtocolUnavailable(
                f"{chan.label}: its rnnbench cannot serve paired blocks ({exc})"
            ) from None
        raise
    version = reply.get("protocol")
    if not reply.get("ok") or version != protocol.PROTOCOL_VERSION:
        why = (
            f"it speaks protocol {version}, this rnnbench speaks {protocol.PROTOCOL_VERSION}"
            if version is not None
            else f"it answered {json.dumps(reply)[:120]}"
        )
        raise ProtocolUnavailable(f"{chan.label}: its worker cannot serve paired blocks ({why})")


def _one_restart(
    session: PairedSession, run: PairedRun, plan: RestartPlan, r: int, rng: random.Random, t0: float
) -> str:
    """Spawn, greet and build both workers (the side first drawn at random), then measure the plan's cases
    in a random order; returns the label of the side spawned first."""
    base, head, settings = session.base, session.head, session.settings
    assert run.folder is not None
    chans: list[Channel] = []
    base_first = spawn_order(session.seed, run.phase, r)
    try:
        sides = (base, head) if base_first else (head, base)
        made = {}
        for side in sides:
            made[side.label] = session.factory(
                side.label, side.argv, run.folder / "logs" / f"{side.label}-r{r}.log"
            )
            chans.append(made[side.label])
        a, b = made[base.label], made[head.label]
        first = not session.greeted
        for chan in chans:
            _hello(chan, settings, first)
        session.greeted = True
        keys_a = keys_b = None
        if plan.cases is not None:  # confirmation: build only those cases (pair id = "<base key>|<head key>")
            keys_a = sorted({protocol.split_pair_id(p)[0] for p in plan.cases})
            keys_b = sorted({protocol.split_pair_id(p)[1] for p in plan.cases})
        # Both sides build and warm at once when their threads fit the cores side by side (nothing is timed
        # yet; one core each with --threads 1). Otherwise one after the other: two OpenMP pools spinning on
        # too few cores made the quick grid's build 10× slower at --threads 2 on 2 cores.
        together = builds_fit_side_by_side(base.grid_args, head.grid_args)
        order = [(a, base, keys_a), (b, head, keys_b)]
        if not base_first:
            order.reverse()
        built: dict[str, dict[str, Any]] = {}
        for chan, side, keys in order:
            chan.send(protocol.build(side.grid_args, keys))
            if not together:
                built[side.label] = _check(chan, chan.receive("build", settings.build_timeout_s), "build")
        if together:
            for chan, side, _ in order:
                built[side.label] = _check(chan, chan.receive("build", settings.build_timeout_s), "build")
        built_a, built_b = built[base.label], built[head.label]
        for chan in chans:  # built side by side on every core; measured on the same CPUs
            chan.pin()
        run.fingerprint_keys.setdefault(base.label, built_a.get("fingerprint_keys") or {})
        run.fingerprint_keys.setdefault(head.label, built_b.get("fingerprint_keys") or {})
        cases, iter_s = _match(built_a["cases"], built_b["cases"])
        for pid, case in cases.items():
            known = run.cases.get(pid)
            if known is None:
                run.cases[pid] = case
            elif known.verdict == PENDING and case.verdict != PENDING:
                known.verdict, known.reason = case.verdict, case.reason
        run.restart_costs.append(session.clock() - t0)
        todo = [
            pid
            for pid, case in run.cases.items()
            if case.verdict == PENDING and (plan.cases is None or pid in plan.cases)
        ]
        rng.shuffle(todo)
        for pid in todo:
            case = run.cases[pid]
            if pid not in cases:
                case.verdict, case.reason = "error", f"not built in restart {r}"
                continue
            if plan.cases is not None:
                conds = list(plan.cases[pid])
            else:
                conds = list(plan.conditions if plan.conditions is not None else session.conditions)
            _measure_case(session, run, plan, r, case, conds, a, b, iter_s[pid], rng)
    finally:
        for chan in chans:
            chan.close()
    return base.label if base_first else head.label


def spawn_order(seed: int, phase: str, r: int) -> bool:
    """Whether base is spawned, greeted and built first in restart ``r``: drawn at random for each two
    restarts and then swapped, so every two restarts have one of each (a role-tied offset — the first process
    started is slower, say — then cancels in their mean instead of adding a coin toss per restart)."""
    first = random.Random(f"{seed}:{phase}:spawn:{r // 2}").random() < 0.5
    return first if r % 2 == 0 else not first


def builds_fit_side_by_side(args_a: Sequence[str], args_b: Sequence[str], cores: int | None = None) -> bool:
    """Whether both workers may build and warm at once: their largest thread counts (read as the workers'
    ``build`` reads them) together fit the cores. Unknown thread counts (torch's default is every core) do
    not."""
    from rnnbench.measure.serve import largest_threads  # argparse and presets only: no torch

    cores = cores if cores is not None else os.cpu_count() or 1
    ta, tb = largest_threads(list(args_a)), largest_threads(list(args_b))
    return ta is not None and tb is not None and ta + tb <= cores


def _check(chan: Channel, reply: dict[str, Any], what: str) -> dict[str, Any]:
    if not reply.get("ok"):
        raise WorkerFailed(f"{chan.label} worker refused '{what}': {reply.get('error', reply)}")
    return reply


def _match(
    built_a: list[dict[str, Any]], built_b: list[dict[str, Any]]
) -> tuple[dict[str, PairedCase], dict[str, tuple[float, float]]]:
    """Pair the two sides' cases by case id and thread count (``gate.cases.match_threads``, as process rounds
    do); a case's statuses decide whether it can be measured (``gate.cases.status_verdict``)."""
    by_a: dict[str, dict[int, dict[str, Any]]] = {}
    by_b: dict[str, dict[int, dict[str, Any]]] = {}
    for built, by in ((built_a, by_a), (built_b, by_b)):
        for entry in built:
            by.setdefault(str(entry["case_id"]), {})[int(entry["threads"])] = entry
    cases: dict[str, PairedCase] = {}
    iter_s: dict[str, tuple[float, float]] = {}
    for case_id in [*by_a, *(c for c in by_b if c not in by_a)]:
        threads_a, threads_b = by_a.get(case_id, {}), by_b.get(case_id, {})
        for ta, tb in match_threads(list(threads_a), list(threads_b)):
            ea = threads_a[ta] if ta is not None else None
            eb = threads_b[tb] if tb is not None else None
            case = _paired_case(ea, eb)
            if case.verdict == PENDING and ea is not None and eb is not None:
                iter_s[case.pair_id] = (float(ea["iter_s"]), float(eb["iter_s"]))
            cases[case.pair_id] = case
    return cases, iter_s


def _paired_case(ea: dict[str, Any] | None, eb: dict[str, Any] | None) -> PairedCase:
    some = ea or eb
    assert some is not None
    case = PairedCase(
        case_id=str(some["case_id"]),
        base_key=ea["key"] if ea else None,
        head_key=eb["key"] if eb else None,
        labels=dict(some.get("labels") or {}),
        base_threads=ea["threads"] if ea else None,
        head_threads=eb["threads"] if eb else None,
        tokens_per_iter=float(some.get("tokens_per_iter") or math.nan),
    )
    early = status_verdict(
        {ea["status"]: ea["message"]} if ea else None, {eb["status"]: eb["message"]} if eb else None
    )
    if early is not None:
        case.verdict, case.reason = early
        return case
    assert ea is not None and eb is not None
    off = [(side, e) for side, e in (("base", ea), ("head", eb)) if e["status"] != "ok"]
    if off:  # run on one side only (unsupported or skipped on the other): nothing to pair
        side, e = off[0]
        case.verdict, case.reason = "error", f"{side}: {e['status']} ({e['message']})"
    return case


def _iters(per_iter_s: float, block_s: float) -> int:
    if not (math.isfinite(per_iter_s) and per_iter_s > 0):
        return 1
    return max(1, round(block_s / per_iter_s))


def _openers(pairs: int, rng: random.Random) -> list[bool]:
    """Which pairs base opens: half of them (one more for an odd count, drawn), in a random order — each side
    opens as many pairs as the other, so drift within a pair and the cost of switching cancel."""
    firsts = [True] * (pairs // 2) + [False] * (pairs // 2)
    if pairs % 2:
        firsts.append(rng.random() < 0.5)
    rng.shuffle(firsts)
    return firsts


def _measure_case(
    session: PairedSession,
    run: PairedRun,
    plan: RestartPlan,
    r: int,
    case: PairedCase,
    conditions: Sequence[float],
    a: Channel,
    b: Channel,
    iter_s: tuple[float, float],
    rng: random.Random,
) -> None:
    """The plan's pairs per condition, conditions interleaved pair by pair; block lengths cycle through the
    plan's; each block's iterations follow the slower side's latest per-iteration time so that it lasts
    about its length. ``inject`` for condition c asks the head worker to stretch its time by c/(1 − c): a
    throughput drop of exactly c."""
    settings, clock = session.settings, session.clock
    pairs = plan.pairs_of(case.pair_id)
    blocks = [min(max(bl, MIN_BLOCK_S), MAX_BLOCK_S) for bl in plan.blocks] or [DEFAULT_BLOCK_S]
    per_iter = max(iter_s)
    rows: list[list[Any]] = []
    ratios: dict[float, list[float]] = {c: [] for c in conditions}
    tps_a: dict[float, list[float]] = {c: [] for c in conditions}
    tps_b: dict[float, list[float]] = {c: [] for c in conditions}
    openers = {c: _openers(pairs, rng) for c in conditions}
    last_side: str | None = None  # the side whose block ran last in this case (no warm-up needed after it)
    for k in range(pairs):
        block_s = blocks[k % len(blocks)]
        for cond in conditions:
            n = _iters(per_iter, block_s)
            base_first = openers[cond][k]
            order = [(a, case.base_key, 0.0), (b, case.head_key, stretch_for(cond))]
            if not base_first:
                order.reverse()
            seconds: dict[str, float] = {}
            idle: list[float] = []
            p0 = clock()
            for (chan, side_key, inject), (other, _, _) in zip(order, order[::-1], strict=True):
                if (
                    settings.warm_iters and last_side != chan.label
                ):  # after a switch: untimed, takes the cold caches
                    warm = chan.request(
                        protocol.block(str(side_key), settings.warm_iters, 0.0), settings.timeout_s
                    )
                    if not warm.get("ok"):
                        case.verdict = "error"
                        case.reason = f"{chan.label}: {warm.get('error', 'block failed')}"[:500]
                        _append_pairs(run, rows)
                        return
                cpu0 = other.cpu_seconds()
                w0 = clock()
                reply = chan.request(protocol.block(str(side_key), n, inject), settings.timeout_s)
                last_side = chan.label
                wall = clock() - w0
                cpu1 = other.cpu_seconds()
                if not reply.get("ok"):
                    case.verdict = "error"
                    case.reason = f"{chan.label}: {reply.get('error', 'block failed')}"[:500]
                    _append_pairs(run, rows)
                    return
                seconds[chan.label] = float(reply["seconds"]) / max(int(reply.get("iters", n)), 1)
                if wall > 0 and math.isfinite(cpu0) and math.isfinite(cpu1):
                    idle.append((cpu1 - cpu0) / wall)
                chan.wait_idle(SETTLE_MAX_S)  # its spinning threads done before the other side starts
            ta, tb = seconds[a.label], seconds[b.label]
            d = math.log(ta / tb) if ta > 0 and tb > 0 else math.nan
            ratios[cond].append(d)
            tps_a[cond].append(case.tokens_per_iter / ta if ta > 0 else math.nan)
            tps_b[cond].append(case.tokens_per_iter / tb if tb > 0 else math.nan)
            if cond == conditions[0]:
                run.by_block.setdefault((case.pair_id, block_s), []).append(d)
                run.pair_seconds.setdefault((case.pair_id, block_s), []).append(clock() - p0)
            idle_frac = max(idle) if idle else math.nan
            run.idle_cpu.extend(idle)
            rows.append(
                [
                    run.phase,
                    r,
                    case.case_id,
                    case.base_key,
                    case.head_key,
                    cond,
                    k,
                    "base" if base_first else "head",
                    block_s,
                    ta * n,
                    n,
                    tb * n,
                    n,
                    d,
                    idle_frac,
                ]
            )
            per_iter = max(ta, tb, per_iter * 0.5)
    _append_pairs(run, rows)
    for cond in conditions:
        key = (case.pair_id, cond)
        run.log_ratios.setdefault(key, []).append(ratios[cond])
        run.base_tps.setdefault(key, []).append(statistics.median(tps_a[cond]) if tps_a[cond] else math.nan)
        run.head_tps.setdefault(key, []).append(statistics.median(tps_b[cond]) if tps_b[cond] else math.nan)


def stretch_for(drop: float) -> float:
    """The time stretch the worker protocol takes (``inject``: time × (1 + inject)) for a throughput drop of
    ``drop``: 1/(1 − drop) − 1. A 5% drop is a ×1.0526 stretch, not ×1.05 — min effects and ratios are in
    throughput."""
    return drop / (1 - drop) if drop > 0 else 0.0


def _append_pairs(run: PairedRun, rows: list[list[Any]]) -> None:
    if run.folder is not None:
        _append(run.folder / "pairs.csv", rows)


def _append(path: Path, rows: list[list[Any]]) -> None:
    """Pairs on disk after every case: an interrupted or failed measurement keeps what it finished."""
    if not rows:
        return
    with path.open("a", newline="") as fh:
        csv.writer(fh).writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())
