"""The timer: warm-up until steady, the cold first iteration kept apart, blocks long enough to drown timer
overhead, GC off inside blocks, device synchronisation, and repetition until the median is precise enough.

Several callables (the architectures of one shape) are timed *interleaved*: one block of each in turn, so slow
drift (thermal, another process) hits all of them alike. Every sample is the mean per-iteration time of one
block; the stopping rule looks at the distribution-free 95% interval of the median of those samples.

The clock and the synchroniser are injectable, so the stopping rule is tested with a fake clock.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rnnbench.core.spec import Settings
from rnnbench.stats.intervals import relative_half_width

Clock = Callable[[], float]


@dataclass
class Timed:
    """What to time: ``run`` once per iteration; ``setup`` (untimed) before each iteration if given — used by
    ``backward`` mode, whose forward pass must not be counted. ``sync`` waits for the device."""

    run: Callable[[], object]
    setup: Callable[[], object] | None = None
    sync: Callable[[], None] | None = None
    events: Callable[[], tuple[object, object]] | None = None
    """CUDA only: returns a fresh (start, end) pair of ``torch.cuda.Event(enable_timing=True)``."""


@dataclass
class TimingResult:
    samples_s: list[float] = field(default_factory=list)
    """Per-iteration seconds, one value per block."""
    event_samples_s: list[float] = field(default_factory=list)
    """The same from CUDA events (empty on CPU)."""
    block_iters: int = 1
    first_iter_s: float = math.nan
    warmup_iters: int = 0
    stopped_by: str = ""
    """``precision`` (target reached), ``budget`` (time ran out) or ``max_samples``."""

    @property
    def rel_ci(self) -> float:
        return relative_half_width(self.samples_s) if len(self.samples_s) >= 2 else math.inf


class _Runner:
    """Times one ``Timed`` with a given clock; keeps its own state across interleaved turns."""

    def __init__(self, timed: Timed, settings: Settings, clock: Clock) -> None:
        self.timed = timed
        self.settings = settings
        self.clock = clock
        self.result = TimingResult()
        self.done = False

    def _sync(self) -> None:
        if self.timed.sync is not None:
            self.timed.sync()

    def one_iteration(self) -> float:
        """One untimed-setup + timed-run iteration, synchronised; seconds."""
        if self.timed.setup is not None:
            self.timed.setup()
            self._sync()
        start = self.clock()
        self.timed.run()
        self._sync()
        return self.clock() - start

    def cold_and_warm(self) -> None:
        """First (cold) iteration recorded apart; then warm up until two consecutive iterations agree within
        10% (and at least ``warmup_min_iters``) or ``warmup_max_s`` is spent. Sets the block size."""
        s = self.settings
        self.result.first_iter_s = self.one_iteration()
        started = self.clock()
        last = math.inf
        times: list[float] = []
        while True:
            t = self.one_iteration()
            times.append(t)
            steady = abs(t - last) <= 0.1 * max(t, 1e-12)
            last = t
            if len(times) >= s.warmup_min_iters and steady:
                break
            if self.clock() - started >= s.warmup_max_s:
                break
        self.result.warmup_iters = len(times)
        per_iter = min(times[-3:]) if times else self.result.first_iter_s
        self.result.block_iters = max(1, math.ceil(s.min_block_s / max(per_iter, 1e-9)))

    def block(self) -> None:
        """One timed block; appends its per-iteration time."""
        n = self.result.block_iters
        timed = self.timed
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            if timed.setup is None:
                events = timed.events() if timed.events is not None else None
                self._sync()
                start = self.clock()
                if events is not None:
                    events[0].record()  # type: ignore[attr-defined]
                for _ in range(n):
                    timed.run()
                if events is not None:
                    events[1].record()  # type: ignore[attr-defined]
                self._sync()
                elapsed = self.clock() - start
                event_s = (
                    events[0].elapsed_time(events[1]) / 1e3  # type: ignore[attr-defined]
                    if events is not None
                    else None
                )
            else:  # per-iteration setup excluded from the measurement
                elapsed = 0.0
                event_total = 0.0
                for _ in range(n):
                    timed.setup()
                    self._sync()
                    events = timed.events() if timed.events is not None else None
                    start = self.clock()
                    if events is not None:
                        events[0].record()  # type: ignore[attr-defined]
                    timed.run()
                    if events is not None:
                        events[1].record()  # type: ignore[attr-defined]
                    self._sync()
                    elapsed += self.clock() - start
                    if events is not None:
                        event_total += events[0].elapsed_time(events[1]) / 1e3  # type: ignore[attr-defined]
                event_s = event_total if timed.events is not None else None
        finally:
            if gc_was_enabled:
                gc.enable()
        self.result.samples_s.append(elapsed / n)
        if event_s is not None:
            self.result.event_samples_s.append(event_s / n)

    def check_stop(self, elapsed_s: float) -> None:
        s = self.settings
        n = len(self.result.samples_s)
        if n >= s.min_samples and relative_half_width(self.result.samples_s) <= s.target_rel_ci:
            self.done, self.result.stopped_by = True, "precision"
        elif n >= s.max_samples:
            self.done, self.result.stopped_by = True, "max_samples"
        elif elapsed_s >= s.budget_s and n >= 3:
            self.done, self.result.stopped_by = True, "budget"


def time_interleaved(
    items: Sequence[Timed],
    settings: Settings,
    clock: Clock = time.perf_counter,
    on_sample: Callable[[int, TimingResult], None] | None = None,
) -> list[TimingResult]:
    """Time every item: cold iteration and warm-up each, then one block of each in turn until each one stops.

    Each item's budget is ``settings.budget_s`` of its own block time (at least 3 samples are always taken,
    so a case slower than the budget still gets an interval).
    """
    runners = [_Runner(t, settings, clock) for t in items]
    for r in runners:
        r.cold_and_warm()
    spent = [0.0] * len(runners)
    while not all(r.done for r in runners):
        for i, r in enumerate(runners):
            if r.done:
                continue
            start = clock()
            r.block()
            spent[i] += clock() - start
            r.check_stop(spent[i])
            if on_sample is not None:
                on_sample(i, r.result)
    return [r.result for r in runners]


def time_one(timed: Timed, settings: Settings, clock: Clock = time.perf_counter) -> TimingResult:
    """``time_interleaved`` for a single callable."""
    return time_interleaved([timed], settings, clock)[0]
