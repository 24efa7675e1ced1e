"""Hand-made run folders written the way ``rnnbench run`` writes them, for the gate, history and export tests
(none of which needs torch)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnbench.measure.env import fingerprint
from rnnbench.results.folder import RunFolder

if TYPE_CHECKING:  # NumPy only for noisy(): the fake interpreters that write run folders start without it
    import numpy as np

SHAPE: dict[str, Any] = {
    "impl": "native", "mode": "inference", "dtype": "float32", "seq_len": 32, "batch_size": 8,
    "input_size": 64, "hidden_size": 64, "num_layers": 1, "bidirectional": False, "batch_first": False,
    "length_spread": 0.0, "workload": "layer",
}  # fmt: skip

ENV_KEYS: dict[str, Any] = {
    "torch": "2.5.1+cpu",
    "cuda": None,
    "cudnn": None,
    "onednn": "3.5.3",
    "device_model": "Test CPU @ 2.0GHz",
    "threads": 2,
    "numeric_flags": {"matmul_precision": "highest", "deterministic": False},
}


def case_id(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:12]


def write_run(
    root: Path,
    run_id: str,
    values: Mapping[str, Sequence[float]],
    *,
    threads: int = 2,
    device: str = "cpu",
    keys: Mapping[str, Any] | None = None,
    status: Mapping[str, str] | None = None,
    with_keys: bool = True,
    started_at: str | None = None,
) -> Path:
    """A run folder ``root/run_id``: one summary row per case and round; ``values[name][r]`` is the
    throughput of round r of case ``name`` (``lstm``, ``gru``, ``rnn``; a ``name@cuda:0`` suffix sets the
    device)."""
    fp_keys = {**ENV_KEYS, **(keys or {}), "threads": threads}
    fp = fingerprint(fp_keys)
    meta: dict[str, Any] = {"kind": "run", "command": ["rnnbench", "run"], "env": {}, "status": "complete"}
    devices = {name.split("@")[1] if "@" in name else device for name in values}
    if with_keys:
        meta["fingerprint_keys"] = {d: fp_keys for d in devices}
        meta["fingerprint"] = dict.fromkeys(devices, fp)
    if started_at:
        meta["started_at"] = started_at
    folder = RunFolder.create(root, meta, run_id)
    rows = []
    for name, vals in values.items():
        arch, _, dev = name.partition("@")
        for r, v in enumerate(vals):
            st = (status or {}).get(name, "ok")
            tokens = 32 * 8
            rows.append(
                {
                    **SHAPE,
                    "arch": arch,
                    "device": dev or device,
                    "run_id": run_id,
                    "case_id": case_id(name),
                    "round": r,
                    "threads": threads,
                    "status": st,
                    "message": "" if st == "ok" else f"{st} happened",
                    "n_samples": 20,
                    "median_s": tokens / v if st == "ok" else None,
                    "seq_per_s": 8 * v / tokens if st == "ok" else None,
                    "tokens_per_s": v if st == "ok" else None,
                    "fingerprint": fp,
                }
            )
    folder.table("summary").append(rows)
    return folder.path


def noisy(level: float, n: int, rng: np.random.Generator, sd: float = 0.02) -> list[float]:
    import numpy as np

    return [float(v) for v in level * np.exp(rng.normal(0, sd, n))]
