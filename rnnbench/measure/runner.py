"""Runs cases: builds each one, times the architectures of a shape interleaved, records what ran and how
busy the machine was, and appends rows after every shape. Failures become rows, never the end of a sweep.

The library never prints: progress goes to an ``OnProgress`` callback as ``core.progress.ProgressEvent``
values (``start``/``done`` per case, ``round_start``/``round_done`` per round); the CLI renders them and a
worker process forwards them to its parent as JSON lines.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rnnbench.core import flops
from rnnbench.core.progress import OnProgress, ProgressEvent
from rnnbench.core.spec import Case, Settings
from rnnbench.core.values import now_iso
from rnnbench.core.vocab import DEFAULT_IMPL
from rnnbench.errors import DeviceUnavailableError, UnsupportedError
from rnnbench.measure.machine_load import between, snapshot
from rnnbench.measure.numerics import math_name, set_tf32
from rnnbench.measure.observe import noting_warnings, observing_dtype
from rnnbench.measure.priming import prime_device
from rnnbench.measure.timing import Timed, TimingResult, time_interleaved, time_one
from rnnbench.results.folder import RunFolder
from rnnbench.stats.intervals import iqr, median_ci


# ---- preparing one case -------------------------------------------------------------------------------------
@dataclass
class Prepared:
    case: Case
    device: str
    timed: Timed
    once: Callable[[], object]
    """One complete iteration (setup + run) for the profiler and the memory measurement."""
    params: int
    flops_per_iter: int
    tokens_per_iter: int
    keep: list[Any] = field(default_factory=list)
    workload: Any = None
    """The ``Workload`` (model + inputs + loss), for callers that wrap the model (DDP)."""
    network: Any = None
    """The recurrent stack (a ``RecurrentNet``), whose output dtype is the dtype the case computed in."""


def use_device(device: str) -> None:
    """Make ``device`` the current CUDA device of this process (a no-op on the CPU).

    CUDA events record on the *current* device's stream and a bare ``torch.cuda.synchronize()`` waits for the
    current device: for ``--device cuda:1``, or any pool worker but the first, measuring without this times an
    idle GPU 0 (and opens a context on it)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.set_device(torch.device(device))


def sync_fn(device: str) -> Callable[[], None] | None:
    """What the timer calls to wait for the device (``torch.cuda.synchronize(device)``); None on the CPU."""
    if not device.startswith("cuda"):
        return None
    import torch

    target = torch.device(device)
    return lambda: torch.cuda.synchronize(target)


def _events_fn(device: str) -> Callable[[], tuple[object, object]] | None:
    """A pair of timing events recorded on ``device``'s current stream: created with ``device`` made current,
    so they belong to it whatever the process's current device was (``use_device`` sets it per group too)."""
    if not device.startswith("cuda"):
        return None
    import torch

    target = torch.device(device)

    def events() -> tuple[object, object]:
        with torch.cuda.device(target):
            return torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    return events


