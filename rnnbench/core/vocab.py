"""The vocabulary every layer shares: architectures, implementations, modes, dtypes, workloads and training
arms (each tuple in display order), the theory constants and the column groups results are keyed by.

Stdlib only and free of logic, so every layer — the CLI's ``--help`` included — can import it for free.
"""

from __future__ import annotations

THEORETICAL_GRU_LSTM = 0.75
"""GRU/LSTM ratio of parameters and of GEMM FLOPs at equal sizes: 3 gate blocks against 4."""

MIN_EFFECT = 0.05
"""Relative difference below which two speeds are called "no difference" (docs/design.md)."""

# Each tuple below is also the display order (tables, legends, figure panels): one list, one order.
ARCHS: tuple[str, ...] = ("lstm", "gru", "rnn", "mingru", "minlstm")
CLASSIC_ARCHS: tuple[str, ...] = ("lstm", "gru", "rnn")
"""The cells ``torch.nn`` ships (a recurrent weight ``W_hh``; cuDNN and oneDNN kernels for them)."""
MINIMAL_ARCHS: tuple[str, ...] = ("mingru", "minlstm")
"""Feng et al. 2024, "Were RNNs All We Needed?" (arXiv 2410.01201): gates that read only the input, so the
recurrence is linear, ``h_t = a_t ⊙ h_{t−1} + b_t``, and trains with a parallel scan."""
IMPLS: tuple[str, ...] = ("native", "aten", "cell", "scratch", "scan", "compiled", "numpy")
IMPL_ARCHS: dict[str, tuple[str, ...]] = {
    "native": CLASSIC_ARCHS, "aten": CLASSIC_ARCHS, "cell": CLASSIC_ARCHS, "scratch": ARCHS,
    "scan": MINIMAL_ARCHS, "compiled": ARCHS, "numpy": ARCHS,
}  # fmt: skip
"""Which architectures each implementation computes: torch.nn has no minGRU/minLSTM module or cell; only a
linear recurrence has a parallel scan. A grid skips the other pairs (``SweepSpec.expand``)."""
DEFAULT_IMPL: dict[str, str] = {arch: "native" for arch in CLASSIC_ARCHS} | {
    arch: "scan" for arch in MINIMAL_ARCHS
}
"""Each architecture's fastest library form: what ``run`` and ``train`` use when no implementation is named."""
MODES: tuple[str, ...] = ("inference", "forward", "backward", "train", "ddp-train")
DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")
WORKLOADS: tuple[str, ...] = ("layer", "classifier")

SHAPE_COLUMNS: tuple[str, ...] = (
    "workload", "seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "bidirectional",
    "batch_first", "length_spread", "threads",
)  # fmt: skip
"""``Case.shape_key`` without mode, device and dtype (those group the tables)."""

GROUP_COLUMNS: tuple[str, ...] = ("mode", "platform", "device", "dtype")
"""One speed table (and one figure panel) per group. ``platform`` names the hardware (CPU or GPU model), so
results from two machines with the same device string (``cpu``) are never pooled."""

PAIR_KEYS: tuple[str, ...] = (*GROUP_COLUMNS, *SHAPE_COLUMNS, "impl")
CASE_KEYS: tuple[str, ...] = (*PAIR_KEYS, "arch")

ARMS: tuple[str, ...] = ("lstm", "lstm-fb1", "gru", "rnn", "mingru", "minlstm")
ARM_ARCH: dict[str, str] = {
    "lstm": "lstm", "lstm-fb1": "lstm", "gru": "gru", "rnn": "rnn", "mingru": "mingru", "minlstm": "minlstm"
}  # fmt: skip
ARM_HELP: dict[str, str] = {
    "lstm": "torch.nn.LSTM, PyTorch's default initialisation",
    "lstm-fb1": "LSTM with 1.0 added to bias_ih's forget-gate rows [H:2H] (every layer): forget bias +1",
    "gru": "torch.nn.GRU (reset-after form)",
    "rnn": "torch.nn.RNN with tanh",
    "mingru": "minGRU (Feng et al. 2024): z and the candidate read only x_t; trained with the parallel scan",
    "minlstm": "minLSTM (Feng et al. 2024): f, i normalised to sum to one, read only x_t; the parallel scan",
}

SOLVED_MAJORITY = 0.5
"""A length counts as solved for the memory horizon when at least half the seeds solve it."""
