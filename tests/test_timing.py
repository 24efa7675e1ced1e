"""The timer's rules, checked with a fake clock: cold iteration apart, warm-up, block sizing, setup excluded,
and the adaptive stopping rule (precision reached, budget spent, sample cap)."""

from __future__ import annotations

import gc
import itertools
import random

from rnnbench.core.spec import Settings
from rnnbench.measure.timing import Timed, time_interleaved, time_one


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _work(clock: FakeClock, durations: itertools.cycle) -> Timed:
    return Timed(run=lambda: clock.advance(next(durations)))


def test_constant_time_stops_on_precision_with_exact_values() -> None:
    clock = FakeClock()
    settings = Settings(min_block_s=0.01, min_samples=7, target_rel_ci=0.02, budget_s=100)
    result = time_one(_work(clock, itertools.cycle([0.002])), settings, clock)
    assert result.stopped_by == "precision"
    assert len(result.samples_s) == 7  # the minimum, since the interval is 0 at once
    assert result.block_iters == 5  # 0.01 s block / 0.002 s per iteration
    assert all(abs(s - 0.002) < 1e-12 for s in result.samples_s)
    assert abs(result.first_iter_s - 0.002) < 1e-12


def test_cold_first_iteration_is_kept_apart() -> None:
    clock = FakeClock()
    durations = itertools.chain([1.0], itertools.repeat(0.001))
    result = time_one(Timed(run=lambda: clock.advance(next(durations))), Settings(min_block_s=0.01), clock)
    assert result.first_iter_s == 1.0
    assert max(result.samples_s) < 0.0011  # the cold iteration never enters the samples


def test_noisy_work_stops_on_budget_not_precision() -> None:
    clock = FakeClock()
    # iterations uniform in [1, 3] ms: the median's 95% interval needs > 1000 samples to reach ±2%
    rng = random.Random(0)
    durations = (rng.uniform(0.001, 0.003) for _ in itertools.count())
    settings = Settings(min_block_s=0.001, min_samples=5, target_rel_ci=0.02, budget_s=0.5, max_samples=10_000)
    result = time_one(Timed(run=lambda: clock.advance(next(durations))), settings, clock)
    assert result.stopped_by == "budget"
    assert sum(result.samples_s) * result.block_iters <= 0.5 + 0.01
    assert result.rel_ci > 0.02


def test_max_samples_caps_the_loop() -> None:
    clock = FakeClock()
    settings = Settings(min_block_s=0.001, min_samples=3, target_rel_ci=1e-9, budget_s=1e9, max_samples=12)
    result = time_one(_work(clock, itertools.cycle([0.001, 0.002, 0.0015])), settings, clock)
    assert result.stopped_by == "max_samples"
    assert len(result.samples_s) == 12


def test_setup_is_not_timed() -> None:
    clock = FakeClock()
    timed = Timed(run=lambda: clock.advance(0.004), setup=lambda: clock.advance(10.0))
    result = time_one(timed, Settings(min_block_s=0.01, budget_s=1e9), clock)
    assert all(abs(s - 0.004) < 1e-12 for s in result.samples_s)


def test_interleaving_alternates_blocks_and_each_gets_its_own_samples() -> None:
    clock = FakeClock()
    order: list[str] = []

    def make(name: str, seconds: float) -> Timed:
        return Timed(run=lambda: (order.append(name), clock.advance(seconds)))

    settings = Settings(min_block_s=0.004, min_samples=4, target_rel_ci=0.02, budget_s=100)
    a, b = time_interleaved([make("a", 0.002), make("b", 0.001)], settings, clock)
    assert abs(a.samples_s[0] - 0.002) < 1e-12 and abs(b.samples_s[0] - 0.001) < 1e-12
    timed_phase = order[-(len(a.samples_s) * a.block_iters + len(b.samples_s) * b.block_iters) :]
    # blocks alternate: a's block, then b's block, …
    assert timed_phase[: a.block_iters] == ["a"] * a.block_iters
    assert timed_phase[a.block_iters : a.block_iters + b.block_iters] == ["b"] * b.block_iters


def test_gc_is_disabled_inside_blocks_and_restored() -> None:
    clock = FakeClock()
    seen: list[bool] = []

    def run() -> None:
        seen.append(gc.isenabled())
        clock.advance(0.001)

    assert gc.isenabled()
    result = time_one(Timed(run=run), Settings(min_block_s=0.002, budget_s=100), clock)
    timed = seen[-len(result.samples_s) * result.block_iters :]
    assert not any(timed)
    assert gc.isenabled()


def test_sync_is_called_around_every_block() -> None:
    clock = FakeClock()
    calls = {"sync": 0}

    def sync() -> None:
        calls["sync"] += 1

    timed = Timed(run=lambda: clock.advance(0.001), sync=sync)
    result = time_one(timed, Settings(min_block_s=0.001, budget_s=100), clock)
    assert calls["sync"] >= 2 * len(result.samples_s)
