"""How busy the machine was while we measured: load average, CPU time used by *other* processes, steal.

On a 2-core machine a second busy process can make a 2-thread LSTM forward pass 300× slower (OpenMP barriers
spin under oversubscription). We cannot prevent that, so we record it around every case and flag it.
Linux reads ``/proc/stat``; elsewhere only the load average is known.

"Other" means other than *this run*: a device pool runs one worker per GPU at once, and each worker's CPU time
(launching kernels, spinning in a sync) is the run's own work, not interference. The coordinator marks itself as
the run's root (:func:`mark_run_root`, an environment variable its workers inherit), and a snapshot sums the CPU
time of the root's whole process tree with ``psutil`` (a maintained, portable process-information library;
without it, or without a root, only this process counts as own).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

RUN_ROOT_ENV = "RNNBENCH_RUN_ROOT"
"""PID of the process that owns the run (the coordinator); workers inherit it through the environment."""


def mark_run_root(pid: int | None = None) -> dict[str, str]:
    """Make ``pid`` (default: this process) the run's root, for this process and every worker it starts after;
    returns the environment entry, for callers that build a worker's environment themselves."""
    os.environ[RUN_ROOT_ENV] = str(pid if pid is not None else os.getpid())
    return {RUN_ROOT_ENV: os.environ[RUN_ROOT_ENV]}


def _own_process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def run_cpu_s() -> float:
    """CPU seconds used so far by the run: the root's process tree (root and all descendants) when a root is
    marked and ``psutil`` is installed, this process alone otherwise."""
    root = os.environ.get(RUN_ROOT_ENV)
    if not root:
        return _own_process_cpu_s()
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency; a --no-deps install may lack it
        return _own_process_cpu_s()
    try:
        top = psutil.Process(int(root))
        tree = [top, *top.children(recursive=True)]
    except (psutil.Error, ValueError):
        return _own_process_cpu_s()
    total = 0.0
    for proc in tree:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # exited between listing and reading
            continue
        total += t.user + t.system
    return total


@dataclass(frozen=True)
class CpuSnapshot:
    wall_s: float
    own_cpu_s: float
    """CPU seconds of this run so far (``run_cpu_s``)."""
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
    return CpuSnapshot(
        wall_s=time.monotonic(),
        own_cpu_s=run_cpu_s(),
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
