"""``rnnbench train``: which cell learns a long-range task — LSTM, LSTM with forget bias +1, GRU or a plain
RNN — at matched parameters, over seeds, with intervals. Thin: parse → ``TrainSpec`` →
``rnnbench.learn.session`` → tables.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from rnnbench.cli.app import MultiValueCommand, app, err_console, out_console
from rnnbench.core.parsing import parse_floats, parse_ints, split_values
from rnnbench.core.values import now_iso
from rnnbench.errors import BenchmarkFailedError, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from rnnbench.analyse.stats import Interval
    from rnnbench.analyse.training import TrainReport
    from rnnbench.learn.loop import TrainEvent
    from rnnbench.learn.spec import TrainSpec

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
        None, "--dtype", help="float32 (default), bfloat16 or float16 (autocast; weights stay float32)."
    ),
    impl: str | None = typer.Option(
        None, "--impl", "-i", help="Implementation trained: native (default), aten, cell, scratch, compiled."
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
    from rnnbench.analyse.training import summarize
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
        folder = RunFolder.open_existing(resume)
        spec = validate(load_spec(folder))
        tasks = build_tasks(spec)
        history = list(folder.read_metadata().get("resumed", []))
        folder.update_metadata(resumed=[*history, {"command": sys.argv, "at": now_iso()}])
    else:
        spec = validate(preset_spec(preset, **given))
        tasks = build_tasks(spec)
        from rnnbench.measure.devices import resolve_device

        resolve_device(spec.device)  # fail before creating a folder
        folder = RunFolder.create(output, new_metadata(spec, sys.argv, tasks))
    console = out_console()
    rows = _run_with_progress(spec, folder, tasks, err_console())
    report = summarize(rows)
    render_report(console, report, spec)
    console.print(f"Results: {folder.path}", markup=False)
    failed = [r for r in rows if r["status"] not in ("ok", "diverged")]
    if failed:
        err_console().print(
            f"{len(failed)} run(s) failed; see 'status' and 'message' in {folder.path / 'train_summary.csv'}.",
            markup=False,
        )
        if len(failed) == len(rows):
            raise BenchmarkFailedError(f"every training run failed, e.g. {failed[0]['message']}")


def _run_with_progress(spec: TrainSpec, folder: Any, tasks: Any, console: Console) -> list[dict[str, Any]]:
    """Run the plan with one bar per (arm, seed) run — live training loss and last evaluation — plus an
    overall bar; each finished run leaves a one-line result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rnnbench.learn.session import run_training

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

    def on_event(event: TrainEvent) -> None:
        unit = event.unit
        if event.kind == "plan":
            progress.update(
                overall, total=event.total, completed=event.skipped, info=f"{event.skipped} done before"
            )
        elif event.kind == "start" and unit is not None:
            bars[unit.key] = progress.add_task(unit.label(), total=event.total, info="")
        elif event.kind == "step" and unit is not None and unit.key in bars:
            progress.update(bars[unit.key], completed=event.step, info=f"loss {event.loss:.4g}")
        elif event.kind == "eval" and unit is not None and unit.key in bars:
            score = "" if event.score is None else f" score {event.score:.3g}"
            progress.update(bars[unit.key], info=f"step {event.step}: eval {event.metric:.4g}{score}")
        elif event.kind == "done" and unit is not None:
            row = event.row or {}
            if unit.key in bars:
                progress.remove_task(bars.pop(unit.key))
            progress.console.print(_done_line(unit.label(), row), markup=False)
            progress.advance(overall)

    with progress:
        return run_training(spec, folder, on_event, tasks)


def _done_line(label: str, row: dict[str, Any]) -> str:
    status = row.get("status", "")
    if status not in ("ok",):
        return f"{label}: {status} — {row.get('message', '')}"
    solved = "solved" if row.get("solved") else "not solved"
    at = f" at step {row['steps_to_target']}" if row.get("steps_to_target") is not None else ""
    score = "" if row.get("score") is None else f", {row.get('score_name')} {row['score']:.3g}"
    return (
        f"{label}: {row.get('metric')} {row['final_metric']:.4g} (chance {row['baseline_metric']:.4g}{score}), "
        f"{solved}{at}, {row['steps']} steps, {row['seconds_per_step'] * 1000:.1f} ms/step"
    )


def _fmt(value: float, digits: int = 4) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _interval(iv: Interval, digits: int = 3) -> str:
    if not math.isfinite(iv.low):
        return f"{_fmt(iv.estimate, digits)} [n too small]"
    return f"{_fmt(iv.estimate, digits)} [{_fmt(iv.low, digits)}, {_fmt(iv.high, digits)}]"


