"""A whole ``rnnbench run``: expand the grid once, create the run folder, run each round (in-process or in a
fresh worker process), resume an interrupted run. Rounds are the replication unit comparisons need: each one
re-imports torch, rebuilds every model and re-runs every kernel selection, so its median is independent of the
others'.

``plan_run`` resolves everything between the parsed options and the first case (devices, device pool, default
threads, grid, shard) without touching the disk, so the CLI can show the size and estimated duration first;
``start_run`` creates the folder; ``prepare_run`` is both in one call; ``open_run`` is the same for
``--resume``; ``execute`` runs the rounds. The folder is owned (``RunFolder.acquire``: one writer at a time)
from its creation or reopening until ``execute`` returns or fails. Progress goes to an ``OnProgress`` callback;
worker processes send it as ``ProgressEvent`` JSON lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnbench.core.progress import OnProgress, ProgressEvent
from rnnbench.core.spec import Case, Settings, SweepSpec
from rnnbench.core.values import file_tail, now_iso
from rnnbench.errors import (
    EXIT_USAGE,
    BenchmarkFailedError,
    ConfigError,
    DeviceUnavailableError,
    RnnbenchError,
    StorageError,
)
from rnnbench.measure.machine_load import RUN_ROOT_ENV, mark_run_root
from rnnbench.measure.numerics import set_tf32
from rnnbench.measure.runner import RoundContext, drop_orphan_samples, run_round
from rnnbench.measure.shard import partition, shard_of
from rnnbench.results.folder import RunFolder, check_run_id, new_run_id, refuse_existing

PARENT_ENV = "RNNBENCH_PARENT_PID"
"""Tells a worker which process started it (``worker._die_with_parent``: it ends with its parent)."""

RoundRunner = Callable[[RunFolder, int, OnProgress], None]
"""Runs one round of a folder (in this process, in a worker, across a pool); ``execute`` takes one for tests."""


# ---- the grid, expanded once -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunGrid:
    """A run's cases, expanded once from its spec: the size of the whole grid, and the cases this folder
    measures — cut to its shard and, in a device pool, split into one part per device (one part otherwise).

    Everything downstream (the metadata's ``grid_cases``, the progress total, every in-process round) reads
    its cases from here rather than expanding the spec again; only a fresh process that has nothing but the
    folder (a worker, ``--resume``) derives it, through ``expand_grid`` as well."""

    grid_size: int
    """Cases in the whole grid, before sharding (in a pool, each case once)."""
    parts: tuple[tuple[Case, ...], ...]
    """One tuple of cases per pool device, each case with the device that runs it; a single part without a
    pool."""

    @property
    def cases(self) -> list[Case]:
        """Every case this folder measures, part after part."""
        return [case for part in self.parts for case in part]

    def part(self, index: int | None) -> list[Case]:
        """The cases of pool worker ``index``, or all of them with ``None``."""
        return self.cases if index is None else list(self.parts[index])


def expand_grid(
    spec: SweepSpec, shard: tuple[int, int] | None = None, pool: Sequence[str] | None = None
) -> RunGrid:
    """The one place a run's grid is expanded: ``spec.expand()``, cut to shard ``(k, n)`` (see
    ``rnnbench.measure.shard``) and, with a ``pool`` of devices, partitioned across them so that each case is
    measured once, on the device of its part, rather than once per device. Deterministic: a worker or a
    ``--resume`` that re-derives the grid from the folder's metadata gets the same cases in the same order."""
    if pool:
        spec = dataclasses.replace(spec, device=(pool[0],))
    cases = spec.expand()
    grid_size = len(cases)
    if shard:
        cases = shard_of(cases, *shard)
    if not pool:
        return RunGrid(grid_size, (tuple(cases),))
    parts = partition(cases, len(pool))
    return RunGrid(
        grid_size,
        tuple(
            tuple(dataclasses.replace(c, device=dev) for c in part)
            for dev, part in zip(pool, parts, strict=True)
        ),
    )


# ---- devices ----------------------------------------------------------------------------------------------


