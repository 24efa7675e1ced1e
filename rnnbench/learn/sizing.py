"""Size matching: one parameter budget solved per arm, and the units a spec expands to."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

from rnnbench.core.flops import param_count
from rnnbench.core.vocab import ARM_ARCH
from rnnbench.learn.spec import MATCH_TOLERANCE, REFERENCE_ARM, TrainSpec, Unit
from rnnbench.learn.tasks import Task


def total_params(arch: str, input_size: int, hidden_size: int, output_size: int, layers: int = 1) -> int:
    """Recurrent stack (``flops.param_count``) plus the linear head ``H·O + O``."""
    return param_count(arch, input_size, hidden_size, layers) + hidden_size * output_size + output_size


def solve_hidden(arch: str, input_size: int, output_size: int, budget: int, layers: int = 1) -> int:
    """The hidden size whose total parameter count is closest to ``budget`` (ties: the smaller).

    Parameters grow strictly with H, so the answer is the largest H whose count is ≤ the budget or the one
    after it; both are found by doubling then bisection — a walk up from 1 would take ~2,500 steps for a
    minGRU matched to a 64-unit LSTM (no ``W_hh``: its count grows only linearly in H) and millions for
    large budgets."""

    def count(h: int) -> int:
        return total_params(arch, input_size, h, output_size, layers)

    if count(1) >= budget:
        return 1
    low, high = 1, 2  # invariant: count(low) < budget; find high with count(high) ≥ budget
    while count(high) < budget:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if count(mid) < budget else (low, mid)
    return low if budget - count(low) <= count(high) - budget else high


def sizes_for(spec: TrainSpec, task: Task) -> list[tuple[int, dict[str, tuple[int, int]]]]:
    """``[(budget, {arm: (hidden, params)})]``: per size, each arm's hidden size and total parameters."""
    out = []
    budgets: list[int]
    if spec.match == "hidden":
        budgets = list(spec.hidden)
    elif spec.params:
        budgets = list(spec.params)
    else:
        budgets = [
            total_params(REFERENCE_ARM, task.input_size, h, task.output_size, spec.layers) for h in spec.hidden
        ]
    for budget in budgets:
        arms: dict[str, tuple[int, int]] = {}
        for arm in spec.arms:
            arch = ARM_ARCH[arm]
            h = (
                budget
                if spec.match == "hidden"
                else solve_hidden(arch, task.input_size, task.output_size, budget, spec.layers)
            )
            arms[arm] = (h, total_params(arch, task.input_size, h, task.output_size, spec.layers))
        out.append((budget, arms))
    return out


def match_note(unit: Unit) -> str:
    """Empty when the parameter match is within 1 %; otherwise says by how much it misses (tiny budgets,
    where one hidden unit more or less moves the count by more than 1 %)."""
    if unit.match != "params":
        return ""
    off = unit.params / unit.budget - 1
    if abs(off) <= MATCH_TOLERANCE:
        return ""
    return f"parameters {unit.params} are {off:+.1%} off the budget {unit.budget} (budget too small to match)"


def expand_units(spec: TrainSpec, tasks: Mapping[str, Task]) -> list[Unit]:
    """Every unit, in the order they run: task, length, size, lr, seed, then arm innermost — the arms of one
    seed run back to back, so drift in machine load hits them alike."""
    units: list[Unit] = []
    impls = spec.arm_impls()
    for name in spec.tasks:
        task = tasks[name]
        for seq_len in spec.lengths_for(task):
            task.check_seq_len(seq_len)
            for budget, arms in sizes_for(spec, task):
                for lr in spec.sweep_lrs:
                    for seed in range(spec.seeds):
                        for arm in spec.arms:
                            h, p = arms[arm]
                            unit = Unit(
                                name, arm, seed, seq_len, spec.match, budget, h, p, float(lr), impls[arm]
                            )
                            units.append(unit)
    return units


def data_seed(task: str, seq_len: int, seed: int) -> int:
    """The training stream's generator seed: a function of (task, length, seed) only — common random
    numbers across arms, sizes and learning rates."""
    return zlib.crc32(f"{task}|{seq_len}|{seed}".encode())
