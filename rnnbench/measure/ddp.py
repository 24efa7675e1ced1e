"""``rnnbench run --mode ddp-train`` under ``torchrun``: DistributedDataParallel training-step throughput for
LSTM vs GRU (gloo on CPU, NCCL on GPU).

Per case, on every rank: warm-up steps, then a fixed number of timed DDP steps (a fixed count keeps the ranks'
all-reduces in lockstep — an adaptive stop could differ per rank and deadlock), then the same number of steps
under ``no_sync()`` (no gradient all-reduce). Recorded per rank: median step time, the *exposed* all-reduce
share ``1 − t_no_sync / t_sync`` (communication the backward pass did not hide), and the scaling efficiency
against one process: rank 0 first times the same per-rank batch without DDP while the others wait, so
efficiency = ``t_single / t_ddp`` (weak scaling: P× the data in the same time would be 1.0). Rank 0 writes
``summary.csv`` (one row per case: the slowest rank's step time, global throughput) and ``ddp.csv`` (one row
per rank). A rank that fails prints ``Error: ddp-train stopped: rank R: …`` and exits at once (code 6); its
peers' pending collectives then fail (gloo) or torchrun ends them (NCCL), so every rank stops with a message
and none hangs.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from rnnbench.core.progress import OnProgress, ProgressEvent
from rnnbench.core.spec import Case, Settings, SweepSpec
from rnnbench.core.values import now_iso
from rnnbench.errors import EXIT_BENCHMARK_FAILED, ConfigError
from rnnbench.measure.numerics import math_name, set_tf32
from rnnbench.results.folder import RunFolder, check_run_id
from rnnbench.stats.intervals import iqr, median_ci

FAIL_RANK_ENV = "RNNBENCH_DDP_FAIL_RANK"
"""Test hook: the rank named here raises inside its first DDP step, to exercise the failure path."""


SHAPE_FIELDS = ("arch", "impl", "device", "dtype", "seq_len", "batch_size", "input_size", "hidden_size",
                "num_layers", "bidirectional", "threads")  # fmt: skip


def in_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def process_group_kwargs(device: str) -> dict[str, Any]:
    """``init_process_group`` arguments binding this rank to its GPU (``device_id``, torch ≥ 2.3): without
    it, recent torch warns that NCCL must guess the device, and barriers may use the wrong one (a hang on
    some drivers). Empty on the CPU (gloo) and on a torch that does not take the argument."""
    import inspect

    import torch.distributed as dist

    accepted = inspect.signature(dist.init_process_group).parameters
    if not device.startswith("cuda") or "device_id" not in accepted:
        return {}
    import torch

    return {"device_id": torch.device(device)}


def barrier_kwargs(device: str) -> dict[str, Any]:
    """``dist.barrier`` arguments naming this rank's GPU for NCCL (``device_ids``); empty for gloo."""
    if not device.startswith("cuda"):
        return {}
    return {"device_ids": [int(device.split(":")[1]) if ":" in device else 0]}


def _steps_for(single_s: float, settings: Settings) -> int:
    return int(min(200, max(10, settings.budget_s / max(single_s, 1e-6))))


