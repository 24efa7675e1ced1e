"""Deterministic, cost-balanced partitions of a case grid, for clusters and CI matrices.

The unit of partition is a *group* — the architectures (and rounds) of one shape — because those are timed
interleaved and must stay on one machine. Groups are assigned longest-first to the shard with the least
estimated cost (ties to the lowest shard index), which is the classic LPT rule: no shard exceeds the lightest
by more than the costliest group. The estimate only needs to rank cases, not predict seconds. Every machine
that expands the same grid computes the same partition, with no coordination.
"""

from __future__ import annotations

import re
from collections import Counter

from rnnbench.core import flops
from rnnbench.core.spec import Case
from rnnbench.errors import ConfigError

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

_MODE_FACTOR = {"inference": 1.0, "forward": 1.2, "backward": 2.0, "train": 3.2, "ddp-train": 3.5}
_IMPL_FACTOR = {
    "native": 1.0,
    "aten": 1.5,
    "cell": 3.0,
    "scratch": 2.0,
    "scan": 1.5,
    "compiled": 2.5,
    "numpy": 6.0,
}
_OVERHEAD_FLOPS = 5e7
"""A fixed per-case cost (warm-up, calibration, profiling) so tiny cases are not treated as free."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``: shard K of N, 1-based (Slurm ``--array=1-N``, a CI matrix ``[1..N]``)."""
    match = _SHARD_RE.match(text)
    if not match:
        raise ConfigError(f"--shard takes K/N (e.g. 2/4: the second of four shards), got '{text}'.")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ConfigError(f"--shard {text}: K must be between 1 and N, and N ≥ 1.")
    return k, n


def estimated_cost(case: Case) -> float:
    """Relative cost: forward GEMM FLOPs × mode and implementation factors, plus a fixed overhead."""
    tokens = case.batch_size * case.seq_len
    fwd = flops.forward_flops(
        case.arch, case.input_size, case.hidden_size, case.num_layers, case.bidirectional, tokens
    )
    loop_penalty = case.seq_len * case.num_layers * 2e4 if case.impl in ("cell", "scratch", "compiled") else 0
    return (fwd + loop_penalty) * _MODE_FACTOR.get(case.mode, 1.0) * _IMPL_FACTOR.get(
        case.impl, 1.0
    ) + _OVERHEAD_FLOPS


def _groups(cases: list[Case]) -> list[list[Case]]:
    from rnnbench.measure.runner import group_by_shape

    return group_by_shape(cases)


def partition(cases: list[Case], n: int) -> list[list[Case]]:
    """``n`` shards whose union is ``cases`` (each case exactly once, grid order kept inside a shard)."""
    if n < 1:
        raise ConfigError(f"the number of shards must be ≥ 1, got {n}.")
    groups = _groups(cases)
    order = {case: i for i, case in enumerate(cases)}
    costs = [sum(estimated_cost(c) for c in g) for g in groups]
    shared = Counter(costs)  # case_id (a hash: slow for 100k cases) only breaks ties, so only ties compute it

    def tie_break(i: int) -> str:
        return groups[i][0].case_id if shared[costs[i]] > 1 else ""

    ranked = sorted(range(len(groups)), key=lambda i: (-costs[i], tie_break(i)))
    loads = [0.0] * n
    assigned: list[list[Case]] = [[] for _ in range(n)]
    for gi in ranked:
        target = min(range(n), key=lambda s: (loads[s], s))
        loads[target] += costs[gi]
        assigned[target].extend(groups[gi])
    return [sorted(shard, key=order.__getitem__) for shard in assigned]


def shard_of(cases: list[Case], k: int, n: int) -> list[Case]:
    """The cases of shard ``k`` (1-based) of ``n``."""
    return partition(cases, n)[k - 1]
