"""Named training comparisons (``quick``, …): ``TrainSpec`` values that command-line options override."""

from __future__ import annotations

from typing import Any

from rnnbench.learn.spec import TrainSpec
from rnnbench.registry import Registry

# ---- presets ---------------------------------------------------------------------------------------------
TRAIN_PRESETS: Registry[dict[str, Any]] = Registry("preset")
TRAIN_PRESETS.register(
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
TRAIN_PRESETS.register(
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
    values: dict[str, Any] = dict(TRAIN_PRESETS.get(name)) if name else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainSpec(**values)
