"""The persistent worker of the paired A/B: ``python -m rnnbench.measure.worker --serve`` (or ``rnnbench
worker --serve``) answers a small versioned JSON-lines protocol on stdin/stdout.

Why a persistent worker: the paired gate compares ~100 ms blocks of the two sides measured back to back, so
each side must keep its models built and warm between blocks; and why over pipes: the waiting side blocks in
``readline`` on its stdin — it sleeps in the kernel, never spins, so exactly one side runs at a time.

The protocol's messages, version and key formats are :mod:`rnnbench.core.protocol` (one definition for
the worker and the coordinator).

``build`` takes ``run``'s grid options (the same list ``ab`` passes to
``run``) and builds and warms every case of the grid, or only the listed keys (confirmation re-measures only
the flagged cases). ``block`` times ``iters`` iterations of one case; ``inject`` > 0 stretches the block's
time by that fraction, busy-waiting inside the timed region — ``calibrate --inject``'s known slowdown (the
coordinator asks for f/(1 − f) to lower throughput by f). A failed request answers
``{"ok": false, "error": "…"}`` and the worker goes on; a case that cannot be built is reported with its
status (``error``/``unsupported``/``oom``) in ``build``'s reply. A request with
another protocol version is refused (``"ok": false`` with this worker's version), so a coordinator never
mixes protocols. stdout carries nothing but replies: the worker points file descriptor 1 at stderr for
everything else (a library's stray print would otherwise corrupt the stream).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from rnnbench.core.protocol import PROTOCOL_VERSION, fingerprint_slot, worker_key
from rnnbench.core.spec import Case
from rnnbench.errors import ConfigError

WARM_S = 0.15
"""Seconds of untimed iterations per case after building (at least :data:`WARM_ITERS`): enough for oneDNN's
primitive cache and the allocator; the ABBA order cancels what is left."""
WARM_ITERS = 3


def grid_parser() -> argparse.ArgumentParser:
    """``run``'s grid options as ``build`` understands them: every sweep axis of ``measure.plan.AXES``
    (several values, repeated flags or commas), ``--bidirectional``, ``--preset``, ``--config``, ``--seed``,
    ``--tf32`` and the timing settings (accepted, unused: the coordinator chooses the blocks)."""
    from rnnbench.measure.plan import AXES, SETTINGS

    parser = argparse.ArgumentParser(prog="rnnbench worker --serve build", add_help=False, exit_on_error=False)
    short = {"arch": ["-a"], "impl": ["-i"], "mode": ["-m"], "device": ["-d"], "seq_len": ["-T"],
             "batch": ["-b"], "lengths": ["--length-spread"]}  # fmt: skip
    for name in AXES:
        flags = ["--" + name.replace("_", "-"), *short.get(name, [])]
        parser.add_argument(*flags, dest=name, nargs="+", action="extend", default=None)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--preset", "-p", default=None)
    parser.add_argument("--config", "-c", default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tf32", action="store_true")
    for name in SETTINGS:
        if name != "tf32":
            parser.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=None)
    return parser


def parse_grid(args: list[str]) -> tuple[Any, Any]:
    """``run``'s grid options → ``(SweepSpec, Settings)`` through ``measure.plan.build_plan`` (one place for
    presets and option values)."""
    from pathlib import Path

    from rnnbench.measure.plan import AXES, build_plan, read_config

    try:
        ns, unknown = grid_parser().parse_known_args(args)
    except argparse.ArgumentError as exc:
        raise ConfigError(f"grid options {args}: {exc}") from None
    if unknown:
        raise ConfigError(
            f"grid option(s) {' '.join(unknown)} are unknown to the paired mode's workers: check the spelling "
            "against 'rnnbench run --help' (e.g. --hidden, which has no short form), or pass --method rounds "
            "for run options the workers do not support (--shard, --resume)."
        )
    axes = {name: getattr(ns, name) for name in AXES}
    if ns.bidirectional:
        axes["directions"] = [*(axes.get("directions") or []), "2"]
    settings: dict[str, float | None] = {"tf32": 1.0 if ns.tf32 else None}
    config = read_config(Path(ns.config)) if ns.config else {}
    return build_plan(ns.preset, config, axes, settings, ns.seed)


def largest_threads(args: list[str]) -> int | None:
    """The largest thread count a side's grid options ask for, read as ``build`` reads them (presets and
    config files included); ``None`` for torch's default (0: every core) or options ``build`` would refuse.
    The coordinator asks this to decide whether both sides may build at once."""
    try:
        spec, _ = parse_grid(args)
    except (ConfigError, ValueError):
        return None
    if not spec.threads or min(spec.threads) <= 0:
        return None
    return max(spec.threads)


@dataclass
class _Built:
    case: Case
    threads: int
    prepared: Any


class Worker:
    """The state of one serving worker: its built cases, by key. The clock is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.cases: dict[str, _Built] = {}

    # ---- requests ----------------------------------------------------------------------------------------
    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        """One request → its reply. Raises nothing: a failure is ``{"ok": false, "error": …}``."""
        op = msg.get("op")
        if msg.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
            return {
                "ok": False,
                "protocol": PROTOCOL_VERSION,
                "error": f"this worker speaks protocol {PROTOCOL_VERSION}, not {msg.get('protocol')}",
            }
        try:
            if op == "hello":
                from rnnbench import __version__

                return {"ok": True, "protocol": PROTOCOL_VERSION, "rnnbench": __version__, "pid": os.getpid()}
            if op == "build":
                return self.build(list(msg.get("args") or []), msg.get("cases"))
            if op == "block":
                return self.block(str(msg["case"]), int(msg["iters"]), float(msg.get("inject", 0.0)))
            if op == "quit":
                return {"ok": True}
            return {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as exc:  # the worker reports and goes on; the coordinator decides
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}

    def build(self, args: list[str], keys: list[str] | None) -> dict[str, Any]:
        """Build and warm every case of the grid (or the listed keys); report each with its status."""
        import torch

        from rnnbench.measure.env import capture, fingerprint_keys
        from rnnbench.measure.numerics import set_tf32
        from rnnbench.measure.sweep import expand_grid, resolve_devices

        spec, settings = parse_grid(args)
        spec, _ = resolve_devices(spec)
        if spec.threads == (0,):
            spec = spec.with_axes(threads=(torch.get_num_threads(),))
        set_tf32(settings.tf32)
        cases = expand_grid(spec).cases
        wanted = set(keys) if keys is not None else None
        env = capture()
        out = []
        prints: dict[str, Any] = {}
        for case in cases:
            threads = case.threads or torch.get_num_threads()
            key = worker_key(case.case_id, threads)
            if wanted is not None and key not in wanted:
                continue
            out.append(self._build_one(case, threads, key))
            for device in spec.device:
                prints.setdefault(fingerprint_slot(device, threads), fingerprint_keys(env, device, threads))
        return {"ok": True, "cases": out, "fingerprint_keys": prints}

    def _build_one(self, case: Case, threads: int, key: str) -> dict[str, Any]:
        import torch

        from rnnbench.errors import UnsupportedError
        from rnnbench.measure.devices import resolve_device
        from rnnbench.measure.runner import prepare, use_device

        labels = {name: getattr(case, name) for name in Case.field_names() if name != "threads"}
        entry: dict[str, Any] = {
            "key": key, "case_id": case.case_id, "threads": threads, "labels": labels, "status": "ok",
            "message": "", "tokens_per_iter": math.nan, "iter_s": math.nan,
        }  # fmt: skip
        try:
            torch.set_num_threads(threads)
            device = resolve_device(case.device)
            use_device(device)
            labels["device"] = device
            prepared = prepare(case, device)
            self.cases[key] = _Built(case, threads, prepared)
            entry["iter_s"] = self._warm(key)
            entry["tokens_per_iter"] = prepared.tokens_per_iter
        except UnsupportedError as exc:
            entry.update(status="unsupported", message=str(exc))
            self.cases.pop(key, None)
        except Exception as exc:
            oom = "out of memory" in str(exc).lower()
            entry.update(status="oom" if oom else "error", message=f"{type(exc).__name__}: {exc}"[:500])
            self.cases.pop(key, None)
        return entry

    def _warm(self, key: str) -> float:
        """Untimed iterations until :data:`WARM_S` and :data:`WARM_ITERS` are both reached; the fastest of
        the last three iterations is the per-iteration estimate the coordinator sizes blocks with."""
        times: list[float] = []
        start = self.clock()
        while len(times) < WARM_ITERS or self.clock() - start < WARM_S:
            times.append(self._timed(key, 1, 0.0))
        return min(times[-3:])

    def block(self, key: str, iters: int, inject: float) -> dict[str, Any]:
        if key not in self.cases:
            return {"ok": False, "error": f"case {key} is not built here"}
        if iters < 1 or not 0 <= inject < 10:
            return {"ok": False, "error": f"bad block: iters={iters}, inject={inject}"}
        return {"ok": True, "seconds": self._timed(key, iters, inject), "iters": iters}

    def _timed(self, key: str, iters: int, inject: float) -> float:
        """``iters`` iterations; the sum of their timed parts (a backward case's untimed set-up excluded), then
        — with ``inject`` — a busy wait of ``inject`` × that sum, counted in: the block's time is stretched by
        (1 + inject). One wait per block, not per iteration: a wait of a few microseconds overshoots by one
        clock read (×1.062 instead of ×1.05 at 10 µs iterations), one of milliseconds by a negligible
        fraction. GC off throughout."""
        import torch

        built = self.cases[key]
        torch.set_num_threads(built.threads)
        timed = built.prepared.timed
        clock = self.clock
        total = 0.0
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(iters):
                if timed.setup is not None:
                    timed.setup()
                    if timed.sync is not None:
                        timed.sync()
                start = clock()
                timed.run()
                if timed.sync is not None:
                    timed.sync()
                total += clock() - start
            if inject > 0:
                extra = total * inject
                start = clock()
                while clock() - start < extra:
                    pass
                total += clock() - start
        finally:
            if gc_was_enabled:
                gc.enable()
        return total


def serve(stdin: IO[str], stdout: IO[str], worker: Worker | None = None) -> int:
    """Answer requests until ``quit`` or the end of stdin (the coordinator died): returns the exit status."""
    worker = worker or Worker()
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            reply: dict[str, Any] = {"ok": False, "error": f"not a JSON object: {exc}"}
            msg = {}
        else:
            reply = worker.handle(msg)
        stdout.write(json.dumps(reply, allow_nan=True) + "\n")
        stdout.flush()
        if msg.get("op") == "quit":
            return 0
    return 0


def serve_stdio() -> int:
    """Serve on this process's stdin/stdout, keeping stdout for replies only (fd 1 → stderr for the rest).
    Ctrl-C (the terminal signals the whole process group) ends it quietly: the coordinator reports."""
    import signal

    protocol_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator ends its workers itself
    try:
        return serve(sys.stdin, protocol_out)
    except BrokenPipeError:
        return 0
