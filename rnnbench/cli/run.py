"""``rnnbench run``: the timing sweep. Parses options into a spec, hands it to the library in one call
(``measure.sweep.prepare_run``: devices, pool, threads, grid, shard, folder), runs it under a progress bar and
prints what ``present.run_summary`` builds: the GRU/LSTM tables, verdicts and warnings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from rnnbench.cli.app import (
    BarView,
    MultiValueCommand,
    app,
    complete_arch,
    complete_device,
    complete_dtype,
    complete_impl,
    complete_mode,
    complete_run_preset,
    err_console,
    eta_text,
    out_console,
    progress_bar,
    progress_console,
)
from rnnbench.core.progress import ProgressEvent
from rnnbench.errors import EXIT_INTERRUPTED, ConfigError
from rnnbench.present.durations import fmt_clock, fmt_duration

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rnnbench.core.spec import Case, Settings, SweepSpec
    from rnnbench.measure.sweep import SweepRun


DRY_RUN_ROWS = 20
"""Cases a ``--dry-run`` lists unless ``--show`` asks for more: a 100k-case grid is summarised, not printed."""


def _opt(flag: str, help_text: str, *short: str, complete: Any = None) -> Any:
    return typer.Option(
        None,
        flag,
        *short,
        help=help_text,
        show_default=False,
        rich_help_panel="Sweep axes (lists)",
        autocompletion=complete,
    )


def _preset_settings(field: str, unit: str = "") -> str:
    """``quick 0.6 s, others 3 s``: a setting's default per preset (stdlib only, no torch)."""
    from rnnbench.core.spec import Settings
    from rnnbench.measure.presets import RUN_PRESETS

    base = getattr(Settings(), field)
    special = [f"{name} {getattr(p.settings, field):g}{unit}" for name, p in RUN_PRESETS.items()
               if getattr(p.settings, field) != base]  # fmt: skip
    return ", ".join([*special, f"otherwise {base:g}{unit}"]) if special else f"{base:g}{unit}"