def render_report(console: Console, report: TrainReport, spec: TrainSpec) -> None:
    """Per comparison: a table of arms, the paired differences, and — across lengths — the memory horizon.
    Differences always come with their interval and a reading that says when the data cannot decide."""
    from rnnbench.learn.tasks import TASK_CLASSES

    groups: dict[tuple[str, int, str, int], list[Any]] = {}
    for s in report.arms:
        groups.setdefault((s.task, s.seq_len, s.match, s.budget), []).append(s)
    for (task, seq_len, match, budget), arms in groups.items():
        cls = TASK_CLASSES.get(task)
        target = cls.target_text if cls else ""
        size = f"params≈{budget}" if match == "params" else f"hidden={budget}"
        first = arms[0]
        table = Table(
            title=(
                f"{task}, T={seq_len}, {size}: {first.metric_name} (lower is better; chance "
                f"{_fmt(first.baseline)}), solved = {target}"
            ),
            title_justify="left",
        )
        for col in ("arm", "h", "params", "lr", "seeds", "mean [95% CI]", "median", "solved [95% CI]",
                    "steps→target", "ms/step", first.score_name or "score"):  # fmt: skip
            table.add_column(col)
        for s in arms:
            rate = f"{s.successes}/{s.n} {_rate(s.success)}"
            notes = []
            if s.diverged:
                notes.append(f"{s.diverged} diverged")
            if s.failed:
                notes.append(f"{s.failed} failed")
            table.add_row(
                s.arm + (f" ({', '.join(notes)})" if notes else ""),
                str(s.hidden_size),
                str(s.params),
                f"{s.lr:g}",
                str(s.n),
                _interval(s.mean),
                _fmt(s.median, 3),
                rate,
                _fmt(s.median_steps_to_target),
                _fmt(s.seconds_per_step * 1000, 3),
                _fmt(s.mean_score, 3),
            )
        console.print(table)
        pairs = [
            p for p in report.pairs if (p.task, p.seq_len, p.match, p.budget) == (task, seq_len, match, budget)
        ]
        if pairs:
            ptable = Table(
                title="Paired by seed (same data stream): difference of final metric", title_justify="left"
            )
            for col in ("difference", "seeds", "mean [95% CI]", "solved (b − a)", "reading"):
                ptable.add_column(col)
            for p in pairs:
                ptable.add_row(
                    f"{p.b} − {p.a}",
                    str(p.n),
                    _interval(p.diff),
                    f"{p.success_diff:+d}",
                    _reading(p.diff, p.a, p.b),
                )
            console.print(ptable)
    horizons: dict[tuple[str, str, int], list[Any]] = {}
    for h in report.horizons:
        if len(h.rates) >= 2:
            horizons.setdefault((h.task, h.match, h.budget), []).append(h)
    for (task, match, budget), hs in horizons.items():
        size = f"params≈{budget}" if match == "params" else f"hidden={budget}"
        htable = Table(
            title=f"Memory horizon: {task}, {size} — seeds solved per length (Wilson 95%)", title_justify="left"
        )
        htable.add_column("length")
        for h in hs:
            htable.add_column(h.arm)
        lengths = sorted({r[0] for h in hs for r in h.rates})
        for length in lengths:
            cells = []
            for h in hs:
                found = [r for r in h.rates if r[0] == length]
                cells.append(f"{found[0][1]}/{found[0][2]} {_rate(found[0][3])}" if found else "–")
            htable.add_row(str(length), *cells)
        htable.add_row(
            "largest solved (≥ half the seeds)",
            *["none" if h.largest_solved is None else str(h.largest_solved) for h in hs],
        )
        console.print(htable)
    if report.swept:
        console.print(
            "Learning rate chosen per arm by median validation metric; every sweep run is kept in "
            "train_summary.csv.",
            markup=False,
        )
    if spec.stop_at_target:
        console.print(
            "Runs stopped at their target (--stop-at-target): compare steps→target and success; the final "
            "metric of a solved run is the one at its stopping point.",
            markup=False,
        )


def _rate(iv: Interval) -> str:
    if not math.isfinite(iv.estimate):
        return "–"
    return f"{iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def _reading(diff: Interval, a: str, b: str) -> str:
    """Words for a paired interval: a direction only when the interval excludes zero."""
    if not math.isfinite(diff.low):
        return "too few seeds for an interval"
    if diff.high < 0:
        return f"{b} lower than {a} (interval excludes 0)"
    if diff.low > 0:
        return f"{b} higher than {a} (interval excludes 0)"
    return "inconclusive (interval includes 0)"
