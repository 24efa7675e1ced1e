"""The training loop of one unit: batches, optimiser, evaluation, rows.

Progress goes out as ``core.progress.ProgressEvent`` values (the ``Unit`` in ``subject``, its label in
``label``, the step in ``done`` of ``total``, figures in ``values``), the one event type every long job uses.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from rnnbench.core.progress import OnProgress, ProgressEvent, ignore
from rnnbench.core.values import now_iso
from rnnbench.errors import UnsupportedError
from rnnbench.learn.network import Network, build_network
from rnnbench.learn.precision import Precision
from rnnbench.learn.sizing import data_seed, match_note
from rnnbench.learn.spec import TrainSpec, Unit
from rnnbench.learn.tasks import Batch, Evaluation, Task


@dataclass(frozen=True)
class HeldOut:
    """A task's fixed held-out sets at one length, on the device, and the chance baseline on ``eval``."""

    eval: Batch
    val: Batch | None
    baseline: float


@dataclass
class UnitResult:
    row: dict[str, Any]
    curves: list[dict[str, Any]] = field(default_factory=list)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate(
    model: Precision | Network, task: Task, batch: Batch, spec: TrainSpec, device: str, chunk: int = 256
) -> Evaluation:
    """The task's metric on a whole held-out batch, computed in chunks to bound memory, by the network that
    trains (so at the run's compute dtype)."""
    network = model.network if isinstance(model, Precision) else model
    predict: Callable[[Batch], torch.Tensor] = (
        model.predict if isinstance(model, Precision) else (lambda part: model(part).float())
    )

    network.eval()
    preds = [predict(part) for part in batch.split(chunk)]
    network.train()
    pred = torch.cat(preds, dim=1 if task.readout == "all" else 0)
    return task.evaluate(pred, batch)


def _batches(task: Task, unit: Unit, spec: TrainSpec) -> Iterator[Batch]:
    """The training stream for ``unit``'s seed: fresh batches, or minibatches of a fixed pool."""
    gen = torch.Generator().manual_seed(data_seed(unit.task, unit.seq_len, unit.seed))
    if spec.train_size:
        pool = task.sample(gen, spec.train_size, unit.seq_len, "train")
        while True:
            yield pool.select(torch.randint(0, spec.train_size, (spec.batch_size,), generator=gen))
    while True:
        yield task.sample(gen, spec.batch_size, unit.seq_len, "train")


def _finite(value: float | None) -> float:
    return math.nan if value is None or not math.isfinite(value) else float(value)


