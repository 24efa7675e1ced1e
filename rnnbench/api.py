"""The Python API: the CLI's verbs as functions that return values, for notebooks and scripts.

    import rnnbench
    times = rnnbench.run(arch=["lstm", "gru"], seq_len=[32], hidden=[64], mode=["inference"], rounds=5)
    rnnbench.ratios(times)                            # GRU/LSTM per shape: ratio, 95% interval, verdict
    frame = rnnbench.load("results/")                 # every summary.csv below, with the declared dtypes
    learnt = rnnbench.train(task="adding", arch=["lstm", "gru"], seeds=2, steps=200)
    gate = rnnbench.compare("results/base", "results/head")     # a table in Jupyter; .frame, .exit_code
    page = rnnbench.report(["results/"])              # .figures (matplotlib), .claims, .ratios, .path

The surface is these functions, their keyword arguments and the objects they return; everything else in the
package may change. Each does what its command does, with the command's defaults except that ``run`` measures
five rounds (one round cannot give a verdict), writes the same run folders, and raises
``rnnbench.errors.RnnbenchError`` subclasses where the command would exit with an error.

**Your process is left as it was.** ``run`` measures every round in a fresh worker process, so the caller's
torch is neither used for timing nor changed by it; ``train`` trains here, and every torch setting it changes —
intra-op threads, TF32 for matmul and cuDNN, cuDNN/oneDNN switches, the global random state (CPU and CUDA),
grad mode, the default dtype, and ``torch.compile``'s recompile limits when ``impl="compiled"`` — is restored
when it returns or fails (:func:`torch_state_kept`).

**Progress**: a bar (``tqdm.auto``: a widget in Jupyter when ipywidgets is installed, a text line elsewhere) on
by default; ``progress=False`` turns it off, ``on_progress=`` also receives every ``ProgressEvent``.

Imports are lazy: ``import rnnbench`` loads neither torch nor pandas; the first call does.
"""

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from rnnbench.analyse.report import Report as _Report
    from rnnbench.core.progress import OnProgress, ProgressEvent
    from rnnbench.gate.results import Comparison

PathLike: TypeAlias = str | Path
T = TypeVar("T")
OneOrMany: TypeAlias = T | Sequence[T]
"""One value or a list of them, as one flag or several values after it would give on the command line."""

Arch: TypeAlias = Literal["lstm", "gru", "rnn", "mingru", "minlstm"]
Impl: TypeAlias = Literal["native", "aten", "cell", "scratch", "scan", "compiled", "numpy"]
Mode: TypeAlias = Literal["inference", "forward", "backward", "train"]
Dtype: TypeAlias = Literal["float32", "bfloat16", "float16"]
Workload: TypeAlias = Literal["layer", "classifier"]
RunPreset: TypeAlias = Literal["quick", "full", "fastrnns", "deepbench", "scan"]
Device: TypeAlias = Literal["cpu", "cuda", "auto"] | str
"""``cpu``, ``cuda`` (the current GPU), ``cuda:N``, or ``auto`` (a GPU if there is one)."""
Arm: TypeAlias = Literal["lstm", "lstm-fb1", "gru", "rnn", "mingru", "minlstm"]
Task: TypeAlias = Literal[
    "adding", "copy", "selective-copy", "temporal-order", "parity", "anbn", "charlm", "series", "digits"
]
TrainPreset: TypeAlias = Literal["quick", "full"]
Table: TypeAlias = Literal["summary", "samples", "train_summary", "curves"]
ReportFormat: TypeAlias = Literal["md", "html", "png", "svg", "csv"]
Results: TypeAlias = PathLike | Sequence[PathLike]
"""Result folders (searched recursively) or CSV files."""

__all__ = ["compare", "load", "ratios", "report", "run", "train"]


def _paths(paths: "Results | pd.DataFrame") -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    if hasattr(paths, "attrs"):  # a frame that run/train returned: its folder
        if "path" not in paths.attrs:
            raise TypeError("this DataFrame has no attrs['path']; pass the result folder instead")
        return [Path(paths.attrs["path"])]
    return [Path(p) for p in paths]


def _listed(values: Any) -> list[str] | None:
    """One value or several, as the command line would pass them (strings)."""
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, Sequence):
        return [str(values)]
    return [str(v) for v in values]


# ---- the caller's torch, kept ------------------------------------------------------------------------------
COMPILE_LIMITS = (
    "recompile_limit",
    "cache_size_limit",
    "accumulated_recompile_limit",
    "fail_on_recompile_limit_hit",
)
"""The ``torch._dynamo.config`` values that building ``compiled`` raises (``measure.models.loops``)."""