def resolve_devices(spec: SweepSpec) -> tuple[SweepSpec, list[str]]:
    """Concrete devices (``auto`` → cuda:0 or cpu, ``cuda`` → cuda:0). Absent devices are kept so their cases
    become ``skipped`` rows — unless every device asked for is absent, which is an error."""
    from rnnbench.measure.devices import parse_device, resolve_device

    resolved: list[str] = []
    notes: list[str] = []
    errors: list[DeviceUnavailableError] = []
    for dev in spec.device:
        parse_device(dev)
        try:
            concrete = resolve_device(dev)
        except DeviceUnavailableError as exc:
            errors.append(exc)
            notes.append(str(exc))
            concrete = dev
        if concrete not in resolved:
            resolved.append(concrete)
    if errors and len(errors) == len(spec.device):
        raise errors[0]
    return dataclasses.replace(spec, device=tuple(resolved)), notes


def device_pool(spec: SweepSpec) -> list[str] | None:
    """Several distinct ``cuda:N`` devices form a pool: the grid is split across them, one concurrent worker
    per GPU, instead of every case being measured on every GPU. ``None`` otherwise (devices are an axis)."""
    devices = list(spec.device)
    if len(devices) >= 2 and all(d.startswith("cuda:") for d in devices):
        return devices
    return None


def _fingerprints(env: dict[str, Any], spec: SweepSpec) -> tuple[dict[str, Any], dict[str, str]]:
    from rnnbench.measure.env import fingerprint, fingerprint_keys

    keys: dict[str, Any] = {}
    prints: dict[str, str] = {}
    threads = sorted(set(spec.threads))
    for dev in spec.device:
        fk = fingerprint_keys(env, dev, threads[0] if len(threads) == 1 else 0)
        if len(threads) > 1:
            fk["threads"] = threads
        keys[dev] = fk
        prints[dev] = fingerprint(fk)
    return keys, prints


# ---- starting and reopening a run folder --------------------------------------------------------------------
@dataclass(frozen=True)
class SweepRun:
    """A run folder ready for ``execute``, with its grid (expanded once) and what the CLI tells the user before
    the first case."""

    folder: RunFolder
    grid: RunGrid
    rounds: int
    pool: list[str] | None = None
    """The GPUs the grid is split across, one concurrent worker each; ``None`` when devices are an axis."""
    notes: tuple[str, ...] = ()
    """Devices asked for but absent here: their cases are recorded as ``skipped`` rows."""
    repairs: tuple[str, ...] = ()
    """``--resume``: what reopening repaired (a torn last line cut), one warning each naming the file."""

    @property
    def total(self) -> int:
        """Measurements in the whole run: every case of the folder in every round."""
        return len(self.grid.cases) * self.rounds


MIN_METADATA_BYTES = 1024
MIN_SUMMARY_ROW_BYTES = 100
"""Less than any run writes: its ``metadata.json`` (a quick-grid run's is ~2.6 KB) and one summary row per
measurement (~520 bytes there; a failed case's row, blanks and all, still over 100). Sample rows are not
counted: a case that fails writes none. ``RunPlan.min_bytes`` adds them up — a bound that never refuses a run
that fits, and refuses one that cannot start (a full disk)."""


@dataclass(frozen=True)
class RunPlan:
    """A run resolved but not started: what ``start_run`` will create, and what the CLI shows before it
    does (size, estimated duration)."""

    spec: SweepSpec
    settings: Settings
    rounds: int
    grid: RunGrid
    shard: tuple[int, int] | None = None
    pool: list[str] | None = None
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return len(self.grid.cases) * self.rounds

    def min_bytes(self) -> int:
        """A lower bound of what the run writes: its metadata and a summary row per measurement
        (``results.folder.check_output`` refuses a file system with less free space before anything is
        created)."""
        return MIN_METADATA_BYTES + self.total * MIN_SUMMARY_ROW_BYTES

    def estimated_seconds(self, fresh_processes: bool = False) -> float:
        from rnnbench.measure.plan import estimate_seconds

        workers = self.rounds > 1 or fresh_processes or bool(self.pool)
        return estimate_seconds(
            len(self.grid.cases), self.settings, self.rounds, parallel=len(self.pool or [None]), workers=workers
        )


