"""The result files schema: table columns, declared column types, the schema version."""

from __future__ import annotations

SCHEMA_VERSION = 1

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
    "other_cpu_frac", "steal_frac", "fingerprint", "started_at",
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

NUMERIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("round", "seq_len", "batch_size", "hidden_size", "num_layers", "threads"),
    "samples": ("round", "sample", "block_iters", "seconds"),
    "train_summary": ("seed", "seq_len", "hidden_size", "steps"),
    "curves": ("seed", "step", "train_seconds"),
}
"""Columns that must parse as numbers (empty allowed elsewhere: a failed case has no median)."""


EXTRA_NUMERIC: dict[str, tuple[str, ...]] = {
    "summary": (
        "input_size", "length_spread", "n_samples", "median_s", "mean_s", "iqr_s", "ci_low_s", "ci_high_s",
        "first_iter_s", "seq_per_s", "tokens_per_s", "gflop_per_s", "peak_fraction", "params",
        "peak_memory_bytes", "flops_per_iter", "tokens_per_iter", "peak_gflop_per_s",
    ),
    "samples": ("seconds",),
    "train_summary": (
        "params", "lr", "train_seconds", "final_metric", "baseline_metric", "normalized_metric",
        "steps_to_target", "seconds_to_target", "budget", "val_metric", "train_size", "score",
    ),
    "curves": ("seq_len", "hidden_size", "lr", "train_loss", "eval_metric", "budget", "eval_score"),
}  # fmt: skip
"""Columns the report computes with, checked like ``results.NUMERIC_COLUMNS`` (empty cells allowed)."""

BOOL_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("bidirectional", "batch_first", "busy"),
    "train_summary": ("solved", "diverged"),
}

TRAIN_SIZE_COLUMN = "train_size"
"""Optional ``train_summary.csv`` column (training examples seen); needed for the small-dataset claim."""
