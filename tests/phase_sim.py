"""A simulated noisy machine and workers that run on it: how the gate's two methods are tested without torch.

Why simulate: the behaviour the paired mode exists for — a shared VM whose speed switches by 1.8× in phases
lasting seconds (measured on the 2-core development VM: the same LSTM forward at 0.40 ms, then 0.73 ms) — is
neither reproducible nor fast on a real machine. :class:`PhaseMachine` reproduces it with a simulated clock;
:class:`SimWorker` speaks the worker protocol of :mod:`rnnbench.core.protocol` against it (so the real
coordinator, :func:`rnnbench.ab.coordinator.run_paired`, is what the tests drive); :func:`process_rounds`
measures the same machine the way process rounds do. ``tests/test_paired.py`` shows process rounds staying
inconclusive and the paired mode deciding a 5% effect on the same machine. Test support, not the product:
it lives beside the tests that use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnbench.ab.channel import WorkerFailed
from rnnbench.core.protocol import PROTOCOL_VERSION


class PhaseMachine:
    """A machine whose speed switches between 1 and ``slow`` (1.8×) at exponentially distributed times
    (mean ``mean_phase_s``), with lognormal noise (``block_noise``) on every piece of work. Time advances only
    through :meth:`work` and :meth:`idle`; :meth:`clock` reads it (inject it as the coordinator's clock)."""

    def __init__(
        self,
        rng: np.random.Generator,
        slow: float = 1.8,
        mean_phase_s: float = 3.0,
        block_noise: float = 0.01,
        switch_cost: float = 0.0,
        block_overhead_s: float = 0.0,
    ) -> None:
        self.rng = rng
        self.slow = slow
        self.mean_phase_s = mean_phase_s
        self.block_noise = block_noise
        self.switch_cost = switch_cost
        """A block run right after another worker's is slower by this fraction (caches, frequency)."""
        self.block_overhead_s = block_overhead_s
        """Wall time every block request costs outside the timed part (pipe round trip, waiting for idle)."""
        self.last: object = None
        self.now = 0.0
        self.factor = slow if rng.random() < 0.5 else 1.0
        self.next_switch = float(rng.exponential(mean_phase_s))

    def clock(self) -> float:
        return self.now

    def idle(self, seconds: float) -> None:
        self._advance_wall(seconds)

    def _advance_wall(self, seconds: float) -> None:
        end = self.now + seconds
        while self.next_switch <= end:
            self.factor = 1.0 if self.factor != 1.0 else self.slow
            self.next_switch += float(self.rng.exponential(self.mean_phase_s))
        self.now = end

    def work(self, seconds_at_full_speed: float) -> float:
        """Run work that takes ``seconds_at_full_speed`` on a quiet machine; returns the wall time it took
        (the current phase's factor, switching mid-way if a phase ends, times the block noise)."""
        left = seconds_at_full_speed * float(np.exp(self.rng.normal(0.0, self.block_noise)))
        start = self.now
        while left > 0:
            until_switch = self.next_switch - self.now
            need = left * self.factor
            if need <= until_switch:
                self.now += need
                left = 0.0
            else:
                left -= until_switch / self.factor
                self.now = self.next_switch
                self.factor = 1.0 if self.factor != 1.0 else self.slow
                self.next_switch += float(self.rng.exponential(self.mean_phase_s))
        return self.now - start


@dataclass(frozen=True)
class SimCase:
    """A case as the simulated workers build it: key, per-iteration time on a quiet machine, tokens."""

    key: str
    iter_s: float
    tokens_per_iter: int = 512

    def entry(self, threads: int = 1) -> dict[str, Any]:
        case_id = self.key.split("@")[0]
        return {
            "key": self.key,
            "case_id": case_id,
            "threads": threads,
            "status": "ok",
            "message": "",
            "tokens_per_iter": self.tokens_per_iter,
            "iter_s": self.iter_s,
            "labels": {
                "arch": case_id, "impl": "native", "mode": "inference", "device": "cpu", "dtype": "float32",
                "seq_len": 32, "batch_size": 16, "input_size": 64, "hidden_size": 64, "num_layers": 1,
            },
        }  # fmt: skip


class SimWorker:
    """A fake worker on a :class:`PhaseMachine`: its own process-level speed (lognormal, ``process_sd``,
    drawn at start — what restarts sample), a true slowdown ``effect`` per case key (1.0 = none), and the
    protocol's replies. ``fail`` makes one case's blocks fail (a case failing on one side); ``die_after``
    blocks make it die like a ``kill -9``."""

    def __init__(
        self,
        label: str,
        machine: PhaseMachine,
        cases: Sequence[SimCase],
        effect: dict[str, float] | None = None,
        process_sd: float = 0.005,
        startup_s: float = 2.0,
        protocol: int | None = PROTOCOL_VERSION,
        fail: str | None = None,
        die_after: int | None = None,
    ) -> None:
        self.label = label
        self.machine = machine
        self.cases = {c.key: c for c in cases}
        self.effect = effect or {}
        self.speed = float(np.exp(machine.rng.normal(0.0, process_sd)))
        self.startup_s = startup_s
        self.protocol = protocol
        self.fail = fail
        self.die_after = die_after
        self.blocks = 0
        self.closed = False
        self._pending: dict[str, Any] | None = None

    def send(self, message: dict[str, Any]) -> None:
        self._pending = message

    def receive(self, what: str, timeout_s: float) -> dict[str, Any]:
        message, self._pending = self._pending or {}, None
        return self._reply(message)

    def request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        return self._reply(message)

    def _reply(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        if op == "hello":
            if self.protocol is None:
                raise WorkerFailed(f"{self.label} worker exited with status 2 during 'hello'.")
            return {"ok": True, "protocol": self.protocol, "rnnbench": "sim", "pid": 0}
        if op == "build":
            self.machine.idle(self.startup_s / 2)  # both sides build at once: half each
            self.machine.last = None
            wanted = msg.get("cases")
            entries = [c.entry() for k, c in self.cases.items() if wanted is None or k in wanted]
            return {"ok": True, "cases": entries, "fingerprint_keys": {}}
        if op == "block":
            self.blocks += 1
            if self.die_after is not None and self.blocks > self.die_after:
                raise WorkerFailed(f"{self.label} worker was killed by signal 9 during 'block'.")
            key = str(msg["case"])
            if key == self.fail:
                return {"ok": False, "error": "RuntimeError: simulated failure"}
            case = self.cases[key]
            per_iter = case.iter_s * self.effect.get(key, 1.0) / self.speed * (1 + float(msg.get("inject", 0)))
            if self.machine.last is not None and self.machine.last is not self:
                per_iter *= 1 + self.machine.switch_cost
            self.machine.last = self
            self.machine.idle(self.machine.block_overhead_s)
            seconds = self.machine.work(per_iter * int(msg["iters"]))
            return {"ok": True, "seconds": seconds, "iters": int(msg["iters"])}
        if op == "quit":
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def cpu_seconds(self) -> float:
        return 0.0

    def wait_idle(self, max_s: float) -> float:
        return 0.0

    def close(self) -> None:
        self.closed = True

    def pin(self) -> tuple[int, ...] | None:
        return None


def sim_factory(
    machine: PhaseMachine,
    cases: Sequence[SimCase],
    head_effect: dict[str, float] | None = None,
    process_sd: float = 0.005,
    role_offset: float = 0.0,
    **head_options: Any,
) -> Any:
    """A :data:`~rnnbench.ab.channel.WorkerFactory` of simulated workers: the side labelled ``head``
    (or ``b``) gets ``head_effect`` and ``head_options``; the worker spawned first in each restart runs slower
    by ``role_offset`` (a role-tied offset: what randomising the spawn order must cancel); every worker made
    is kept in ``factory.made``."""
    made: list[SimWorker] = []

    def factory(label: str, argv: Sequence[str], log_path: Path) -> SimWorker:
        head = label in ("head", "b")
        worker = SimWorker(
            label, machine, cases, head_effect if head else None, process_sd, **(head_options if head else {})
        )
        if len(made) % 2 == 0:  # the first of this restart's pair
            worker.speed /= 1 + role_offset
        made.append(worker)
        return worker

    factory.made = made  # type: ignore[attr-defined]
    return factory


def process_rounds(
    machine: PhaseMachine,
    cases: Sequence[SimCase],
    rounds: int,
    head_effect: dict[str, float] | None = None,
    budget_s: float = 0.6,
    block_s: float = 0.01,
    startup_s: float = 2.0,
    process_sd: float = 0.005,
) -> dict[str, tuple[list[float], list[float]]]:
    """Process rounds on the same machine, in ABBA order: each round a fresh process (its own speed) that
    measures every case for ``budget_s`` in blocks of ``block_s`` and records the median block's throughput.
    Returns per case key the (base, head) round throughputs the gate compares."""
    out: dict[str, tuple[list[float], list[float]]] = {c.key: ([], []) for c in cases}
    effect = head_effect or {}
    for k in range(rounds):
        order = ("base", "head") if k % 2 == 0 else ("head", "base")
        for side in order:
            machine.idle(startup_s)
            speed = float(np.exp(machine.rng.normal(0.0, process_sd)))
            for case in cases:
                slow = effect.get(case.key, 1.0) if side == "head" else 1.0
                n = max(1, math.ceil(block_s / case.iter_s))
                blocks = [
                    machine.work(case.iter_s * slow / speed * n) / n
                    for _ in range(max(3, int(budget_s / block_s)))
                ]
                value = case.tokens_per_iter / float(np.median(blocks))
                out[case.key][0 if side == "base" else 1].append(value)
    return out