@contextlib.contextmanager
def torch_state_kept(compiled: bool = False) -> Iterator[None]:
    """Everything process-wide in torch that rnnbench's in-process work may change, restored on exit:
    intra-op threads, TF32 for matmul and cuDNN, ``cudnn.enabled``/``benchmark``/``deterministic``,
    ``mkldnn.enabled``, the global random state (CPU and every initialised CUDA device), grad mode, the default
    dtype, and with ``compiled`` the dynamo recompile limits."""
    import torch

    from rnnbench.measure.numerics import tf32_flags

    backends = torch.backends
    threads = torch.get_num_threads()
    tf32 = tf32_flags()
    switches = (
        backends.cudnn.enabled,
        backends.cudnn.benchmark,
        backends.cudnn.deterministic,
        backends.mkldnn.enabled,
    )
    rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    grad = torch.is_grad_enabled()
    dtype = torch.get_default_dtype()
    limits: dict[str, Any] = {}
    if compiled:
        import torch._dynamo.config as dynamo

        limits = {name: getattr(dynamo, name) for name in COMPILE_LIMITS if hasattr(dynamo, name)}
    try:
        yield
    finally:
        import warnings

        torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            backends.cuda.matmul.allow_tf32 = tf32["cuda_matmul_tf32"]
            backends.cudnn.allow_tf32 = tf32["cudnn_tf32"]
        cudnn: Any = backends.cudnn  # the flags are module attributes torch's stubs do not all declare
        cudnn.enabled, cudnn.benchmark, cudnn.deterministic = switches[:3]
        setattr(backends.mkldnn, "enabled", switches[3])  # noqa: B010
        torch.random.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        if limits:
            import torch._dynamo.config as dynamo

            for name, value in limits.items():
                setattr(dynamo, name, value)


# ---- progress -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _progress(
    show: bool, also: "OnProgress | None", unit: str, total: int | None = None
) -> "Iterator[OnProgress]":
    """A callback that moves a ``tqdm.auto`` bar (a widget in Jupyter, a line on stderr elsewhere) and passes
    every event on to ``also``. The bar counts finished items (cases × rounds, training runs)."""
    bar: Any = None
    if show:
        with warnings_silenced():  # tqdm warns once when ipywidgets is missing, then draws text
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit=unit, dynamic_ncols=True, file=sys.stderr)

    def on_event(event: "ProgressEvent") -> None:
        if bar is not None:
            if event.kind == "plan":
                bar.reset(total=event.total)
                bar.update(event.done)
            elif event.kind in ("done", "skip"):
                bar.update(1)
                if event.label:
                    bar.set_postfix_str(event.label[:48], refresh=False)
            elif event.kind == "warning" and event.message:
                bar.write(f"Warning: {event.message}", file=sys.stderr)
        if also is not None:
            also(event)

    try:
        yield on_event
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def warnings_silenced() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---- measuring ------------------------------------------------------------------------------------------
def run(
    *,
    arch: OneOrMany[Arch] | None = None,
    impl: OneOrMany[Impl] | None = None,
    mode: OneOrMany[Mode] | None = None,
    device: OneOrMany[Device] | None = None,
    dtype: OneOrMany[Dtype] | None = None,
    seq_len: OneOrMany[int] | None = None,
    batch: OneOrMany[int] | None = None,
    hidden: OneOrMany[int] | None = None,
    input_size: OneOrMany[int] | None = None,
    layers: OneOrMany[int] | None = None,
    directions: OneOrMany[Literal[1, 2]] | None = None,
    lengths: OneOrMany[Literal["fixed"] | float] | None = None,
    threads: OneOrMany[int] | None = None,
    workload: OneOrMany[Workload] | None = None,
    preset: RunPreset | None = None,
    rounds: int = 5,
    budget: float | None = None,
    warmup: float | None = None,
    target_precision: float | None = None,
    busy_threshold: float | None = None,
    seed: int | None = None,
    output: PathLike = "results",
    run_id: str | None = None,
    progress: bool = True,
    on_progress: "OnProgress | None" = None,
) -> "pd.DataFrame":
    """Time a sweep, as ``rnnbench run`` does, and return its ``summary.csv`` rows: one per case and round,
    with the declared dtypes (``median_s`` float seconds, ``seq_len`` int, ``case_id`` str, …). The run folder
    is ``frame.attrs["path"]``; :func:`ratios` turns the frame into GRU/LSTM verdicts.

    :param arch: ``lstm``, ``gru``, ``rnn`` (axes not given come from ``preset``, default ``quick``).
    :param impl: ``native`` (torch.nn: cuDNN/oneDNN), ``aten`` (vendor libraries off), ``cell``, ``scratch``,
        ``compiled``, ``numpy`` (a float64 oracle).
    :param mode: ``inference``, ``forward``, ``backward``, ``train`` (``ddp-train`` runs under torchrun:
        use the CLI).
    :param device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    :param lengths: ``fixed``, or a spread ``s`` in (0, 1): lengths drawn in [(1−s)·T, T].
    :param threads: intra-op threads of the measuring process (0: torch's default there).
    :param rounds: fresh worker processes that each measure the whole grid; the replication unit of every
        interval. 5 gives the bootstrap interval; 2–4 a wide t-interval; 1 never a verdict.
    :param budget: seconds of timed blocks per case (quick preset 0.6 s, scan 0.3 s, otherwise 3 s).
    :param progress: draw a progress bar (tqdm; a widget in Jupyter).
    :param on_progress: also called with every ``rnnbench.core.progress.ProgressEvent``.
    :returns: the rows; ``frame.attrs["path"]`` is the run folder."""
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
    with torch_state_kept():  # planning reads torch (devices, threads) and sets the run's numeric policy
        spec, settings = build_plan(preset, {}, {k: _listed(v) for k, v in axes.items()}, settings_over, seed)
        plan = plan_run(spec, settings, rounds)
        started = start_planned(plan, Path(output), run_id, ["rnnbench.run(...)"])
    with _progress(progress, on_progress, "case", plan.total) as on_event:
        execute(
            started, on_event, fresh_processes=True
        )  # every round in a fresh process, never in the caller's
    frame = load(started.folder.path)
    frame.attrs["path"] = started.folder.path
    return frame