def plan_run(spec: SweepSpec, settings: Settings, rounds: int, shard: tuple[int, int] | None = None) -> RunPlan:
    """Concrete devices (absent ones noted, not fatal, unless all are absent), a device pool when several GPUs
    are named, torch's default thread count made explicit (so it is recorded), and the grid expanded once and
    cut to ``shard`` — nothing written yet. Imports torch (device resolution, thread count); ``--dry-run``
    uses ``expand_grid`` alone."""
    if rounds < 1:
        raise ConfigError(f"--rounds must be ≥ 1, got {rounds}.")
    spec, notes = resolve_devices(spec)
    pool = device_pool(spec)
    if spec.threads == (0,):
        import torch

        spec = spec.with_axes(threads=(torch.get_num_threads(),))
    return RunPlan(spec, settings, rounds, expand_grid(spec, shard, pool), shard, pool, tuple(notes))


def prepare_run(
    spec: SweepSpec,
    settings: Settings,
    rounds: int,
    output: Path,
    run_id: str | None = None,
    command: list[str] | None = None,
    shard: tuple[int, int] | None = None,
) -> SweepRun:
    """Everything between the parsed options and the first case, in one call: ``plan_run`` then
    ``start_run``. The returned folder is owned by this process until ``execute`` ends (or ``release``)."""
    plan = plan_run(spec, settings, rounds, shard)
    return start_planned(plan, output, run_id, command)


def start_planned(
    plan: RunPlan, output: Path, run_id: str | None = None, command: list[str] | None = None
) -> SweepRun:
    """Create the run folder of ``plan`` (owned by this process) with its metadata."""
    run = start_run(
        plan.spec, plan.settings, plan.rounds, output, run_id, command, plan.shard, plan.pool, grid=plan.grid
    )
    return dataclasses.replace(run, notes=plan.notes)


def start_run(
    spec: SweepSpec,
    settings: Settings,
    rounds: int,
    output: Path,
    run_id: str | None = None,
    command: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    pool: list[str] | None = None,
    grid: RunGrid | None = None,
) -> SweepRun:
    """Expand the grid of ``spec`` (once, unless ``grid`` is given) and create ``output/<run-id>/`` with its
    metadata (environment, fingerprint, spec, settings), owned by this process. Devices are taken as given;
    ``prepare_run`` resolves them first.

    ``shard=(k, n)`` keeps only shard k of n of the grid (see ``rnnbench.measure.shard``). ``pool`` (several
    GPUs) splits the grid across those devices, one concurrent worker per device, all writing to this folder.
    ``run_id`` must be one safe folder name (letters, digits, ``.``, ``_``, ``-``)."""
    from rnnbench.measure.env import capture

    if rounds < 1:
        raise ConfigError(f"--rounds must be ≥ 1, got {rounds}.")
    if run_id is not None:
        check_run_id(run_id)
    run_id = run_id or (new_run_id() + (f"-shard{shard[0]}of{shard[1]}" if shard else ""))
    refuse_existing(Path(output) / run_id)  # before the slow environment capture
    grid = grid or expand_grid(spec, shard, pool)
    set_tf32(settings.tf32)  # the fingerprint's numeric flags are the policy the rounds will run under
    env = capture()
    keys, prints = _fingerprints(env, spec)
    folder = RunFolder.create(
        Path(output),
        {
            "kind": "run",
            "command": command or sys.argv,
            "started_at": now_iso(),
            "status": "running",
            "env": env,
            "fingerprint_keys": keys,
            "fingerprint": prints,
            "spec": spec.to_dict(),
            "settings": dataclasses.asdict(settings),
            "rounds": rounds,
            "calibration": {},
            "grid_cases": grid.grid_size,
            "shard": list(shard) if shard else None,
            "pool": pool,
        },
        run_id=run_id,
    )
    return SweepRun(folder, grid, rounds, pool)


