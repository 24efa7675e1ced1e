"""The training protocol: which runs to do, how each one trains, and what the finished rows say.

The comparison is only fair when the arms differ in nothing but the cell (REFERENCES.md, "Training
comparisons"), so every run of a plan shares: the task's data stream for a seed (common random numbers: the
generator seed depends on task, length and seed, never on the arm, size or learning rate), the fixed held-out
evaluation set, Adam with gradient-norm clipping at 1.0, the number of steps × batch, and — by default — the
total parameter count (recurrent layers plus the linear head), solved per arm from one budget.

The library never prints: ``run_training`` reports through a ``progress`` callback and writes rows to the run
folder (curves first, then the unit's summary row, each flushed), so a killed run loses at most the unit it
was in, and ``resume`` skips every (task, arm, seed, length, size, lr) unit that has a summary row and drops
curve rows of units that have none.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import statistics
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

import torch
from torch import nn

from rnnbench.analyse.stats import Interval, t_interval, wilson_interval
from rnnbench.core.flops import param_count
from rnnbench.core.spec import DTYPES, IMPLS, ModelConfig
from rnnbench.errors import ConfigError, RnnbenchError, UnsupportedError
from rnnbench.learn.tasks import Batch, Evaluation, Task, TaskOptions, make_task, task_names
from rnnbench.measure.models.base import RecurrentNet
from rnnbench.registry import Registry, check_choice
from rnnbench.results.folder import RunFolder

ARMS: tuple[str, ...] = ("lstm", "lstm-fb1", "gru", "rnn")
ARM_ARCH: dict[str, str] = {"lstm": "lstm", "lstm-fb1": "lstm", "gru": "gru", "rnn": "rnn"}
ARM_HELP: dict[str, str] = {
    "lstm": "torch.nn.LSTM, PyTorch's default initialisation",
    "lstm-fb1": "LSTM with 1.0 added to bias_ih's forget-gate rows [H:2H] (every layer): forget bias +1",
    "gru": "torch.nn.GRU (reset-after form)",
    "rnn": "torch.nn.RNN with tanh",
}
MATCHES: tuple[str, ...] = ("params", "hidden")
REFERENCE_ARM = "lstm"
"""``--hidden H`` with ``--match params`` sets the budget to the LSTM's total parameters at H."""
LR_GRID: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
"""The per-arm learning-rate sweep when ``--lr`` is not given (Greff et al. 2017: LR dominates)."""
MATCH_TOLERANCE = 0.01
GRAD_CLIP = 1.0
SOLVED_MAJORITY = 0.5
"""A length counts as solved for the memory horizon when at least half the seeds solve it."""


