"""A whole ``rnnbench run``: create the run folder, run each round (in-process or in a fresh worker process),
resume an interrupted run. Rounds are the replication unit comparisons need: each one re-imports torch,
rebuilds every model and re-runs every kernel selection, so its median is independent of the others'.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnbench.core.spec import Case, Settings, SweepSpec
from rnnbench.errors import BenchmarkFailedError, ConfigError, DeviceUnavailableError
from rnnbench.measure.runner import OnEvent, RoundContext, drop_orphan_samples, run_round
from rnnbench.results.folder import RunFolder, new_run_id


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


def row_fingerprint(env: dict[str, Any], device: str, threads: int) -> str:
    from rnnbench.measure.env import fingerprint, fingerprint_keys

    return fingerprint(fingerprint_keys(env, device, threads))


def start_run(
    spec: SweepSpec,
    settings: Settings,
    rounds: int,
    output: Path,
    run_id: str | None = None,
    command: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    pool: list[str] | None = None,
) -> RunFolder:
    """Create ``output/<run-id>/`` with its metadata (environment, fingerprint, spec, settings).

    ``shard=(k, n)`` keeps only shard k of n of the grid (see ``rnnbench.measure.shard``). ``pool`` (several
    GPUs) splits the grid across those devices, one concurrent worker per device, all writing to this folder."""
    from rnnbench.measure.env import capture

    if rounds < 1:
        raise ConfigError(f"--rounds must be ≥ 1, got {rounds}.")
    run_id = run_id or (new_run_id() + (f"-shard{shard[0]}of{shard[1]}" if shard else ""))
    if (Path(output) / run_id).exists():
        raise ConfigError(
            f"{Path(output) / run_id} already exists; pick another --run-id, or continue it with --resume."
        )
    env = capture()
    keys, prints = _fingerprints(env, spec)
    return RunFolder.create(
        Path(output),
        {
            "kind": "run",
            "command": command or sys.argv,
            "started_at": _dt.datetime.now().isoformat(timespec="seconds"),
            "status": "running",
            "env": env,
            "fingerprint_keys": keys,
            "fingerprint": prints,
            "spec": spec.to_dict(),
            "settings": dataclasses.asdict(settings),
            "rounds": rounds,
            "calibration": {},
            "grid_cases": len(spec.expand()),
            "shard": list(shard) if shard else None,
            "pool": pool,
        },
        run_id=run_id,
    )


def read_run_config(folder: RunFolder) -> tuple[SweepSpec, Settings, int, dict[str, Any]]:
    """What a run folder was started with — its grid, settings, rounds and metadata — which ``--resume`` and
    every later round continue."""
    meta = folder.read_metadata()
    if meta.get("kind") != "run":
        raise ConfigError(f"{folder.path} was not written by 'rnnbench run' (kind={meta.get('kind')!r}).")
    spec = SweepSpec.from_dict(meta["spec"])
    settings = Settings(**meta["settings"])
    return spec, settings, int(meta.get("rounds", 1)), meta


def planned_cases(folder: RunFolder, part: int | None = None) -> list[Case]:
    """The cases this folder measures: the grid, cut to its shard; in a device pool, the part of worker
    ``part`` (an index into the pool; each case once, on the device that ran it), or — with ``None`` — all."""
    from rnnbench.measure.shard import partition, shard_of

    spec, _, _, meta = read_run_config(folder)
    pool = meta.get("pool")
    if pool:
        spec = dataclasses.replace(spec, device=(pool[0],))
    cases = spec.expand()
    if meta.get("shard"):
        k, n = meta["shard"]
        cases = shard_of(cases, int(k), int(n))
    if not pool:
        return cases
    parts = partition(cases, len(pool))
    indices = [part] if part is not None else range(len(pool))
    return [dataclasses.replace(c, device=pool[i]) for i in indices for c in parts[i]]


def round_context(
    folder: RunFolder, round_index: int, part: int | None = None
) -> tuple[list[Case], RoundContext]:
    _, settings, _, meta = read_run_config(folder)
    ctx = RoundContext(
        folder=folder,
        run_id=str(meta["run_id"]),
        round_index=round_index,
        settings=settings,
        fingerprints=dict(meta.get("fingerprint", {})),
        calibration=dict(meta.get("calibration", {})),
    )
    return planned_cases(folder, part), ctx


def run_round_here(folder: RunFolder, round_index: int, on_event: OnEvent, part: int | None = None) -> None:
    """Run one round in this process; calibration results are saved to the metadata for later rounds."""
    cases, ctx = round_context(folder, round_index, part)
    try:
        run_round(cases, ctx, on_event)
    finally:
        folder.update_metadata(calibration={k: v for k, v in ctx.calibration.items() if v == v})


def _worker_command(folder: RunFolder, round_index: int, part: int | None, python: str | None) -> list[str]:
    cmd = [python or sys.executable, "-m", "rnnbench.measure.worker", str(folder.path), str(round_index)]
    return cmd + ([str(part)] if part is not None else [])


def _relay(proc: subprocess.Popen[str], on_event: OnEvent) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("{"):
            on_event(json.loads(line))


def _relay_then_close(proc: subprocess.Popen[str], events: Any) -> None:
    _relay(proc, events.put)
    events.put(None)


def run_round_in_worker(
    folder: RunFolder, round_index: int, on_event: OnEvent, python: str | None = None
) -> None:
    """Run one round in a fresh ``python -m rnnbench.measure.worker`` process, relaying its JSON-line events."""
    run_round_in_workers(folder, round_index, on_event, [None], python)


def run_round_in_workers(
    folder: RunFolder,
    round_index: int,
    on_event: OnEvent,
    parts: list[int | None],
    python: str | None = None,
) -> None:
    """One fresh worker process per pool part (device), running concurrently; events from all are relayed
    in order of arrival (from this thread only, so ``on_event`` needs no locking)."""
    import queue
    import threading

    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    threads = []
    try:
        for part in parts:
            suffix = f"-part{part}" if part is not None else ""
            log_path = folder.path / f"worker-round{round_index}{suffix}.log"
            log = log_path.open("w")
            proc = subprocess.Popen(
                _worker_command(folder, round_index, part, python),
                stdout=subprocess.PIPE, stderr=log, text=True, env=os.environ.copy(),
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
                on_event(event)
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
        tail = log_path.read_text()[-2000:]
        raise BenchmarkFailedError(
            f"round {round_index} worker exited with {code}; its log ({log_path}):\n{tail}"
        )


def execute(
    folder: RunFolder,
    on_event: OnEvent,
    fresh_processes: bool | None = None,
    runner: Callable[[RunFolder, int, OnEvent], None] | None = None,
) -> None:
    """Run (or finish) every round. One round runs in this process unless ``fresh_processes``; several rounds
    always run in fresh worker processes. Marks the folder complete, interrupted or failed."""
    _, _, rounds, meta = read_run_config(folder)
    removed = drop_orphan_samples(folder)
    if removed:
        on_event({"event": "warning", "message": f"dropped {removed} sample rows of an unfinished case"})
    pool = meta.get("pool")
    use_workers = rounds > 1 if fresh_processes is None else fresh_processes
    run: Callable[[RunFolder, int, OnEvent], None]
    if runner is not None:
        run = runner
    elif pool:

        def run(f: RunFolder, r: int, ev: OnEvent) -> None:
            run_round_in_workers(f, r, ev, list(range(len(pool))))
    else:
        run = run_round_in_worker if use_workers else run_round_here
    folder.update_metadata(status="running")
    try:
        for r in range(rounds):
            run(folder, r, on_event)
    except KeyboardInterrupt:
        folder.update_metadata(status="interrupted")
        raise
    except BaseException:
        folder.update_metadata(status="failed")
        raise
    folder.update_metadata(status="complete", finished_at=_dt.datetime.now().isoformat(timespec="seconds"))
