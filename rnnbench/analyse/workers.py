"""The paired A/B's coordinator: persistent workers per side, alternating timed blocks, restarts.

Each side runs its own worker (its interpreter or command, as for process rounds) speaking the JSON-lines
protocol of :mod:`rnnbench.measure.serve` over pipes. After both have built and warmed the grid, the
coordinator asks for one block at a time — A B, then B A, alternately — so exactly one side runs while the
other sleeps in a blocking pipe read. Each pair of adjacent blocks gives one log-ratio; a *restart* (a fresh
pair of workers) repeats everything, because the process itself is a source of variation
(:mod:`rnnbench.analyse.paired` has the model).

Faults end the whole measurement with one line and exit 6 (:class:`BenchmarkFailedError`): a worker that
dies (``kill -9``), answers nonsense, or does not answer within its timeout (hung); both workers are then
ended — their whole process group, so a side command's children go too — and the pairs measured so far stay
in ``pairs.csv``. A case failing on one side only is *not* fatal: that case becomes an ``error`` verdict
(exit 6 at the end) and the others are measured. Ctrl-C ends both workers and propagates.

Version skew: a side whose rnnbench predates the protocol (its worker exits or answers without a protocol
version) or speaks another version raises :class:`ProtocolUnavailable` at the first hello, before anything is
measured — ``ab``/``calibrate`` then fall back to process rounds for *both* sides and say so; nothing is
mixed.

Workers are made by an injectable :data:`WorkerFactory`, so the protocol and the orchestration are tested
with in-process fake workers and a simulated clock (:mod:`rnnbench.analyse.phase_sim`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rnnbench.analyse.gate_settings import PairedSettings
from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.errors import BenchmarkFailedError, RnnbenchError

PROTOCOL_VERSION = 1
"""The protocol version this coordinator speaks (``measure.serve.PROTOCOL_VERSION`` is the worker's)."""

MIN_BLOCK_S, MAX_BLOCK_S = 0.05, 0.2
SETTLE_MAX_S = 0.2
"""The longest the coordinator waits after a block for the worker's threads to stop running (OpenMP threads
spin after a parallel region) before it starts the other side's block."""


class ProtocolUnavailable(RnnbenchError):
    """A side cannot serve the paired protocol (an older rnnbench, another protocol version): fall back."""


class WorkerFailed(BenchmarkFailedError):
    """A worker died, hung or broke the protocol mid-measurement (exit 6)."""


class Channel(Protocol):
    """One worker, seen from the coordinator: a request gets one reply."""

    label: str

    def send(self, message: dict[str, Any]) -> None:
        """Send one request without waiting (both sides build at once)."""
        ...

    def receive(self, what: str, timeout_s: float) -> dict[str, Any]:
        """Wait up to ``timeout_s`` for the reply to the request ``what``. Raises :class:`WorkerFailed` when
        the worker dies or does not answer, :class:`ProtocolUnavailable` when it answers something else than
        the protocol (only meaningful for the first hello)."""
        ...

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """:meth:`send` then :meth:`receive`."""
        ...

    def cpu_seconds(self) -> float:
        """CPU time the worker has used so far (NaN if unknown): how the coordinator sees whether the idle
        side steals time (OpenMP threads spinning after a block)."""
        ...

    def wait_idle(self, max_s: float) -> float:
        """Wait until none of the worker's threads is running (OpenMP threads spin for a while after a
        parallel region), at most ``max_s``; returns the seconds waited."""
        ...

    def close(self) -> None:
        """End the worker (quit if it answers, else kill) and everything it started."""
        ...


WorkerFactory = Callable[[str, Sequence[str], Path], Channel]
"""(side label, argv, log file) → a started worker."""


# ---- a real worker process -------------------------------------------------------------------------------
class ProcessChannel:
    """A worker in its own process group (so ending it ends a side command's children too), stdin/stdout
    pipes, stderr to a log file. Replies are read from the raw pipe with a deadline, never blocking forever."""

    def __init__(self, label: str, argv: Sequence[str], log_path: Path, cwd: Path | None = None) -> None:
        self.label = label
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w") as log:
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=cwd or log_path.parent,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BenchmarkFailedError(f"{label}: cannot start {self.argv[0]}: {exc.strerror}") from None
        self._buffer = b""
        self.pid: int | None = None
        self._psutil: Any = None

    def _readline(self, deadline: float, what: str) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerFailed(
                        f"{self.label} worker did not answer '{what}' within its timeout (hung?); ended it. "
                        f"Its log: {self.log_path}"
                    )
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise self._died(what)
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", errors="replace")

    def _died(self, what: str) -> WorkerFailed:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else f"exited with status {code}"
            if code is not None
            else "closed its output"
        )
        return WorkerFailed(f"{self.label} worker {how} during '{what}'. {self.log_tail()}".strip())

    def log_tail(self, lines: int = 6) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
        return ("Its log (" + str(self.log_path) + "): " + " | ".join(kept)) if kept else ""

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self.send(message)
        return self.receive(str(message.get("op")), timeout_s)

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(str(message.get("op"))) from None

    def receive(self, what: str, timeout_s: float) -> dict[str, Any]:
        line = self._readline(time.monotonic() + timeout_s, what)
        try:
            reply = json.loads(line)
        except ValueError:
            raise ProtocolUnavailable(
                f"{self.label} worker answered {line[:120]!r}, not a protocol reply"
            ) from None
        if not isinstance(reply, dict):
            raise ProtocolUnavailable(f"{self.label} worker answered {line[:120]!r}, not a protocol reply")
        if what == "hello" and isinstance(reply.get("pid"), int):
            self.pid = int(reply["pid"])
        return reply

    def cpu_seconds(self) -> float:
        try:
            if self._psutil is None:
                import psutil

                self._psutil = psutil.Process(self.pid or self.proc.pid)
            t = self._psutil.cpu_times()
            return float(t.user + t.system)
        except Exception:
            return math.nan

    def wait_idle(self, max_s: float) -> float:
        """Poll the state of every thread of the worker (``/proc/<pid>/task/*/stat``, Linux) every 0.5 ms
        until none is running: after its reply the worker's main thread sleeps in a pipe read, but OpenMP
        threads (``--threads`` > 1) keep spinning for a while and would steal the other side's core."""
        task = Path(f"/proc/{self.pid or self.proc.pid}/task")
        if not task.is_dir():
            return 0.0
        start = time.monotonic()
        while time.monotonic() - start < max_s:
            if not any(_running(stat) for stat in task.glob("*/stat")):
                break
            time.sleep(0.0005)
        return time.monotonic() - start

    def close(self) -> None:
        proc = self.proc
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(b'{"op": "quit"}\n')
                proc.stdin.flush()
                proc.wait(timeout=2)
            except Exception:
                pass
        if proc.poll() is None or _group_alive(proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def _running(stat: Path) -> bool:
    """Whether the thread whose ``/proc/…/stat`` this is is running (state ``R``)."""
    try:
        text = stat.read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2 : text.rfind(")") + 3] == "R"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def process_factory(label: str, argv: Sequence[str], log_path: Path) -> Channel:
    return ProcessChannel(label, argv, log_path)