# ---- the plan -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSpec:
    """Everything that defines a training comparison; stored in ``metadata.json`` so ``--resume`` can
    rebuild exactly the same plan."""

    tasks: tuple[str, ...] = ("adding",)
    arms: tuple[str, ...] = ("lstm", "gru")
    seeds: int = 3
    seq_lens: tuple[int, ...] = ()
    """Lengths for every task; empty = ``task_seq_lens`` or each task's default."""
    task_seq_lens: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """Per-task lengths (presets use these); ``seq_lens`` wins when given."""
    match: str = "params"
    hidden: tuple[int, ...] = (64,)
    params: tuple[int, ...] = ()
    layers: int = 1
    lrs: tuple[float, ...] = ()
    """One value: every arm uses it. Several (or none = ``LR_GRID``): per-arm sweep chosen by validation."""
    steps: int = 1000
    batch_size: int = 32
    eval_every: int = 100
    eval_size: int = 512
    val_size: int = 256
    train_size: int = 0
    """0 = a fresh batch every step; N = a fixed pool of N training sequences per seed."""
    stop_at_target: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    impl: str = "native"
    threads: int = 1
    """CPU intra-op threads while training (0 = torch's default). One is the default: these small models are
    dispatch-bound, and two OpenMP threads on a shared 2-core machine run many times slower."""
    copy_symbols: int = 10
    text: str | None = None
    csv: str | None = None
    column: str | None = None

    @property
    def sweep_lrs(self) -> tuple[float, ...]:
        return self.lrs or LR_GRID

    @property
    def lr_sweep(self) -> bool:
        return len(self.sweep_lrs) > 1

    def task_options(self) -> TaskOptions:
        return TaskOptions(copy_symbols=self.copy_symbols, text=self.text, csv=self.csv, column=self.column)

    def lengths_for(self, task: Task) -> tuple[int, ...]:
        if self.seq_lens:
            return self.seq_lens
        return dict(self.task_seq_lens).get(task.name, (task.default_seq_len,))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSpec:
        """Inverse of ``to_dict`` (JSON turns tuples into lists); unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(
                f"stored training settings have unknown keys {sorted(unknown)}; this folder was written by "
                "another rnnbench version — start a new run instead of resuming."
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "task_seq_lens":
                values[key] = tuple((str(t), tuple(int(v) for v in lens)) for t, lens in value)
            elif isinstance(value, list):
                values[key] = tuple(value)
            else:
                values[key] = value
        return cls(**values)


def validate(spec: TrainSpec) -> TrainSpec:
    """Check names and ranges before anything trains; normalise names. Raises ``ConfigError``."""
    tasks = tuple(check_choice("task", t, task_names()) for t in spec.tasks)
    arms = tuple(check_choice("arm", a, ARMS) for a in spec.arms)
    if not tasks:
        raise ConfigError("no task given; pass --task with one of: " + ", ".join(task_names()))
    if not arms:
        raise ConfigError("no arm given; pass --arm with some of: " + ", ".join(ARMS))
    match = check_choice("size matching", spec.match, MATCHES)
    dtype = check_choice("dtype", spec.dtype, DTYPES)
    impl = check_choice("implementation", spec.impl, IMPLS)
    if impl == "numpy":
        raise ConfigError(
            "implementation 'numpy' is inference-only and cannot train; use native, aten, cell, scratch "
            "or compiled."
        )
    for name in (
        "seeds",
        "steps",
        "batch_size",
        "eval_every",
        "eval_size",
        "val_size",
        "layers",
        "copy_symbols",
    ):
        value = getattr(spec, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name.replace('_', '-')} must be a whole number ≥ 1, got {value!r}.")
    if spec.train_size < 0:
        raise ConfigError(f"--train-size must be ≥ 0 (0 = fresh data every step), got {spec.train_size}.")
    if spec.threads < 0:
        raise ConfigError(f"--threads must be ≥ 0 (0 = torch's default), got {spec.threads}.")
    for lr in spec.lrs:
        if not lr > 0 or not math.isfinite(lr):
            raise ConfigError(f"--lr must be a positive number, got {lr}.")
    if match == "hidden" and spec.params:
        raise ConfigError(
            "--params gives parameter budgets, which need --match params; use --hidden with --match hidden."
        )
    if not spec.params and not spec.hidden:
        raise ConfigError("give --hidden sizes or --params budgets.")
    if any(h < 1 for h in spec.hidden) or any(p < 1 for p in spec.params):
        raise ConfigError("--hidden and --params take whole numbers ≥ 1.")
    for _, lens in spec.task_seq_lens:
        if any(n < 1 for n in lens):
            raise ConfigError(f"sequence lengths must be ≥ 1, got {lens}.")
    if any(n < 1 for n in spec.seq_lens):
        raise ConfigError(f"--seq-len takes whole numbers ≥ 1, got {spec.seq_lens}.")
    return replace(spec, tasks=tasks, arms=arms, match=match, dtype=dtype, impl=impl)


@dataclass(frozen=True)
class Unit:
    """One training run: the smallest thing that is written, skipped on resume, and never duplicated."""

    task: str
    arm: str
    seed: int
    seq_len: int
    match: str
    budget: int
    """Parameter budget (``match='params'``) or the requested hidden size (``match='hidden'``)."""
    hidden_size: int
    params: int
    lr: float

    @property
    def key(self) -> tuple[str, str, int, int, str, int, float]:
        return unit_key(self.task, self.arm, self.seed, self.seq_len, self.match, self.budget, self.lr)

    @property
    def arch(self) -> str:
        return ARM_ARCH[self.arm]

    def label(self) -> str:
        return f"{self.task} T={self.seq_len} {self.arm} h={self.hidden_size} lr={self.lr:g} seed={self.seed}"


def unit_key(
    task: str, arm: str, seed: Any, seq_len: Any, match: str, budget: Any, lr: Any
) -> tuple[str, str, int, int, str, int, float]:
    """The identity of a unit, from typed values or from a CSV row's strings."""
    return (str(task), str(arm), int(seed), int(seq_len), str(match), int(budget), float(lr))