@app.command("run", cls=MultiValueCommand)
def run_command(
    arch: list[str] = _opt(
        "--arch",
        "Architectures: lstm, gru, rnn, mingru, minlstm (preset: lstm gru)",
        "-a",
        complete=complete_arch,
    ),
    impl: list[str] = _opt(
        "--impl",
        "Implementations: native, aten, cell, scratch, scan, compiled, numpy (native scan: torch.nn's kernels "
        "for lstm/gru/rnn, the parallel scan for mingru/minlstm). Pairs an implementation does not compute "
        "are left out of the grid (torch.nn has no minGRU; LSTM has no scan)",
        "-i",
        complete=complete_impl,
    ),
    mode: list[str] = _opt(
        "--mode",
        "Modes: inference, forward, backward (timed alone), train (fwd+loss+bwd+Adam), ddp-train",
        "-m",
        complete=complete_mode,
    ),
    device: list[str] = _opt(
        "--device", "Devices: cpu, cuda, cuda:N, auto (cpu)", "-d", complete=complete_device
    ),
    dtype: list[str] = _opt("--dtype", "dtypes: float32, bfloat16, float16 (float32)", complete=complete_dtype),
    seq_len: list[str] = _opt("--seq-len", "Sequence lengths T", "-T"),
    batch: list[str] = _opt("--batch", "Batch sizes B", "-b"),
    hidden: list[str] = _opt("--hidden", "Hidden sizes H"),
    input_size: list[str] = _opt("--input-size", "Input sizes I (default: equal to H)"),
    layers: list[str] = _opt("--layers", "Stacked layers L (1)"),
    directions: list[str] = _opt("--directions", "Directions: 1, 2 (1)"),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="Shorthand for --directions 2."),
    lengths: list[str] = _opt(
        "--lengths",
        "'fixed', or a spread s in (0,1): lengths uniform in ((1-s)·T, T), packed/masked (fixed). "
        "Old spelling --length-spread is still accepted.",
    ),
    threads: list[str] = _opt(
        "--threads", "Intra-op threads, set explicitly and recorded (0 or not given: torch's default)"
    ),
    workload: list[str] = _opt(
        "--workload", "layer (the recurrent stack alone) or classifier (embedding → RNN → mean pool → linear)"
    ),
    preset: str = typer.Option(
        None,
        "--preset",
        "-p",
        help="quick (default), full, fastrnns, deepbench, scan (minGRU/minLSTM's crossover over T=16-4096).",
        autocompletion=complete_run_preset,
    ),
    config: Path = typer.Option(
        None, "--config", "-c", help="TOML sweep file; its keys are these option names."
    ),
    rounds: int = typer.Option(
        None, "--rounds", help="Repeat the grid in N fresh worker processes (1; preset scan: 5)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Folder for run folders (results)."),
    run_id: str = typer.Option(None, "--run-id", help="Name of the run folder (a timestamp)."),
    resume: Path = typer.Option(
        None,
        "--resume",
        help="Finish an interrupted run folder with its stored settings: nothing lost or twice. Other settings "
        "are refused with it.",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print the grid's size, axes, estimated duration and first cases; measure nothing.",
    ),
    budget: float = typer.Option(
        None,
        "--budget",
        help="Seconds of timed blocks per case before giving up precision. Default: "
        + _preset_settings("budget_s", " s"),
    ),
    target_precision: float = typer.Option(
        None, "--target-precision", help="Stop when the median's 95% CI half-width / median ≤ this (0.02)."
    ),
    warmup: float = typer.Option(
        None,
        "--warmup",
        help="Maximum warm-up seconds per case. Default: " + _preset_settings("warmup_max_s", " s"),
    ),
    busy_threshold: float = typer.Option(
        None,
        "--busy-threshold",
        help="Flag a case when other processes used more than this share of the CPUs. Default: "
        + _preset_settings("busy_threshold"),
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
    tf32: bool = typer.Option(
        False,
        "--tf32",
        help="Let float32 matmuls and cuDNN use TF32 on NVIDIA GPUs (both; default: IEEE float32 for every "
        "implementation and the matmul peak alike). Recorded per row (math) and in the fingerprint.",
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Start a long run without asking (only a terminal is ever asked; CI never)."
    ),
    show: str = typer.Option(
        None, "--show", help=f"--dry-run: how many cases to list (first {DRY_RUN_ROWS}; 'all' lists every one)."
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="No progress and no tables: stdout gets only the results' path; warnings still go to stderr.",
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

    **Progress** goes to stderr: a bar on a terminal, one line per finished case in a pipe or CI log
    (none with `--quiet`); stdout keeps the tables, verdicts and the `Results: <folder>` line.

    **Examples:** `rnnbench run -a gru lstm -d cuda` ·
    `rnnbench run --preset fastrnns --rounds 5` ·
    `rnnbench run -T 64 128 256 --hidden 256 --mode train --dry-run` ·
    `rnnbench run --resume results/<run-id>`
    """
    from rnnbench.measure.plan import build_plan, read_config
    from rnnbench.measure.presets import preset_rounds

    console = out_console()
    if resume is not None:
        from rnnbench.measure.sweep import open_run

        plan_options = {
            "arch": arch,
            "impl": impl,
            "mode": mode,
            "device": device,
            "dtype": dtype,
            "seq-len": seq_len,
            "batch": batch,
            "hidden": hidden,
            "input-size": input_size,
            "layers": layers,
            "directions": directions,
            "bidirectional": bidirectional or None,
            "lengths": lengths,
            "threads": threads,
            "workload": workload,
            "preset": preset,
            "config": config,
            "rounds": rounds,
            "output": output,
            "run-id": run_id,
            "dry-run": dry_run or None,
            "budget": budget,
            "target-precision": target_precision,
            "warmup": warmup,
            "busy-threshold": busy_threshold,
            "seed": seed,
            "shard": shard,
            "show": show,
            "tf32": tf32 or None,
        }  # fmt: skip (--quiet, --yes and --fresh-processes are how to run, not what: allowed)
        extra = [f"--{name}" for name, value in plan_options.items() if value not in (None, [], ())]
        if extra:
            raise ConfigError(
                f"--resume continues the stored plan of {resume}; drop the other settings ({', '.join(extra)}) "
                "or start a new run without --resume."
            )
        run = open_run(resume)
        try:
            for note in run.repairs:
                err_console().print(f"Warning: {note}", markup=False)
            if not quiet:
                err_console().print(f"Resuming {run.folder.path}", markup=False)
        except BaseException:
            run.folder.release()
            raise
        _execute(run, console, fresh_processes, quiet=quiet)
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
        "busy_threshold": busy_threshold, "tf32": tf32 or None,
    }  # fmt: skip
    spec, settings = build_plan(preset, config_data, axes, settings_over, seed)
    chosen_preset = preset or config_data.get("preset")
    n_rounds = rounds if rounds is not None else int(config_data.get("rounds", preset_rounds(chosen_preset)))
    out_root = output or Path(config_data.get("output", "results"))
    command = ["rnnbench", *sys.argv[1:]]
    if "ddp-train" in spec.mode and not dry_run:
        _run_ddp(spec, settings, out_root, run_id, command, console)
        return
    from rnnbench.measure.shard import parse_shard
    from rnnbench.measure.sweep import expand_grid, plan_run, start_planned
    from rnnbench.results.folder import check_output

    shard_kn = parse_shard(shard) if shard else None
    if run_id is not None:
        from rnnbench.results.folder import check_run_id

        check_run_id(run_id)
    if show is not None and not dry_run:
        raise ConfigError("--show lists the cases of a --dry-run; add --dry-run or drop --show.")
    if dry_run:
        if any(device != "cpu" for device in spec.device):  # as the run would: only then is torch imported
            from rnnbench.measure.sweep import resolve_devices

            spec, notes = resolve_devices(spec)  # every device absent: the run's own error (exit 2)
            _announce(tuple(notes), "", quiet=True)
        _dry_run(console, spec, settings, n_rounds, shard_kn, expand_grid(spec, shard_kn).cases, show)
        return

    plan = plan_run(spec, settings, n_rounds, shard_kn)
    estimate = plan.estimated_seconds(fresh_processes)
    # What can fail is checked before the plan is announced, so an error is the one line on stderr: the
    # output folder (writable, the run id free, room for the run) here, and then — unless a person is asked
    # first — the folder is created (the atomic claim of the run id) before the plan is printed.
    check_output(out_root, run_id, plan.min_bytes())
    chatter = err_console()  # what is about to happen goes with the progress, to stderr
    plan_line = (
        f"{len(plan.grid.cases)} cases × {n_rounds} round(s) = {plan.total} measurements; estimated "
        f"duration: about {fmt_duration(estimate)} ({slow_case_note(settings)})"
    )
    ask = _asks(estimate, yes)
    if ask:
        _announce(plan.notes, plan_line, quiet)
        _confirm_long_run(estimate, len(plan.grid.cases), yes)
    run = start_planned(plan, out_root, run_id, command)
    try:
        if not ask:
            _announce(plan.notes, plan_line, quiet)
            _confirm_long_run(estimate, len(plan.grid.cases), yes)  # never asks here: at most a warning
        where = f" on {len(run.pool)} GPUs concurrently ({', '.join(run.pool)})" if run.pool else ""
        if not quiet:
            chatter.print(
                f"Run folder: {run.folder.path}  ({len(run.grid.cases)} cases × {n_rounds} round(s){where})",
                markup=False,
            )
    except BaseException:
        run.folder.release()
        raise
    _execute(run, console, fresh_processes, estimate, quiet)


def _dry_run(
    console: Console,
    spec: SweepSpec,
    settings: Settings,
    rounds: int,
    shard: tuple[int, int] | None,
    cases: list[Case],
    show: str | None,
) -> None:
    """The grid's size, its axes, an estimated duration and its first rows (all with ``--show all``)."""
    from rnnbench.measure.plan import estimate_seconds, grid_axes
    from rnnbench.present.run_summary import grid_renderables

    limit = _show_limit(show)
    listed = cases if limit is None else cases[:limit]
    table, line = grid_renderables(listed, rounds)
    if len(listed) < len(cases):
        table.title = f"Grid: the first {len(listed)} of {len(cases)} cases (--show all lists every one)"
        line = f"{len(cases)} cases × {rounds} round(s) = {len(cases) * rounds} measurements"
    if shard:
        line += f" (shard {shard[0]}/{shard[1]})"
    _show(console, [table, line])
    for name, values in grid_axes(spec):
        console.print(f"  {name}: {_values_text(values)}", markup=False)
    estimate = estimate_seconds(len(cases), settings, rounds, workers=rounds > 1)
    console.print(
        f"Estimated duration: about {fmt_duration(estimate)} (per case {settings.warmup_max_s:g} s warm-up + "
        f"{settings.budget_s:g} s timing; precise cases stop sooner, {slow_case_note(settings)})",
        markup=False,
    )


def _show_limit(show: str | None) -> int | None:
    if show is None:
        return DRY_RUN_ROWS
    if show.strip().lower() == "all":
        return None
    try:
        value = int(show)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"--show takes a number of cases or 'all', got '{show}'.")
    return value


def _values_text(values: list[Any], shown: int = 8) -> str:
    if len(values) <= shown:
        return ", ".join(str(v) for v in values)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    span = f"{min(values)} … {max(values)}" if numbers else f"{values[0]} … {values[-1]}"
    return f"{len(values)} values, {span}"


def slow_case_note(settings: Settings) -> str:
    """What the estimate assumes: every case ends within its warm-up limit and ``--budget``. A case whose one
    iteration is longer than budget / min samples still takes its minimum samples (and warm-up iterations), so
    it runs longer — say so rather than promise an upper bound."""
    per_iter_ms = settings.budget_s / settings.min_samples * 1000
    return (
        f"cases whose iteration exceeds {per_iter_ms:.0f} ms take longer: at least "
        f"{settings.warmup_min_iters} warm-up + {settings.min_samples} timed iterations each; compiled adds "
        "its compile time"
    )


def _announce(notes: tuple[str, ...], plan_line: str, quiet: bool) -> None:
    """The plan's warnings (absent devices) and, unless ``--quiet``, its size and estimated duration."""
    for note in notes:
        err_console().print(f"Warning: {note} Its cases are recorded as skipped.", markup=False)
    if not quiet:
        err_console().print(plan_line, markup=False)


def _asks(estimate: float, yes: bool) -> bool:
    """Whether ``_confirm_long_run`` will put a question to a person (a long run at a terminal)."""
    from rnnbench.measure.plan import CONFIRM_ABOVE_S

    return not yes and estimate > CONFIRM_ABOVE_S and _interactive()


def _interactive() -> bool:
    """Someone at a terminal can answer: stdin and stderr are terminals and this is not CI."""
    import os

    if os.environ.get("CI"):
        return False
    try:
        return sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _confirm_long_run(estimate: float, cases: int, yes: bool) -> None:
    """Above ``plan.CONFIRM_ABOVE_S``, ask on a terminal before creating anything (``--yes`` skips); without
    one (CI, a pipe, no stdin) never ask, only say so."""
    from rnnbench.measure.plan import CONFIRM_ABOVE_S

    if yes or estimate <= CONFIRM_ABOVE_S:
        return
    if not _interactive():
        err_console().print(
            f"Warning: a long run ({cases} cases, about {fmt_duration(estimate)} or more); starting without "
            "asking (no terminal). Check the grid with --dry-run, or split it with --shard K/N.",
            markup=False,
        )
        return
    if not typer.confirm(
        f"{cases} cases may take about {fmt_duration(estimate)} or more. Start now?", default=False, err=True
    ):
        err_console().print(
            "Nothing was run. Check the grid with --dry-run, split it with --shard K/N, or pass --yes.",
            markup=False,
        )
        raise typer.Exit(0)


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
            err_console().print(f"  {event.status:5s} {event.label}", markup=False)

    path = run_ddp(spec, settings, out_root, run_id, command, on_progress)
    if path is None:
        return
    console.print(ddp_table(pd.read_csv(path / "ddp.csv")))
    summarise(path, console)


def _execute(
    run: SweepRun,
    console: Console,
    fresh_processes: bool,
    estimate_s: float | None = None,
    quiet: bool = False,
) -> None:
    """Run every round with progress on stderr — a bar on a terminal, one line per finished case otherwise,
    nothing with ``--quiet``. Ctrl-C keeps the finished rows and says how to resume (exit 130); a failed round
    is a ``BenchmarkFailedError``, which ``cli.app`` turns into ``Error: …`` and its code."""
    from rnnbench.measure.runner import done_keys
    from rnnbench.measure.sweep import execute

    view = _RunProgress(run.total, len(done_keys(run.folder)), run.rounds, estimate_s, quiet)
    try:
        with view:
            execute(run, view.on_event, fresh_processes=True if fresh_processes else None)
    except KeyboardInterrupt:
        path = run.folder.path
        err_console().print(
            f"Interrupted. Finished cases are saved in {path}; continue with: rnnbench run --resume {path}",
            markup=False,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    summarise(run.folder.path, console, quiet)


class _RunProgress(BarView):
    """What ``run`` shows while it measures, all on stderr. ``warning`` events (e.g. sample rows dropped on
    resume) print as ``Warning: …`` lines whatever the mode. The count follows ``round_done`` too, so cases
    recorded without a ``done`` event (skipped: their device is absent) still complete the bar."""

    def __init__(
        self,
        total: int,
        done_before: int,
        rounds: int,
        estimate_s: float | None,
        quiet: bool,
        console: Console | None = None,
    ) -> None:
        import time

        self.total, self.done, self.before, self.rounds = total, done_before, done_before, rounds
        self.estimate_s, self.quiet = estimate_s, quiet
        self.started = time.monotonic()
        self.task: Any = None
        self.label_width = 48
        target = None if quiet else console or progress_console()
        if target is not None:
            # the counts, times and ETA always fit: the case's label gives way (at 80 columns: 30 characters)
            self.label_width = max(12, min(48, target.width - 50))
            self.bar = progress_bar(target, reserved=self.label_width + 45)
            self.task = self.bar.add_task("starting", total=total, completed=done_before, eta=self._eta())
        elif not quiet and done_before:
            err_console().print(f"{done_before} of {total} measurements done before; continuing.", markup=False)

    def _elapsed(self) -> float:
        import time

        return time.monotonic() - self.started

    def _eta(self) -> str:
        estimate = self.estimate_s
        if estimate is not None and self.total:
            estimate *= (self.total - self.done) / self.total
        return eta_text(self._elapsed(), self.done - self.before, self.total - self.done, estimate)

    def _set(self, done: int) -> None:
        self.done = min(self.total, done)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, eta=self._eta())

    def on_event(self, event: ProgressEvent) -> None:
        if event.kind == "warning":
            err_console().print(f"Warning: {event.message}", markup=False)
        elif event.kind == "start" and self.bar is not None:
            self.bar.update(self.task, description=_short(event.label, self.label_width))
        elif event.kind == "done":
            self._set(self.done + 1)
            if self.bar is None and not self.quiet:
                err_console().print(
                    f"[{self.done}/{self.total}] {event.status:5s} {event.label}  "
                    f"({fmt_clock(self._elapsed())} elapsed, ETA {self._eta()})",
                    markup=False,
                )
        elif event.kind == "round_start" and self.bar is not None:
            self.bar.update(self.task, description=f"round {event.done + 1}/{self.rounds}")
        elif event.kind == "round_done":
            self._set(max(self.done, (event.done + 1) * event.total))


def _short(label: str, width: int = 48) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def summarise(path: Path, console: Console, quiet: bool = False) -> None:
    """Per (mode, device): the GRU/LSTM ratio for each shape beside 0.75 and a one-line verdict; then
    warnings for failed, noisy (IQR/median > 10%) and busy-machine cases. Loaded and paired as
    ``rnnbench report`` does; built by ``present.run_summary``."""
    from rnnbench.analyse.crossover import crossover_of
    from rnnbench.analyse.speed import aggregate_cases, pair_ratios
    from rnnbench.present.run_summary import run_summary
    from rnnbench.results.loader import load_report_data

    data = load_report_data([path])
    cases, rounds = aggregate_cases(data.summary)
    shown = run_summary(
        data.summary, pair_ratios(cases, rounds, data.sample_files), crossover_of(cases, rounds)
    )
    if not quiet:
        _show(console, shown.body)
    err = err_console()
    for line in shown.warnings:
        err.print(line, markup=False)
    out_console().print(str(path) if quiet else f"Results: {path}", markup=False, soft_wrap=True)  # -q: $(…)
