"""Tasks on real data that needs no download: character-level language modelling, forecasting a user's CSV
column, and scikit-learn's bundled 8×8 digits read pixel by pixel.

Each splits its data once, deterministically, into training / validation / evaluation parts (in that order
for text and series, so evaluation is genuinely later data; by a fixed permutation for digits). Baselines are
the losses of the input-independent (or, for series, the naive persistence) predictor on the evaluation set
itself, computed from the held-out batch the run is scored on.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal

import torch

from rnnbench.errors import ConfigError
from rnnbench.learn.tasks.base import (
    LN2,
    Batch,
    Evaluation,
    Split,
    Task,
    _loss,
    accuracy,
    entropy_nats,
    one_hot,
)
from rnnbench.registry import unknown_name_message

_FRACTIONS = (0.8, 0.9)
"""Train = first 80 %, validation = next 10 %, evaluation = last 10 % (text and series)."""


def default_text() -> str:
    """The standard library's ``pydoc_data.topics`` help texts (~465K characters, ~100 symbols), joined in
    key order: a corpus that ships with every CPython, so ``charlm`` runs offline."""
    from pydoc_data.topics import topics

    return "\n".join(topics[key] for key in sorted(topics))


class _WindowTask(Task):
    """Shared machinery: a 1-D sequence split into three parts; training windows start anywhere in the
    training part; held-out sets are consecutive non-overlapping windows from the start of their part."""

    series: torch.Tensor

    def _parts(self) -> dict[str, torch.Tensor]:
        n = len(self.series)
        a, b = int(n * _FRACTIONS[0]), int(n * _FRACTIONS[1])
        return {"train": self.series[:a], "val": self.series[a:b], "eval": self.series[b:]}

    def check_seq_len(self, seq_len: int) -> int:
        super().check_seq_len(seq_len)
        shortest = min(len(p) for p in self._parts().values())
        if shortest < seq_len + 1:
            raise ConfigError(
                f"task '{self.name}': --seq-len {seq_len} needs at least {seq_len + 1} values in each of the "
                f"train/validation/evaluation parts (80/10/10 %), but the smallest part has {shortest}; "
                "use a shorter --seq-len or more data."
            )
        return seq_len

    def _windows(self, gen: torch.Generator, batch: int, seq_len: int, split: Split) -> torch.Tensor:
        part = self._parts()[split]
        if split == "train":
            starts = torch.randint(0, len(part) - seq_len, (batch,), generator=gen)
        else:
            starts = torch.arange(0, len(part) - seq_len, seq_len)[:batch]
        idx = starts.unsqueeze(0) + torch.arange(seq_len + 1).unsqueeze(1)
        return part[idx]  # (T+1, B)

    def held_out(self, seq_len: int, size: int, split: Literal["val", "eval"]) -> Batch:
        """Up to ``size`` consecutive windows from the start of the held-out part (no randomness)."""
        return self.sample(torch.Generator(), size, seq_len, split)


class CharLMTask(_WindowTask):
    """Character-level language modelling: predict each next character of a window of T characters.

    Metric: bits per character on the evaluation windows; baseline: the unigram entropy of those same
    characters (the best constant predictor). Solved (a convention, not from the literature): bpc at most
    0.75 × the unigram entropy, i.e. the model uses context for a quarter of the information.
    """

    name = "charlm"
    summary = "next-character prediction on pydoc_data.topics (or --text FILE); bits/char vs unigram entropy"
    readout = "all"
    loss_kind = "ce"
    metric_name = "bpc"
    score_name = None
    target_text = "bpc ≤ 0.75 × unigram entropy"
    seq_len_meaning = "window (truncated back-propagation) length in characters"
    default_seq_len = 100

    def __init__(self, text: str | None = None, source: str = "pydoc_data.topics") -> None:
        self.text = default_text() if text is None else text
        self.source = source
        if len(self.text) < 100:
            raise ConfigError(f"task 'charlm': the text {source} has {len(self.text)} characters; give ≥ 100.")
        self.vocab = sorted(set(self.text))
        index = {ch: i for i, ch in enumerate(self.vocab)}
        self.series = torch.tensor([index[ch] for ch in self.text], dtype=torch.int64)
        self.input_size = self.output_size = len(self.vocab)

    @classmethod
    def from_file(cls, path: Path) -> CharLMTask:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"--text {path}: cannot read it as UTF-8 text ({exc}); pass a text file."
            ) from exc
        return cls(text, str(path))

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        w = self._windows(gen, batch, seq_len, split)
        return Batch(one_hot(w[:-1], len(self.vocab)), w[1:], per_step=True)

    def evaluate(self, pred: torch.Tensor, batch: Batch) -> Evaluation:
        return Evaluation(float(_loss("ce", pred.float(), batch)) / LN2, None)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        batch = held_out if held_out is not None else self.held_out(seq_len, 512, "eval")
        return entropy_nats(torch.bincount(batch.y.reshape(-1), minlength=len(self.vocab))) / LN2

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.metric <= 0.75 * baseline


class SeriesTask(_WindowTask):
    """One-step-ahead forecasting of a numeric CSV column: at every step predict the next value.

    Values are z-scored with the training part's mean and standard deviation (so MSE is in units of the
    series' variance). Baseline: naive persistence (predict the current value) on the evaluation windows.
    Solved: MSE below persistence.
    """

    name = "series"
    summary = "one-step forecasting of --csv FILE --column NAME; MSE vs naive persistence"
    input_size = 1
    output_size = 1
    readout = "all"
    loss_kind = "mse"
    metric_name = "mse"
    score_name = None
    target_text = "MSE < persistence MSE"
    seq_len_meaning = "window length in rows"
    default_seq_len = 50

    def __init__(self, values: list[float], source: str = "") -> None:
        if len(values) < 30:
            raise ConfigError(f"task 'series': {source} has {len(values)} numeric values; give ≥ 30.")
        raw = torch.tensor(values, dtype=torch.float32)
        train = raw[: int(len(raw) * _FRACTIONS[0])]
        std = float(train.std()) or 1.0
        self.series = (raw - float(train.mean())) / std
        self.source = source

    @classmethod
    def from_csv(cls, path: Path | None, column: str | None) -> SeriesTask:
        """Read ``column`` of ``path``; errors name the file, the column, the bad row and the fix."""
        if path is None or column is None:
            raise ConfigError(
                "task 'series' needs --csv FILE and --column NAME (a numeric column to forecast)."
            )
        try:
            with Path(path).open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                header = list(reader.fieldnames or [])
                if column not in header:
                    raise ConfigError(f"--csv {path}: " + unknown_name_message("column", column, header))
                values = []
                for line, row in enumerate(reader, start=2):
                    cell = (row.get(column) or "").strip()
                    if not cell:
                        continue
                    try:
                        value = float(cell)
                    except ValueError:
                        raise ConfigError(
                            f"--csv {path}: column '{column}' has a non-numeric value {cell!r} on line {line}; "
                            "fix the row or pick a numeric column."
                        ) from None
                    if math.isfinite(value):
                        values.append(value)
        except OSError as exc:
            raise ConfigError(f"--csv {path}: cannot read it ({exc}).") from exc
        return cls(values, f"{path}:{column}")

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        w = self._windows(gen, batch, seq_len, split).unsqueeze(-1)
        return Batch(w[:-1], w[1:], per_step=True)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        batch = held_out if held_out is not None else self.held_out(seq_len, 512, "eval")
        return float(((batch.x - batch.y) ** 2).mean())

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.metric < baseline


DIGITS_MISSING = (
    "task 'digits' needs scikit-learn for its bundled digits data set: pip install scikit-learn (rnnbench is "
    "not on PyPI, so 'rnnbench[data]' would find nothing; in a clone: pip install -e '.[data]')."
)


class DigitsTask(Task):
    """scikit-learn's 1,797 8×8 digits read one pixel per step (64 steps, input 1): an offline stand-in for
    sequential MNIST. Fixed split (permutation seed 0): 360 evaluation, 180 validation, 1,257 training images.

    Baseline: cross-entropy of predicting the evaluation set's class frequencies (≈ ln 10). Solved: accuracy
    ≥ 0.9.
    """

    name = "digits"
    summary = "sklearn 8×8 digits pixel by pixel (64 steps, 10 classes); CE vs class-frequency entropy"
    input_size = 1
    output_size = 10
    readout = "last"
    loss_kind = "ce"
    metric_name = "ce_nats"
    score_name = "accuracy"
    target_text = "accuracy ≥ 0.9"
    seq_len_meaning = "fixed at 64 (one step per pixel)"
    default_seq_len = 64
    SPLIT = (360, 180)

    def __init__(self) -> None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ConfigError(DIGITS_MISSING) from None
        data = load_digits()
        images = torch.tensor(data.data, dtype=torch.float32) / 16.0  # (N, 64)
        labels = torch.tensor(data.target, dtype=torch.int64)
        perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
        n_eval, n_val = self.SPLIT
        parts = {"eval": perm[:n_eval], "val": perm[n_eval : n_eval + n_val], "train": perm[n_eval + n_val :]}
        self.parts = {k: (images[v], labels[v]) for k, v in parts.items()}

    def check_seq_len(self, seq_len: int) -> int:
        if seq_len != 64:
            raise ConfigError(
                f"task 'digits' has a fixed length of 64 pixels; got --seq-len {seq_len}. Drop it."
            )
        return seq_len

    def sample(self, gen: torch.Generator, batch: int, seq_len: int, split: Split = "train") -> Batch:
        images, labels = self.parts[split]
        if split == "train":
            idx = torch.randint(0, len(labels), (batch,), generator=gen)
        else:
            idx = torch.arange(min(batch, len(labels)))
        return Batch(images[idx].T.unsqueeze(-1).contiguous(), labels[idx])

    def held_out(self, seq_len: int, size: int, split: Literal["val", "eval"]) -> Batch:
        """The whole validation or evaluation part (``size`` is ignored: the split is fixed)."""
        return self.sample(torch.Generator(), len(self.parts[split][1]), seq_len, split)

    def baseline(self, seq_len: int, held_out: Batch | None = None) -> float:
        batch = held_out if held_out is not None else self.held_out(seq_len, 0, "eval")
        return entropy_nats(torch.bincount(batch.y, minlength=10))

    def score(self, pred: torch.Tensor, batch: Batch) -> float | None:
        return accuracy(pred, batch)

    def solved(self, evaluation: Evaluation, seq_len: int, baseline: float) -> bool:
        return evaluation.score is not None and evaluation.score >= 0.9