def prepare(case: Case, device: str) -> Prepared:
    """Build the model and inputs of ``case`` on ``device`` and the callables its mode times.

    Raises ``UnsupportedError`` for a combination that cannot run (never a silent fallback).
    """
    import torch

    from rnnbench.measure.devices import device_type
    from rnnbench.measure.master import MasterWeights
    from rnnbench.measure.models.build import build_model, unsupported_reason
    from rnnbench.measure.models.probe import dtype_unsupported_reason
    from rnnbench.measure.workloads import build_workload

    reason = unsupported_reason(
        case.impl, mode=case.mode, device_type=device_type(device), dtype=case.dtype, arch=case.arch
    )
    reason = reason or dtype_unsupported_reason(case.impl, case.arch, case.mode, device, case.dtype)
    if reason:
        raise UnsupportedError(reason)
    if case.mode == "ddp-train":
        raise UnsupportedError(
            "ddp-train runs under torchrun, alone: "
            "torchrun --nproc-per-node P -m rnnbench run --mode ddp-train …"
        )
    config = case.model_config
    rnn = build_model(config, case.impl, seed=case.seed, device_type=device_type(device))
    work = build_workload(
        rnn,
        workload=case.workload,
        seq_len=case.seq_len,
        batch=case.batch_size,
        length_spread=case.length_spread,
        device=device,
        dtype=getattr(torch, case.dtype),
        seed=case.seed,
    )
    model = work.model
    params = (
        sum(p.numel() for p in model.parameters())
        if case.impl != "numpy"
        else flops.param_count(
            case.arch, case.input_size, case.hidden_size, case.num_layers, case.bidirectional
        )
    )
    # FLOPs count the steps the kernels execute (all B·T under masking); tokens/s counts the real tokens
    shape = (case.arch, case.input_size, case.hidden_size, case.num_layers, case.bidirectional)
    fwd = flops.forward_flops(*shape, work.executed_tokens) + work.extra_flops_fwd
    input_grad = case.workload == "classifier"  # the embedding's output needs a gradient
    bwd = (
        flops.backward_flops(*shape, work.executed_tokens, case.batch_size, input_requires_grad=input_grad)
        + 2 * work.extra_flops_fwd
    )
    sync, events = sync_fn(device), _events_fn(device)

    if case.mode == "inference":
        model.eval()

        def run_inference() -> object:
            with torch.inference_mode():
                return work.forward()

        timed = Timed(run_inference, sync=sync, events=events)
        return Prepared(
            case, device, timed, run_inference, params, fwd, work.tokens, workload=work, network=rnn
        )

    model.train()  # cuDNN's RNN backward needs train mode (pytorch#5878); dropout is 0 here
    if case.mode == "forward":
        timed = Timed(work.forward, sync=sync, events=events)
        return Prepared(case, device, timed, work.forward, params, fwd, work.tokens, workload=work, network=rnn)

    if case.mode == "backward":
        pending: list[torch.Tensor] = []

        def setup_backward() -> None:
            model.zero_grad(set_to_none=True)
            pending[:] = [work.loss(work.forward())]

        def run_backward() -> None:
            pending.pop().backward()

        def once_backward() -> None:
            setup_backward()
            run_backward()

        timed = Timed(run_backward, setup=setup_backward, sync=sync, events=events)
        return Prepared(case, device, timed, once_backward, params, bwd, work.tokens, [pending], work, rnn)

    # Half precision trains through float32 master weights: pure-fp16 Adam makes the weights NaN after one
    # step (measure.master), and NaN weights could change which kernels run while timed.
    weights = MasterWeights(model.parameters(), lambda ps: torch.optim.Adam(ps, lr=1e-4))

    def run_train() -> None:
        weights.zero_grad()
        work.loss(work.forward()).backward()
        weights.step()

    timed = Timed(run_train, sync=sync, events=events)
    return Prepared(case, device, timed, run_train, params, fwd + bwd, work.tokens, [weights], work, rnn)


# ---- what ran, and how much memory it took -----------------------------------------------------------------
@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """The profiler's C++ side logs to fd 2 (``profiler_start``/``stop``, allocator notes); keep the
    terminal clean while it runs."""
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def backend_from_ops(op_names: set[str], impl: str) -> str:
    """The kernel path that ran, read from the operators the profiler saw."""
    if any("cudnn_rnn" in n for n in op_names):
        return "cudnn"
    if any("miopen_rnn" in n for n in op_names):
        return "miopen"
    if any("mkldnn_rnn" in n for n in op_names):
        return "onednn"
    return {"native": "aten", "aten": "aten", "compiled": "compiled", "numpy": "numpy", "scan": "scan"}.get(
        impl, "python"
    )


def _peak_live_bytes(kineto_events: Any) -> int:
    """Peak of the running sum of allocation (+) and free (−) events, in time order."""
    memory = sorted(
        ((e.start_ns(), e.nbytes()) for e in kineto_events if e.name() == "[memory]"), key=lambda t: t[0]
    )
    live = peak = 0
    for _, nbytes in memory:
        live += nbytes
        peak = max(peak, live)
    return peak


@dataclass
class Inspection:
    """What one profiled iteration of a case showed."""

    backend: str
    peak_bytes: int | None
    compute_dtype: str | None
    """The dtype of the recurrent stack's output: the dtype the case really computed in (None: not seen)."""


