"""Does rnnbench's timer agree with torch.utils.benchmark? Same cases, same thread count, interleaved in one
process; prints the ratio rnnbench median / blocked_autorange median per case. Target: within ±5%.

    .venv/bin/python benchmarks/harness_check.py [--threads 1] [--repeats 3]

Run it on a quiet machine (check `uptime`): contention changes both timers, not their ratio, but adds noise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils import benchmark

from rnnbench.runner import prepare
from rnnbench.spec import Case, Settings
from rnnbench.timing import time_one

CASES = [
    Case(arch, mode=mode, seq_len=t, hidden_size=h, input_size=h, batch_size=16, threads=0)
    for arch in ("lstm", "gru")
    for mode in ("inference", "train")
    for (t, h) in ((32, 64), (128, 256))
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3, help="alternations of the two timers per case")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings(budget_s=1.0, warmup_max_s=0.5, min_block_s=0.02, target_rel_ci=0.01)
    started = time.perf_counter()
    print(f"threads={args.threads}  torch={torch.__version__}")
    print(f"{'case':58s} {'rnnbench':>10s} {'autorange':>10s} {'ratio':>7s}")
    ratios = []
    for case in CASES:
        prepared = prepare(case, "cpu")
        ours, theirs = [], []
        for _ in range(args.repeats):  # interleave the two timers
            ours.append(statistics.median(time_one(prepared.timed, settings).samples_s))
            timer = benchmark.Timer(stmt="run()", globals={"run": prepared.timed.run}, num_threads=args.threads)
            theirs.append(timer.blocked_autorange(min_run_time=1.0).median)
        a, b = statistics.median(ours), statistics.median(theirs)
        ratios.append(a / b)
        print(f"{case.label():58s} {a * 1e3:9.3f}ms {b * 1e3:9.3f}ms {a / b:7.3f}")
    worst = max(abs(r - 1) for r in ratios)
    print(f"median ratio {statistics.median(ratios):.3f}; worst deviation {worst:.1%}; "
          f"{'within' if worst <= 0.05 else 'OUTSIDE'} ±5%; {time.perf_counter() - started:.0f}s")  # fmt: skip


if __name__ == "__main__":
    main()
