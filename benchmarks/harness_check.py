"""Does rnnbench's timer agree with torch.utils.benchmark? Same cases, same thread count, interleaved in one
process (ours, theirs, ours, theirs, …); prints per case the ratio of the two timers' medians with a 95%
bootstrap interval over the repeats, and each timer's own repeat-to-repeat spread, so a disagreement can be
told apart from the machine's noise. Target: ratio within ±5%.

    .venv/bin/python benchmarks/harness_check.py [--threads 1] [--repeats 7] [--seconds 0.5]

Run it on a quiet machine (check `uptime`); the load and steal seen during the run are printed at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils import benchmark

from rnnbench.core.spec import Case, Settings
from rnnbench.measure.machine_load import between, snapshot
from rnnbench.measure.runner import prepare
from rnnbench.measure.timing import time_one
from rnnbench.stats.intervals import bootstrap_ratio_ci

CASES = [
    Case(arch, mode=mode, seq_len=t, hidden_size=h, input_size=h, batch_size=16, threads=0)
    for arch in ("lstm", "gru")
    for mode in ("inference", "train")
    for (t, h) in ((32, 64), (128, 256))
]


def _spread(values: list[float]) -> float:
    return max(values) / min(values) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=7, help="alternations of the two timers per case")
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement, each timer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = Settings(budget_s=args.seconds, warmup_max_s=0.3, min_block_s=0.02, target_rel_ci=0.005)
    started, before = time.perf_counter(), snapshot()
    print(f"threads={args.threads}  torch={torch.__version__}  repeats={args.repeats}  {args.seconds}s each")
    print(
        f"{'case':58s} {'rnnbench':>9s} {'autorange':>9s} {'ratio [95% CI]':>21s} {'spread ours/theirs':>19s}"
    )
    within = 0
    for case in CASES:
        prepared = prepare(case, "cpu")
        timer = benchmark.Timer(stmt="run()", globals={"run": prepared.timed.run}, num_threads=args.threads)
        ours, theirs = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both timers alike
            ours.append(statistics.median(time_one(prepared.timed, settings).samples_s))
            theirs.append(timer.blocked_autorange(min_run_time=args.seconds).median)
        ci = bootstrap_ratio_ci(ours, theirs, seed=0)
        ok = abs(ci.estimate - 1) <= 0.05
        within += ok
        ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        print(
            f"{case.label():58s} {ours_ms:7.3f}ms {theirs_ms:7.3f}ms "
            f"{ci.estimate:7.3f} [{ci.low:.3f}–{ci.high:.3f}] {_spread(ours):8.0%} /{_spread(theirs):5.0%}"
            f"{'' if ok else '  ← outside ±5%'}"
        )
    load = between(before, snapshot())
    print(
        f"{within}/{len(CASES)} cases within ±5%; {time.perf_counter() - started:.0f}s; load average "
        f"{load.load_avg:.2f}, other processes {load.other_cpu_frac or 0:.0%} of the CPUs, "
        f"steal {load.steal_frac or 0:.1%}"
    )


if __name__ == "__main__":
    main()
