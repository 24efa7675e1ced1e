"""Crafted run folders with minGRU/minLSTM beside LSTM/GRU, for the crossover's tests (``test_crossover``) and
the figure tests (``test_plots``: the golden results hold no minimal cell). No torch: rows are the golden
CPU run's template row with chosen round medians."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GOLDEN_RUN = Path(__file__).parent / "golden" / "20261101-090000-aaaa"


def _template() -> dict[str, Any]:
    frame = pd.read_csv(GOLDEN_RUN / "summary.csv", keep_default_na=False)
    return dict(frame.iloc[0])


def write_run(
    folder: Path,
    times: dict[tuple[str, str, int], list[float]],
    mode: str = "train",
    memory: dict[str, float] | None = None,
    hidden: int = 64,
) -> Path:
    """A run folder whose ``(arch, impl, T)`` cases have the given round medians (B=16, I=128, H=``hidden``)."""
    template = _template()
    rows = []
    for (arch, impl, t), medians in times.items():
        for r, m in enumerate(medians):
            row = dict(template)
            row.update(
                arch=arch, impl=impl, mode=mode, seq_len=t, round=r, median_s=m, mean_s=m, min_s=m,
                ci_low_s=0.99 * m, ci_high_s=1.01 * m, case_id=f"{arch}{impl}{mode}{t}h{hidden}", backend=impl,
                peak_memory_bytes=int((memory or {}).get(arch, 1_000_000)), busy="false", hidden_size=hidden,
            )  # fmt: skip
            rows.append(row)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(GOLDEN_RUN / "metadata.json", folder / "metadata.json")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["run_id"] = folder.name
    (folder / "metadata.json").write_text(json.dumps(meta))
    frame = pd.DataFrame(rows)
    frame["run_id"] = folder.name
    frame.to_csv(folder / "summary.csv", index=False)
    return folder


def rounds_around(value: float, n: int, spread: float = 0.01) -> list[float]:
    """``n`` round medians around ``value`` (a fixed ±spread pattern: deterministic, median = value)."""
    offsets = np.linspace(-spread, spread, n) if n > 1 else np.zeros(1)
    return [float(value * np.exp(o)) for o in offsets]


CURVE = {16: 4.0, 64: 2.0, 256: 1.01, 1024: 0.5, 4096: 0.25}
"""minGRU time / LSTM time by T: crosses 1 between 256 and 1024 (256 is within ±5%: "no difference")."""


def crossing_times(n: int, spread: float = 0.01) -> dict[tuple[str, str, int], list[float]]:
    times: dict[tuple[str, str, int], list[float]] = {}
    for t, ratio in CURVE.items():
        lstm = 0.001 * t
        times[("lstm", "native", t)] = rounds_around(lstm, n, spread)
        times[("gru", "native", t)] = rounds_around(1.3 * lstm, n, spread)  # never the fastest
        times[("mingru", "scan", t)] = rounds_around(ratio * lstm, n, spread)
        times[("minlstm", "scratch", t)] = rounds_around(0.01 * lstm, n, spread)  # a loop, not a scan: left out
    return times


def crossing_folder(root: Path) -> Path:
    """Two runs under ``root`` (train and inference, 5 rounds): minGRU crosses the LSTM between T=64 and 1024
    (1.01 at 256: no difference), minLSTM (1.5× minGRU's time) between 256 and 1024; peak memory 1.88× and
    2× the LSTM's in training."""
    times = crossing_times(5)
    for t, ratio in CURVE.items():
        times[("minlstm", "scan", t)] = rounds_around(1.5 * ratio * 0.001 * t, 5)
    write_run(root / "train", times, memory={"mingru": 1_880_000, "minlstm": 2_000_000})
    write_run(root / "inference", {k: [v * 0.3 for v in vs] for k, vs in times.items()}, mode="inference")
    return root
