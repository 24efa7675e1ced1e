"""The Python API: the CLI's five verbs as functions that return values, for notebooks and scripts.

    import rnnbench
    times = rnnbench.run(arch=["lstm", "gru"], seq_len=[32], hidden=[64], mode=["inference"])
    frame = rnnbench.load("results/")                 # every summary.csv below, with the declared dtypes
    learnt = rnnbench.train(task="adding", arch=["lstm", "gru"], seeds=2, steps=200)
    gate = rnnbench.compare("results/base", "results/head")
    page = rnnbench.report(["results/"])              # the folder holding report.html, report.md, figures

The surface is these five functions and their keyword arguments; everything else in the package may change.
Each one does what its command does, with the same defaults (preset ``quick`` for ``run``), writes the same run
folders, and raises ``rnnbench.errors.RnnbenchError`` subclasses where the command would exit with an error.
Nothing prints; pass ``on_progress`` to see progress (a callable taking a ``core.progress.ProgressEvent``).

Imports are lazy: ``import rnnbench`` loads neither torch nor pandas; the first call does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from rnnbench.core.progress import OnProgress
    from rnnbench.gate.results import Comparison

PathLike = str | Path
Values = Sequence[Any] | Any | None

__all__ = ["compare", "load", "report", "run", "train"]


def _paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _listed(values: Values) -> list[str] | None:
    """One value or several, as the command line would pass them (strings)."""
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, Sequence):
        return [str(values)]
    return [str(v) for v in values]


def run(
    *,
    arch: Values = None,
    impl: Values = None,
    mode: Values = None,
    device: Values = None,
    dtype: Values = None,
    seq_len: Values = None,
    batch: Values = None,
    hidden: Values = None,
    input_size: Values = None,
    layers: Values = None,
    directions: Values = None,
    lengths: Values = None,
    threads: Values = None,
    workload: Values = None,
    preset: str | None = None,
    rounds: int = 1,
    budget: float | None = None,
    warmup: float | None = None,
    target_precision: float | None = None,
    busy_threshold: float | None = None,
    seed: int | None = None,
    output: PathLike = "results",
    run_id: str | None = None,
    on_progress: OnProgress | None = None,
) -> pd.DataFrame:
    """Time a sweep, as ``rnnbench run`` does, and return its ``summary.csv`` rows: one per case and round,
    with the declared dtypes (``median_s`` float seconds, ``seq_len`` int, ``case_id`` str, …).

    Axes not given come from ``preset`` (default ``quick``). The run folder is ``frame.attrs["path"]``."""
    from rnnbench.core.progress import ignore
    from rnnbench.measure.plan import build_plan
    from rnnbench.measure.sweep import execute, plan_run, start_planned

    axes = {
        "arch": arch, "impl": impl, "mode": mode, "device": device, "dtype": dtype, "seq_len": seq_len,
        "batch": batch, "hidden": hidden, "input_size": input_size, "layers": layers,
        "directions": directions, "lengths": lengths, "threads": threads, "workload": workload,
    }  # fmt: skip
    settings_over: dict[str, float | None] = {
        "budget": budget, "target_precision": target_precision, "warmup": warmup,
        "busy_threshold": busy_threshold,
    }  # fmt: skip
    spec, settings = build_plan(preset, {}, {k: _listed(v) for k, v in axes.items()}, settings_over, seed)
    plan = plan_run(spec, settings, rounds)
    started = start_planned(plan, Path(output), run_id, ["rnnbench.run(...)"])
    execute(started, on_progress or ignore, fresh_processes=None)
    frame = load(started.folder.path)
    frame.attrs["path"] = started.folder.path
    return frame


def load(paths: PathLike | Sequence[PathLike], table: str = "summary") -> pd.DataFrame:
    """Read result folders (searched recursively) or CSV files into one DataFrame with the dtypes declared in
    ``results.schema.COLUMN_TYPES``: integer columns as ``int64`` (``float64`` where a cell is missing), floats
    as ``float64``, booleans as ``bool``, identifiers (``case_id``, ``run_id``, ``fingerprint``) as strings —
    never guessed from the cells (a hash of digits stays text).

    ``table``: ``summary`` (timing, per case and round), ``samples`` (every timed block), ``train_summary``
    (one row per training run) or ``curves`` (evaluations during training)."""
    from rnnbench.results.loader import load as load_results

    return load_results(_paths(paths), (table,)).frames[table]


def train(
    *,
    task: Values = None,
    arch: Values = None,
    seeds: int | None = None,
    seq_len: Values = None,
    hidden: Values = None,
    params: Values = None,
    lr: Values = None,
    steps: int | None = None,
    batch: int | None = None,
    eval_every: int | None = None,
    eval_size: int | None = None,
    val_size: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    impl: str | None = None,
    threads: int | None = None,
    preset: str | None = None,
    output: PathLike = "results",
    on_progress: OnProgress | None = None,
) -> pd.DataFrame:
    """Train and compare arms, as ``rnnbench train`` does, and return its ``train_summary.csv`` rows (one per
    task × arch × seed × length × size × learning rate). ``arch`` takes ``lstm``, ``gru``, ``rnn`` and
    ``lstm-fb1`` (LSTM with forget bias +1). The run folder is ``frame.attrs["path"]``."""
    from rnnbench.learn.presets import preset_spec
    from rnnbench.learn.session import build_tasks, new_metadata, run_training
    from rnnbench.learn.spec import validate
    from rnnbench.measure.devices import resolve_device
    from rnnbench.results.folder import RunFolder

    def ints(values: Values) -> tuple[int, ...] | None:
        listed = _listed(values)
        return tuple(int(v) for v in listed) if listed else None

    given: dict[str, Any] = {
        "tasks": tuple(_listed(task) or ()) or None,
        "arms": tuple(_listed(arch) or ()) or None,
        "seeds": seeds,
        "seq_lens": ints(seq_len),
        "hidden": ints(hidden),
        "params": ints(params),
        "lrs": tuple(float(v) for v in _listed(lr) or ()) or None,
        "steps": steps,
        "batch_size": batch,
        "eval_every": eval_every,
        "eval_size": eval_size,
        "val_size": val_size,
        "device": device,
        "dtype": dtype,
        "impl": impl,
        "threads": threads,
    }
    if given["params"] and not given["hidden"]:
        given["hidden"] = ()
    spec = validate(preset_spec(preset, **{k: v for k, v in given.items() if v is not None}))
    tasks = build_tasks(spec)
    resolve_device(spec.device)
    folder = RunFolder.create(Path(output), new_metadata(spec, ["rnnbench.train(...)"], tasks))
    try:
        run_training(spec, folder, on_progress, tasks)
    finally:
        folder.release()
    frame = load(folder.path, "train_summary")
    frame.attrs["path"] = folder.path
    return frame


def compare(
    base: PathLike | Sequence[PathLike],
    head: PathLike | Sequence[PathLike],
    *,
    min_effect: float = 0.05,
    alpha: float = 0.01,
) -> Comparison:
    """Gate ``head`` against ``base`` (result folders), as ``rnnbench compare`` does: per case the ratio of
    per-round throughputs with its interval, a one-sided test and a verdict. The result has ``.cases`` (each
    with ``name``, ``verdict``, ``ratio``, ``ratio_low``, ``ratio_high``, ``p_value``), ``.counts()``,
    ``.summary()`` (one line) and ``.exit_code`` (what the command would exit with)."""
    from rnnbench.gate.rounds import compare_paths
    from rnnbench.gate.settings import GateSettings

    return compare_paths(_paths(base), _paths(head), GateSettings(min_effect=min_effect, alpha=alpha))


def report(
    paths: PathLike | Sequence[PathLike],
    output: PathLike | None = None,
    formats: Sequence[str] = ("md", "html", "png", "csv"),
) -> Path:
    """Write the report of result folders, as ``rnnbench report`` does (``report.md``, ``report.html``,
    figures, ``cases.csv``), and return the folder it wrote (default: ``report/`` beside the inputs)."""
    from rnnbench.analyse.report import make_report
    from rnnbench.core.parsing import parse_choices
    from rnnbench.present.render import FORMATS, default_out_dir, write_report

    inputs = _paths(paths)
    chosen = parse_choices("format", list(formats), FORMATS)
    out_dir = Path(output) if output is not None else default_out_dir(inputs)
    write_report(make_report(inputs), out_dir, chosen)
    return out_dir