def ratios(results: "Results | pd.DataFrame") -> "pd.DataFrame":
    """GRU/LSTM time ratios per shape, as ``run`` and ``report`` print them: one row per (mode, hardware,
    dtype, shape, implementation, threads) with ``ratio`` (GRU time / LSTM time; < 1: GRU faster), its 95%
    interval ``ratio_low``–``ratio_high``, the interval's ``method`` (``rounds``: bootstrap over ≥ 5 rounds,
    ``t-rounds``: t over 2–4, ``samples``: one process only) and the ``verdict`` (``GRU faster``,
    ``LSTM faster``, ``no difference``, ``inconclusive``, or ``… in one process``).

    :param results: a frame :func:`run` returned, or result folders / CSV files."""
    from rnnbench.analyse.report import make_report

    frame = make_report(_paths(results)).ratios
    first = ["mode", "device", "dtype", "seq_len", "batch_size", "input_size", "hidden_size", "impl", "threads"]
    first += ["ratio", "ratio_low", "ratio_high", "method", "verdict"]
    first = [c for c in first if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def load(paths: Results, table: Table = "summary") -> "pd.DataFrame":
    """Read result folders (searched recursively) or CSV files into one DataFrame with the dtypes declared in
    ``results.schema.COLUMN_TYPES``: integer columns as ``int64`` (``float64`` where a cell is missing), floats
    as ``float64``, booleans as ``bool``, identifiers (``case_id``, ``run_id``, ``fingerprint``) as strings —
    never guessed from the cells (a hash of digits stays text).

    :param table: ``summary`` (timing, per case and round), ``samples`` (every timed block), ``train_summary``
        (one row per training run) or ``curves`` (evaluations during training)."""
    from rnnbench.results.loader import load as load_results

    return load_results(_paths(paths), (table,)).frames[table]


def train(
    *,
    task: OneOrMany[Task] | None = None,
    arch: OneOrMany[Arm] | None = None,
    seeds: int | None = None,
    seq_len: OneOrMany[int] | None = None,
    hidden: OneOrMany[int] | None = None,
    params: OneOrMany[int] | None = None,
    lr: OneOrMany[float] | None = None,
    steps: int | None = None,
    batch: int | None = None,
    eval_every: int | None = None,
    eval_size: int | None = None,
    val_size: int | None = None,
    device: Device | None = None,
    dtype: Dtype | None = None,
    impl: Literal["native", "aten", "cell", "scratch", "compiled"] | None = None,
    threads: int | None = None,
    preset: TrainPreset | None = None,
    output: PathLike = "results",
    progress: bool = True,
    on_progress: "OnProgress | None" = None,
) -> "pd.DataFrame":
    """Train and compare arms, as ``rnnbench train`` does, and return its ``train_summary.csv`` rows (one per
    task × arm × seed × length × size × learning rate). Training runs in this process; every torch setting it
    changes is restored afterwards (:func:`torch_state_kept`).

    :param task: ``adding``, ``copy``, ``selective-copy``, ``temporal-order``, ``parity``, ``anbn``,
        ``charlm``, ``series``, ``digits`` (default ``adding``).
    :param arch: ``lstm``, ``lstm-fb1`` (LSTM with forget bias +1), ``gru``, ``rnn`` (default lstm, gru).
    :param lr: one learning rate for every arm, or several for a per-arm sweep (default 1e-3, 3e-3, 1e-2).
    :param threads: intra-op threads while training (default 1; 0: torch's default).
    :param progress: draw a progress bar over the training runs (tqdm; a widget in Jupyter).
    :returns: the rows; ``frame.attrs["path"]`` is the run folder."""
    from rnnbench.learn.presets import preset_spec
    from rnnbench.learn.session import build_tasks, new_metadata, run_training
    from rnnbench.learn.spec import validate
    from rnnbench.measure.devices import resolve_device
    from rnnbench.results.folder import RunFolder

    def ints(values: Any) -> tuple[int, ...] | None:
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
    with torch_state_kept(compiled=spec.impl == "compiled"):
        import torch

        torch.set_grad_enabled(True)  # a notebook cell under torch.no_grad() must still train (restored after)
        resolve_device(spec.device)
        folder = RunFolder.create(Path(output), new_metadata(spec, ["rnnbench.train(...)"], tasks))
        try:
            with _progress(progress, on_progress, "run") as on_event:
                run_training(spec, folder, on_event, tasks)
        finally:
            folder.release()
    frame = load(folder.path, "train_summary")
    frame.attrs["path"] = folder.path
    return frame


# ---- the gate --------------------------------------------------------------------------------------------
@dataclass
class GateResult:
    """What :func:`compare` returns: the gate's decision per case as a DataFrame (``frame``), the one-line
    ``summary``, the ``exit_code`` the command would give, and the full ``comparison`` (settings, notes, every
    round value). Shown as a table in Jupyter."""

    comparison: "Comparison"

    @property
    def frame(self) -> "pd.DataFrame":
        """One row per case: ``name``, ``verdict``, ``ratio`` (head/base throughput; < 1: head slower), its
        interval ``ratio_low``–``ratio_high``, ``p_value`` (Holm-adjusted, one-sided), the median
        throughputs ``base`` and ``head`` (tokens/s) and the ``reason``."""
        import pandas as pd

        rows = [
            {
                "name": c.name, "verdict": c.verdict, "ratio": c.ratio, "ratio_low": c.ratio_low,
                "ratio_high": c.ratio_high, "p_value": c.p_value, "base": c.base_value, "head": c.head_value,
                "reason": c.reason,
            }
            for c in self.comparison.cases
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["name", "verdict", "ratio", "ratio_low", "ratio_high", "p_value",
                                           "base", "head", "reason"])  # fmt: skip

    @property
    def exit_code(self) -> int:
        return int(self.comparison.exit_code)

    def summary(self) -> str:
        """One line: the verdict counts and the exit code."""
        return str(self.comparison.summary())

    def counts(self) -> dict[str, int]:
        return dict(self.comparison.counts())

    @property
    def cases(self) -> Sequence[Any]:
        return list(self.comparison.cases)

    def __repr__(self) -> str:
        return f"<GateResult: {self.summary()}>"

    def _repr_html_(self) -> str:
        from html import escape

        notes = "".join(f"<li>{escape(str(n))}</li>" for n in getattr(self.comparison, "notes", ()) or ())
        table = self.frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="—")
        return f"<p><b>rnnbench compare</b>: {escape(self.summary())}</p>{table}" + (
            f"<ul>{notes}</ul>" if notes else ""
        )


