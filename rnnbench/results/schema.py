"""The result files schema: table columns, declared column types, the schema version."""

from __future__ import annotations

from typing import Literal, cast

# Version history of the files (``schema_version`` in every row and in metadata.json). Readers refuse any
# other version, so bump it for every change a reader must know about (a column added, removed, renamed or
# given a new meaning or unit) and add a line here:
#
# 1: initial: summary, samples, train_summary, curves and ddp tables as below (times in seconds, memory in
#    bytes); metadata.json with run_id, kind, status, started_at, command, env and, for timing runs,
#    fingerprint and fingerprint_keys per device.
# 2: summary gains ``math`` (the float32 numeric policy a timing run asked for: ``ieee``, or ``tf32`` = TF32
#    allowed for matmul and cuDNN on NVIDIA GPUs); train_summary gains ``compute_dtype`` (the dtype the
#    recurrent stack's output really had: autocast can run a cuDNN RNN in float16 under ``--dtype bfloat16``).
#    Version 1 files are still read: the added columns are blank there ("not recorded", never a guess — a
#    version 1 float32 CUDA run used cuDNN's TF32 default while its matmuls were IEEE).
# 3: summary gains ``compute_dtype`` (the dtype the recurrent stack's output really had in the case's profiled
#    iteration, as train_summary's); ``math`` is the row's dtype on float16/bfloat16 rows, where the float32
#    policy does not apply (version 2 files wrote the policy there too); the fingerprint keys gain ``driver``
#    (the NVIDIA driver's version on CUDA devices, null elsewhere). Version 1 and 2 files are still read.
SCHEMA_VERSION = 3

ADDED_IN: dict[int, dict[str, tuple[str, ...]]] = {
    2: {"summary": ("math",), "train_summary": ("compute_dtype",)},
    3: {"summary": ("compute_dtype",)},
}
"""Columns each schema version added, per table: what a reader fills with blanks for an older file."""

READABLE_VERSIONS: tuple[int, ...] = (1, 2, 3)
"""Versions the loader reads (older ones with :data:`ADDED_IN`'s columns blank); writers write only
:data:`SCHEMA_VERSION` and never append to an older file."""


def added_since(table: str, version: int) -> tuple[str, ...]:
    """The columns of ``table`` that files of schema ``version`` do not have."""
    return tuple(c for v, tables in sorted(ADDED_IN.items()) if v > version for c in tables.get(table, ()))


SUMMARY_COLUMNS: tuple[str, ...] = (
    # results/README.md documents each column; other tools rely on these
    "schema_version", "run_id", "case_id", "round", "arch", "impl", "mode", "device", "dtype",
    "seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "bidirectional", "threads",
    "status", "message", "n_samples", "median_s", "mean_s", "iqr_s", "ci_low_s", "ci_high_s",
    "first_iter_s", "seq_per_s", "tokens_per_s", "gflop_per_s", "peak_fraction", "params",
    "peak_memory_bytes", "backend",
    # extras
    "min_s", "rel_ci", "compile_s", "cuda_event_median_s", "flops_per_iter", "tokens_per_iter",
    "peak_gflop_per_s", "batch_first", "length_spread", "workload", "seed", "busy", "load_avg",
    "other_cpu_frac", "steal_frac", "fingerprint", "started_at", "math", "compute_dtype",
)  # fmt: skip

SAMPLE_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "case_id", "round", "arch", "impl", "mode", "device", "dtype",
    "threads", "sample", "block_iters", "seconds", "cuda_event_s",
)  # fmt: skip

TRAIN_SUMMARY_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "task", "arm", "seed", "seq_len", "hidden_size", "params", "lr",
    "steps", "train_seconds", "final_metric", "baseline_metric", "normalized_metric", "solved",
    "steps_to_target", "seconds_to_target", "diverged", "status", "message",
    # extras (rnnbench train)
    "match", "budget", "metric", "score_name", "score", "val_metric", "seconds_per_step", "impl", "device",
    "dtype", "batch_size", "train_size", "num_layers", "input_size", "eval_seq_len", "started_at",
    "compute_dtype",
)  # fmt: skip

CURVES_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "task", "arm", "seed", "seq_len", "hidden_size", "lr", "step",
    "train_seconds", "train_loss", "eval_metric",
    # extras (rnnbench train)
    "match", "budget", "eval_score",
)  # fmt: skip

DDP_COLUMNS: tuple[str, ...] = (
    "schema_version", "run_id", "case_id", "arch", "impl", "device", "dtype", "seq_len", "batch_size",
    "input_size", "hidden_size", "num_layers", "bidirectional", "threads", "backend", "world_size", "rank",
    "steps", "step_median_s", "step_iqr_s", "nosync_median_s", "allreduce_frac", "single_median_s",
    "scaling_efficiency", "global_tokens_per_s", "status", "message",
)  # fmt: skip