def total_params(arch: str, input_size: int, hidden_size: int, output_size: int, layers: int = 1) -> int:
    """Recurrent stack (``flops.param_count``) plus the linear head ``H·O + O``."""
    return param_count(arch, input_size, hidden_size, layers) + hidden_size * output_size + output_size


def solve_hidden(arch: str, input_size: int, output_size: int, budget: int, layers: int = 1) -> int:
    """The hidden size whose total parameter count is closest to ``budget`` (ties: the smaller). Parameters
    grow monotonically with H, so walk up until the count passes the budget."""
    best, best_err = 1, abs(total_params(arch, input_size, 1, output_size, layers) - budget)
    h = 1
    while True:
        h += 1
        count = total_params(arch, input_size, h, output_size, layers)
        if abs(count - budget) < best_err:
            best, best_err = h, abs(count - budget)
        if count > budget:
            return best


def sizes_for(spec: TrainSpec, task: Task) -> list[tuple[int, dict[str, tuple[int, int]]]]:
    """``[(budget, {arm: (hidden, params)})]``: per size, each arm's hidden size and total parameters."""
    out = []
    budgets: list[int]
    if spec.match == "hidden":
        budgets = list(spec.hidden)
    elif spec.params:
        budgets = list(spec.params)
    else:
        budgets = [
            total_params(REFERENCE_ARM, task.input_size, h, task.output_size, spec.layers) for h in spec.hidden
        ]
    for budget in budgets:
        arms: dict[str, tuple[int, int]] = {}
        for arm in spec.arms:
            arch = ARM_ARCH[arm]
            h = (
                budget
                if spec.match == "hidden"
                else solve_hidden(arch, task.input_size, task.output_size, budget, spec.layers)
            )
            arms[arm] = (h, total_params(arch, task.input_size, h, task.output_size, spec.layers))
        out.append((budget, arms))
    return out


def match_note(unit: Unit) -> str:
    """Empty when the parameter match is within 1 %; otherwise says by how much it misses (tiny budgets,
    where one hidden unit more or less moves the count by more than 1 %)."""
    if unit.match != "params":
        return ""
    off = unit.params / unit.budget - 1
    if abs(off) <= MATCH_TOLERANCE:
        return ""
    return f"parameters {unit.params} are {off:+.1%} off the budget {unit.budget} (budget too small to match)"


def plan(spec: TrainSpec, tasks: Mapping[str, Task]) -> list[Unit]:
    """Every unit, in the order they run: task, length, size, lr, seed, then arm innermost — the arms of one
    seed run back to back, so drift in machine load hits them alike."""
    units: list[Unit] = []
    for name in spec.tasks:
        task = tasks[name]
        for seq_len in spec.lengths_for(task):
            task.check_seq_len(seq_len)
            for budget, arms in sizes_for(spec, task):
                for lr in spec.sweep_lrs:
                    for seed in range(spec.seeds):
                        for arm in spec.arms:
                            h, p = arms[arm]
                            units.append(Unit(name, arm, seed, seq_len, spec.match, budget, h, p, float(lr)))
    return units


