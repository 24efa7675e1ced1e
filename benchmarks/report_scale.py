"""How long does ``rnnbench report`` take over 100,000 summary rows? (Target: ≤ 10 s on 2 cores.)

Writes a synthetic results folder (one run: 3 archs × 2 impls × 4 modes × 2 devices × 2 dtypes × 8 lengths ×
8 hidden sizes × 4 batch sizes, 4 rounds each = 98,304 rows, topped up to 100,000 with a fifth round for
some cases), then times the real command end to end in a fresh process — imports, loading, validation,
aggregation, bootstrap intervals, claims, every figure, Markdown and HTML:

    python benchmarks/report_scale.py [--rows 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnnbench.results.schema import SCHEMA_VERSION, SUMMARY_COLUMNS


def synthetic_summary(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` plausible summary rows built with array operations (no per-row Python)."""
    rng = np.random.default_rng(seed)
    grid = pd.MultiIndex.from_product(
        [
            ["lstm", "gru", "rnn"], ["native", "aten"], ["inference", "forward", "backward", "train"],
            ["cpu", "cuda:0"], ["float32", "float16"], [16, 32, 64, 128, 256, 512, 1024, 2048],
            [64, 128, 256, 384, 512, 768, 1024, 2048], [1, 8, 32, 128],
        ],
        names=["arch", "impl", "mode", "device", "dtype", "seq_len", "hidden_size", "batch_size"],
    ).to_frame(index=False)  # fmt: skip
    rounds = int(np.ceil(rows / len(grid)))
    frame = pd.concat([grid.assign(round=r) for r in range(rounds)], ignore_index=True).head(rows)
    n = len(frame)
    gates = frame["arch"].map({"lstm": 4, "gru": 3, "rnn": 1}).to_numpy()
    t, h, b = (frame[c].to_numpy() for c in ("seq_len", "hidden_size", "batch_size"))
    flops = 2 * gates * h * (h + h) * b * t * np.where(frame["mode"] == "train", 3, 1)
    peak = np.where(frame["device"] == "cpu", 150e9, 50e12)
    median = flops / (peak * 0.3) * (1 + 0.03 * rng.standard_normal(n)) + t * 5e-6
    case = frame[["arch", "impl", "mode", "device", "dtype", "seq_len", "hidden_size", "batch_size"]].astype(
        str
    )
    frame["case_id"] = pd.util.hash_pandas_object(case, index=False).map("{:012x}".format).str[:12]
    failed = rng.random(n) < 0.005
    out = frame.assign(
        schema_version=SCHEMA_VERSION, run_id="20261201-000000-scal", input_size=frame["hidden_size"],
        num_layers=1, bidirectional="false", threads=np.where(frame["device"] == "cpu", 2, 0),
        status=np.where(failed, "oom", "ok"), message=np.where(failed, "out of memory", ""), n_samples=10,
        median_s=np.where(failed, np.nan, median), mean_s=median * 1.01, iqr_s=median * 0.03,
        ci_low_s=median * 0.98, ci_high_s=median * 1.02, first_iter_s=median * 30,
        seq_per_s=b / median, tokens_per_s=b * t / median, gflop_per_s=flops / median / 1e9,
        peak_fraction=flops / median / peak, params=gates * h * (2 * h + 2),
        peak_memory_bytes=gates * h * b * t * 4,
        backend=np.where(frame["device"] == "cpu", "aten", "cudnn"), min_s=median * 0.97, rel_ci=0.02,
        flops_per_iter=flops, tokens_per_iter=b * t, peak_gflop_per_s=peak / 1e9, batch_first="false",
        length_spread=0.0, workload="layer", seed=0, busy="false", fingerprint="synthetic",
    )  # fmt: skip
    return out.reindex(columns=list(SUMMARY_COLUMNS))  # columns not set here stay empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the synthetic folder and report here and keep them")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="rnnbench-scale-"))
    run = root / "results" / "20261201-000000-scal"
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    synthetic_summary(args.rows).to_csv(run / "summary.csv", index=False)
    gpu = {"index": 0, "name": "Synthetic GPU", "memory_bytes": 8 << 30, "capability": "9.0"}
    env = {"torch": "2.13.0", "cuda": "12.8", "cudnn": "91002", "onednn": "3.7.1", "cpu_model": "Synthetic CPU"}
    env["gpus"] = [gpu]
    meta = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.name,
        "kind": "run",
        "status": "complete",
        "env": env,
    }
    (run / "metadata.json").write_text(json.dumps(meta))
    print(f"wrote {args.rows:,} summary rows in {time.perf_counter() - t0:.1f} s: {run / 'summary.csv'}")

    command = [
        sys.executable,
        "-m",
        "rnnbench",
        "report",
        str(root / "results"),
        "--out",
        str(root / "report"),
        "-q",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"rnnbench report failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    print(done.stdout.strip())
    print(
        f"rnnbench report over {args.rows:,} summary rows: {elapsed:.2f} s end to end "
        "(target ≤ 10 s on 2 cores)"
    )


if __name__ == "__main__":
    main()