def inspect_iteration(prepared: Prepared) -> Inspection:
    """Run one profiled iteration: the backend actually used, the peak memory in bytes and the dtype the
    recurrent stack computed in.

    CUDA: the caching allocator's peak above the level before the iteration. CPU: the peak of live bytes
    from the profiler's allocation/free events during the iteration (exact for allocations through
    PyTorch's CPU allocator; NumPy's own buffers are not seen, so ``numpy`` reports none).
    """
    import torch
    from torch.autograd import profiler as autograd_profiler

    device = prepared.device
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    seen: list[str] = []
    # The autograd-level profiler: ``torch.profiler.profile`` would first import torch._inductor (~2 s).
    with (
        observing_dtype(prepared.network, seen),
        _quiet_native_stderr(),
        autograd_profiler.profile(profile_memory=not cuda) as prof,
    ):
        prepared.once()
        if cuda:
            torch.cuda.synchronize(device)
    names = {e.name for e in prof.function_events}
    backend = backend_from_ops(names, prepared.case.impl)
    if cuda:
        peak: int | None = int(torch.cuda.max_memory_allocated(device) - base)
    elif prepared.case.impl == "numpy":
        peak = None
    else:
        peak = _peak_live_bytes(prof.kineto_results.events()) if prof.kineto_results is not None else None
    return Inspection(backend, peak, seen[0] if seen else None)


# ---- calibration: the device's matrix-multiply peak ---------------------------------------------------------
def calibrate_matmul(device: str, dtype: str, settings: Settings) -> float:
    """The device's matrix-multiply peak in ``dtype`` with the current thread count, GFLOP/s: the denominator of
    ``peak_fraction``. The best of two square sizes (1024 and 2048 on CPU, 4096 and 8192 on CUDA), each timed by
    its median — one size alone can sit below the plateau. It is the rate *torch.matmul* reaches (its BLAS), so
    a fraction above 1 is possible and meaningful: the RNN kernel's GEMMs beat torch's dense matmul (seen
    here: oneDNN's LSTM against MKL's sgemm on an AMD CPU)."""
    import torch

    sizes: tuple[int, ...] = (4096, 8192) if device.startswith("cuda") else (1024, 2048)
    if settings.budget_s < 0.25:  # a smoke-test budget: one size, so a tiny run is not mostly calibration
        sizes = sizes[:1]
    torch_dtype = getattr(torch, dtype)
    quick = Settings(
        warmup_min_iters=2, warmup_max_s=0.5, min_block_s=settings.min_block_s, target_rel_ci=0.02,
        min_samples=5, max_samples=30, budget_s=min(settings.budget_s, 0.75),
    )  # fmt: skip
    best = 0.0
    for n in sizes:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
        b = torch.randn(n, n, generator=gen).to(device=device, dtype=torch_dtype)
        result = time_one(Timed(functools.partial(torch.matmul, a, b), sync=sync_fn(device)), quick)
        best = max(best, 2 * n**3 / statistics.median(result.samples_s) / 1e9)
        del a, b
    return best


# ---- one round -------------------------------------------------------------------------------------------


def _base_row(case: Case, run_id: str, round_index: int, device: str, threads: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        name: getattr(case, name) for name in Case.field_names() if name not in ("threads", "device")
    }
    row.update(
        run_id=run_id, case_id=case.case_id, round=round_index, device=device, threads=threads,
        started_at=now_iso(),
    )  # fmt: skip
    return row


def _status_row(base: dict[str, Any], status: str, message: str) -> dict[str, Any]:
    return {**base, "status": status, "message": message, "n_samples": 0}


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _release_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _ok_row(
    base: dict[str, Any],
    prepared: Prepared,
    timing: TimingResult,
    seen: Inspection,
    peak_gflops: float | None,
) -> dict[str, Any]:
    samples = timing.samples_s
    med = statistics.median(samples)
    ci = median_ci(samples)
    gflops = prepared.flops_per_iter / med / 1e9
    compile_s = timing.first_iter_s - med if prepared.case.impl == "compiled" else None
    return {
        **base,
        "status": "ok",
        "message": f"stopped by {timing.stopped_by}",
        "n_samples": len(samples),
        "median_s": med,
        "mean_s": statistics.fmean(samples),
        "min_s": min(samples),
        "iqr_s": iqr(samples),
        "ci_low_s": ci.low,
        "ci_high_s": ci.high,
        "rel_ci": ci.half_width / med,
        "first_iter_s": timing.first_iter_s,
        "compile_s": compile_s,
        "cuda_event_median_s": statistics.median(timing.event_samples_s) if timing.event_samples_s else None,
        "seq_per_s": prepared.case.batch_size / med,
        "tokens_per_s": prepared.tokens_per_iter / med,
        "tokens_per_iter": prepared.tokens_per_iter,
        "flops_per_iter": prepared.flops_per_iter,
        "gflop_per_s": gflops,
        "peak_gflop_per_s": peak_gflops,
        "peak_fraction": gflops / peak_gflops if peak_gflops else None,
        "params": prepared.params,
        "peak_memory_bytes": seen.peak_bytes,
        "backend": seen.backend,
        "compute_dtype": seen.compute_dtype,
    }