# ---- what a paired measurement produces ----------------------------------------------------------------
@dataclass
class PairedCase:
    """One case as both sides built it: keys, names, statuses; the pairs are in ``PairedRun.pairs``."""

    case_id: str
    base_key: str | None
    head_key: str | None
    labels: dict[str, Any]
    base_threads: int | None
    head_threads: int | None
    tokens_per_iter: float = math.nan
    status: str = "ok"
    """``ok``; ``only_base``/``only_head``; ``absent`` (unsupported/skipped on both); ``error`` (a side failed
    to build or to run it); ``fingerprint`` (hard keys differ)."""
    message: str = ""

    @property
    def pair_id(self) -> str:
        return f"{self.base_key}|{self.head_key}"


@dataclass
class PairedRun:
    """Everything measured: cases, pair log-ratios and per-side throughputs by (pair id, condition) and
    restart, and how busy the idle side was."""

    cases: dict[str, PairedCase] = field(default_factory=dict)
    log_ratios: dict[tuple[str, float], list[list[float]]] = field(default_factory=dict)
    """(pair id, condition) → one list of pair log-ratios log(head/base throughput) per restart."""
    base_tps: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    head_tps: dict[tuple[str, float], list[float]] = field(default_factory=dict)
    """(pair id, condition) → per restart, the median throughput (tokens/s) of that side's blocks."""
    idle_cpu: list[float] = field(default_factory=list)
    """Per block: CPU seconds the *idle* worker used during the other's block, over the block's wall time."""
    restarts: int = 0
    seconds: float = 0.0
    fingerprint_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Side label → its fingerprint keys per ``device@threads``."""
    folder: Path | None = None


# ---- the coordinator --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedSide:
    label: str
    argv: tuple[str, ...]
    """The command that starts this side's worker (``… -m rnnbench.measure.worker --serve``)."""
    grid_args: tuple[str, ...]
    """``run``'s grid options for this side (shared grid + this side's own arguments)."""


