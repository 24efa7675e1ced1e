"""A whole training comparison in one run folder: every unit of the spec, resumable.

The comparison is only fair when the arms differ in nothing but the cell (docs/training.md, "Protocol"), so
every unit of a spec shares: the task's data stream for a seed (common random numbers: the generator seed
depends on task, length and seed, never on the arm, size or learning rate), the fixed held-out evaluation set,
Adam with gradient-norm clipping at 1.0, the number of steps × batch, and — by default — the total parameter
count (recurrent layers plus the linear head), solved per arm from one budget.

The library never prints: ``run_training`` reports through a ``progress`` callback (``core.progress``
events) and writes rows to the run folder (curves first, then the unit's summary row, each flushed), so a
killed run loses at most the unit it was in, and ``resume`` skips every (task, arm, seed, length, size, lr)
unit that has a summary row and drops curve rows of units that have none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.core.values import now_iso
from rnnbench.core.vocab import ARM_ARCH
from rnnbench.errors import ConfigError, RnnbenchError, UnsupportedError
from rnnbench.learn.loop import HeldOut, UnitResult, _error_row, done_event, train_unit
from rnnbench.learn.sizing import expand_units
from rnnbench.learn.spec import GRAD_CLIP, MATCH_TOLERANCE, REFERENCE_ARM, TrainSpec, unit_key, validate
from rnnbench.learn.tasks import Task, make_task
from rnnbench.measure.numerics import policy_name, set_tf32
from rnnbench.results.folder import RunFolder


# ---- the whole comparison ------------------------------------------------------------------------------
def build_tasks(spec: TrainSpec) -> dict[str, Task]:
    """Construct each task once (data tasks load their data here)."""
    options = spec.task_options()
    return {name: make_task(name, options) for name in spec.tasks}


def held_out_sets(task: Task, seq_len: int, spec: TrainSpec, device: str) -> HeldOut:
    """Fixed-seed evaluation set (and a validation set when learning rates are swept)."""
    ev = task.held_out(seq_len, spec.eval_size, "eval")
    baseline = task.baseline(seq_len, ev)
    val = task.held_out(seq_len, spec.val_size, "val").to(device) if spec.lr_sweep else None
    return HeldOut(ev.to(device), val, baseline)


def check_supported(spec: TrainSpec, device: str) -> None:
    """Refuse, before anything trains, an arm whose implementation (``TrainSpec.impl_for``) cannot train its
    architecture at this device and dtype — per arm: ``--impl compiled`` may work for the LSTM and not on this
    machine at all, while minGRU's default (``scan``) is a different implementation from the LSTM's."""
    from rnnbench.measure.models.build import unsupported_reason

    for arm, impl in spec.arm_impls().items():
        reason = unsupported_reason(
            impl, mode="train", device_type=device.split(":")[0], dtype=spec.dtype, arch=ARM_ARCH[arm]
        )
        if reason:
            raise UnsupportedError(f"arm {arm} (implementation {impl}): {reason}")


def finished_keys(folder: RunFolder) -> set[tuple[str, str, int, int, str, int, float]]:
    """Units that have a summary row; drops curve rows of any other unit (a kill between the two writes)."""
    rows = folder.table("train_summary").read_rows()
    done = {
        unit_key(r["task"], r["arm"], r["seed"], r["seq_len"], r["match"], r["budget"], r["lr"]) for r in rows
    }
    curves = folder.table("curves")
    curve_rows = curves.read_rows()
    kept = [
        r
        for r in curve_rows
        if unit_key(r["task"], r["arm"], r["seed"], r["seq_len"], r["match"], r["budget"], r["lr"]) in done
    ]
    if len(kept) != len(curve_rows):
        curves.rewrite(kept)
    return done


def run_training(
    spec: TrainSpec,
    folder: RunFolder,
    progress: OnProgress | None = None,
    tasks: Mapping[str, Task] | None = None,
) -> list[dict[str, Any]]:
    """Run every unit of the plan not yet in ``folder`` and return all its summary rows (as strings, read
    back from the file, so resumed and fresh runs summarise alike).

    Per-unit failures (an unsupported dtype, out of memory) become ``error`` rows and the plan continues;
    ``RnnbenchError`` for bad settings is raised before anything trains. Ctrl-C marks the folder
    ``interrupted`` and re-raises; every finished unit is already on disk.

    Choosing each arm's learning rate is analysis, not training: ``rnnbench train`` records metadata.json's
    ``selected_lr`` from ``analyse.training.summarize`` once this returns (``learn`` never imports ``analyse``).
    """
    from rnnbench.measure.devices import resolve_device

    emit = progress or ignore
    spec = validate(spec)
    device = resolve_device(spec.device)
    check_supported(spec, device)
    tasks = dict(tasks) if tasks is not None else build_tasks(spec)
    units = expand_units(spec, tasks)
    folder.acquire()  # one writer per folder (re-entrant: the CLI already owns it)
    done = finished_keys(folder)
    summary = folder.table("train_summary")
    curves = folder.table("curves")
    threads_before = torch.get_num_threads()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    set_tf32(spec.tf32)  # one numeric policy for every arm (measure.numerics)
    emit(ProgressEvent("plan", done=sum(u.key in done for u in units), total=len(units)))
    folder.update_metadata(status="running")
    cache: dict[tuple[str, int], HeldOut] = {}
    try:
        for unit in units:
            if unit.key in done:
                emit(ProgressEvent("skip", unit.label(), subject=unit))
                continue
            task = tasks[unit.task]
            if (unit.task, unit.seq_len) not in cache:
                cache[(unit.task, unit.seq_len)] = held_out_sets(task, unit.seq_len, spec, device)
            held = cache[(unit.task, unit.seq_len)]
            try:
                result = train_unit(task, unit, spec, held, device, emit)
            except (RnnbenchError, KeyboardInterrupt):
                raise
            except (RuntimeError, ValueError, NotImplementedError) as exc:
                result = UnitResult(_error_row(task, unit, spec, held, device, exc))
                emit(done_event(unit, result.row))
            curves.append(result.curves)  # curves first: a kill before the summary row leaves orphans,
            summary.append([result.row])  # which finished_keys drops on resume
            done.add(unit.key)
    except KeyboardInterrupt:
        folder.mark("interrupted", finished_at=now_iso())
        raise
    except BaseException:  # a full disk, a bug: never left 'running'
        folder.mark("failed", finished_at=now_iso())
        raise
    finally:
        torch.set_num_threads(threads_before)
    rows = summary.read_rows()
    folder.update_metadata(status="complete", finished_at=now_iso())
    return rows


def new_metadata(spec: TrainSpec, command: Sequence[str], tasks: Mapping[str, Task]) -> dict[str, Any]:
    """What ``metadata.json`` records for a training run (environment captured here, torch imported)."""
    info = {}
    for name, task in tasks.items():
        info[name] = {
            "summary": task.summary,
            "metric": task.metric_name,
            "score": task.score_name,
            "target": task.target_text,
            "seq_len_meaning": task.seq_len_meaning,
            "input_size": task.input_size,
            "output_size": task.output_size,
        }
    return {
        "kind": "train",
        "command": list(command),
        "started_at": now_iso(),
        "status": "running",
        "env": _capture_under_policy(spec),
        "settings": spec.to_dict(),
        "protocol": {
            "optimizer": "Adam",
            "grad_clip_norm": GRAD_CLIP,
            "lr_grid": list(spec.sweep_lrs),
            "lr_selection": (
                "per (task, length, size, arm): lowest median val_metric over seeds (a diverged or failed run "
                "counts as the worst); ties: smaller; none chosen when a run that trained lacks val_metric "
                "(never on the evaluation metric)"
            ),
            "math": policy_name(spec.tf32),
            "precision": {
                "float32": "as is",
                "float16": "autocast, gradient scaler on CUDA, float32 weights",
                "bfloat16": "network cast to bfloat16, float32 master weights (no autocast)",
            }[spec.dtype],
            "match_tolerance": MATCH_TOLERANCE,
            "reference_arm": REFERENCE_ARM,
            "impl_per_arm": spec.arm_impls(),
            "data_seed": "crc32('task|seq_len|seed'): identical stream for every arm, size and lr",
        },
        "tasks": info,
    }


def _capture_under_policy(spec: TrainSpec) -> dict[str, Any]:
    """The environment as the run will compute: its numeric flags are the policy, not torch's defaults."""
    from rnnbench.measure.env import capture

    set_tf32(spec.tf32)
    return capture()


def load_spec(folder: RunFolder) -> TrainSpec:
    """The settings a training folder was started with, for ``--resume``."""
    meta = folder.read_metadata()
    if meta.get("kind") != "train" or "settings" not in meta:
        raise ConfigError(
            f"{folder.path}: this folder was not written by 'rnnbench train' (metadata kind "
            f"{meta.get('kind')!r}); pass a folder from a training run to --resume."
        )
    return TrainSpec.from_dict(meta["settings"])