@dataclass
class RoundContext:
    """What a round needs besides its cases."""

    folder: RunFolder
    run_id: str
    round_index: int
    settings: Settings
    fingerprints: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, float] = field(default_factory=dict)


def _family(case: Case) -> str:
    """The grouping name of a case's implementation: each architecture's default (``core.vocab.DEFAULT_IMPL``:
    native for LSTM/GRU/RNN, scan for minGRU/minLSTM) is one family, so the default grid times all of a shape's
    architectures interleaved — drift then hits the scan and cuDNN/oneDNN alike."""
    return "default" if DEFAULT_IMPL.get(case.arch) == case.impl else case.impl


def group_by_shape(cases: list[Case]) -> list[list[Case]]:
    """Consecutive cases sharing a shape key form one run; within it, the cases of one implementation family
    (:func:`_family`) form one interleaved group, in order of first appearance."""
    groups: list[list[Case]] = []
    run: list[Case] = []

    def flush() -> None:
        families: dict[str, list[Case]] = {}
        for member in run:
            families.setdefault(_family(member), []).append(member)
        groups.extend(families.values())

    for case in cases:
        if run and run[0].shape_key != case.shape_key:
            flush()
            run = []
        run.append(case)
    if run:
        flush()
    return groups


def _calibration_key(device: str, dtype: str, threads: int) -> str:
    return f"{device}/{dtype}/threads={threads}"


def run_group(group: list[Case], ctx: RoundContext, on_progress: OnProgress) -> list[dict[str, Any]]:
    """Measure one group (the architectures of one shape) interleaved; returns summary rows and appends
    summary and sample rows to the folder. Each case's failure is its own row.

    Progress: a ``start`` event per case as it is built, and a ``done`` event per case (its ``status``, the
    row in ``values["row"]``) only once the group's rows are on disk, so a watcher never counts a case that a
    kill would lose."""
    import torch

    from rnnbench.measure.devices import resolve_device

    first = group[0]
    threads = first.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        device = resolve_device(first.device)
    except DeviceUnavailableError as exc:
        rows = [
            _status_row(_base_row(c, ctx.run_id, ctx.round_index, first.device, threads), "skipped", str(exc))
            for c in group
        ]
        _write(ctx, rows, {})
        return rows

    use_device(device)
    rows_by_case: dict[Case, dict[str, Any]] = {}
    prepared: list[Prepared] = []
    notes: dict[Case, list[str]] = {case: [] for case in group}
    for case in group:
        on_progress(ProgressEvent("start", label=case.label(), subject=case))
        base = _base_row(case, ctx.run_id, ctx.round_index, device, threads)
        base["fingerprint"] = ctx.fingerprints.get(device)
        try:
            with noting_warnings(notes[case]):
                prepared.append(prepare(case, device))
        except UnsupportedError as exc:
            rows_by_case[case] = _status_row(base, "unsupported", str(exc))
        except Exception as exc:
            if _is_oom(exc):
                _release_memory(device)
                rows_by_case[case] = _status_row(base, "oom", f"out of memory while building: {exc}"[:500])
            else:
                rows_by_case[case] = _status_row(base, "error", f"{type(exc).__name__}: {exc}"[:500])

    samples: dict[Case, TimingResult] = {}
    if prepared:
        # the process's one-time set-up, before any cold iteration (train groups: the optimiser's too)
        prime_device(device, first.dtype, optimizer=first.mode == "train")
        key = _calibration_key(device, first.dtype, threads)
        if key not in ctx.calibration:
            try:
                ctx.calibration[key] = calibrate_matmul(device, first.dtype, ctx.settings)
            except Exception:  # a dtype without matmul support here: no peak, not a failed case
                ctx.calibration[key] = math.nan
        peak = ctx.calibration[key]
        before = snapshot()
        timings: list[TimingResult] | None = None
        try:
            timings = time_interleaved([p.timed for p in prepared], ctx.settings)
        except Exception:
            # One implementation failing inside the interleaved loop: time the rest one by one so a single
            # bad case does not take its partners down with it.
            timings = None
        load = between(before, snapshot())
        for i, prep in enumerate(prepared):
            case = prep.case
            base = _base_row(case, ctx.run_id, ctx.round_index, device, threads)
            base["fingerprint"] = ctx.fingerprints.get(device)
            try:
                timing = timings[i] if timings is not None else time_one(prep.timed, ctx.settings)
                if timings is None:
                    load = between(before, snapshot())
                with noting_warnings(notes[case]):
                    seen = inspect_iteration(prep)
                row = _ok_row(base, prep, timing, seen, None if math.isnan(peak) else peak)
                if notes[case]:
                    row["message"] = "; ".join([row["message"], *notes[case]])
                samples[case] = timing
            except Exception as exc:
                if _is_oom(exc):
                    _release_memory(device)
                    row = _status_row(base, "oom", f"out of memory: {exc}"[:500])
                else:
                    row = _status_row(base, "error", f"{type(exc).__name__}: {exc}"[:500])
            row.update(
                load_avg=load.load_avg,
                other_cpu_frac=load.other_cpu_frac,
                steal_frac=load.steal_frac,
                busy=load.busy(ctx.settings.busy_threshold),
            )
            rows_by_case[case] = row
        del prepared
        _release_memory(device)

    rows = [rows_by_case[c] for c in group]
    _write(ctx, rows, samples)
    for case, row in zip(group, rows, strict=True):
        on_progress(
            ProgressEvent("done", label=_label_of(row), status=row["status"], values={"row": row}, subject=case)
        )
    return rows


