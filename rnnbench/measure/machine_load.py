"""How busy the machine was while we measured: load average, CPU time used by *other* processes, steal.

On a 2-core machine a second busy process can make a 2-thread LSTM forward pass 300× slower (OpenMP barriers
spin under oversubscription). We cannot prevent that, so we record it around every case and flag it.
Linux reads ``/proc/stat``; elsewhere only the load average is known.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuSnapshot:
    wall_s: float
    own_cpu_s: float
    busy_ticks: int | None
    steal_ticks: int | None
    total_ticks: int | None


@dataclass(frozen=True)
class LoadRecord:
    load_avg: float | None
    other_cpu_frac: float | None
    """CPU time used by other processes / (wall time × online cores)."""
    steal_frac: float | None

    def busy(self, threshold: float) -> bool:
        return self.other_cpu_frac is not None and self.other_cpu_frac > threshold


def _read_proc_stat() -> tuple[int, int, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) for v in fields[1:]]
    values += [0] * (10 - len(values))
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq
    total = busy + idle + iowait + steal
    return busy, steal, total


def snapshot() -> CpuSnapshot:
    stat = _read_proc_stat()
    times = os.times()
    return CpuSnapshot(
        wall_s=time.monotonic(),
        own_cpu_s=times.user + times.system,
        busy_ticks=None if stat is None else stat[0],
        steal_ticks=None if stat is None else stat[1],
        total_ticks=None if stat is None else stat[2],
    )


def _cores() -> int:
    return os.cpu_count() or 1


def between(before: CpuSnapshot, after: CpuSnapshot) -> LoadRecord:
    """The load over the interval between two snapshots."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        load = None
    wall = after.wall_s - before.wall_s
    if before.busy_ticks is None or after.busy_ticks is None or wall <= 0:
        return LoadRecord(load, None, None)
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy_s = (after.busy_ticks - before.busy_ticks) / hz
    own_s = after.own_cpu_s - before.own_cpu_s
    other = max(0.0, busy_s - own_s) / (wall * _cores())
    total = (after.total_ticks or 0) - (before.total_ticks or 0)
    steal = ((after.steal_ticks or 0) - (before.steal_ticks or 0)) / total if total > 0 else 0.0
    return LoadRecord(load, min(other, 1.0), steal)