def read_run_config(folder: RunFolder) -> tuple[SweepSpec, Settings, int, dict[str, Any]]:
    """What a run folder was started with — its grid, settings, rounds and metadata — which ``--resume`` and
    every later round continue."""
    meta = folder.read_metadata()
    if meta.get("kind") != "run":
        raise ConfigError(f"{folder.path} was not written by 'rnnbench run' (kind={meta.get('kind')!r}).")
    spec = SweepSpec.from_dict(meta["spec"])
    settings = Settings(**meta["settings"])
    return spec, settings, int(meta.get("rounds", 1)), meta


def _stored_grid(spec: SweepSpec, meta: dict[str, Any]) -> RunGrid:
    """The grid a folder was started with, re-derived from its metadata (same spec, shard and pool)."""
    shard = meta.get("shard")
    return expand_grid(spec, (int(shard[0]), int(shard[1])) if shard else None, meta.get("pool"))


def open_run(path: Path | str) -> SweepRun:
    """An existing run folder, for ``--resume``, owned by this process from here on (a second process gets
    ``FolderInUseError``; a killed owner's lock does not count): nothing lost (finished rows are kept), nothing
    twice (each round skips the cases already in ``summary.csv``). A torn last line (the kill cut a write off)
    is cut and reported in ``repairs``; any other line that is not a row is a ``SchemaError`` naming it."""
    folder = RunFolder.open_existing(path, own=True)
    try:
        repairs = folder.repair()
        spec, _, rounds, meta = read_run_config(folder)
        from rnnbench.measure.runner import done_keys

        done_keys(folder)  # every row readable, before anything runs
        return SweepRun(folder, _stored_grid(spec, meta), rounds, meta.get("pool"), repairs=tuple(repairs))
    except BaseException:
        folder.release()
        raise


# ---- rounds ------------------------------------------------------------------------------------------------
def run_round_here(
    folder: RunFolder,
    round_index: int,
    on_progress: OnProgress,
    part: int | None = None,
    cases: list[Case] | None = None,
) -> None:
    """Run one round in this process; calibration results are saved to the metadata for later rounds.

    ``cases`` are the folder's cases when the caller has its grid already (``execute``); a worker process,
    which has only the folder, leaves them out and derives its pool ``part`` of the stored grid."""
    spec, settings, _, meta = read_run_config(folder)
    if RUN_ROOT_ENV not in os.environ:
        mark_run_root()  # a round in this process: this process is the run (workers inherit the coordinator's)
    ctx = RoundContext(
        folder=folder,
        run_id=str(meta["run_id"]),
        round_index=round_index,
        settings=settings,
        fingerprints=dict(meta.get("fingerprint", {})),
        calibration=dict(meta.get("calibration", {})),
    )
    if cases is None:
        cases = _stored_grid(spec, meta).part(part)

    def save_calibration() -> None:
        folder.update_metadata(calibration={k: v for k, v in ctx.calibration.items() if v == v})

    try:
        run_round(cases, ctx, on_progress)
    except BaseException:
        with contextlib.suppress(Exception):  # the round's own error is the one to report
            save_calibration()
        raise
    save_calibration()


def _worker_command(folder: RunFolder, round_index: int, part: int | None, python: str | None) -> list[str]:
    cmd = [python or sys.executable, "-m", "rnnbench.measure.worker", str(folder.path), str(round_index)]
    return cmd + ([str(part)] if part is not None else [])


def _relay(proc: subprocess.Popen[str], on_progress: OnProgress) -> None:
    """A worker's stdout carries one ``ProgressEvent`` JSON object per line; anything else (a stray print from
    a library) is not an event and is skipped."""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("{"):
            on_progress(ProgressEvent.from_json(line))


def _relay_then_close(proc: subprocess.Popen[str], events: Any) -> None:
    _relay(proc, events.put)
    events.put(None)


def run_round_in_worker(
    folder: RunFolder, round_index: int, on_progress: OnProgress, python: str | None = None
) -> None:
    """Run one round in a fresh ``python -m rnnbench.measure.worker`` process, relaying its JSON-line events."""
    run_round_in_workers(folder, round_index, on_progress, [None], python)