def train_unit(
    task: Task,
    unit: Unit,
    spec: TrainSpec,
    held: HeldOut,
    device: str,
    progress: OnProgress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> UnitResult:
    """Train one unit and return its summary row and curve rows (nothing is written here).

    ``train_seconds`` counts only training segments (batch generation, forward, backward, clipping, the
    optimiser step), with a device synchronisation before each clock read; evaluation is excluded. A NaN or
    infinite training loss stops the unit as ``diverged``.
    """
    emit = progress or ignore
    label = unit.label()
    precision = Precision(lambda: build_network(task, unit, spec, device), spec.dtype, device, unit.lr)
    base = _base_row(task, unit, spec, held, device)
    curves: list[dict[str, Any]] = []
    steps_to_target: int | None = None
    seconds_to_target: float | None = None
    train_s = 0.0
    seg_loss, seg_n = 0.0, 0
    last_eval = Evaluation(math.nan)
    solved = False

    def record(step: int, loss: float) -> None:
        nonlocal steps_to_target, seconds_to_target, last_eval, solved
        last_eval = evaluate(precision, task, held.eval, spec, device)
        solved = task.solved(last_eval, unit.seq_len, held.baseline)
        if solved and steps_to_target is None:
            steps_to_target, seconds_to_target = step, train_s
        curves.append(
            {
                **_curve_keys(unit),
                "step": step,
                "train_seconds": train_s,
                "train_loss": loss,
                "eval_metric": _finite(last_eval.metric),
                "eval_score": last_eval.score,
            }
        )
        emit(
            ProgressEvent(
                "eval",
                label,
                done=step,
                total=spec.steps,
                values={"metric": last_eval.metric, "score": last_eval.score},
                subject=unit,
            )
        )

    emit(ProgressEvent("start", label, total=spec.steps, subject=unit))
    record(0, math.nan)
    stream = _batches(task, unit, spec)
    status, message, step = "ok", match_note(unit), 0
    report_every = max(1, spec.steps // 200)
    _sync(device)
    t0 = clock()
    for step in range(1, spec.steps + 1):
        batch = next(stream).to(device)
        loss = task.loss(precision.predict(batch), batch)
        precision.step(loss)
        value = float(loss.detach())
        if not math.isfinite(value):
            _sync(device)
            train_s += clock() - t0
            status, message = "diverged", f"training loss became {value} at step {step}"
            curves.append({**_curve_keys(unit), "step": step, "train_seconds": train_s, "train_loss": value})
            last_eval = Evaluation(math.nan)
            solved = False
            break
        seg_loss += value
        seg_n += 1
        if step % report_every == 0:
            emit(
                ProgressEvent(
                    "step", label, done=step, total=spec.steps, values={"loss": seg_loss / seg_n}, subject=unit
                )
            )
        if step % spec.eval_every == 0 or step == spec.steps:
            _sync(device)
            train_s += clock() - t0
            record(step, seg_loss / seg_n)
            seg_loss, seg_n = 0.0, 0
            if spec.stop_at_target and solved:
                break
            t0 = clock()
    val_metric = math.nan
    if held.val is not None and status == "ok":
        val_metric = evaluate(precision, task, held.val, spec, device).metric
    final = _finite(last_eval.metric)
    row = {
        **base,
        "steps": step,
        "train_seconds": train_s,
        "seconds_per_step": train_s / step if step else math.nan,
        "final_metric": final,
        "normalized_metric": final / held.baseline if held.baseline else math.nan,
        "score": last_eval.score if status == "ok" else None,
        "val_metric": _finite(val_metric),
        "solved": bool(solved and status == "ok"),
        "steps_to_target": steps_to_target,
        "seconds_to_target": seconds_to_target,
        "diverged": status == "diverged",
        "status": status,
        "message": message,
        "compute_dtype": precision.observed or "",
    }
    emit(done_event(unit, row, step, spec.steps))
    return UnitResult(row, curves)


def done_event(unit: Unit, row: dict[str, Any], step: int = 0, total: int = 0) -> ProgressEvent:
    """A unit finished (trained, diverged or failed): its status, and the summary row in ``values["row"]``."""
    return ProgressEvent(
        "done",
        unit.label(),
        done=step,
        total=total,
        status=str(row.get("status", "")),
        values={"metric": row.get("final_metric", math.nan), "row": row},
        subject=unit,
    )


def _curve_keys(unit: Unit) -> dict[str, Any]:
    return {
        "task": unit.task,
        "arm": unit.arm,
        "seed": unit.seed,
        "seq_len": unit.seq_len,
        "hidden_size": unit.hidden_size,
        "lr": unit.lr,
        "match": unit.match,
        "budget": unit.budget,
    }


def _base_row(task: Task, unit: Unit, spec: TrainSpec, held: HeldOut, device: str) -> dict[str, Any]:
    return {
        **_curve_keys(unit),
        "params": unit.params,
        "baseline_metric": held.baseline,
        "metric": task.metric_name,
        "score_name": task.score_name,
        "impl": unit.impl,
        "device": device,
        "dtype": spec.dtype,
        "batch_size": spec.batch_size,
        "train_size": spec.train_size,
        "num_layers": spec.layers,
        "input_size": task.input_size,
        "eval_seq_len": task.eval_seq_len(unit.seq_len),
        "started_at": now_iso(),
    }


def _error_row(
    task: Task, unit: Unit, spec: TrainSpec, held: HeldOut, device: str, exc: Exception
) -> dict[str, Any]:
    return {
        **_base_row(task, unit, spec, held, device),
        "steps": 0,
        "solved": False,
        "diverged": False,
        "status": "unsupported" if isinstance(exc, UnsupportedError) else "error",
        "message": f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500],
    }