def _label_of(row: dict[str, Any]) -> str:
    fields = {k: row[k] for k in Case.field_names() if k in row and k != "device"}
    return Case(**fields, device="cpu").label().replace(" cpu ", f" {row['device']} ", 1)


def _write(ctx: RoundContext, rows: list[dict[str, Any]], samples: dict[Case, TimingResult]) -> None:
    """Samples first, then the summary rows: a summary row is the commit mark that resume trusts."""
    sample_rows = []
    for case, timing in samples.items():
        row0 = next(r for r in rows if r["case_id"] == case.case_id)
        for i, seconds in enumerate(timing.samples_s):
            sample_rows.append(
                {
                    "run_id": ctx.run_id, "case_id": case.case_id, "round": ctx.round_index,
                    "arch": case.arch, "impl": case.impl, "mode": case.mode, "device": row0["device"],
                    "dtype": case.dtype, "threads": row0["threads"], "sample": i,
                    "block_iters": timing.block_iters, "seconds": seconds,
                    "cuda_event_s": timing.event_samples_s[i] if i < len(timing.event_samples_s) else None,
                }
            )  # fmt: skip
    for row in rows:
        row["math"] = math_name(row["dtype"], ctx.settings.tf32)  # the policy every float32 case ran under
    ctx.folder.table("samples").append(sample_rows)
    ctx.folder.table("summary").append(rows)


def done_keys(folder: RunFolder) -> set[tuple[str, int, int]]:
    """``(case_id, threads, round)`` of every case already in ``summary.csv``."""
    keys = set()
    for row in folder.table("summary").read_rows():
        keys.add((row["case_id"], int(row["threads"]), int(row["round"])))
    return keys


def drop_orphan_samples(folder: RunFolder) -> int:
    """Remove sample rows whose case has no summary row (a kill between the two appends). Returns count."""
    keys = {(k[0], k[1], k[2]) for k in done_keys(folder)}
    table = folder.table("samples")
    rows = table.read_rows()
    kept = [r for r in rows if (r["case_id"], int(r["threads"]), int(r["round"])) in keys]
    if len(kept) != len(rows):
        table.rewrite(kept)
    return len(rows) - len(kept)


def resolved_threads(case: Case) -> int:
    import torch

    return case.threads or torch.get_num_threads()


def run_round(cases: list[Case], ctx: RoundContext, on_progress: OnProgress) -> list[dict[str, Any]]:
    """Run every case of ``cases`` not already done in this round; returns the new summary rows.

    Brackets the round with ``round_start`` (``done`` = round index, ``total`` = its cases, ``values["todo"]``
    = those still to run) and ``round_done``."""
    set_tf32(ctx.settings.tf32)  # before any case is built or the matmul peak calibrated: one policy
    done = done_keys(ctx.folder)
    todo = [c for c in cases if (c.case_id, resolved_threads(c), ctx.round_index) not in done]
    on_progress(
        ProgressEvent("round_start", done=ctx.round_index, total=len(cases), values={"todo": len(todo)})
    )
    rows: list[dict[str, Any]] = []
    for group in group_by_shape(todo):
        rows += run_group(group, ctx, on_progress)
    on_progress(ProgressEvent("round_done", done=ctx.round_index, total=len(cases)))
    return rows