def compare(
    base: Results,
    head: Results,
    *,
    min_effect: float = 0.05,
    alpha: float = 0.01,
    allow_diff: Sequence[
        Literal["torch", "cuda", "cudnn", "onednn", "device_model", "threads", "numeric_flags"]
    ] = (),
    strict: bool = False,
) -> GateResult:
    """Gate ``head`` against ``base`` (result folders), as ``rnnbench compare`` does: per case the ratio of
    per-round throughputs with its interval, a one-sided test and a verdict (``regression``,
    ``improvement``, ``no_change``, ``inconclusive``, ``not_comparable``, ``error``).

    :param min_effect: smallest change that counts, as a fraction (0.05 = 5%).
    :param alpha: false-alarm probability of the whole comparison (Holm over the cases).
    :param allow_diff: fingerprint keys that may differ between the sides (e.g. ``["torch"]`` for an upgrade).
    :param strict: count inconclusive cases in ``exit_code`` (5)."""
    from rnnbench.gate.rounds import compare_paths
    from rnnbench.gate.settings import GateSettings

    settings = GateSettings(min_effect=min_effect, alpha=alpha, allow_diff=tuple(allow_diff), strict=strict)
    return GateResult(compare_paths(_paths(base), _paths(head), settings))


# ---- the report ------------------------------------------------------------------------------------------
@dataclass
class ReportResult:
    """What :func:`report` returns: the folder it wrote (``path``, ``files``), the tables behind it as
    DataFrames (``ratios``, ``cases``, ``claims``) and its ``figures`` as matplotlib ``Figure`` objects (drawn
    on first access, one per figure that has data). Shown in Jupyter as the claims and the GRU/LSTM verdicts."""

    path: Path
    report: "_Report" = field(repr=False)
    _figures: "dict[str, Figure] | None" = field(default=None, repr=False)

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.is_file())

    @property
    def ratios(self) -> "pd.DataFrame":
        return self.report.ratios

    @property
    def cases(self) -> "pd.DataFrame":
        return self.report.cases

    @property
    def claims(self) -> "pd.DataFrame":
        """One row per textbook claim tested: ``claim``, ``verdict``, ``summary``."""
        import pandas as pd

        rows = [{"claim": c.statement, "verdict": c.verdict, "summary": c.summary} for c in self.report.claims]
        return pd.DataFrame(rows, columns=["claim", "verdict", "summary"])

    @property
    def figures(self) -> "Mapping[str, Figure]":
        """Figure name (as in the report's file names) → ``matplotlib.figure.Figure``."""
        if self._figures is None:
            from rnnbench.present.plots import FIGURES

            built = {spec.name: spec.build(self.report) for spec in FIGURES}
            self._figures = {name: fig for name, fig in built.items() if fig is not None}
            _show_figures_in_jupyter()
        return self._figures

    def _repr_html_(self) -> str:
        from html import escape

        verdicts = self.ratios[[c for c in ("mode", "seq_len", "hidden_size", "impl", "ratio", "ratio_low",
                                            "ratio_high", "verdict") if c in self.ratios.columns]]  # fmt: skip
        parts = [f"<p><b>rnnbench report</b> in <code>{escape(str(self.path))}</code></p>"]
        parts.append(self.claims.to_html(index=False))
        if len(verdicts):
            parts.append("<p>GRU/LSTM time ratio per shape (95% interval):</p>")
            parts.append(verdicts.to_html(index=False, float_format=lambda v: f"{v:.3g}", max_rows=40))
        return "".join(parts)


