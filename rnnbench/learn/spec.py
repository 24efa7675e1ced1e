"""What a training comparison is: the spec, its validation, the units of work."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from rnnbench.core.spec import check_stored_keys
from rnnbench.core.vocab import ARCHS, ARM_ARCH, ARMS, DEFAULT_IMPL, DTYPES, IMPL_ARCHS, IMPLS
from rnnbench.errors import ConfigError
from rnnbench.learn.tasks import Task, TaskOptions, task_names
from rnnbench.registry import check_choice

MATCHES: tuple[str, ...] = ("params", "hidden")
REFERENCE_ARM = "lstm"
"""``--hidden H`` with ``--match params`` sets the budget to the LSTM's total parameters at H."""
LR_GRID: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
"""The per-arm learning-rate sweep when ``--lr`` is not given (Greff et al. 2017: LR dominates)."""
DEFAULT_TRAIN_IMPL = "native"
"""``TrainSpec.impl``'s default: arms whose architecture it does not compute (minGRU, minLSTM) quietly use their
own default; any other ``--impl`` that computes none of the arms is refused as a likely mistake."""
MATCH_TOLERANCE = 0.01
GRAD_CLIP = 1.0


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
    impl: str = DEFAULT_TRAIN_IMPL
    """The implementation of the arms whose architecture it computes (``core.vocab.IMPL_ARCHS``); every other
    arm trains with its architecture's default (``core.vocab.DEFAULT_IMPL``): ``impl_for``."""
    tf32: bool = False
    """Allow TF32 for float32 matmuls and cuDNN on NVIDIA GPUs (``measure.numerics``); off = IEEE float32."""
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

    def impl_for(self, arm: str) -> str:
        """The implementation ``arm`` trains with: ``impl`` where it computes the arm's architecture, else the
        architecture's default — so ``--impl scratch`` trains every arm sequentially, while ``--impl cell``
        (no minGRU/minLSTM cell exists) leaves mingru and minlstm on their parallel scan."""
        arch = ARM_ARCH[arm]
        return self.impl if arch in IMPL_ARCHS.get(self.impl, ()) else DEFAULT_IMPL[arch]

    def arm_impls(self) -> dict[str, str]:
        """``{arm: implementation}`` for every arm, in the spec's order."""
        return {arm: self.impl_for(arm) for arm in self.arms}

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
        check_stored_keys(data, cls, "training")
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
            "implementation 'numpy' is inference-only and cannot train; use native, aten, cell, scratch, "
            "scan or compiled."
        )
    archs = sorted({ARM_ARCH[a] for a in arms}, key=ARCHS.index)
    if impl != DEFAULT_TRAIN_IMPL and not set(archs) & set(IMPL_ARCHS[impl]):
        raise ConfigError(
            f"--impl {impl} computes {', '.join(IMPL_ARCHS[impl])}, none of the arms asked for "
            f"({', '.join(arms)}); add such an arm or pick an implementation of {', '.join(archs)}."
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
    impl: str = DEFAULT_TRAIN_IMPL
    """The implementation this arm trains with (``TrainSpec.impl_for``); a function of the spec and the arm,
    so it is not part of ``key``."""

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
