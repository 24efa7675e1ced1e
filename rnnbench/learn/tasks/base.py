"""What every training task provides: batches, a loss, an evaluation, a chance baseline and a success rule.

A task is a pure data source plus scoring rules; it knows nothing about models or optimisers. All randomness
comes from a ``torch.Generator`` the caller passes in, so the same generator seed yields the same data stream
for every arm (common random numbers) and the held-out sets are fixed by their own seeds.

Conventions shared by all tasks:

- inputs are ``(T, B, I)`` float32 tensors (time first, as ``torch.nn`` defaults to);
- ``readout == "last"``: one prediction per sequence, from the top layer's final state (at each sequence's own
  last step when ``lengths`` is given); ``readout == "all"``: a prediction at every step, scored where
  ``mask`` is true (everywhere when ``mask`` is ``None``);
- the primary ``metric`` is always a loss (lower is better: MSE, cross-entropy in nats, or bits per
  character), comparable with ``baseline(seq_len)``, the loss of the best input-independent predictor;
- ``score`` is the task's human-readable success measure (recall accuracy, accuracy, the largest n
  generalised to …) or ``None``; ``solved`` applies the task's documented threshold.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Split = Literal["train", "val", "eval"]
Readout = Literal["last", "all"]

EVAL_SEED = 2_147_483_000
"""Generator seed of every task's held-out evaluation set: fixed, and far from the training seeds."""
VAL_SEED = 2_147_482_000
"""Generator seed of the validation set used only to pick learning rates (never reported as the result)."""


@dataclass(frozen=True)
class Batch:
    """One batch: inputs, targets, and which positions/steps count."""

    x: torch.Tensor
    """``(T, B, I)`` float32 inputs."""
    y: torch.Tensor
    """Targets: ``(B,)`` int64 or ``(B, 1)`` float for ``last``; ``(T, B)`` int64 or ``(T, B, 1)`` float for
    ``all``."""
    mask: torch.Tensor | None = None
    """``(T, B)`` bool, positions that are scored (``all`` readout only); ``None`` = every position."""
    lengths: torch.Tensor | None = None
    """``(B,)`` int64 real lengths when sequences in the batch differ in length."""
    per_step: bool = False
    """Targets are per step, time first (``all`` readout), rather than one per sequence."""

    @property
    def size(self) -> int:
        return int(self.x.shape[1])

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device`` (lengths stay on the CPU, where packing wants them)."""
        return Batch(
            self.x.to(device),
            self.y.to(device),
            None if self.mask is None else self.mask.to(device),
            self.lengths,
            self.per_step,
        )

    def select(self, index: torch.Tensor) -> Batch:
        """Sequences ``index`` (1-D int64) of this batch, e.g. a minibatch drawn from a fixed training pool."""
        return Batch(
            self.x[:, index],
            self.y[:, index] if self.per_step else self.y[index],
            None if self.mask is None else self.mask[:, index],
            None if self.lengths is None else self.lengths[index],
            self.per_step,
        )

    def split(self, chunk: int) -> list[Batch]:
        """Consecutive sub-batches of at most ``chunk`` sequences (evaluation in bounded memory)."""
        return [self.select(torch.arange(i, min(i + chunk, self.size))) for i in range(0, self.size, chunk)]


@dataclass(frozen=True)
class Evaluation:
    """A model's quality on a held-out set."""

    metric: float
    """The task's loss (lower is better), in the units of ``Task.metric_name``."""
    score: float | None = None
    """The task's success measure (``Task.score_name``), or ``None`` when it has none."""


class Task(ABC):
    """A sequence-learning problem: generator, loss, evaluation, chance baseline, success rule."""

    name: str = ""
    summary: str = ""
    input_size: int = 1
    output_size: int = 1
    readout: Readout = "last"
    loss_kind: Literal["mse", "ce"] = "mse"
    metric_name: str = "mse"
    score_name: str | None = None
    target_text: str = ""
    """The success rule in words, e.g. ``MSE < 0.01``."""
    seq_len_meaning: str = "sequence length T"
    default_seq_len: int = 50

    def check_seq_len(self, seq_len: int) -> int:
        """Validate a requested length for this task; tasks with a fixed length override."""
        from rnnbench.errors import ConfigError

        if seq_len < self.min_seq_len():
            raise ConfigError(
                f"task '{self.name}' needs --seq-len ≥ {self.min_seq_len()} ({self.seq_len_meaning}), "
                f"got {seq_len}."
            )
        return seq_len

    def min_seq_len(self) -> int:
        return 2

    @abstractmethod
    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        """``batch`` sequences drawn with ``gen``: the training stream (``train``) or held-out data."""

    def held_out(self, seq_len: int, size: int, split: Literal["val", "eval"]) -> Batch:
        """The fixed validation or evaluation set: same for every arm, seed and learning rate."""
        gen = torch.Generator().manual_seed(EVAL_SEED if split == "eval" else VAL_SEED)
        return self.sample(gen, size, seq_len, split)

    @abstractmethod
    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        """The loss of the best input-independent predictor, in ``metric_name`` units. Data tasks compute it
        from the held-out set they are scored on (``held_out``); synthetic tasks know it analytically."""

    def loss(self, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Differentiable training loss: MSE, or cross-entropy in nats over the scored positions."""
        return _loss(self.loss_kind, pred, batch)

    def evaluate(self, pred: torch.Tensor, batch: Batch) -> Evaluation:
        """Metric (and score) of predictions ``pred`` for the whole held-out ``batch``."""
        return Evaluation(float(_loss(self.loss_kind, pred.float(), batch)), self.score(pred, batch))

    def score(self, pred: torch.Tensor, batch: Batch) -> float | None:
        """The success measure; default: accuracy over scored positions for classification tasks."""
        if self.loss_kind != "ce":
            return None
        return accuracy(pred, batch)

    @abstractmethod
    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        """The task's success rule (``target_text``); ``baseline``: the chance loss on the same set."""

    def eval_seq_len(self, seq_len: int) -> int:
        """Length of the evaluation sequences (longer than training for length-generalisation tasks)."""
        return seq_len


def _loss(kind: str, pred: torch.Tensor, batch: Batch) -> torch.Tensor:
    if kind == "mse":
        err = (pred - batch.y) ** 2
        if batch.mask is not None:
            m = batch.mask.unsqueeze(-1).to(err.dtype)
            return (err * m).sum() / m.sum().clamp_min(1)
        return err.mean()
    logits = pred.reshape(-1, pred.shape[-1])
    target = batch.y.reshape(-1)
    if batch.mask is None:
        return F.cross_entropy(logits.float(), target)
    keep = batch.mask.reshape(-1)
    return F.cross_entropy(logits[keep].float(), target[keep])


def accuracy(pred: torch.Tensor, batch: Batch) -> float:
    """Fraction of scored positions where the arg-max class equals the target."""
    right = pred.argmax(-1) == batch.y
    if batch.mask is not None:
        return float(right[batch.mask].float().mean())
    return float(right.float().mean())


def one_hot(symbols: torch.Tensor, classes: int) -> torch.Tensor:
    """``(T, B)`` int64 → ``(T, B, classes)`` float32."""
    return F.one_hot(symbols, classes).to(torch.float32)


def entropy_nats(counts: torch.Tensor) -> float:
    """Entropy of the empirical distribution ``counts`` — the cross-entropy of the constant predictor that
    outputs those frequencies, evaluated on the same data."""
    p = counts.double() / counts.sum()
    p = p[p > 0]
    return float(-(p * p.log()).sum())


LN2 = math.log(2.0)
