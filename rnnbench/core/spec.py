"""What is measured (``ModelConfig``, ``Case``), how (``Settings``) and the grid that expands into cases.

Stdlib only: the CLI builds these without importing torch, so ``--help``, ``--dry-run``, ``report`` and
``compare`` stay fast.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from rnnbench.core.labels import shape_label
from rnnbench.core.vocab import ARCHS, DTYPES, IMPL_ARCHS, IMPLS, MODES, WORKLOADS
from rnnbench.errors import ConfigError
from rnnbench.registry import check_choice


def check_stored_keys(data: Mapping[str, Any], cls: type, what: str) -> None:
    """Settings read back from ``metadata.json`` may hold only ``cls``'s fields: a folder written by another
    rnnbench version must be refused, never resumed as a silently different grid or training plan."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(
            f"stored {what} settings have unknown keys {sorted(unknown)}; this folder was written by another "
            "rnnbench version — start a new run instead of resuming."
        )


def check_positive(name: str, value: int) -> int:
    """Sizes must be whole numbers ≥ 1; the message names the option and the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """The arguments of ``torch.nn.LSTM/GRU/RNN`` that every implementation honours."""

    arch: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", check_choice("architecture", self.arch, ARCHS))
        check_positive("input_size", self.input_size)
        check_positive("hidden_size", self.hidden_size)
        check_positive("num_layers", self.num_layers)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}.")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


@dataclass(frozen=True)
class Case:
    """One measurement: what runs, on what, at which shape. Hashable; ``case_id`` joins rows across runs.

    ``threads`` is recorded with the case but is *how* it is measured, not *what*: it is left out of
    ``case_id`` so that the same shape at different thread counts can be compared (the environment
    fingerprint flags the difference).
    """

    arch: str
    impl: str = "native"
    mode: str = "inference"
    device: str = "cpu"
    dtype: str = "float32"
    seq_len: int = 64
    batch_size: int = 16
    input_size: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    batch_first: bool = False
    length_spread: float = 0.0
    workload: str = "layer"
    seed: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "arch", check_choice("architecture", self.arch, ARCHS))
        object.__setattr__(self, "impl", check_choice("implementation", self.impl, IMPLS))
        object.__setattr__(self, "mode", check_choice("mode", self.mode, MODES))
        object.__setattr__(self, "dtype", check_choice("dtype", self.dtype, DTYPES))
        object.__setattr__(self, "workload", check_choice("workload", self.workload, WORKLOADS))
        for name in ("seq_len", "batch_size", "input_size", "hidden_size", "num_layers"):
            check_positive(name, getattr(self, name))
        if not 0.0 <= float(self.length_spread) < 1.0:
            raise ConfigError(
                f"length spread must be in [0, 1) (0 = fixed lengths), got {self.length_spread!r}."
            )
        if self.threads < 0:
            raise ConfigError(f"threads must be ≥ 0 (0 = torch's default), got {self.threads}.")

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(
            arch=self.arch,
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
        )

    @property
    def packed(self) -> bool:
        """Variable-length batch (packed for native/aten, masked for the loops)."""
        return self.length_spread > 0

    @property
    def case_id(self) -> str:
        """Stable 12-hex-digit hash of every field except ``threads``, with the device's *kind* (``cuda`` for
        ``cuda:1``): the same case on another GPU index of the same model must pair in ``compare`` — the GPU
        model is in the fingerprint, the index stays in the ``device`` column."""
        payload = {k: v for k, v in asdict(self).items() if k != "threads"}
        payload["device"] = str(payload["device"]).split(":", 1)[0]
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def shape_key(self) -> tuple[Any, ...]:
        """Everything but the architecture and implementation: cases with equal keys are paired."""
        return (
            self.mode,
            self.device,
            self.dtype,
            self.workload,
            self.seq_len,
            self.batch_size,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            self.batch_first,
            self.length_spread,
            self.threads,
        )

    def label(self) -> str:
        """Short human-readable description used in progress bars and verdicts (``core.labels`` spelling)."""
        shape = shape_label({f.name: getattr(self, f.name) for f in fields(self)})
        return f"{self.arch}/{self.impl} {self.mode} {self.device} {self.dtype} {shape}"

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Settings:
    """How cases are measured. Changing these changes the protocol, not the case."""

    warmup_min_iters: int = 3
    warmup_max_s: float = 2.0
    min_block_s: float = 0.02
    target_rel_ci: float = 0.02
    min_samples: int = 7
    max_samples: int = 200
    budget_s: float = 3.0
    busy_threshold: float = 0.15
    """Flag a case busy when other processes used more than this fraction of all cores' time."""
    tf32: bool = False
    """Allow TF32 for float32 matmuls and cuDNN on NVIDIA GPUs (``measure.numerics``): off = IEEE float32."""

    def __post_init__(self) -> None:
        if self.target_rel_ci <= 0:
            raise ConfigError(f"--target-precision must be > 0 (e.g. 0.02), got {self.target_rel_ci}.")
        if self.budget_s <= 0:
            raise ConfigError(f"--budget (seconds of timed blocks per case) must be > 0, got {self.budget_s}.")
        if self.min_samples < 3:
            raise ConfigError(f"min_samples must be ≥ 3 for a median interval, got {self.min_samples}.")