TABLES: dict[str, tuple[str, ...]] = {
    "summary": SUMMARY_COLUMNS,
    "samples": SAMPLE_COLUMNS,
    "train_summary": TRAIN_SUMMARY_COLUMNS,
    "curves": CURVES_COLUMNS,
    "ddp": DDP_COLUMNS,
}

ColumnKind = Literal["int", "float", "bool", "text", "id"]
"""How the loader types a column (every kind allows blank cells: a failed case has no median).

* ``int``   whole numbers that key and sort cases (sizes, rounds, seeds): numeric, and int64 where no cell is
  blank, so they print and group as ``64``, never ``64.0``
* ``float`` measured values and the quantities computed with them: always float64
* ``bool``  ``true``/``false`` cells (spelled as ``core.values.TRUE_TEXTS`` allows); blanks are false
* ``text``  names and messages: strings, blanks ``""``, so comparisons never meet NaN
* ``id``    identifiers (``run_id``, ``case_id``, ``fingerprint``): read as strings, never as numbers (a hex
  hash such as ``123456789012`` or ``1e5`` would otherwise turn into a number); blanks stay missing
"""

_SHAPE_INTS = ("seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "threads")
_CASE_TEXT = ("arch", "impl", "mode", "device", "dtype")


def _kinds(**columns: tuple[str, ...]) -> dict[str, ColumnKind]:
    """``{column: kind}`` from ``kind=(columns, ...)``, so each table's declaration reads as a few lines."""
    return {col: cast(ColumnKind, kind) for kind, cols in columns.items() for col in cols}


COLUMN_TYPES: dict[str, dict[str, ColumnKind]] = {
    "summary": _kinds(
        id=("run_id", "case_id", "fingerprint"),
        int=("round", *_SHAPE_INTS),
        float=(
            "length_spread", "n_samples", "median_s", "mean_s", "iqr_s", "ci_low_s", "ci_high_s",
            "first_iter_s", "seq_per_s", "tokens_per_s", "gflop_per_s", "peak_fraction", "params",
            "peak_memory_bytes", "flops_per_iter", "tokens_per_iter", "peak_gflop_per_s",
        ),
        bool=("bidirectional", "batch_first", "busy"),
        text=(*_CASE_TEXT, "status", "message", "workload", "math", "compute_dtype"),
    ),
    "samples": _kinds(
        id=("run_id", "case_id"),
        int=("round", "sample", "block_iters"),
        float=("seconds",),
        text=_CASE_TEXT,
    ),
    "train_summary": _kinds(
        id=("run_id",),
        int=("seed", "seq_len", "hidden_size", "steps"),
        float=(
            "params", "lr", "train_seconds", "final_metric", "baseline_metric", "normalized_metric",
            "steps_to_target", "seconds_to_target", "budget", "val_metric", "train_size", "score",
        ),
        bool=("solved", "diverged"),
        text=("task", "arm", "status", "message", "impl", "device", "dtype", "compute_dtype"),
    ),
    "curves": _kinds(
        id=("run_id",),
        int=("seed", "step"),
        # sizes too: the training aggregation has always computed with curves' sizes as floats
        float=("train_seconds", "seq_len", "hidden_size", "lr", "train_loss", "eval_metric", "budget",
               "eval_score"),
        text=("task", "arm"),
    ),
    "ddp": _kinds(id=("run_id", "case_id")),
}  # fmt: skip
"""The one declaration of column types, per table (``ColumnKind``); columns not named keep what pandas reads.
The loader checks every numeric column and names the file, column and line of a cell that is not a number."""


def columns_of(table: str, *kinds: ColumnKind) -> tuple[str, ...]:
    """The columns of ``table`` declared as one of ``kinds``, in declaration order."""
    return tuple(col for col, kind in COLUMN_TYPES.get(table, {}).items() if kind in kinds)


def read_csv_dtypes(table: str) -> dict[str, type]:
    """``pd.read_csv(path, dtype=read_csv_dtypes("summary"))``: the identifier and text columns of ``table`` as
    strings, so pandas never guesses a number (the fingerprint ``39466357e255`` would become 3.9e+262, a
    ``case_id`` of digits would lose its leading zeros). The loader reads every table this way;
    ``results/README.md`` prints these dicts for copying (a test keeps the two equal)."""
    return {col: str for col in columns_of(table, "id", "text")}


HARD_KEYS: tuple[str, ...] = (
    "torch",
    "cuda",
    "cudnn",
    "onednn",
    "device_model",
    "threads",
    "numeric_flags",
    "driver",
)
"""The ``metadata.json`` ``fingerprint_keys`` that make results not comparable when they differ (``compare
--allow-diff`` relaxes): declared with the files, so the gate reads them without importing the measuring
half."""

TRAIN_SIZE_COLUMN = "train_size"
"""Optional ``train_summary.csv`` column (training examples seen); needed for the small-dataset claim."""
