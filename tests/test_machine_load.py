"""How busy the machine was: a run's own processes (pool workers, the coordinator) are not "other" load."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from rnnbench.measure import machine_load


@dataclass
class _Times:
    user: float
    system: float


class _Proc:
    """A psutil.Process stand-in whose CPU time the test sets."""

    def __init__(self, cpu: float, children: list[_Proc] | None = None) -> None:
        self.cpu = cpu
        self._children = children or []

    def children(self, recursive: bool = False) -> list[_Proc]:
        out = list(self._children)
        if recursive:
            for child in self._children:
                out += child.children(recursive=True)
        return out

    def cpu_times(self) -> _Times:
        return _Times(self.cpu, 0.0)


def _fake_psutil(monkeypatch: pytest.MonkeyPatch, root: _Proc) -> None:
    module = types.ModuleType("psutil")
    module.Error = RuntimeError  # type: ignore[attr-defined]
    module.Process = lambda pid: root  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "psutil", module)


def test_sibling_pool_workers_count_as_the_runs_own_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pool workers each burn 1 CPU second of a 1-second interval on a 2-core machine: with the run's
    tree counted as own, nothing is "other"; counted per process (the old rule), each worker saw its sibling
    as 50% other load and flagged itself busy (issue 12, defect 9)."""
    worker_a, worker_b = _Proc(10.0), _Proc(20.0)
    coordinator = _Proc(1.0, [worker_a, worker_b])
    _fake_psutil(monkeypatch, coordinator)
    monkeypatch.setenv(machine_load.RUN_ROOT_ENV, "4242")
    monkeypatch.setattr(machine_load, "_cores", lambda: 2)
    ticks = iter([(100, 0, 1000), (300, 0, 1200)])  # 2 CPU-seconds busy at 100 Hz over the interval
    monkeypatch.setattr(machine_load, "_read_proc_stat", lambda: next(ticks))
    monkeypatch.setattr(machine_load.os, "sysconf", lambda name: 100)
    clock = iter([50.0, 51.0])
    monkeypatch.setattr(machine_load.time, "monotonic", lambda: next(clock))

    before = machine_load.snapshot()
    worker_a.cpu += 1.0
    worker_b.cpu += 1.0
    after = machine_load.snapshot()
    record = machine_load.between(before, after)
    assert record.other_cpu_frac == pytest.approx(0.0)
    assert not record.busy(0.1)

    # the same interval with only this process as "own": the siblings are "other", 100% of both cores
    monkeypatch.delenv(machine_load.RUN_ROOT_ENV)
    own = machine_load._own_process_cpu_s()
    alone = machine_load.between(
        machine_load.CpuSnapshot(50.0, own, 100, 0, 1000), machine_load.CpuSnapshot(51.0, own, 300, 0, 1200)
    )
    assert alone.other_cpu_frac == pytest.approx(1.0)
    assert alone.busy(0.1)


def test_other_processes_still_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process outside the run's tree is other load, root marked or not."""
    coordinator = _Proc(1.0, [_Proc(5.0)])
    _fake_psutil(monkeypatch, coordinator)
    monkeypatch.setenv(machine_load.RUN_ROOT_ENV, "4242")
    before = machine_load.CpuSnapshot(0.0, machine_load.run_cpu_s(), 0, 0, 0)
    after = machine_load.CpuSnapshot(1.0, machine_load.run_cpu_s(), 200, 0, 200)  # 2 s busy, none of it ours
    monkeypatch.setattr(machine_load, "_cores", lambda: 2)
    monkeypatch.setattr(machine_load.os, "sysconf", lambda name: 100)
    assert machine_load.between(before, after).other_cpu_frac == pytest.approx(1.0)


def test_mark_run_root_is_inherited_by_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(machine_load.RUN_ROOT_ENV, raising=False)
    entry = machine_load.mark_run_root(1234)
    assert entry == {machine_load.RUN_ROOT_ENV: "1234"}
    import os

    assert os.environ[machine_load.RUN_ROOT_ENV] == "1234"
    # a real tree (psutil installed): this process alone, marked as root, reads its own CPU time
    machine_load.mark_run_root()
    own = machine_load._own_process_cpu_s()  # read first: CPU time only grows, so the tree's (read later)
    assert machine_load.run_cpu_s() >= own - 1e-6  # can never be below it — the other order flaked by a tick
