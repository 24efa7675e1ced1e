"""Training tasks: a registry of names → builders, with "did you mean" for mistyped names.

``make_task(name, options)`` builds one; task-specific inputs (copy length, text file, CSV column) travel in
``TaskOptions`` so that the CLI and presets stay declarative.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rnnbench.learn.tasks.base import EVAL_SEED, VAL_SEED, Batch, Evaluation, Task
from rnnbench.learn.tasks.data import CharLMTask, DigitsTask, SeriesTask
from rnnbench.learn.tasks.synthetic import (
    AddingTask,
    AnbnTask,
    CopyTask,
    ParityTask,
    SelectiveCopyTask,
    TemporalOrderTask,
)
from rnnbench.registry import Registry


@dataclass(frozen=True)
class TaskOptions:
    """Inputs some tasks need: ``copy_symbols`` (M of copy / selective-copy), ``text`` (charlm),
    ``csv`` + ``column`` (series)."""

    copy_symbols: int = 10
    selective_symbols: int = 4
    text: str | None = None
    csv: str | None = None
    column: str | None = None


def _charlm(options: TaskOptions) -> Task:
    return CharLMTask.from_file(Path(options.text)) if options.text else CharLMTask()


TASKS: Registry[Callable[[TaskOptions], Task]] = Registry("task")
TASKS.register("adding", lambda o: AddingTask())
TASKS.register("copy", lambda o: CopyTask(o.copy_symbols))
TASKS.register("selective-copy", lambda o: SelectiveCopyTask(o.selective_symbols))
TASKS.register("temporal-order", lambda o: TemporalOrderTask())
TASKS.register("parity", lambda o: ParityTask())
TASKS.register("anbn", lambda o: AnbnTask())
TASKS.register("charlm", _charlm)
TASKS.register("series", lambda o: SeriesTask.from_csv(Path(o.csv) if o.csv else None, o.column))
TASKS.register("digits", lambda o: DigitsTask())

TASK_CLASSES: dict[str, type[Task]] = {
    "adding": AddingTask,
    "copy": CopyTask,
    "selective-copy": SelectiveCopyTask,
    "temporal-order": TemporalOrderTask,
    "parity": ParityTask,
    "anbn": AnbnTask,
    "charlm": CharLMTask,
    "series": SeriesTask,
    "digits": DigitsTask,
}
"""The classes behind the names, for documentation (summaries, targets) without building data."""


def make_task(name: str, options: TaskOptions | None = None) -> Task:
    """Build task ``name``; ``UnknownNameError`` (with a suggestion) for a bad name, ``ConfigError`` for a
    missing input (``series`` without ``--csv``, ``digits`` without scikit-learn)."""
    return TASKS.get(name)(options or TaskOptions())


def task_names() -> tuple[str, ...]:
    return TASKS.names()


__all__ = [
    "EVAL_SEED",
    "TASKS",
    "TASK_CLASSES",
    "VAL_SEED",
    "Batch",
    "Evaluation",
    "Task",
    "TaskOptions",
    "make_task",
    "task_names",
]
