"""A whole ``rnnbench run``: create the run folder, run each round (in-process or in a fresh worker process),
resume an interrupted run. Rounds are the replication unit comparisons need: each one re-imports torch,
rebuilds every model and re-runs every kernel selection, so its median is independent of the others'.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnbench.errors import BenchmarkFailedError, ConfigError, DeviceUnavailableError
from rnnbench.results import RunFolder, new_run_id
from rnnbench.runner import OnEvent, RoundContext, drop_orphan_samples, run_round
from rnnbench.spec import Case, Settings, SweepSpec


def resolve_devices(spec: SweepSpec) -> tuple[SweepSpec, list[str]]:
    """Concrete devices (``auto`` → cuda:0 or cpu, ``cuda`` → cuda:0). Absent devices are kept so their cases
    become ``skipped`` rows — unless every device asked for is absent, which is an error."""
    from rnnbench.devices import parse_device, resolve_device

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


def _fingerprints(env: dict[str, Any], spec: SweepSpec) -> tuple[dict[str, Any], dict[str, str]]:
    from rnnbench.env import fingerprint, fingerprint_keys

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
    from rnnbench.env import fingerprint, fingerprint_keys

    return fingerprint(fingerprint_keys(env, device, threads))


def start_run(
    spec: SweepSpec,
    settings: Settings,
    rounds: int,
    output: Path,
    run_id: str | None = None,
    command: list[str] | None = None,
) -> RunFolder:
    """Create ``output/<run-id>/`` with its metadata (environment, fingerprint, spec, settings)."""
    from rnnbench.env import capture

    if rounds < 1:
        raise ConfigError(f"--rounds must be ≥ 1, got {rounds}.")
    run_id = run_id or new_run_id()
    if (Path(output) / run_id).exists():
        raise ConfigError(
            f"{Path(output) / run_id} already exists; pick another --run-id, or continue it with --resume."
        )
    env = capture()
    keys, prints = _fingerprints(env, spec)
    import datetime as _dt

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
            "cases": len(spec.expand()),
        },
        run_id=run_id,
    )


def load_plan(folder: RunFolder) -> tuple[SweepSpec, Settings, int, dict[str, Any]]:
    meta = folder.read_metadata()
    if meta.get("kind") != "run":
        raise ConfigError(f"{folder.path} was not written by 'rnnbench run' (kind={meta.get('kind')!r}).")
    spec = SweepSpec.from_dict(meta["spec"])
    settings = Settings(**meta["settings"])
    return spec, settings, int(meta.get("rounds", 1)), meta


def round_context(folder: RunFolder, round_index: int) -> tuple[list[Case], RoundContext]:
    spec, settings, _, meta = load_plan(folder)
    cases = spec.expand()
    ctx = RoundContext(
        folder=folder,
        run_id=str(meta["run_id"]),
        round_index=round_index,
        settings=settings,
        fingerprints=dict(meta.get("fingerprint", {})),
        calibration=dict(meta.get("calibration", {})),
    )
    return cases, ctx


def run_round_here(folder: RunFolder, round_index: int, on_event: OnEvent) -> None:
    """Run one round in this process; calibration results are saved to the metadata for later rounds."""
    cases, ctx = round_context(folder, round_index)
    try:
        run_round(cases, ctx, on_event)
    finally:
        meta = folder.read_metadata()
        calibration = {**meta.get("calibration", {}), **{k: v for k, v in ctx.calibration.items() if v == v}}
        folder.update_metadata(calibration=calibration)


def run_round_in_worker(
    folder: RunFolder, round_index: int, on_event: OnEvent, python: str | None = None
) -> None:
    """Run one round in a fresh ``python -m rnnbench.worker`` process, relaying its JSON-line events."""
    log_path = folder.path / f"worker-round{round_index}.log"
    cmd = [python or sys.executable, "-m", "rnnbench.worker", str(folder.path), str(round_index)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=os.environ.copy())
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.strip()
                if line.startswith("{"):
                    on_event(json.loads(line))
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
    if code != 0:
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
    _, _, rounds, _ = load_plan(folder)
    removed = drop_orphan_samples(folder)
    if removed:
        on_event({"event": "warning", "message": f"dropped {removed} sample rows of an unfinished case"})
    use_workers = rounds > 1 if fresh_processes is None else fresh_processes
    run = runner or (run_round_in_worker if use_workers else run_round_here)
    import datetime as _dt

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
