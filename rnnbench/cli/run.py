"""``rnnbench run``: the timing sweep. Parses options into a plan, runs it with a progress bar, prints the
GRU/LSTM verdicts and warnings. All measuring is in the library (``rnnbench.measure.sweep``/``runner``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

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
from rich.table import Table

from rnnbench.cli.app import MultiValueCommand, app, err_console, out_console
from rnnbench.core.vocab import ARCHS
from rnnbench.errors import EXIT_BENCHMARK_FAILED, EXIT_INTERRUPTED


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
    from rnnbench.results.folder import RunFolder

    console = out_console()
    if resume is not None:
        folder = RunFolder.open_existing(resume)
        console.print(f"Resuming {folder.path}", markup=False)
        _execute(folder, console, fresh_processes)
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
    if "ddp-train" in spec.mode and not dry_run:
        _run_ddp(spec, settings, out_root, run_id, console)
        return
    shard_kn = None
    cases = spec.expand()
    if shard:
        from rnnbench.measure.shard import parse_shard, shard_of

        shard_kn = parse_shard(shard)
        cases = shard_of(cases, *shard_kn)
    if dry_run:
        _print_grid(console, cases, n_rounds)
        return

    from rnnbench.measure.sweep import device_pool, resolve_devices, start_run

    spec, notes = resolve_devices(spec)
    pool = device_pool(spec)
    if spec.threads == (0,):
        import torch

        spec = spec.with_axes(threads=(torch.get_num_threads(),))
    for note in notes:
        err_console().print(f"Warning: {note} Its cases are recorded as skipped.", markup=False)
    folder = start_run(spec, settings, n_rounds, out_root, run_id, ["rnnbench", *sys.argv[1:]], shard_kn, pool)
    where = f" on {len(pool)} GPUs concurrently ({', '.join(pool)})" if pool else ""
    console.print(f"Run folder: {folder.path}  ({len(cases)} cases × {n_rounds} round(s){where})", markup=False)
    _execute(folder, console, fresh_processes)


def _run_ddp(spec: Any, settings: Any, out_root: Path, run_id: str | None, console: Console) -> None:
    """``--mode ddp-train`` under torchrun: every rank measures, rank 0 writes and prints."""
    import os

    from rnnbench.measure.ddp import run_ddp

    rank0 = os.environ.get("RANK", "0") == "0"

    def on_event(event: dict[str, Any]) -> None:
        if rank0 and event.get("event") == "case_done":
            console.print(f"  {event['status']:5s} {event['label']}", markup=False)

    path = run_ddp(spec, settings, out_root, run_id, ["rnnbench", *sys.argv[1:]], on_event)
    if path is None:
        return
    import pandas as pd

    ddp = pd.read_csv(path / "ddp.csv")
    world, backend = int(ddp["world_size"].iloc[0]), ddp["backend"].iloc[0]
    table = Table(title=f"ddp-train, {world} processes ({backend})", title_justify="left")
    columns = ("arch", "T", "B/rank", "H", "rank", "step", "1-process step", "scaling eff.",
               "exposed all-reduce", "global tokens/s")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="right")
    for r in ddp.to_dict("records"):
        table.add_row(
            str(r["arch"]), str(r["seq_len"]), str(r["batch_size"]), str(r["hidden_size"]), str(r["rank"]),
            _fmt_s(r["step_median_s"]), _fmt_s(r["single_median_s"]), f"{r['scaling_efficiency']:.2f}",
            f"{r['allreduce_frac']:.0%}", f"{r['global_tokens_per_s']:,.0f}",
        )  # fmt: skip
    console.print(table)
    summarise(path, console)


def _print_grid(console: Console, cases: list[Any], rounds: int) -> None:
    table = Table(title=f"Grid: {len(cases)} cases × {rounds} round(s)", title_justify="left")
    for col in (
        "#",
        "arch",
        "impl",
        "mode",
        "device",
        "dtype",
        "T",
        "B",
        "I",
        "H",
        "L",
        "bi",
        "lengths",
        "workload",
    ):
        table.add_column(col)
    for i, c in enumerate(cases, 1):
        table.add_row(
            str(i), c.arch, c.impl, c.mode, c.device, c.dtype, str(c.seq_len), str(c.batch_size),
            str(c.input_size), str(c.hidden_size), str(c.num_layers), "yes" if c.bidirectional else "",
            "fixed" if not c.length_spread else f"spread {c.length_spread:g}", c.workload,
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(cases)} cases × {rounds} round(s) = {len(cases) * rounds} measurements", markup=False)


def _execute(folder: Any, console: Console, fresh_processes: bool) -> None:
    from rnnbench.errors import BenchmarkFailedError
    from rnnbench.measure.runner import done_keys
    from rnnbench.measure.sweep import execute, planned_cases, read_run_config

    _, _, rounds, _ = read_run_config(folder)
    total = len(planned_cases(folder)) * rounds
    already = len(done_keys(folder))
    warnings: list[str] = []
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
    task = progress.add_task("starting", total=total, completed=already)

    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "case_start":
            progress.update(task, description=_short(event["label"]))
        elif kind == "case_done":
            progress.advance(task)
            if event.get("status") not in ("ok", None):
                warnings.append(f"{event['label']}: {event['status']}")
        elif kind == "round_start":
            progress.update(task, description=f"round {event['round'] + 1}/{rounds}")
        elif kind == "warning":
            warnings.append(str(event["message"]))

    try:
        with progress:
            execute(folder, on_event, fresh_processes=True if fresh_processes else None)
    except KeyboardInterrupt:
        err_console().print(
            f"Interrupted. Finished cases are saved in {folder.path}; continue with: rnnbench run --resume "
            f"{folder.path}",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BenchmarkFailedError as exc:
        err_console().print(f"Error: {exc}", markup=False)
        raise typer.Exit(EXIT_BENCHMARK_FAILED) from None
    summarise(folder.path, console)


def _short(label: str, width: int = 48) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def summarise(path: Path, console: Console) -> None:
    """Per (mode, device): the GRU/LSTM ratio for each shape beside 0.75 and a one-line verdict; then
    warnings for failed, noisy (IQR/median > 10%) and busy-machine cases."""
    from rnnbench.analyse.speed import aggregate_cases, pair_ratios
    from rnnbench.core.labels import SHAPE_TAGS
    from rnnbench.core.vocab import THEORETICAL_GRU_LSTM
    from rnnbench.present.pairing import verdict_text
    from rnnbench.results.loader import load_report_data

    data = load_report_data([path])  # the same loading and pairing as 'rnnbench report'
    summary = data.summary
    cases, rounds = aggregate_cases(summary)
    ratios = pair_ratios(cases, rounds, data.sample_files)
    ok = summary[summary["status"] == "ok"]
    shape_cols = {"impl": "impl", "dtype": "dtype", **SHAPE_TAGS}
    for (mode, device), part in ok.groupby(["mode", "device"], sort=False):
        varying = [c for c in shape_cols if part[c].nunique(dropna=False) > 1]
        constant = [f"{shape_cols[c]}={part[c].iloc[0]}" for c in shape_cols if c not in varying]
        archs = [a for a in ARCHS if a in set(part["arch"])]
        table = Table(
            title=f"{mode} on {device} — median time per iteration and backend ({', '.join(constant)})",
            title_justify="left",
        )
        for col in varying:
            table.add_column(shape_cols[col], justify="right")
        for a in archs:
            table.add_column(a, justify="right")
        table.add_column("gru/lstm [95% CI]", justify="right")
        table.add_column("theory", justify="right")
        keys = list(shape_cols)
        for shape, rows in part.groupby(keys, sort=False, dropna=False):
            values = dict(zip(keys, shape, strict=True))
            by_arch = rows.groupby("arch")["median_s"].median()
            backends = rows.groupby("arch")["backend"].first()
            ratio_text = "—"
            if not ratios.empty:
                sel = (ratios["mode"] == mode) & (ratios["device"] == device)
                for k, v in values.items():
                    if k in ratios.columns:
                        sel &= ratios[k] == v
                match = ratios[sel]
                if not match.empty:
                    r = match.iloc[0]
                    ratio_text = f"{r['ratio']:.2f}" + (
                        f" [{r['ratio_low']:.2f}–{r['ratio_high']:.2f}]"
                        if not math.isnan(r["ratio_low"])
                        else ""
                    )
            table.add_row(
                *(str(values[c]) for c in varying),
                *(f"{_fmt_s(by_arch.get(a))} {backends.get(a, '')}".strip() for a in archs),
                ratio_text,
                f"{THEORETICAL_GRU_LSTM:.2f}",
            )
        console.print(table)
    if not ratios.empty:
        basis = set(ratios["method"])
        console.print(
            "Verdicts (time ratio gru/lstm; interval: 95% bootstrap over "
            + ("rounds" if basis == {"rounds"} else "samples of one round — use --rounds ≥ 5 for comparisons")
            + "):",
            markup=False,
        )
        for row in ratios.to_dict("records"):
            console.print(f"  {verdict_text(row)}", markup=False)
    _warn(summary, path)


def _fmt_s(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.3f} s"


def _warn(summary: Any, path: Path) -> None:
    err = err_console()
    failed = summary[summary["status"] != "ok"]
    for _, row in failed.iterrows():
        what = f"{row['arch']}/{row['impl']} {row['mode']} T={row['seq_len']} H={row['hidden_size']}"
        err.print(f"Warning: {what}: {row['status']} — {row['message']}", markup=False)
    ok = summary[summary["status"] == "ok"]
    noisy = ok[ok["iqr_s"] / ok["median_s"] > 0.10]
    if len(noisy):
        err.print(
            f"Warning: {len(noisy)} case(s) are noisy (IQR/median > 10%). Hint: raise --budget, set "
            "--threads 1, or close other programs.",
            markup=False,
        )
    busy = ok[ok["busy"].astype(str).str.lower() == "true"]
    if len(busy):
        share = float(busy["other_cpu_frac"].max())
        err.print(
            f"Warning: the machine was busy during {len(busy)} case(s): other processes used up to "
            f"{share:.0%} of the CPUs. Their times may be inflated (OpenMP threads spin when "
            "oversubscribed). Hint: rerun on a quieter machine, or with fewer threads (--threads 1).",
            markup=False,
        )
    out_console().print(f"Results: {path}", markup=False)
