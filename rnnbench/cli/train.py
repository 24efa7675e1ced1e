"""``rnnbench train``: which cell learns a long-range task — LSTM, LSTM with forget bias +1, GRU or a plain
RNN — at matched parameters, over seeds, with intervals. Thin: parse → ``TrainSpec`` →
``learn.session.run_training`` → ``analyse.training.summarize`` → ``present.training`` → print.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rnnbench.cli.app import MultiValueCommand, app, err_console, out_console
from rnnbench.core.parsing import parse_floats, parse_ints, split_values
from rnnbench.core.values import now_iso
from rnnbench.errors import BenchmarkFailedError, ConfigError, StorageError

if TYPE_CHECKING:
    from rich.console import Console

    from rnnbench.analyse.training import TrainSummary
    from rnnbench.core.progress import ProgressEvent
    from rnnbench.learn.spec import TrainSpec
    from rnnbench.results.folder import RunFolder

TASK_NAMES = "adding, copy, selective-copy, temporal-order, parity, anbn, charlm, series, digits"


@app.command("train", cls=MultiValueCommand)
def train_command(
    preset: str | None = typer.Option(
        None, "--preset", help="quick (adding + copy, lstm vs gru, 3 seeds, ~1-2 min on 2 cores) or full."
    ),
    task: list[str] | None = typer.Option(None, "--task", "-t", help=f"Tasks: {TASK_NAMES}. Default: adding."),
    arm: list[str] | None = typer.Option(
        None, "--arm", "-a", help="Arms: lstm, lstm-fb1 (forget bias +1), gru, rnn. Default: lstm gru."
    ),
    seeds: int | None = typer.Option(None, "--seeds", help="Number of seeds (0..N-1). Default 3."),
    seq_len: list[str] | None = typer.Option(
        None, "--seq-len", "-T", help="Lengths (several = memory-horizon sweep). Default: each task's own."
    ),
    match: str | None = typer.Option(
        None,
        "--match",
        help="params (default): hidden sizes solved to equal total parameters; hidden: equal H.",
    ),
    hidden: list[str] | None = typer.Option(
        None,
        "--hidden",
        help="Hidden sizes; with --match params the budget is the LSTM's parameters at H. Default 64.",
    ),
    params: list[str] | None = typer.Option(None, "--params", help="Parameter budgets (head included)."),
    layers: int | None = typer.Option(None, "--layers", help="Stacked recurrent layers. Default 1."),
    lr: list[str] | None = typer.Option(
        None,
        "--lr",
        help="One rate for every arm, or several for a per-arm sweep. Default: sweep 1e-3 3e-3 1e-2.",
    ),
    steps: int | None = typer.Option(None, "--steps", help="Adam steps per run. Default 1000."),
    batch: int | None = typer.Option(None, "--batch", help="Sequences per step. Default 32."),
    eval_every: int | None = typer.Option(None, "--eval-every", help="Steps between evaluations. Default 100."),
    eval_size: int | None = typer.Option(
        None, "--eval-size", help="Held-out evaluation sequences. Default 512."
    ),
    val_size: int | None = typer.Option(
        None, "--val-size", help="Validation sequences (lr sweep). Default 256."
    ),
    train_size: int | None = typer.Option(
        None, "--train-size", help="Train on a fixed pool of N sequences per seed (0 = fresh data every step)."
    ),
    stop_at_target: bool | None = typer.Option(
        None,
        "--stop-at-target/--all-steps",
        help="Stop a run once it meets the task's target (quick preset: on).",
    ),
    device: str | None = typer.Option(None, "--device", "-d", help="cpu, cuda, cuda:N or auto. Default cpu."),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        help="float32 (default); float16 (autocast + gradient scaler on CUDA); bfloat16 (the network cast, "
        "float32 master weights). The dtype that really ran is recorded (compute_dtype).",
    ),
    impl: str | None = typer.Option(
        None, "--impl", "-i", help="Implementation trained: native (default), aten, cell, scratch, compiled."
    ),
    tf32: bool = typer.Option(
        False, "--tf32", help="Let float32 matmuls and cuDNN use TF32 on NVIDIA GPUs (default: IEEE float32)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU intra-op threads while training (0 = torch's default). Default 1."
    ),
    copy_symbols: int | None = typer.Option(
        None, "--copy-symbols", help="M, symbols to recall in copy. Default 10."
    ),
    text: Path | None = typer.Option(
        None, "--text", help="charlm: a UTF-8 text file (default: pydoc_data.topics)."
    ),
    csv: Path | None = typer.Option(None, "--csv", help="series: a CSV file."),
    column: str | None = typer.Option(None, "--column", help="series: the numeric column to forecast."),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Folder for `results/<run-id>/`."),
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this folder (`results/<run-id>`), skipping finished runs."
    ),
) -> None:
    """Train LSTM / GRU / RNN arms on long-range tasks at matched parameters, over seeds, and compare them with
    intervals: mean with a 95% t-interval, median, success rate with a Wilson interval, and the paired per-seed
    GRU − LSTM difference. Writes curves.csv, train_summary.csv and metadata.json after every finished run.
    """
    from rnnbench.learn.presets import preset_spec
    from rnnbench.learn.session import build_tasks, load_spec, new_metadata
    from rnnbench.learn.spec import validate
    from rnnbench.results.folder import RunFolder

    given: dict[str, Any] = {
        "tasks": tuple(split_values(task)) or None,
        "arms": tuple(split_values(arm)) or None,
        "seeds": seeds,
        "seq_lens": tuple(parse_ints("--seq-len", seq_len)) or None,
        "match": match,
        "hidden": tuple(parse_ints("--hidden", hidden)) or None,
        "params": tuple(parse_ints("--params", params)) or None,
        "layers": layers,
        "lrs": tuple(parse_floats("--lr", lr, lambda v: v > 0 and math.isfinite(v), "> 0")) or None,
        "steps": steps,
        "batch_size": batch,
        "eval_every": eval_every,
        "eval_size": eval_size,
        "val_size": val_size,
        "train_size": train_size,
        "stop_at_target": stop_at_target,
        "device": device,
        "dtype": dtype,
        "impl": impl,
        "tf32": tf32 or None,
        "threads": threads,
        "copy_symbols": copy_symbols,
        "text": str(text) if text else None,
        "csv": str(csv) if csv else None,
        "column": column,
    }
    if given["params"] and not given["hidden"]:
        given["hidden"] = ()
    if resume is not None:
        extra = [k for k, v in given.items() if v is not None]
        if extra or preset:
            names = ", ".join(["preset", *extra] if preset else extra)
            raise ConfigError(
                f"--resume continues the stored plan of {resume}; drop the other settings ({names}) or start "
                "a new run with --output."
            )
        folder = RunFolder.open_existing(resume, own=True)  # a second process gets "in use by PID …"
        try:
            for note in folder.repair():
                err_console().print(f"Warning: {note}", markup=False)
            spec = validate(load_spec(folder))
            tasks = build_tasks(spec)
            history = list(folder.read_metadata().get("resumed", []))
            folder.update_metadata(resumed=[*history, {"command": sys.argv, "at": now_iso()}])
        except BaseException:
            folder.release()
            raise
    else:
        spec = validate(preset_spec(preset, **given))
        tasks = build_tasks(spec)
        from rnnbench.measure.devices import resolve_device

        resolve_device(spec.device)  # fail before creating a folder
        folder = RunFolder.create(output, new_metadata(spec, sys.argv, tasks))
    try:
        rows, summary = _train_owned(spec, folder, tasks)
    except StorageError as exc:
        raise exc.with_hint(
            f"finished runs are kept; once fixed, continue with: rnnbench train --resume {folder.path}"
        ) from exc
    finally:
        folder.release()
    console = out_console()
    from rnnbench.learn.tasks import TASK_CLASSES
    from rnnbench.present.training import summary_renderables

    targets = {name: cls.target_text for name, cls in TASK_CLASSES.items()}
    for item in summary_renderables(summary, targets, spec.stop_at_target):
        # lines verbatim; tables as they always printed (their cells go through Rich markup)
        if isinstance(item, str):
            console.print(item, markup=False)
        else:
            console.print(item)
    console.print(f"Results: {folder.path}", markup=False)
    ran = sorted({str(r.get("compute_dtype")) for r in rows if r.get("compute_dtype")} - {spec.dtype})
    if ran:  # never silently: the recurrent stack computed in another dtype than asked (autocast, a fallback)
        err_console().print(
            f"Warning: asked for {spec.dtype}, but the recurrent stack computed in {', '.join(ran)} in some "
            "runs (compute_dtype in train_summary.csv).",
            markup=False,
        )
    failed = [r for r in rows if r["status"] not in ("ok", "diverged")]
    if failed:
        err_console().print(
            f"{len(failed)} run(s) failed; see 'status' and 'message' in {folder.path / 'train_summary.csv'}.",
            markup=False,
        )
        if len(failed) == len(rows):
            raise BenchmarkFailedError(f"every training run failed, e.g. {failed[0]['message']}")


def _train_owned(spec: TrainSpec, folder: RunFolder, tasks: Any) -> tuple[list[dict[str, Any]], TrainSummary]:
    """Everything that writes the folder, while this process owns it: the runs, then ``selected_lr``."""
    rows = _run_with_progress(spec, folder, tasks, err_console())
    return rows, _summarise(folder)


def _run_with_progress(
    spec: TrainSpec, folder: RunFolder, tasks: Any, console: Console
) -> list[dict[str, Any]]:
    """Run the plan with one bar per (arm, seed) run — live training loss and last evaluation — plus an
    overall bar; each finished run leaves a one-line result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rnnbench.learn.session import run_training
    from rnnbench.present.training import done_line

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    bars: dict[Any, Any] = {}
    overall = progress.add_task("all runs", total=None, info="")

    def on_event(event: ProgressEvent) -> None:
        unit, values = event.subject, event.values
        if event.kind == "plan":
            progress.update(overall, total=event.total, completed=event.done, info=f"{event.done} done before")
        elif event.kind == "start" and unit is not None:
            bars[unit.key] = progress.add_task(event.label, total=event.total, info="")
        elif event.kind == "step" and unit is not None and unit.key in bars:
            progress.update(bars[unit.key], completed=event.done, info=f"loss {values['loss']:.4g}")
        elif event.kind == "eval" and unit is not None and unit.key in bars:
            score = "" if values.get("score") is None else f" score {values['score']:.3g}"
            progress.update(bars[unit.key], info=f"step {event.done}: eval {values['metric']:.4g}{score}")
        elif event.kind == "done" and unit is not None:
            if unit.key in bars:
                progress.remove_task(bars.pop(unit.key))
            progress.console.print(done_line(event.label, values.get("row") or {}), markup=False)
            progress.advance(overall)

    with progress:
        return run_training(spec, folder, on_event, tasks)


def _summarise(folder: RunFolder) -> TrainSummary:
    """The run's summary, from its ``train_summary.csv`` read back through the one loader (so a resumed run
    summarises exactly like a fresh one and like ``rnnbench report`` would), and the learning rates it chose
    recorded in metadata.json's ``selected_lr``. Done here rather than in ``learn.session`` because choosing
    is analysis and ``learn`` never imports ``analyse``."""
    from rnnbench.analyse.training import summarize
    from rnnbench.results.loader import load_report_data

    summary = summarize(load_report_data([folder.path]).train)
    folder.update_metadata(selected_lr=summary.lr_table())
    return summary