@dataclass(frozen=True)
class SweepSpec:
    """A grid: the Cartesian product of its axes, expanded in a deterministic order.

    Order: shape axes outermost, then mode, implementation, and architecture innermost, so that the
    architectures of one shape are adjacent — the runner measures them interleaved.

    An (architecture, implementation) pair that ``core.vocab.IMPL_ARCHS`` excludes is not part of the grid
    (torch.nn has no minGRU; LSTM has no parallel scan): the default ``native scan`` gives LSTM/GRU/RNN their
    library kernels and minGRU/minLSTM their scan. An architecture left with no implementation is an error.
    """

    arch: tuple[str, ...] = ("lstm", "gru")
    impl: tuple[str, ...] = ("native", "scan")
    mode: tuple[str, ...] = ("inference",)
    device: tuple[str, ...] = ("cpu",)
    dtype: tuple[str, ...] = ("float32",)
    seq_len: tuple[int, ...] = (64,)
    batch_size: tuple[int, ...] = (16,)
    hidden_size: tuple[int, ...] = (128,)
    input_size: tuple[int, ...] = ()
    num_layers: tuple[int, ...] = (1,)
    bidirectional: tuple[bool, ...] = (False,)
    length_spread: tuple[float, ...] = (0.0,)
    workload: tuple[str, ...] = ("layer",)
    threads: tuple[int, ...] = (0,)
    shapes: tuple[tuple[int, int, int], ...] = ()
    """Explicit (hidden, batch, seq_len) triples; when given they replace the product of those three axes."""
    seed: int = 0

    def expand(self) -> list[Case]:
        """All cases in deterministic order; duplicates (e.g. a repeated value) appear once."""
        for axis in (
            "arch",
            "impl",
            "mode",
            "device",
            "dtype",
            "seq_len",
            "batch_size",
            "hidden_size",
            "num_layers",
            "bidirectional",
            "length_spread",
            "workload",
            "threads",
        ):
            if not getattr(self, axis):
                raise ConfigError(f"The sweep axis '{axis}' is empty; give at least one value.")
        self.check_pairs()
        seen: set[Case] = set()
        cases: list[Case] = []
        shapes: Iterable[tuple[int, int, int]] = self.shapes or [
            (h, b, t) for b in self.batch_size for h in self.hidden_size for t in self.seq_len
        ]
        outer: Iterable[tuple[Any, ...]] = itertools.product(
            self.device,
            self.dtype,
            self.threads,
            self.workload,
            self.num_layers,
            self.bidirectional,
            self.length_spread,
            self.input_size or (None,),
            list(shapes),
            self.mode,
            self.impl,
            self.arch,
        )
        for dev, dt, th, wl, nl, bi, spread, i, (h, b, t), mode, impl, arch in outer:
            if arch not in IMPL_ARCHS.get(impl, ARCHS):
                continue
            case = Case(
                arch=arch,
                impl=impl,
                mode=mode,
                device=dev,
                dtype=dt,
                seq_len=t,
                batch_size=b,
                input_size=h if i is None else i,
                hidden_size=h,
                num_layers=nl,
                bidirectional=bi,
                length_spread=spread,
                workload=wl,
                threads=th,
                seed=self.seed,
            )
            if case not in seen:
                seen.add(case)
                cases.append(case)
        return cases

    def skipped_pairs(self) -> list[tuple[str, str]]:
        """The (architecture, implementation) pairs of the axes that the grid leaves out (see the class)."""
        return [(a, i) for i in self.impl for a in self.arch if a not in IMPL_ARCHS.get(i, ARCHS)]

    def check_pairs(self) -> None:
        """Every architecture needs at least one implementation that computes it; the message names those."""
        for arch in self.arch:
            if not any(arch in IMPL_ARCHS.get(i, ARCHS) for i in self.impl):
                able = [i for i in IMPLS if arch in IMPL_ARCHS[i]]
                raise ConfigError(
                    f"no implementation in --impl {' '.join(self.impl)} computes {arch} (torch.nn ships no "
                    f"minGRU/minLSTM; only they have a parallel scan); give --impl with one of: "
                    f"{', '.join(able)}."
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``metadata.json``); ``from_dict`` inverts it."""
        return {k: [list(v) for v in val] if k == "shapes" else (list(val) if isinstance(val, tuple) else val)
                for k, val in asdict(self).items()}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Inverse of ``to_dict`` (JSON turns tuples into lists); unknown keys are an error, as for
        ``TrainSpec``: a stored grid this version cannot read must not be resumed as a different grid."""
        check_stored_keys(data, cls, "sweep")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "shapes":
                kwargs[key] = tuple(tuple(int(v) for v in s) for s in value)
            elif isinstance(value, list):
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def with_axes(self, **axes: Any) -> SweepSpec:
        """A copy with some axes replaced (values given as iterables)."""
        changes: dict[str, Any] = {k: v if isinstance(v, int) else tuple(v) for k, v in axes.items()}
        return replace(self, **changes)