def run_round_in_workers(
    folder: RunFolder,
    round_index: int,
    on_progress: OnProgress,
    parts: list[int | None],
    python: str | None = None,
) -> None:
    """One fresh worker process per pool part (device), running concurrently; events from all are relayed
    in order of arrival (from this thread only, so ``on_progress`` needs no locking)."""
    import queue
    import threading

    events: queue.Queue[ProgressEvent | None] = queue.Queue()
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    threads = []
    try:
        for part in parts:
            suffix = f"-part{part}" if part is not None else ""
            log_path = folder.path / f"worker-round{round_index}{suffix}.log"
            try:
                log = log_path.open("w")
            except OSError as exc:
                raise StorageError(log_path, exc, "create") from exc
            proc = subprocess.Popen(
                _worker_command(folder, round_index, part, python),
                stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, PARENT_ENV: str(os.getpid()), **mark_run_root()},
            )  # fmt: skip
            log.close()
            procs.append((proc, log_path))
            thread = threading.Thread(target=_relay_then_close, args=(proc, events), daemon=True)
            thread.start()
            threads.append(thread)
        finished = 0
        while finished < len(procs):
            event = events.get()
            if event is None:
                finished += 1
            else:
                on_progress(event)
        codes = [proc.wait() for proc, _ in procs]
    except KeyboardInterrupt:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.wait()
        raise
    failed = [(code, log) for code, (_, log) in zip(codes, procs, strict=True) if code != 0]
    if failed:
        code, log_path = failed[0]
        tail = "\n".join(file_tail(log_path, 30))
        stated = [line for line in tail.splitlines() if line.startswith("Error: ")]
        if code == EXIT_USAGE and stated:  # the worker's own one-line error (a full disk, a bad row)
            raise RnnbenchError(stated[-1].removeprefix("Error: "))
        raise BenchmarkFailedError(
            f"round {round_index} worker exited with {code}; its log ({log_path}):\n{tail}"
        )


def execute(
    run: SweepRun,
    on_progress: OnProgress,
    fresh_processes: bool | None = None,
    runner: RoundRunner | None = None,
) -> None:
    """Run (or finish) every round of ``run``. One round runs in this process unless ``fresh_processes``;
    several rounds always run in fresh worker processes; a device pool runs one worker per device. Marks the
    folder complete, interrupted or failed, and releases it (removing its lock files) however it ends. An
    operating-system error on the folder (a full disk) is a ``StorageError`` that says how to continue."""
    try:
        _execute_owned(run, on_progress, fresh_processes, runner)
    except StorageError as exc:
        raise exc.with_hint(
            f"finished cases are kept; once fixed, continue with: rnnbench run --resume {run.folder.path}"
        ) from exc
    finally:
        run.folder.release()


def _execute_owned(
    run: SweepRun, on_progress: OnProgress, fresh_processes: bool | None, runner: RoundRunner | None
) -> None:
    folder, pool = run.folder, run.pool
    folder.acquire()  # already held since start_run/open_run; re-entrant
    try:
        removed = drop_orphan_samples(folder)
    except BaseException:
        folder.mark("failed")
        raise
    if removed:
        on_progress(ProgressEvent("warning", message=f"dropped {removed} sample rows of an unfinished case"))
    use_workers = run.rounds > 1 if fresh_processes is None else fresh_processes
    run_one: RoundRunner
    if runner is not None:
        run_one = runner
    elif pool:

        def run_one(f: RunFolder, r: int, progress: OnProgress) -> None:
            run_round_in_workers(f, r, progress, list(range(len(pool))))
    elif use_workers:
        run_one = run_round_in_worker
    else:

        def run_one(f: RunFolder, r: int, progress: OnProgress) -> None:
            run_round_here(f, r, progress, cases=run.grid.cases)

    try:
        folder.update_metadata(status="running")
        for r in range(run.rounds):
            run_one(folder, r, on_progress)
        folder.update_metadata(status="complete", finished_at=now_iso())
    except KeyboardInterrupt:
        folder.mark("interrupted")
        raise
    except BaseException:
        folder.mark("failed")
        raise