PAIR_COLUMNS = (
    "phase",
    "restart",
    "case_id",
    "base_key",
    "head_key",
    "condition",
    "pair",
    "first",
    "base_s",
    "base_iters",
    "head_s",
    "head_iters",
    "log_ratio",
    "idle_cpu",
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
) -> PairedRun:
    """Measure every case of the grid (or ``only``: pair id → the conditions to measure) over
    ``restarts`` fresh worker pairs, ``settings.pairs`` pairs per case and condition in each.

    ``conditions`` are slowdowns injected into the *head* side's blocks (0 = none): ``calibrate --inject``
    measures several in the same restarts, interleaved pair by pair so that they share the machine's phases.
    Pair k of condition c runs base first when k + c is even, so each condition's pairs are balanced between
    A B and B A (drift inside a pair and the cost of switching processes cancel).

    Raises :class:`ProtocolUnavailable` when a side cannot serve at the first hello (fall back), and
    :class:`WorkerFailed` when a worker dies, hangs or breaks the protocol later.
    """
    emit = progress or ignore
    folder = output / phase
    folder.mkdir(parents=True, exist_ok=True)
    pairs_path = folder / "pairs.csv"
    if pairs_path.exists():
        from rnnbench.errors import ConfigError

        raise ConfigError(f"{pairs_path} exists already; pass a new --output folder for this comparison.")
    with pairs_path.open("w", newline="") as fh:
        csv.writer(fh).writerow(PAIR_COLUMNS)
    run = PairedRun(folder=folder)
    n_restarts = settings.restarts if restarts is None else restarts
    start = clock()
    for r in range(n_restarts):
        t0 = clock()
        _one_restart(
            r,
            base,
            head,
            folder,
            settings,
            conditions,
            phase,
            only,
            factory,
            run,
            pairs_path,
            clock,
            first=(r == 0 and phase == "first"),
        )
        run.restarts = r + 1
        emit(
            ProgressEvent(
                "done",
                label=f"{phase} restart",
                done=r + 1,
                total=n_restarts,
                status="ok",
                values={"seconds": clock() - t0, "phase": phase},
            )
        )
    run.seconds = clock() - start
    return run


def _hello(chan: Channel, settings: PairedSettings, first: bool) -> None:
    try:
        reply = chan.request({"op": "hello", "protocol": PROTOCOL_VERSION}, settings.build_timeout_s)
    except WorkerFailed as exc:
        if first:
            raise ProtocolUnavailable(
                f"{chan.label}: its rnnbench cannot serve paired blocks ({exc})"
            ) from None
        raise
    version = reply.get("protocol")
    if not reply.get("ok") or version != PROTOCOL_VERSION:
        why = (
            f"it speaks protocol {version}, this rnnbench speaks {PROTOCOL_VERSION}"
            if version is not None
            else f"it answered {json.dumps(reply)[:120]}"
        )
        raise ProtocolUnavailable(f"{chan.label}: its worker cannot serve paired blocks ({why})")