def data_seed(task: str, seq_len: int, seed: int) -> int:
    """The training stream's generator seed: a function of (task, length, seed) only — common random
    numbers across arms, sizes and learning rates."""
    return zlib.crc32(f"{task}|{seq_len}|{seed}".encode())


# ---- one run ------------------------------------------------------------------------------------------
class Network(nn.Module):
    """Recurrent stack + linear head; reads out every step or the top layer's final state."""

    def __init__(self, rnn: RecurrentNet, head: nn.Linear, readout: str) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = head
        self.readout = readout

    def forward(self, batch: Batch) -> torch.Tensor:
        out, h_n = self.rnn(batch.x, None, batch.lengths)
        if self.readout == "all":
            return self.head(out)
        h = h_n[0] if isinstance(h_n, tuple) else h_n
        return self.head(h[-1])


def add_forget_bias(
    weights: dict[str, torch.Tensor], hidden_size: int, layers: int, amount: float = 1.0
) -> None:
    """Add ``amount`` to rows ``[H:2H]`` (the forget gate; PyTorch's gate order is i, f, g, o) of every
    layer's ``bias_ih``. ``bias_hh`` is left at its default, so the effective forget bias ``b_if + b_hf`` is
    PyTorch's U(−2/√H, 2/√H)-ish sum shifted by exactly ``amount``."""
    for layer in range(layers):
        weights[f"bias_ih_l{layer}"][hidden_size : 2 * hidden_size] += amount