def _time_steps(step: Any, n: int, sync: Any) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def run_ddp(
    spec: SweepSpec,
    settings: Settings,
    output: Path,
    run_id: str | None,
    command: list[str],
    on_progress: OnProgress,
) -> Path | None:
    """Run every case of ``spec`` (all ``ddp-train``) on this rank; rank 0 returns the run folder.

    Every rank reports ``start``/``done`` events for its cases; showing them from rank 0 only is the caller's
    choice (the library does not know which rank owns the terminal)."""
    import torch
    import torch.distributed as dist

    from rnnbench.measure.devices import device_type
    from rnnbench.measure.env import capture, fingerprint, fingerprint_keys
    from rnnbench.measure.runner import prepare, sync_fn

    if not in_torchrun():
        raise ConfigError(
            "--mode ddp-train needs torchrun: torchrun --nproc-per-node 2 -m rnnbench run --mode ddp-train …"
        )
    if set(spec.mode) != {"ddp-train"}:
        raise ConfigError("--mode ddp-train cannot be mixed with other modes in one run; run them separately.")
    if run_id is not None:
        check_run_id(run_id)
    # The numeric policy before anything is built or captured, as a single-process run sets it: without this,
    # float32 DDP ran cuDNN with its TF32 default while the rows and the fingerprint said IEEE.
    set_tf32(settings.tf32)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    kind = device_type(spec.device[0])
    device = f"cuda:{local_rank}" if kind == "cuda" else "cpu"
    backend = "nccl" if kind == "cuda" else "gloo"
    if kind == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=_dt.timedelta(seconds=300), **process_group_kwargs(device))
    folder: RunFolder | None = None

    def _terminated(signum: int, frame: Any) -> None:  # torchrun ends the survivors with SIGTERM
        print(
            f"Error: ddp-train stopped: rank {rank} was ended by torchrun (signal {signum}) after another rank "
            "failed: see its Error line",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminated)
    try:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        default_threads = max(1, cores // local_world)  # never oversubscribe: OpenMP spins when it is
        cases = [
            Case(**{**{f: getattr(c, f) for f in Case.field_names()}, "device": device,
                    "threads": c.threads or default_threads})
            for c in spec.expand()
        ]  # fmt: skip
        shared: list[Any] = [run_id or f"{_dt.datetime.now():%Y%m%d-%H%M%S}-ddp{world}"]
        dist.broadcast_object_list(shared, src=0)
        run_id = str(shared[0])
        if rank == 0:
            env = capture()
            keys = fingerprint_keys(env, device, cases[0].threads if cases else 0)
            folder = RunFolder.create(
                output,
                {
                    "kind": "run", "command": command, "started_at": now_iso(), "status": "running", "env": env,
                    "fingerprint_keys": {device: keys},
                    "fingerprint": {device: fingerprint(keys)}, "spec": spec.to_dict(),
                    "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
                    "rounds": 1, "calibration": {}, "grid_cases": len(cases),
                    "ddp": {"world_size": world, "backend": backend, "local_world_size": local_world},
                },
                run_id=run_id,
            )  # fmt: skip
        dist.barrier(**barrier_kwargs(device))
        for case in cases:
            on_progress(ProgressEvent("start", label=case.label(), subject=case))
            torch.set_num_threads(case.threads)
            math = math_name(case.dtype, settings.tf32)
            try:
                record = _measure(case, device, settings, rank, world, dist, prepare, sync_fn)
            except Exception as exc:
                peer = "peer" in str(exc).lower() or "connection" in str(exc).lower()
                hint = " (another rank stopped first: see its Error line)" if peer else ""
                _abort(folder, run_id, case, f"rank {rank}{hint}: {type(exc).__name__}: {exc}"[:500], math)
            outcomes: list[Any] = [None] * world
            dist.all_gather_object(outcomes, {"rank": rank, "status": "ok", "message": "", **record})
            if rank == 0 and folder is not None:
                _write(folder, run_id, case, outcomes, backend, world, math)
            on_progress(ProgressEvent("done", label=case.label(), status="ok", subject=case))
        if folder is not None:
            folder.update_metadata(status="complete", finished_at=now_iso())
        dist.barrier(**barrier_kwargs(device))
        return folder.path if folder is not None else None
    except BaseException:
        if folder is not None:
            folder.mark("failed")
        raise
    finally:
        if folder is not None:
            folder.release()  # rank 0 owned the folder from its creation
        if dist.is_initialized():
            # DDP's reducer sits in reference cycles that only the collector frees; freed after the process
            # group, at interpreter exit, its gloo thread can end the rank with "terminate called without an
            # active exception" (seen once, rank 1, after every case had finished). Free it first.
            gc.collect()
            dist.destroy_process_group()


def _abort(folder: RunFolder | None, run_id: str, case: Case, message: str, math: str) -> NoReturn:
    """A rank that fails leaves at once: its peers may be inside a collective it will never join, so waiting
    for agreement would deadlock. Its exit makes the peers' collectives fail (gloo) or makes torchrun end them
    (NCCL); each prints its own ``Error:`` line and exits with the benchmark-failed code. Rank 0 records an
    ``error`` row and marks the run failed first."""
    if folder is not None:
        with contextlib.suppress(Exception):
            row = {f: getattr(case, f) for f in Case.field_names()}
            folder.table("summary").append(
                [{**row, "run_id": run_id, "case_id": case.case_id, "round": 0, "status": "error",
                  "message": message, "n_samples": 0, "started_at": now_iso(), "math": math}]
            )  # fmt: skip
            folder.mark("failed")
            folder.release()
    print(f"Error: ddp-train stopped: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_BENCHMARK_FAILED)


def _measure(case: Case, device: str, settings: Settings, rank: int, world: int, dist: Any,
             prepare: Any, sync_fn: Any) -> dict[str, Any]:  # fmt: skip
    """Single-process baseline on rank 0, then lockstep DDP steps with and without gradient all-reduce."""
    from dataclasses import replace

    import torch
    from torch.nn.parallel import DistributedDataParallel

    from rnnbench.measure.master import MasterWeights
    from rnnbench.measure.observe import observing_dtype

    sync = sync_fn(device) or (lambda: None)
    single_s = float("nan")
    plain = replace(case, mode="train")
    if rank == 0:
        baseline = prepare(plain, device)
        for _ in range(3):
            baseline.timed.run()
        single_s = statistics.median(_time_steps(baseline.timed.run, 10, sync))
        del baseline
    shared = [single_s]
    dist.broadcast_object_list(shared, src=0)
    steps = _steps_for(float(shared[0]), settings)
    dist.barrier(**barrier_kwargs(device))

    prepared = prepare(plain, device)
    work = prepared.workload
    device_ids = [int(device.split(":")[1])] if ":" in device else None
    ddp_model = DistributedDataParallel(work.model, device_ids=device_ids)
    # half precision steps through float32 masters, as single-process train mode does (measure.master)
    optimizer = MasterWeights(ddp_model.parameters(), lambda ps: torch.optim.Adam(ps, lr=1e-4))

    def forward_loss(model: Any) -> Any:
        return work.loss(model(*work.inputs))

    fail_here = os.environ.get(FAIL_RANK_ENV) == str(rank)

    def step() -> None:
        if fail_here:
            raise RuntimeError("injected failure (RNNBENCH_DDP_FAIL_RANK)")
        optimizer.zero_grad()
        forward_loss(ddp_model).backward()
        optimizer.step()

    def step_no_sync() -> None:
        optimizer.zero_grad()
        with ddp_model.no_sync():
            forward_loss(ddp_model).backward()
        optimizer.step()

    seen: list[str] = []
    with observing_dtype(prepared.network, seen):  # the dtype that ran, as single-process rows record it
        step()
    for _ in range(2):
        step()
    synced = _time_steps(step, steps, sync)
    for _ in range(2):
        step_no_sync()
    local = _time_steps(step_no_sync, steps, sync)
    med, med_local = statistics.median(synced), statistics.median(local)
    return {
        "steps": steps,
        "samples": synced,
        "step_median_s": med,
        "step_iqr_s": iqr(synced),
        "nosync_median_s": med_local,
        "allreduce_frac": max(0.0, 1 - med_local / med),
        "single_median_s": float(shared[0]),
        "tokens": prepared.tokens_per_iter,
        "params": prepared.params,
        "flops": prepared.flops_per_iter,
        "compute_dtype": seen[0] if seen else None,
    }


def _write(folder: RunFolder, run_id: str, case: Case, outcomes: list[dict[str, Any]], backend: str,
           world: int, math: str) -> None:  # fmt: skip
    """Rank 0: one ``ddp.csv`` row per rank and one ``summary.csv`` row per case."""
    shape = {f: getattr(case, f) for f in SHAPE_FIELDS}
    failed = [o for o in outcomes if o["status"] != "ok"]
    slowest = max((o for o in outcomes if o["status"] == "ok"), key=lambda o: o["step_median_s"], default=None)
    rows = []
    for o in outcomes:
        ok = o["status"] == "ok"
        eff = o["single_median_s"] / slowest["step_median_s"] if ok and slowest else None
        rows.append({
            "run_id": run_id, "case_id": case.case_id, **shape, "backend": backend, "world_size": world,
            "rank": o["rank"], "status": o["status"], "message": o["message"],
            **({k: o[k] for k in ("steps", "step_median_s", "step_iqr_s", "nosync_median_s", "allreduce_frac")}
               if ok else {}),
            "single_median_s": outcomes[0].get("single_median_s") if ok else None,
            "scaling_efficiency": eff,
            "global_tokens_per_s": world * o["tokens"] / slowest["step_median_s"] if ok and slowest else None,
        })  # fmt: skip
    folder.table("ddp").append(rows)
    base = {f: getattr(case, f) for f in Case.field_names()}
    row: dict[str, Any] = {
        **base, "run_id": run_id, "case_id": case.case_id, "round": 0, "started_at": now_iso(),
        "backend": f"ddp-{backend}", "math": math,
    }  # fmt: skip
    if failed or slowest is None:
        row.update(status="error", message=failed[0]["message"] if failed else "no rank finished", n_samples=0)
    else:
        per_step = [max(vals) for vals in zip(*(o["samples"] for o in outcomes), strict=True)]
        med = statistics.median(per_step)
        ci = median_ci(per_step)
        tokens = world * slowest["tokens"]
        exposed = statistics.median(o["allreduce_frac"] for o in outcomes)
        efficiency = outcomes[0]["single_median_s"] / slowest["step_median_s"]
        row.update(
            status="ok",
            message=f"world_size={world}; exposed all-reduce {exposed:.0%}; scaling efficiency {efficiency:.2f}",  # noqa: E501
            n_samples=len(per_step), median_s=med, mean_s=statistics.fmean(per_step), min_s=min(per_step),
            iqr_s=iqr(per_step), ci_low_s=ci.low, ci_high_s=ci.high, rel_ci=ci.half_width / med,
            seq_per_s=world * case.batch_size / med, tokens_per_s=tokens / med, tokens_per_iter=tokens,
            flops_per_iter=world * slowest["flops"], gflop_per_s=world * slowest["flops"] / med / 1e9,
            params=slowest["params"],
            compute_dtype=_dtypes_seen(outcomes),
        )  # fmt: skip
        folder.table("samples").append(
            {"run_id": run_id, "case_id": case.case_id, "round": 0, "arch": case.arch, "impl": case.impl,
             "mode": case.mode, "device": case.device, "dtype": case.dtype, "threads": case.threads,
             "sample": i, "block_iters": 1, "seconds": seconds}
            for i, seconds in enumerate(per_step)
        )  # fmt: skip
    folder.table("summary").append([row])


def _dtypes_seen(outcomes: list[dict[str, Any]]) -> str | None:
    """The dtypes the ranks' recurrent stacks computed in (``compute_dtype``), or None where none was seen."""
    seen = sorted({str(o["compute_dtype"]) for o in outcomes if o.get("compute_dtype")})
    return ", ".join(seen) or None