def _one_restart(
    r: int,
    base: PairedSide,
    head: PairedSide,
    folder: Path,
    settings: PairedSettings,
    conditions: Sequence[float],
    phase: str,
    only: Mapping[str, Sequence[float]] | None,
    factory: WorkerFactory,
    run: PairedRun,
    pairs_path: Path,
    clock: Callable[[], float],
    first: bool,
) -> None:
    chans: list[Channel] = []
    try:
        for side in (base, head):
            chans.append(factory(side.label, side.argv, folder / "logs" / f"{side.label}-r{r}.log"))
        a, b = chans
        _hello(a, settings, first)
        _hello(b, settings, first)
        keys_a = keys_b = None
        if only is not None:  # confirmation: build only the flagged cases (pair id = "<base key>|<head key>")
            keys_a = sorted({p.split("|")[0] for p in only})
            keys_b = sorted({p.split("|")[1] for p in only})
        # Both sides build and warm at once when their threads fit the cores side by side (nothing is timed
        # yet; one core each with --threads 1). Otherwise one after the other: two OpenMP pools spinning on
        # too few cores made the quick grid's build 10× slower at --threads 2 on 2 cores.
        together = builds_fit_side_by_side(base.grid_args, head.grid_args)
        a.send({"op": "build", "args": list(base.grid_args), "cases": keys_a})
        if not together:
            built_a = _check(a, a.receive("build", settings.build_timeout_s), "build")
        b.send({"op": "build", "args": list(head.grid_args), "cases": keys_b})
        if together:
            built_a = _check(a, a.receive("build", settings.build_timeout_s), "build")
        built_b = _check(b, b.receive("build", settings.build_timeout_s), "build")
        run.fingerprint_keys.setdefault(base.label, built_a.get("fingerprint_keys") or {})
        run.fingerprint_keys.setdefault(head.label, built_b.get("fingerprint_keys") or {})
        cases, iter_s = _match(built_a["cases"], built_b["cases"])
        for pid, case in cases.items():
            known = run.cases.get(pid)
            if known is None:
                run.cases[pid] = case
            elif known.status == "ok" and case.status != "ok":
                known.status, known.message = case.status, case.message
        for pid, case in run.cases.items():
            if case.status != "ok" or (only is not None and pid not in only):
                continue
            if pid not in cases:
                case.status, case.message = "error", f"not built in restart {r}"
                continue
            conds = list(only[pid]) if only is not None else list(conditions)
            _measure_case(r, case, conds, a, b, iter_s[pid], settings, phase, run, pairs_path, clock)
    finally:
        for chan in chans:
            chan.close()


def threads_asked(args: Sequence[str]) -> int | None:
    """The largest ``--threads`` value in a side's grid arguments (``--threads 1 2``, ``--threads=1,2``,
    repeated flags); ``None`` when it is not given or is 0 (torch's default: every core). Read from the
    arguments, not through the workers' parser (``measure.serve.parse_grid``): ``analyse`` does not import
    ``measure``. Thread counts set only by a preset or a config file read as ``None``, which is the safe
    side (builds one after the other)."""
    values: list[int] = []
    taking = False
    for token in args:
        name, eq, rest = token.partition("=")
        if name == "--threads":
            taking = not eq
            parts = rest.split(",") if eq else []
        elif taking and not token.startswith("-"):
            parts = token.split(",")
        else:
            taking = False
            continue
        for part in filter(None, (p.strip() for p in parts)):
            try:
                values.append(int(part))
            except ValueError:
                return None
    if not values or min(values) <= 0:
        return None
    return max(values)


def builds_fit_side_by_side(args_a: Sequence[str], args_b: Sequence[str], cores: int | None = None) -> bool:
    """Whether both workers may build and warm at once: their largest thread counts together fit the
    cores. Unknown thread counts (torch's default is every core) do not."""
    cores = cores if cores is not None else os.cpu_count() or 1
    ta, tb = threads_asked(args_a), threads_asked(args_b)
    return ta is not None and tb is not None and ta + tb <= cores


def _check(chan: Channel, reply: dict[str, Any], what: str) -> dict[str, Any]:
    if not reply.get("ok"):
        raise WorkerFailed(f"{chan.label} worker refused '{what}': {reply.get('error', reply)}")
    return reply