def build_network(task: Task, unit: Unit, spec: TrainSpec, device: str) -> Network:
    """The arm's network for this seed: canonical ``torch.nn`` weights for ``seed`` (so ``lstm`` and
    ``lstm-fb1`` start identical except the forget bias), head initialised from the same seed."""
    from rnnbench.measure.devices import device_type
    from rnnbench.measure.models.build import build_model
    from rnnbench.measure.models.weights import canonical_weights

    config = ModelConfig(unit.arch, task.input_size, unit.hidden_size, spec.layers)
    weights = canonical_weights(config, unit.seed)
    if unit.arm == "lstm-fb1":
        add_forget_bias(weights, unit.hidden_size, spec.layers)
    rnn = build_model(config, spec.impl, weights, unit.seed, device_type(device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(unit.seed)
        head = nn.Linear(unit.hidden_size, task.output_size)
    return Network(rnn, head, task.readout).to(device)


@dataclass(frozen=True)
class HeldOut:
    """A task's fixed held-out sets at one length, on the device, and the chance baseline on ``eval``."""

    eval: Batch
    val: Batch | None
    baseline: float


@dataclass(frozen=True)
class TrainEvent:
    """What ``run_training`` tells its ``progress`` callback.

    ``kind``: ``plan`` (``total`` units, ``skipped`` already done), ``start`` (a unit, ``total`` steps),
    ``step`` (``step``, smoothed ``loss``), ``eval`` (``metric``, ``score``), ``done`` (``row``: the summary
    row written), ``skip`` (a finished unit found when resuming).
    """

    kind: Literal["plan", "start", "step", "eval", "done", "skip"]
    unit: Unit | None = None
    step: int = 0
    total: int = 0
    skipped: int = 0
    loss: float = math.nan
    metric: float = math.nan
    score: float | None = None
    row: dict[str, Any] | None = None


Progress = Callable[[TrainEvent], None]


@dataclass
class UnitResult:
    row: dict[str, Any]
    curves: list[dict[str, Any]] = field(default_factory=list)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def _autocast(device: str, dtype: str) -> contextlib.AbstractContextManager[Any]:
    """float32 trains as is; bfloat16/float16 train under autocast (weights and Adam state stay float32,
    the usual mixed-precision recipe — pure half-precision Adam is not a fair test of the cell)."""
    if dtype == "float32":
        return contextlib.nullcontext()
    from rnnbench.measure.devices import device_type

    return torch.autocast(device_type(device), dtype=getattr(torch, dtype))


@torch.no_grad()
def evaluate(
    net: Network, task: Task, batch: Batch, spec: TrainSpec, device: str, chunk: int = 256
) -> Evaluation:
    """The task's metric on a whole held-out batch, computed in chunks to bound memory."""
    net.eval()
    preds = []
    for part in batch.split(chunk):
        with _autocast(device, spec.dtype):
            preds.append(net(part).float())
    net.train()
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
    progress: Progress | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> UnitResult:
    """Train one unit and return its summary row and curve rows (nothing is written here).

    ``train_seconds`` counts only training segments (batch generation, forward, backward, clipping, the
    optimiser step), with a device synchronisation before each clock read; evaluation is excluded. A NaN or
    infinite training loss stops the unit as ``diverged``.
    """
    emit = progress or (lambda event: None)
    net = build_network(task, unit, spec, device)
    opt = torch.optim.Adam(net.parameters(), lr=unit.lr)
    scaler = torch.amp.GradScaler("cuda") if spec.dtype == "float16" and device.startswith("cuda") else None
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
        last_eval = evaluate(net, task, held.eval, spec, device)
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
            TrainEvent(
                "eval", unit, step=step, total=spec.steps, metric=last_eval.metric, score=last_eval.score
            )
        )

    emit(TrainEvent("start", unit, total=spec.steps))
    record(0, math.nan)
    stream = _batches(task, unit, spec)
    status, message, step = "ok", match_note(unit), 0
    report_every = max(1, spec.steps // 200)
    _sync(device)
    t0 = clock()
    for step in range(1, spec.steps + 1):
        batch = next(stream).to(device)
        with _autocast(device, spec.dtype):
            pred = net(batch)
        loss = task.loss(pred.float(), batch)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), GRAD_CLIP)
            opt.step()
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
            emit(TrainEvent("step", unit, step=step, total=spec.steps, loss=seg_loss / seg_n))
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
        val_metric = evaluate(net, task, held.val, spec, device).metric
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
    }
    emit(TrainEvent("done", unit, step=step, total=spec.steps, metric=final, row=row))
    return UnitResult(row, curves)


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
        "impl": spec.impl,
        "device": device,
        "dtype": spec.dtype,
        "batch_size": spec.batch_size,
        "train_size": spec.train_size,
        "num_layers": spec.layers,
        "input_size": task.input_size,
        "eval_seq_len": task.eval_seq_len(unit.seq_len),
        "started_at": _dt.datetime.now().isoformat(timespec="seconds"),
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
    progress: Progress | None = None,
    tasks: Mapping[str, Task] | None = None,
) -> list[dict[str, Any]]:
    """Run every unit of the plan not yet in ``folder`` and return all its summary rows (as strings, read
    back from the file, so resumed and fresh runs summarise alike).

    Per-unit failures (an unsupported dtype, out of memory) become ``error`` rows and the plan continues;
    ``RnnbenchError`` for bad settings is raised before anything trains. Ctrl-C marks the folder
    ``interrupted`` and re-raises; every finished unit is already on disk.
    """
    from rnnbench.measure.devices import resolve_device

    emit = progress or (lambda event: None)
    spec = validate(spec)
    device = resolve_device(spec.device)
    from rnnbench.measure.models.build import unsupported_reason

    reason = unsupported_reason(spec.impl, mode="train", device_type=device.split(":")[0], dtype=spec.dtype)
    if reason:
        raise UnsupportedError(reason)
    tasks = dict(tasks) if tasks is not None else build_tasks(spec)
    units = plan(spec, tasks)
    done = finished_keys(folder)
    summary = folder.table("train_summary")
    curves = folder.table("curves")
    threads_before = torch.get_num_threads()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    emit(TrainEvent("plan", total=len(units), skipped=sum(u.key in done for u in units)))
    folder.update_metadata(status="running")
    cache: dict[tuple[str, int], HeldOut] = {}
    try:
        for unit in units:
            if unit.key in done:
                emit(TrainEvent("skip", unit))
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
                emit(TrainEvent("done", unit, row=result.row))
            curves.append(result.curves)  # curves first: a kill before the summary row leaves orphans,
            summary.append([result.row])  # which finished_keys drops on resume
            done.add(unit.key)
    except KeyboardInterrupt:
        folder.update_metadata(status="interrupted", finished_at=_now())
        raise
    finally:
        torch.set_num_threads(threads_before)
    rows = summary.read_rows()
    folder.update_metadata(status="complete", finished_at=_now(), selected_lr=_lr_table(select_lrs(rows)))
    return rows


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def new_metadata(spec: TrainSpec, command: Sequence[str], tasks: Mapping[str, Task]) -> dict[str, Any]:
    """What ``metadata.json`` records for a training run (environment captured here, torch imported)."""
    from rnnbench.measure.env import capture

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
        "started_at": _now(),
        "status": "running",
        "env": capture(),
        "settings": spec.to_dict(),
        "protocol": {
            "optimizer": "Adam",
            "grad_clip_norm": GRAD_CLIP,
            "lr_grid": list(spec.sweep_lrs),
            "lr_selection": "per (task, length, size, arm): lowest median val_metric over seeds; ties: smaller",
            "match_tolerance": MATCH_TOLERANCE,
            "reference_arm": REFERENCE_ARM,
            "data_seed": "crc32('task|seq_len|seed'): identical stream for every arm, size and lr",
        },
        "tasks": info,
    }


