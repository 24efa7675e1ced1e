"""Generated long-range tasks: adding, copy, selective copy, temporal order, parity and aⁿbⁿ.

Each is defined as in the paper it comes from (docs/training.md, "Tasks and their chance baselines"), with the
chance
baseline derived analytically; ``tests/test_tasks.py`` checks every baseline against the loss of the
corresponding input-independent predictor measured on generated data.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from rnnbench.learn.tasks.base import Batch, Evaluation, Split, Task, one_hot

ALPHABET = 8
"""Data symbols of the copy tasks (ids 1..8); 0 is the blank and 9 the delimiter / query marker."""
BLANK, DELIM = 0, 9
COPY_CLASSES = 10


def _recall(pred: torch.Tensor, batch: Batch, answers: int) -> float:
    """Accuracy on the last ``answers`` positions: the symbols that had to be remembered."""
    right = pred[-answers:].argmax(-1) == batch.y[-answers:]
    return float(right.float().mean())


class AddingTask(Task):
    """Le et al. 2015 / Arjovsky et al. 2016: sum the two marked values of a length-T stream.

    Inputs ``(u_t, m_t)`` with ``u ~ U[0,1]`` and exactly one marker in each half; target ``u_i + u_j`` read
    at the last step. Predicting the constant 1 (the target's mean) gives MSE = Var(u_i + u_j) = 2/12 = 1/6.
    """

    name = "adding"
    summary = "sum of the two marked values in a stream of U[0,1] numbers; MSE vs 1/6"
    input_size = 2
    output_size = 1
    readout = "last"
    loss_kind = "mse"
    metric_name = "mse"
    score_name = None
    target_text = "MSE < 0.01"
    seq_len_meaning = "sequence length T"
    default_seq_len = 50

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        half = seq_len // 2
        values = torch.rand(seq_len, batch, generator=gen)
        first = torch.randint(0, half, (batch,), generator=gen)
        second = torch.randint(half, seq_len, (batch,), generator=gen)
        markers = torch.zeros(seq_len, batch)
        cols = torch.arange(batch)
        markers[first, cols] = 1.0
        markers[second, cols] = 1.0
        x = torch.stack([values, markers], dim=-1)
        y = (values[first, cols] + values[second, cols]).unsqueeze(-1)
        return Batch(x, y)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        return 1.0 / 6.0

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.metric < 0.01


class CopyTask(Task):
    """Arjovsky et al. 2016 copy memory: M symbols, a delay, a delimiter, then reproduce the M symbols.

    Layout for delay T (``--seq-len``): M data symbols from 1..8, T−1 blanks, the delimiter, M blanks —
    T + 2M steps. Targets are blank except the last M, which are the data symbols. The memoryless strategy
    (blank with certainty, then uniform over 8) scores cross-entropy ``M·ln 8 / (T + 2M)`` per step and
    recall accuracy 1/8.
    """

    name = "copy"
    summary = "recall M symbols after a delay T (Arjovsky layout); CE vs M·ln8/(T+2M), recall accuracy"
    input_size = COPY_CLASSES
    output_size = COPY_CLASSES
    readout = "all"
    loss_kind = "ce"
    metric_name = "ce_nats"
    score_name = "recall"
    target_text = "recall ≥ 0.99"
    seq_len_meaning = "delay T (blanks between the symbols and the answer; T + 2M steps in all)"
    default_seq_len = 10

    def __init__(self, symbols: int = 10) -> None:
        self.symbols = symbols

    def min_seq_len(self) -> int:
        return 1

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        m = self.symbols
        total = seq_len + 2 * m
        data = torch.randint(1, ALPHABET + 1, (m, batch), generator=gen)
        inputs = torch.full((total, batch), BLANK, dtype=torch.int64)
        inputs[:m] = data
        inputs[m + seq_len - 1] = DELIM
        targets = torch.full((total, batch), BLANK, dtype=torch.int64)
        targets[-m:] = data
        return Batch(one_hot(inputs, COPY_CLASSES), targets, per_step=True)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        return self.symbols * math.log(ALPHABET) / (seq_len + 2 * self.symbols)

    def score(self, pred: torch.Tensor, batch: Batch) -> float | None:
        return _recall(pred, batch, self.symbols)

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.score is not None and evaluation.score >= 0.99


class SelectiveCopyTask(Task):
    """Gu & Dao 2023 selective copy: M symbols at random (sorted) positions among T blanks, then M query
    markers at which the symbols must be output in order. The model must store by content, not by position.

    Scored on the M answer positions only: the input-independent optimum is uniform over the 8 symbols,
    cross-entropy ``ln 8`` and recall 1/8.
    """

    name = "selective-copy"
    summary = "M symbols scattered among T positions, output them in order; CE vs ln 8, recall accuracy"
    input_size = COPY_CLASSES
    output_size = COPY_CLASSES
    readout = "all"
    loss_kind = "ce"
    metric_name = "ce_nats"
    score_name = "recall"
    target_text = "recall ≥ 0.99"
    seq_len_meaning = "positions T the symbols are scattered over (T + M steps in all)"
    default_seq_len = 20

    def __init__(self, symbols: int = 4) -> None:
        self.symbols = symbols

    def min_seq_len(self) -> int:
        return self.symbols

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        m = self.symbols
        total = seq_len + m
        positions = torch.rand(seq_len, batch, generator=gen).argsort(dim=0)[:m].sort(dim=0).values
        data = torch.randint(1, ALPHABET + 1, (m, batch), generator=gen)
        inputs = torch.full((total, batch), BLANK, dtype=torch.int64)
        inputs.scatter_(0, positions, data)
        inputs[seq_len:] = DELIM
        targets = torch.full((total, batch), BLANK, dtype=torch.int64)
        targets[seq_len:] = data
        mask = torch.zeros(total, batch, dtype=torch.bool)
        mask[seq_len:] = True
        return Batch(one_hot(inputs, COPY_CLASSES), targets, mask, per_step=True)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        return math.log(ALPHABET)

    def score(self, pred: torch.Tensor, batch: Batch) -> float | None:
        return _recall(pred, batch, self.symbols)

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.score is not None and evaluation.score >= 0.99


class TemporalOrderTask(Task):
    """Hochreiter & Schmidhuber 1997, experiment 6a: classify the order of two relevant symbols.

    Symbols a, b, c, d (distractors), B (start), E (end), X, Y. A sequence of length T is B, distractors, E,
    with X or Y at ``t1 ∈ [0.1T, 0.2T]`` and ``t2 ∈ [0.5T, 0.6T]`` (for T = 100: [10, 20] and [50, 60]).
    Classes XX, XY, YX, YY are equally likely: constant-prediction cross-entropy ln 4, accuracy 1/4.
    The paper draws lengths in 100–110; here every sequence has length T so batches need no padding.
    """

    name = "temporal-order"
    summary = "order of X/Y at two far-apart positions among distractors (4 classes); CE vs ln 4"
    input_size = 8
    output_size = 4
    readout = "last"
    loss_kind = "ce"
    metric_name = "ce_nats"
    score_name = "accuracy"
    target_text = "accuracy ≥ 0.95"
    default_seq_len = 100

    def min_seq_len(self) -> int:
        return 10

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        symbols = torch.randint(0, 4, (seq_len, batch), generator=gen)
        symbols[0] = 4  # B
        symbols[-1] = 5  # E
        lo1, hi1 = round(0.1 * seq_len), round(0.2 * seq_len)
        lo2, hi2 = round(0.5 * seq_len), round(0.6 * seq_len)
        t1 = torch.randint(max(lo1, 1), hi1 + 1, (batch,), generator=gen)
        t2 = torch.randint(lo2, min(hi2, seq_len - 2) + 1, (batch,), generator=gen)
        first = torch.randint(0, 2, (batch,), generator=gen)  # 0 = X, 1 = Y
        second = torch.randint(0, 2, (batch,), generator=gen)
        cols = torch.arange(batch)
        symbols[t1, cols] = 6 + first
        symbols[t2, cols] = 6 + second
        return Batch(one_hot(symbols, 8), 2 * first + second)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        return math.log(4)

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.score is not None and evaluation.score >= 0.95


class ParityTask(Task):
    """Parity of a bit string (Delétang et al. 2023): trained on lengths 1..T, evaluated on T+1..2T.

    Needs a single flip-flop bit; the held-out set tests whether it generalises in length. Validation (for
    learning-rate choice) uses the training lengths — the longer strings are never seen before the end.
    Constant prediction: cross-entropy ln 2, accuracy 1/2.
    """

    name = "parity"
    summary = "parity of a bit string; train lengths 1..T, evaluated on T+1..2T; CE vs ln 2"
    input_size = 2
    output_size = 2
    readout = "last"
    loss_kind = "ce"
    metric_name = "ce_nats"
    score_name = "accuracy"
    target_text = "accuracy ≥ 0.95 on the longer strings"
    seq_len_meaning = "longest training string T (evaluated on lengths T+1..2T)"
    default_seq_len = 20

    def min_seq_len(self) -> int:
        return 1

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        lo, hi = (seq_len + 1, 2 * seq_len) if split == "eval" else (1, seq_len)
        lengths = torch.randint(lo, hi + 1, (batch,), generator=gen)
        bits = torch.randint(0, 2, (hi, batch), generator=gen)
        valid = torch.arange(hi).unsqueeze(1) < lengths.unsqueeze(0)
        bits = bits * valid
        x = one_hot(bits, 2) * valid.unsqueeze(-1)
        return Batch(x, bits.sum(0) % 2, lengths=lengths)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        return math.log(2)

    def eval_seq_len(self, seq_len: int) -> int:
        return 2 * seq_len

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.score is not None and evaluation.score >= 0.95


class AnbnTask(Task):
    """aⁿbⁿ next-symbol prediction (Gers & Schmidhuber 2001; Weiss, Goldberg & Yahav 2018).

    Input ``S aⁿ bⁿ``, targets the next symbol (a, b or the end E) at each of the 2n+1 steps. Trained on
    n ∈ 1..N (``--seq-len`` = N); evaluated on every n ∈ 1..3N once. A string counts as recognised when every
    *deterministic* prediction is right (``a`` after S, then each ``b`` and the final E once the b's started);
    the score is the largest n such that all strings up to n are recognised. Solved: score ≥ N.
    The baseline is the unigram cross-entropy of the held-out targets (n a's, n b's and one E per string).
    """

    name = "anbn"
    summary = "next-symbol prediction on aⁿbⁿ, trained n ≤ N, scored by the largest n generalised to"
    input_size = 3
    output_size = 3
    readout = "all"
    loss_kind = "ce"
    metric_name = "ce_nats"
    score_name = "max_n"
    target_text = "all n ≤ N recognised (max_n ≥ N)"
    seq_len_meaning = "largest training n (strings S aⁿ bⁿ of 2n+1 steps); evaluated on n = 1..3N"
    default_seq_len = 10

    def min_seq_len(self) -> int:
        return 1

    def strings(self, ns: torch.Tensor) -> Batch:
        """The batch of strings ``S aⁿ bⁿ`` for the given n's, padded to the longest."""
        total = 2 * int(ns.max()) + 1
        t = torch.arange(total).unsqueeze(1)
        n = ns.unsqueeze(0)
        # input ids: S=0, a=1, b=2; target ids: a=0, b=1, E=2
        inputs = torch.where(t == 0, 0, torch.where(t <= n, 1, 2))
        targets = torch.where(t < n, 0, torch.where(t < 2 * n, 1, 2))
        lengths = 2 * ns + 1
        valid = t < lengths.unsqueeze(0)
        x = one_hot(inputs, 3) * valid.unsqueeze(-1)
        return Batch(x, targets * valid, valid, lengths, per_step=True)

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        hi = 3 * seq_len if split == "eval" else seq_len
        return self.strings(torch.randint(1, hi + 1, (batch,), generator=gen))

    def held_out(self, seq_len: int, size: int, split: Literal["val", "eval"]) -> Batch:
        """Every n once: 1..3N for evaluation, 1..N (the training range) for validation."""
        top = 3 * seq_len if split == "eval" else seq_len
        return self.strings(torch.arange(1, top + 1))

    def eval_seq_len(self, seq_len: int) -> int:
        return 3 * seq_len

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        """Unigram cross-entropy over the evaluation strings n = 1..K (K = 3N): Σn a's, Σn b's, K E's."""
        k = 3 * seq_len
        a = k * (k + 1) / 2
        total = 2 * a + k
        probs = (a / total, a / total, k / total)
        return -sum(p * math.log(p) for p in probs)

    def score(self, pred: torch.Tensor, batch: Batch) -> float | None:
        assert batch.lengths is not None
        # lengths stay on the host (packing wants them there); everything compared with the mask and the
        # predictions is made on their device
        ns = ((batch.lengths - 1) // 2).to(pred.device)
        t = torch.arange(pred.shape[0], device=pred.device).unsqueeze(1)
        deterministic = ((t == 0) | (t > ns.unsqueeze(0))) & batch.mask if batch.mask is not None else t == 0
        wrong = (pred.argmax(-1) != batch.y) & deterministic
        ok_by_n = dict.fromkeys(ns.tolist(), True)
        for n, bad in zip(ns.tolist(), wrong.any(0).tolist(), strict=True):
            ok_by_n[n] = ok_by_n[n] and not bad
        largest = 0
        for n in sorted(ok_by_n):
            if n != largest + 1 or not ok_by_n[n]:
                break
            largest = n
        return float(largest)

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.score is not None and evaluation.score >= seq_len