def _match(
    built_a: list[dict[str, Any]], built_b: list[dict[str, Any]]
) -> tuple[dict[str, PairedCase], dict[str, tuple[float, float]]]:
    """Pair the two sides' cases: equal keys (case id and threads); otherwise a case id each side has at
    exactly one thread count of (``--base-args "--threads 2"`` against ``--threads 1``)."""
    by_a = {e["key"]: e for e in built_a}
    by_b = {e["key"]: e for e in built_b}
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = [
        (by_a[k], by_b[k]) for k in by_a if k in by_b
    ]
    rest_a = [e for k, e in by_a.items() if k not in by_b]
    rest_b = [e for k, e in by_b.items() if k not in by_a]
    for lone in list(rest_a):
        same_a = [e for e in rest_a if e["case_id"] == lone["case_id"]]
        same_b = [e for e in rest_b if e["case_id"] == lone["case_id"]]
        if len(same_a) == 1 and len(same_b) == 1:
            pairs.append((lone, same_b[0]))
            rest_a.remove(lone)
            rest_b.remove(same_b[0])
    pairs += [(e, None) for e in rest_a] + [(None, e) for e in rest_b]
    cases: dict[str, PairedCase] = {}
    iter_s: dict[str, tuple[float, float]] = {}
    for ea, eb in pairs:
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
        if ea is None or eb is None:
            case.status = "only_head" if ea is None else "only_base"
        else:
            statuses = {ea["status"], eb["status"]}
            failed = [(side, e) for side, e in (("base", ea), ("head", eb)) if e["status"] in ("error", "oom")]
            if failed:
                case.status = "error"
                case.message = "; ".join(f"{s}: {e['status']} ({e['message']})" for s, e in failed)
            elif statuses == {"ok"}:
                iter_s[case.pair_id] = (float(ea["iter_s"]), float(eb["iter_s"]))
            elif "ok" in statuses:
                side, e = ("base", ea) if ea["status"] != "ok" else ("head", eb)
                case.status, case.message = "error", f"{side}: {e['status']} ({e['message']})"
            else:
                case.status, case.message = "absent", f"not run on either side ({', '.join(sorted(statuses))})"
        cases[case.pair_id] = case
    return cases, iter_s


def _iters(per_iter_s: float, block_s: float) -> int:
    if not (math.isfinite(per_iter_s) and per_iter_s > 0):
        return 1
    return max(1, round(block_s / per_iter_s))


def _measure_case(
    r: int,
    case: PairedCase,
    conditions: Sequence[float],
    a: Channel,
    b: Channel,
    iter_s: tuple[float, float],
    settings: PairedSettings,
    phase: str,
    run: PairedRun,
    pairs_path: Path,
    clock: Callable[[], float],
) -> None:
    """``settings.pairs`` pairs per condition, conditions interleaved pair by pair; the block size follows
    the slower side's latest per-iteration time so a block lasts about ``settings.block_s``."""
    block_s = min(max(settings.block_s, MIN_BLOCK_S), MAX_BLOCK_S)
    n = _iters(max(iter_s), block_s)
    rows: list[list[Any]] = []
    ratios: dict[float, list[float]] = {c: [] for c in conditions}
    tps_a: dict[float, list[float]] = {c: [] for c in conditions}
    tps_b: dict[float, list[float]] = {c: [] for c in conditions}
    for k in range(settings.pairs):
        for ci, cond in enumerate(conditions):
            base_first = (k + ci) % 2 == 0
            order = [(a, case.base_key, 0.0), (b, case.head_key, cond)]
            if not base_first:
                order.reverse()
            seconds: dict[str, float] = {}
            idle: list[float] = []
            for (chan, side_key, inject), (other, _, _) in zip(order, order[::-1], strict=True):
                cpu0 = other.cpu_seconds()
                w0 = clock()
                reply = chan.request(
                    {"op": "block", "case": side_key, "iters": n, "inject": inject}, settings.timeout_s
                )
                wall = clock() - w0
                cpu1 = other.cpu_seconds()
                if not reply.get("ok"):
                    case.status = "error"
                    case.message = f"{chan.label}: {reply.get('error', 'block failed')}"[:500]
                    _append(pairs_path, rows)
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
            idle_frac = max(idle) if idle else math.nan
            run.idle_cpu.extend(idle)
            rows.append(
                [
                    phase,
                    r,
                    case.case_id,
                    case.base_key,
                    case.head_key,
                    cond,
                    k,
                    "base" if base_first else "head",
                    ta * n,
                    n,
                    tb * n,
                    n,
                    d,
                    idle_frac,
                ]
            )
            n = _iters(max(ta, tb), block_s)
    _append(pairs_path, rows)
    import statistics

    for cond in conditions:
        key = (case.pair_id, cond)
        run.log_ratios.setdefault(key, []).append(ratios[cond])
        run.base_tps.setdefault(key, []).append(statistics.median(tps_a[cond]) if tps_a[cond] else math.nan)
        run.head_tps.setdefault(key, []).append(statistics.median(tps_b[cond]) if tps_b[cond] else math.nan)


def _append(path: Path, rows: list[list[Any]]) -> None:
    """Pairs on disk after every case: an interrupted or failed measurement keeps what it finished."""
    if not rows:
        return
    with path.open("a", newline="") as fh:
        csv.writer(fh).writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())