def load_spec(folder: RunFolder) -> TrainSpec:
    """The settings a training folder was started with, for ``--resume``."""
    meta = folder.read_metadata()
    if meta.get("kind") != "train" or "settings" not in meta:
        raise ConfigError(
            f"{folder.path}: this folder was not written by 'rnnbench train' (metadata kind "
            f"{meta.get('kind')!r}); pass a folder from a training run to --resume."
        )
    return TrainSpec.from_dict(meta["settings"])


# ---- presets ---------------------------------------------------------------------------------------------
PRESETS: Registry[dict[str, Any]] = Registry("preset")
PRESETS.register(
    "quick",
    {
        "tasks": ("adding", "copy"),
        "arms": ("lstm", "gru"),
        "seeds": 3,
        "task_seq_lens": (("adding", (50,)), ("copy", (10,))),
        "copy_symbols": 5,
        "hidden": (64,),
        "lrs": (1e-2,),
        "steps": 1500,
        "batch_size": 32,
        "eval_every": 50,
        "eval_size": 256,
        "stop_at_target": True,
    },
)
PRESETS.register(
    "full",
    {
        "tasks": ("adding", "copy", "selective-copy", "temporal-order", "parity", "anbn"),
        "arms": ("lstm", "lstm-fb1", "gru", "rnn"),
        "seeds": 5,
        "task_seq_lens": (
            ("adding", (50, 100, 200, 400)),
            ("copy", (10, 20, 50, 100)),
            ("selective-copy", (20, 50, 100)),
            ("temporal-order", (50, 100, 200)),
            ("parity", (20,)),
            ("anbn", (10,)),
        ),
        "copy_symbols": 5,
        "hidden": (64,),
        "lrs": (),
        "steps": 3000,
        "batch_size": 64,
        "eval_every": 100,
        "eval_size": 1024,
    },
)


def preset_spec(name: str | None, **overrides: Any) -> TrainSpec:
    """A spec from a preset (or the defaults) with the given overrides; ``None`` overrides are ignored."""
    values: dict[str, Any] = dict(PRESETS.get(name)) if name else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainSpec(**values)


