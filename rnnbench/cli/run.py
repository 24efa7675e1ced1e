"""``rnnbench run``: the timing sweep. Parses options into a spec, hands it to the library in one call
(``measure.sweep.prepare_run``: devices, pool, threads, grid, shard, folder), runs it under a progress bar and
prints what ``present.run_summary`` builds: the GRU/LSTM tables, verdicts and warnings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rnnbench.cli.app import MultiValueCommand, app, err_console, out_console
from rnnbench.core.progress import ProgressEvent
from rnnbench.errors import EXIT_INTERRUPTED

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rnnbench.core.spec import Settings, SweepSpec
    from rnnbench.measure.sweep import SweepRun


def _opt(flag: str, help_text: str) -> Any:
    return typer.Option(None, flag, help=help_text, show_default=False, rich_help_panel="Sweep axes (lists)")


@app.command("run", cls=MultiValueCommand)
def run_command(
    arch: list[str] = _opt("--arch", "Architectures: lstm, gru, rnn (preset: lstm gru)"),
    impl: list[str] = _opt("--impl", "Implementations: native, aten, cell, scratch, compiled, numpy (native)"),
    mode: list[str] = _opt(
        "--mode", "Modes: inference, forward, backward (timed alone), train (fwd+loss+bwd+Adam)"
    ),
    device: list[str] = _opt("--device", "Devices: cpu, cuda, cuda:N, auto (cpu)"),
    dtype: list[str] = _opt("--dtype", "dtypes: float32, bfloat16, float16 (float32)"),
    seq_len: list[str] = _opt("--seq-len", "Sequence lengths T"),
    batch: list[str] = _opt("--batch", "Batch sizes B"),
    hidden: list[str] = _opt("--hidden", "Hidden sizes H"),
    input_size: list[str] = _opt("--input-size", "Input sizes I (default: equal to H)"),
    layers: list[str] = _opt("--layers", "Stacked layers L (1)"),
    directions: list[str] = _opt("--directions", "Directions: 1, 2 (1)"),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="Shorthand for --directions 2."),
    lengths: list[str] = _opt(
        "--lengths", "'fixed', or a spread s in (0,1): lengths uniform in ((1-s)·T, T), packed/masked (fixed)"
    ),
    threads: list[str] = _opt("--threads", "Intra-op threads, set explicitly and recorded (torch's default)"),
    workload: list[str] = _opt(
        "--workload", "layer (the recurrent stack alone) or classifier (embedding → RNN → mean pool → linear)"
    ),
    preset: str = typer.Option(None, "--preset", "-p", help="quick (default), full, fastrnns, deepbench."),
    config: Path = typer.Option(
        None, "--config", "-c", help="TOML sweep file; its keys are these option names."
    ),
    rounds: int = typer.Option(None, "--rounds", help="Repeat the grid in N fresh worker processes (1)."),
    output: Path = typer.Option(None, "--output", "-o", help="Folder for run folders (results)."),
    run_id: str = typer.Option(None, "--run-id", help="Name of the run folder (a timestamp)."),
    resume: Path = typer.Option(
        None, "--resume", help="Finish an interrupted run folder: nothing lost or twice."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the grid and its size; measure nothing."),
    budget: float = typer.Option(
        None, "--budget", help="Seconds of timed blocks per case before giving up precision."
    ),
    target_precision: float = typer.Option(
        None, "--target-precision", help="Stop when the median's 95% CI half-width / median ≤ this (0.02)."
    ),
    warmup: float = typer.Option(None, "--warmup", help="Maximum warm-up seconds per case."),
    busy_threshold: float = typer.Option(
        None, "--busy-threshold", help="Flag a case when other processes used more than this share of the CPUs."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed for weights and inputs (0)."),
    fresh_processes: bool = typer.Option(
        False, "--fresh-processes", help="Run even a single round in a fresh worker process."
    ),
    shard: str = typer.Option(
        None,
        "--shard",
        help="K/N: run only shard K (1-based) of N — a deterministic, cost-balanced partition of the grid, "
        "the same on every machine (Slurm arrays, CI matrices). Merge the folders with 'rnnbench merge'.",
    ),
) -> None:
    """Time LSTM, GRU and RNN on identical shapes; write tidy CSVs to `results/<run-id>/`.

    **Lists:** every sweep axis takes several values after one flag, repeated flags, or commas
    (`--seq-len 64 128 256` = `--seq-len 64,128,256`). Axes you do not give come from the preset
    (default `quick`), then from `--config`.

    **Method:** warm-up until steady (the cold first iteration kept apart), blocks long enough to drown
    timer overhead, GC off inside blocks, CUDA synchronisation plus CUDA events, repetition until the
    median's 95% interval is within `--target-precision` or `--budget` ends; the architectures of one shape
    are timed interleaved. Failures become rows (oom, unsupported, error, skipped); Ctrl-C keeps finished
    rows (exit 130) and `--resume` finishes the run.

    **Examples:** `rnnbench run --arch gru lstm --device cuda` ·
    `rnnbench run --preset fastrnns --rounds 5` ·
    `rnnbench run --seq-len 64 128 256 --hidden 256 --mode train --dry-run`
    """
    from rnnbench.measure.plan import build_plan, read_config

    console = out_console()
    if resume is not None:
        from rnnbench.measure.sweep import open_run

        run = open_run(resume)
        console.print(f"Resuming {run.folder.path}", markup=False)
        _execute(run, console, fresh_processes)
        return

    config_data = read_config(config) if config else {}
    if bidirectional:
        directions = [*(directions or []), "2"]
    axes = {
        "arch": arch, "impl": impl, "mode": mode, "device": device, "dtype": dtype, "seq_len": seq_len,
        "batch": batch, "hidden": hidden, "input_size": input_size, "layers": layers, "directions": directions,
        "lengths": lengths, "threads": threads, "workload": workload,
    }  # fmt: skip
    settings_over = {
        "budget": budget, "target_precision": target_precision, "warmup": warmup,
        "busy_threshold": busy_threshold,
    }  # fmt: skip
    spec, settings = build_plan(preset, config_data, axes, settings_over, seed)
    n_rounds = rounds if rounds is not None else int(config_data.get("rounds", 1))
    out_root = output or Path(config_data.get("output", "results"))
    command = ["rnnbench", *sys.argv[1:]]
    if "ddp-train" in spec.mode and not dry_run:
        _run_ddp(spec, settings, out_root, run_id, command, console)
        return
    from rnnbench.measure.shard import parse_shard
    from rnnbench.measure.sweep import expand_grid, prepare_run

    shard_kn = parse_shard(shard) if shard else None
    if dry_run:
        from rnnbench.present.run_summary import grid_renderables

        _show(console, grid_renderables(expand_grid(spec, shard_kn).cases, n_rounds))
        return

    run = prepare_run(spec, settings, n_rounds, out_root, run_id, command, shard_kn)
    for note in run.notes:
        err_console().print(f"Warning: {note} Its cases are recorded as skipped.", markup=False)
    where = f" on {len(run.pool)} GPUs concurrently ({', '.join(run.pool)})" if run.pool else ""
    console.print(
        f"Run folder: {run.folder.path}  ({len(run.grid.cases)} cases × {n_rounds} round(s){where})",
        markup=False,
    )
    _execute(run, console, fresh_processes)


def _show(console: Console, renderables: list[RenderableType]) -> None:
    """Print what ``present.run_summary`` built: lines verbatim (no markup), tables as they are."""
    for item in renderables:
        if isinstance(item, str):
            console.print(item, markup=False)
        else:
            console.print(item)


def _run_ddp(
    spec: SweepSpec,
    settings: Settings,
    out_root: Path,
    run_id: str | None,
    command: list[str],
    console: Console,
) -> None:
    """``--mode ddp-train`` under torchrun: every rank measures, rank 0 writes and prints."""
    import os

    import pandas as pd

    from rnnbench.measure.ddp import run_ddp
    from rnnbench.present.run_summary import ddp_table

    rank0 = os.environ.get("RANK", "0") == "0"

    def on_progress(event: ProgressEvent) -> None:
        if rank0 and event.kind == "done":
            console.print(f"  {event.status:5s} {event.label}", markup=False)

    path = run_ddp(spec, settings, out_root, run_id, command, on_progress)
    if path is None:
        return
    console.print(ddp_table(pd.read_csv(path / "ddp.csv")))
    summarise(path, console)


def _execute(run: SweepRun, console: Console, fresh_processes: bool) -> None:
    """Run every round under a progress bar. Ctrl-C keeps the finished rows and says how to resume (exit 130);
    a failed round is a ``BenchmarkFailedError``, which ``cli.app`` turns into ``Error: …`` and its code."""
    from rnnbench.measure.runner import done_keys
    from rnnbench.measure.sweep import execute

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("starting", total=run.total, completed=len(done_keys(run.folder)))

    def on_progress(event: ProgressEvent) -> None:
        if event.kind == "start":
            progress.update(task, description=_short(event.label))
        elif event.kind == "done":
            progress.advance(task)
        elif event.kind == "round_start":
            progress.update(task, description=f"round {event.done + 1}/{run.rounds}")

    try:
        with progress:
            execute(run, on_progress, fresh_processes=True if fresh_processes else None)
    except KeyboardInterrupt:
        path = run.folder.path
        err_console().print(
            f"Interrupted. Finished cases are saved in {path}; continue with: rnnbench run --resume {path}",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    summarise(run.folder.path, console)


def _short(label: str, width: int = 48) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def summarise(path: Path, console: Console) -> None:
    """Per (mode, device): the GRU/LSTM ratio for each shape beside 0.75 and a one-line verdict; then
    warnings for failed, noisy (IQR/median > 10%) and busy-machine cases. Loaded and paired as
    ``rnnbench report`` does; built by ``present.run_summary``."""
    from rnnbench.analyse.speed import aggregate_cases, pair_ratios
    from rnnbench.present.run_summary import run_summary
    from rnnbench.results.loader import load_report_data

    data = load_report_data([path])
    cases, rounds = aggregate_cases(data.summary)
    shown = run_summary(data.summary, pair_ratios(cases, rounds, data.sample_files))
    _show(console, shown.body)
    err = err_console()
    for line in shown.warnings:
        err.print(line, markup=False)
    out_console().print(f"Results: {path}", markup=False)