def _figure_png(fig: "Figure") -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return buffer.getvalue()


def _show_figures_in_jupyter() -> None:
    """Let Jupyter draw a bare ``Figure``: rnnbench builds figures without pyplot (no global state), and
    IPython learns to show figures only when pyplot is imported under the inline backend — until then a figure
    shows as ``<Figure size … with 2 Axes>``. Registers a PNG formatter for the ``Figure`` type when running
    in IPython and none is registered; changes neither the backend nor pyplot's state."""
    ipython_module = sys.modules.get("IPython")
    shell = ipython_module.get_ipython() if ipython_module is not None else None
    if shell is None:
        return
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, _figure_png)


def report(
    paths: Results,
    output: PathLike | None = None,
    formats: Sequence[ReportFormat] = ("md", "html", "png", "svg", "csv"),
) -> ReportResult:
    """Write the report of result folders, as ``rnnbench report`` does (``report.md``, ``report.html``,
    figures, ``cases.csv``, ``ratios.csv``; the same defaults), and return it as an object.

    :param output: folder to write (default ``report/`` beside the inputs).
    :param formats: what to write: ``md``, ``html``, ``png``, ``svg``, ``csv``."""
    from rnnbench.analyse.report import make_report
    from rnnbench.core.parsing import parse_choices
    from rnnbench.present.render import FORMATS, default_out_dir, write_report

    inputs = _paths(paths)
    chosen = parse_choices("format", list(formats), FORMATS)
    out_dir = Path(output) if output is not None else default_out_dir(inputs)
    built = make_report(inputs)
    write_report(built, out_dir, chosen)
    return ReportResult(out_dir, built)