# ---- summaries -------------------------------------------------------------------------------------------
GroupKey = tuple[str, int, str, int]
"""(task, seq_len, match, budget): the rows of one comparison."""


def _num(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def select_lrs(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int, str, int, str], float]:
    """Per (task, seq_len, match, budget, arm): the learning rate with the lowest median ``val_metric`` over
    seeds (NaN — diverged or failed — counts as worst; ties go to the smaller rate). With one rate, that one.
    """
    by: dict[tuple[str, int, str, int, str], dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        key = (str(r["task"]), int(r["seq_len"]), str(r["match"]), int(r["budget"]), str(r["arm"]))
        value = _num(r.get("val_metric"))
        by[key][_num(r["lr"])].append(value if math.isfinite(value) else math.inf)
    chosen = {}
    for key, per_lr in by.items():
        if len(per_lr) == 1:
            chosen[key] = next(iter(per_lr))
            continue
        chosen[key] = min(per_lr, key=lambda lr: (statistics.median(per_lr[lr]), lr))
    return chosen


def _lr_table(chosen: Mapping[tuple[str, int, str, int, str], float]) -> list[dict[str, Any]]:
    return [
        {"task": t, "seq_len": n, "match": m, "budget": b, "arm": a, "lr": lr}
        for (t, n, m, b, a), lr in sorted(chosen.items())
    ]


@dataclass(frozen=True)
class ArmSummary:
    """One arm at one (task, length, size) with its chosen learning rate, over seeds."""

    task: str
    seq_len: int
    match: str
    budget: int
    arm: str
    hidden_size: int
    params: int
    lr: float
    metric_name: str
    baseline: float
    n: int
    mean: Interval
    median: float
    successes: int
    success: Interval
    diverged: int
    failed: int
    median_steps_to_target: float
    seconds_per_step: float
    score_name: str
    mean_score: float


@dataclass(frozen=True)
class PairedDifference:
    """``b − a`` of the final metric, seed by seed (same data stream), with a t-interval over seeds."""

    task: str
    seq_len: int
    match: str
    budget: int
    a: str
    b: str
    metric_name: str
    n: int
    diff: Interval
    success_diff: int
    """Seeds solved by b minus seeds solved by a."""


@dataclass(frozen=True)
class Horizon:
    """Memory horizon of one arm: success per length and the largest length solved by ≥ half the seeds."""

    task: str
    match: str
    budget: int
    arm: str
    rates: tuple[tuple[int, int, int, Interval], ...]
    """``(seq_len, successes, seeds, Wilson interval)`` in increasing length."""
    largest_solved: int | None


@dataclass(frozen=True)
class TrainReport:
    arms: list[ArmSummary]
    pairs: list[PairedDifference]
    horizons: list[Horizon]
    selected_lr: dict[tuple[str, int, str, int, str], float]
    swept: bool


PAIRS: tuple[tuple[str, str], ...] = (
    ("lstm", "gru"),
    ("lstm-fb1", "gru"),
    ("lstm", "lstm-fb1"),
    ("gru", "rnn"),
)
"""Paired differences shown, as (a, b) → b − a: GRU − LSTM first, the question users ask."""


def summarize(rows: Sequence[Mapping[str, Any]]) -> TrainReport:
    """Per-arm intervals, paired differences and memory horizons from summary rows (strings or values),
    using only each arm's selected learning rate. Failed rows count as unsolved; diverged rows too, and they
    have no metric, so means are over the seeds that finished."""
    chosen = select_lrs(rows)
    swept = len({_num(r["lr"]) for r in rows}) > 1
    picked = [
        r
        for r in rows
        if chosen.get((str(r["task"]), int(r["seq_len"]), str(r["match"]), int(r["budget"]), str(r["arm"])))
        == _num(r["lr"])
    ]
    groups: dict[tuple[GroupKey, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in picked:
        groups[((str(r["task"]), int(r["seq_len"]), str(r["match"]), int(r["budget"])), str(r["arm"]))].append(
            r
        )
    arms: list[ArmSummary] = []
    for (gk, arm), rs in groups.items():
        metrics = [_num(r["final_metric"]) for r in rs]
        finite = [m for m in metrics if math.isfinite(m)]
        successes = sum(_true(r["solved"]) for r in rs)
        steps_t = [_num(r["steps_to_target"]) for r in rs if math.isfinite(_num(r["steps_to_target"]))]
        sps = [_num(r.get("seconds_per_step")) for r in rs if math.isfinite(_num(r.get("seconds_per_step")))]
        scores = [_num(r.get("score")) for r in rs if math.isfinite(_num(r.get("score")))]
        first = rs[0]
        arms.append(
            ArmSummary(
                task=gk[0],
                seq_len=gk[1],
                match=gk[2],
                budget=gk[3],
                arm=arm,
                hidden_size=int(first["hidden_size"]),
                params=int(_num(first["params"])),
                lr=_num(first["lr"]),
                metric_name=str(first.get("metric") or "metric"),
                baseline=_num(first["baseline_metric"]),
                n=len(rs),
                mean=t_interval(finite),
                median=statistics.median(finite) if finite else math.nan,
                successes=successes,
                success=wilson_interval(successes, len(rs)),
                diverged=sum(_true(r["diverged"]) for r in rs),
                failed=sum(str(r["status"]) not in ("ok", "diverged") for r in rs),
                median_steps_to_target=statistics.median(steps_t) if steps_t else math.nan,
                seconds_per_step=statistics.median(sps) if sps else math.nan,
                score_name=str(first.get("score_name") or ""),
                mean_score=statistics.fmean(scores) if scores else math.nan,
            )
        )
    order = {a: i for i, a in enumerate(ARMS)}
    arms.sort(key=lambda s: (s.task, s.seq_len, s.match, s.budget, order.get(s.arm, 99)))
    pairs: list[PairedDifference] = []
    keys = sorted({gk for gk, _ in groups})
    for gk in keys:
        for a, b in PAIRS:
            if (gk, a) not in groups or (gk, b) not in groups:
                continue
            by_seed_a = {int(r["seed"]): r for r in groups[(gk, a)]}
            by_seed_b = {int(r["seed"]): r for r in groups[(gk, b)]}
            seeds = sorted(set(by_seed_a) & set(by_seed_b))
            diffs = [_num(by_seed_b[s]["final_metric"]) - _num(by_seed_a[s]["final_metric"]) for s in seeds]
            finite = [d for d in diffs if math.isfinite(d)]
            solved_diff = sum(_true(by_seed_b[s]["solved"]) for s in seeds) - sum(
                _true(by_seed_a[s]["solved"]) for s in seeds
            )
            pairs.append(
                PairedDifference(
                    gk[0],
                    gk[1],
                    gk[2],
                    gk[3],
                    a,
                    b,
                    str(groups[(gk, a)][0].get("metric") or "metric"),
                    len(finite),
                    t_interval(finite),
                    solved_diff,
                )
            )
    horizons: list[Horizon] = []
    by_size: dict[tuple[str, str, int, str], list[ArmSummary]] = defaultdict(list)
    for s in arms:
        by_size[(s.task, s.match, s.budget, s.arm)].append(s)
    for (task, match, budget, arm), ss in by_size.items():
        ss.sort(key=lambda s: s.seq_len)
        rates = tuple((s.seq_len, s.successes, s.n, s.success) for s in ss)
        solved_lens = [s.seq_len for s in ss if s.n and s.successes / s.n >= SOLVED_MAJORITY]
        horizons.append(Horizon(task, match, budget, arm, rates, max(solved_lens) if solved_lens else None))
    return TrainReport(arms, pairs, horizons, chosen, swept)
