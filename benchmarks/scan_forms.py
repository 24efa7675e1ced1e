"""Two ways to scan minGRU/minLSTM's linear recurrence, side by side: rnnbench's (chunks of 32 steps advance
together in log space, a prefix scan joins them) and the paper's (Heinsen 2023: ``cumsum`` and
``logcumsumexp`` over the whole sequence), on the same coefficients: time of forward + backward (interleaved,
one thread, the ratio's median and range over rounds) and max-relative error against the float64 recurrence.

    .venv/bin/python benchmarks/scan_forms.py            # T = 256, 1024, 4096; B = 16, H = 64; ~1 min
    .venv/bin/python benchmarks/scan_forms.py --dry-run  # tiny sizes, one round (CI runs this)

The figures are in docs/measurements.md; ``docs/architectures.md`` says why rnnbench uses its form.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from rnnbench.measure.models import minimal


def heinsen(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The paper's form (zero-state part plus the initial state's decayed share)."""
    cum = log_a.cumsum(0)
    return torch.exp(cum + torch.logcumsumexp(log_b - cum, dim=0)) + torch.exp(cum) * h0


def coefficients(steps: int, batch: int, hidden: int, scale: float, seed: int) -> tuple[torch.Tensor, ...]:
    """minGRU's ``(log a, log b)`` from random projections (pre-activations ~ N(0, scale²))."""
    gen = torch.Generator().manual_seed(seed)
    p = torch.randn(steps, batch, 2 * hidden, generator=gen) * scale
    return minimal.scan_coefficients("mingru", p)


def relative_error(form: Callable[..., torch.Tensor], log_a: torch.Tensor, log_b: torch.Tensor) -> float:
    h0 = torch.zeros(log_a.shape[1:])
    a, b = log_a.double().exp(), log_b.double().exp()
    state, states = h0.double(), []
    for t in range(log_a.shape[0]):
        state = a[t] * state + b[t]
        states.append(state)
    exact = torch.stack(states)
    return float((form(log_a, log_b, h0).double() - exact).abs().max() / exact.abs().max())


def step_seconds(form: Callable[..., torch.Tensor], log_a: torch.Tensor, log_b: torch.Tensor) -> float:
    a, b = log_a.clone().requires_grad_(True), log_b.clone().requires_grad_(True)
    start = time.perf_counter()
    form(a, b, torch.zeros(a.shape[1:])).sum().backward()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one round: checks the script runs")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    lengths, batch, hidden, rounds = (
        ((64,), 2, 4, 1) if args.dry_run else ((256, 1024, 4096), 16, 64, args.rounds)
    )
    forms: dict[str, Callable[..., torch.Tensor]] = {"rnnbench": minimal.linear_scan, "paper": heinsen}
    print(f"torch {torch.__version__}, 1 thread, B={batch}, H={hidden}, forward+backward, {rounds} rounds")
    print("| T | gates | rnnbench error | paper error | paper / rnnbench time [min–max over rounds] |")
    print("|---|---|---|---|---|")
    for steps in lengths:
        for scale, label in ((1.0, "N(0,1)"), (30.0, "N(0,30²)")):
            log_a, log_b = coefficients(steps, batch, hidden, scale, seed=steps)
            errors = {name: relative_error(form, log_a, log_b) for name, form in forms.items()}
            ratios = []
            for name in forms:  # warm both
                step_seconds(forms[name], log_a, log_b)
            for _ in range(rounds):
                ours = step_seconds(forms["rnnbench"], log_a, log_b)
                theirs = step_seconds(forms["paper"], log_a, log_b)
                ratios.append(theirs / ours)
            print(
                f"| {steps} | {label} | {errors['rnnbench']:.1e} | {errors['paper']:.1e} | "
                f"{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}] |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
