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

from rnnbench.cli.app import (
    TASK_NAMES,
    MultiValueCommand,
    app,
    complete_arm,
    complete_device,
    complete_dtype,
    complete_impl,
    complete_task,
    complete_train_preset,
    err_console,
    eta_text,
    out_console,
    progress_bar,
    progress_console,
)
from rnnbench.core.parsing import parse_floats, parse_ints, split_values
from rnnbench.core.values import now_iso
from rnnbench.errors import EXIT_INTERRUPTED, BenchmarkFailedError, ConfigError, StorageError
from rnnbench.present.durations import fmt_clock

if TYPE_CHECKING:
    from rnnbench.analyse.training import TrainSummary
    from rnnbench.core.progress import ProgressEvent
    from rnnbench.learn.spec import TrainSpec
    from rnnbench.results.folder import RunFolder


@app.command("train", cls=MultiValueCommand)
def train_command(
    preset: str | None = typer.Option(
        None,
        "--preset",
        "-p",
        help="quick (adding + copy, lstm vs gru, 3 seeds, ~1-2 min on 2 cores) or full.",
        autocompletion=complete_train_preset,
    ),
    task: list[str] | None = typer.Option(
        None,
        "--task",
        "-t",
        help=f"Tasks: {', '.join(TASK_NAMES)}. Default: adding.",
        autocompletion=complete_task,
    ),
    arm: list[str] | None = typer.Option(
        None,
        "--arch",
        "-a",
        help="Architectures (arms): lstm, gru, rnn, lstm-fb1 (LSTM with forget bias +1), mingru and minlstm "
        "(Feng et al. 2024, parallel scan). Default: lstm gru. Old spelling --arm is still accepted.",
        autocompletion=complete_arm,
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
    batch: int | None = typer.Option(None, "--batch", "-b", help="Sequences per step. Default 32."),
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
    device: str | None = typer.Option(
        None, "--device", "-d", help="cpu, cuda, cuda:N or auto. Default cpu.", autocompletion=complete_device
    ),
    dtype: str | None = typer.Option(
        None,
        "--dtype",
        autocompletion=complete_dtype,
        help="float32 (default); float16 (autocast + gradient scaler on CUDA); bfloat16 (the network cast, "
        "float32 master weights). The dtype that really ran is recorded (compute_dtype).",
    ),
    impl: str | None = typer.Option(
        None,
        "--impl",
        "-i",
        help="Implementation of the arms it computes: native (default), aten, cell, scratch, scan, compiled; "
        "other arms use their default (native for lstm/gru/rnn, scan for mingru/minlstm).",
        autocompletion=complete_impl,
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
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print the runs the plan holds (task × arch × seed × length × size × lr); train nothing.",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress and no tables: stdout gets only the results' path; warnings still go to stderr.",
    ),
) -> None:
    """Train LSTM / GRU / RNN / minGRU / minLSTM arms on long-range tasks at matched parameters, over seeds, and
    compare them with intervals: mean with a 95% t-interval, median, success rate with a Wilson interval, and
    the paired per-seed GRU − LSTM difference. Writes curves.csv, train_summary.csv and metadata.json after
    every finished run.

    **Progress** goes to stderr: bars on a terminal, one line per finished run in a pipe or CI log (none with
    `--quiet`). Ctrl-C keeps every finished run and prints the `--resume` command (exit 130).

    **Examples:** `rnnbench train --preset quick` ·
    `rnnbench train -t copy -a lstm lstm-fb1 gru -T 20 50 100 --seeds 5` ·
    `rnnbench train -t adding --lr 3e-3 --steps 300 --dry-run` ·
    `rnnbench train --resume results/<run-id>`
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
        extra = [k for k, v in given.items() if v is not None] + (["dry-run"] if dry_run else [])
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
        if dry_run:
            _dry_run(spec, tasks)
            return
        from rnnbench.measure.devices import resolve_device

        resolve_device(spec.device)  # fail before creating a folder
        folder = RunFolder.create(output, new_metadata(spec, sys.argv, tasks))
    try:
        rows, summary = _train_owned(spec, folder, tasks, quiet)
    except StorageError as exc:
        raise exc.with_hint(
            f"finished runs are kept; once fixed, continue with: rnnbench train --resume {folder.path}"
        ) from exc
    except KeyboardInterrupt:
        err_console().print(
            f"Interrupted. Finished runs are saved in {folder.path}; continue with: "
            f"rnnbench train --resume {folder.path}",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        folder.release()
    console = out_console()
    if quiet:  # the path alone, as the help says: $(rnnbench train … -q) is the run folder
        console.print(str(folder.path), markup=False, soft_wrap=True)
        _warn_after(spec, rows, folder)
        return
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
    _warn_after(spec, rows, folder)


def _warn_after(spec: TrainSpec, rows: list[dict[str, Any]], folder: RunFolder) -> None:
    """Warnings (stderr) once the runs are done; exit 6 when every run failed."""
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


def _train_owned(
    spec: TrainSpec, folder: RunFolder, tasks: Any, quiet: bool = False
) -> tuple[list[dict[str, Any]], TrainSummary]:
    """Everything that writes the folder, while this process owns it: the runs, then ``selected_lr``."""
    rows = _run_with_progress(spec, folder, tasks, quiet)
    return rows, _summarise(folder)


def _run_with_progress(
    spec: TrainSpec, folder: RunFolder, tasks: Any, quiet: bool = False
) -> list[dict[str, Any]]:
    """Run the plan with progress on stderr. On a terminal: one bar per (arm, seed) run — live training loss
    and last evaluation — plus an overall bar, each finished run leaving a one-line result. In a pipe or CI
    log: only those lines, each with its count and ETA. With ``--quiet``: nothing."""
    import time

    from rnnbench.learn.session import run_training
    from rnnbench.present.training import done_line

    target = None if quiet else progress_console()
    progress = progress_bar(target, reserved=70, last="{task.fields[info]}")
    bars: dict[Any, Any] = {}
    overall = progress.add_task("all runs", total=None, info="")
    started = time.monotonic()
    state = {"total": 0, "done": 0, "before": 0}

    def eta() -> str:
        elapsed = time.monotonic() - started
        return eta_text(elapsed, state["done"] - state["before"], state["total"] - state["done"])

    def on_event(event: ProgressEvent) -> None:
        unit, values = event.subject, event.values
        if event.kind == "plan":
            state.update(total=event.total, done=event.done, before=event.done)
            before = f"{event.done} done before, " if event.done else ""
            progress.update(overall, total=event.total, completed=event.done, info=f"{before}ETA {eta()}")
            if target is None and not quiet and event.done:
                err_console().print(
                    f"{event.done} of {event.total} runs done before; continuing.", markup=False
                )
        elif event.kind == "start" and unit is not None:
            bars[unit.key] = progress.add_task(event.label, total=event.total, info="")
        elif event.kind == "step" and unit is not None and unit.key in bars:
            progress.update(bars[unit.key], completed=event.done, info=f"loss {values['loss']:.4g}")
        elif event.kind == "eval" and unit is not None and unit.key in bars:
            score = "" if values.get("score") is None else f" score {values['score']:.3g}"
            progress.update(bars[unit.key], info=f"step {event.done}: eval {values['metric']:.4g}{score}")
        elif event.kind == "warning":
            err_console().print(f"Warning: {event.message}", markup=False)
        elif event.kind == "done" and unit is not None:
            state["done"] += 1
            if unit.key in bars:
                progress.remove_task(bars.pop(unit.key))
            line = done_line(event.label, values.get("row") or {})
            if target is not None:
                progress.console.print(line, markup=False)
                progress.update(overall, advance=1, info=f"ETA {eta()}")
            elif not quiet:
                elapsed = fmt_clock(time.monotonic() - started)
                err_console().print(
                    f"[{state['done']}/{state['total']}] {line}  ({elapsed} elapsed, ETA {eta()})", markup=False
                )

    with progress:
        return run_training(spec, folder, on_event, tasks)


def _dry_run(spec: TrainSpec, tasks: Any) -> None:
    """``--dry-run``: the runs the plan holds, grouped over seeds, and its size; nothing is created."""
    from rnnbench.learn.sizing import expand_units
    from rnnbench.present.training import plan_renderables

    units = expand_units(spec, tasks)
    for item in plan_renderables(units, spec):
        if isinstance(item, str):
            out_console().print(item, markup=False)
        else:
            out_console().print(item)


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
