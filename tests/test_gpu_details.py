"""The timing details the GPU check's review found (issue 21), checked on the CPU: DDP runs under the run's
TF32 policy and records it, half-precision rows do not claim IEEE float32, rows record the dtype that ran and
cuDNN's weight-copy warning, the process's one-time set-up is paid before the first cold iteration, and the
fingerprint names the NVIDIA driver. What only a GPU shows is benchmarks/gpu_check.py's."""

from __future__ import annotations

import signal
import socket
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from rnnbench.core.spec import Case, Settings, SweepSpec
from rnnbench.measure import ddp, env, numerics, priming, runner
from rnnbench.measure.sweep import execute, start_run
from rnnbench.results import schema

FAST = Settings(budget_s=0.05, warmup_max_s=0.02, warmup_min_iters=1, min_block_s=0.001, min_samples=3)

pytestmark = pytest.mark.usefixtures("restore_tf32")


def _tiny(**axes: object) -> SweepSpec:
    base: dict[str, object] = {"seq_len": (5,), "hidden_size": (8,), "batch_size": (3,), "threads": (1,)}
    base.update(axes)
    return SweepSpec(**base)  # type: ignore[arg-type]


def _run(tmp_path: Path, spec: SweepSpec, settings: Settings = FAST) -> pd.DataFrame:
    run = start_run(spec, settings, 1, tmp_path, run_id="t")
    execute(run, lambda event: None)
    return pd.read_csv(run.folder.path / "summary.csv")


# ---- DDP under the run's policy ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("tf32", [False, True])
def test_ddp_train_runs_under_the_runs_tf32_policy_and_records_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tf32: bool
) -> None:
    """One rank of ``ddp-train`` in this process (gloo, world size 1), its measurement replaced by a probe of
    the flags: they must be the run's policy while it measures — the old code never set them, so fp32 DDP ran
    cuDNN with TF32 (torch's default) while its rows and fingerprint said IEEE — and its summary rows record
    ``math``, which the old rows lacked. The flags start opposite to the policy, so leaving them alone fails."""
    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    numerics.set_tf32(not tf32)
    seen: list[dict[str, bool]] = []

    def probe(case: Case, *args: Any) -> dict[str, Any]:
        seen.append(numerics.tf32_flags())
        return {"steps": 3, "samples": [0.01, 0.011, 0.012], "step_median_s": 0.011, "step_iqr_s": 0.001,
                "nosync_median_s": 0.01, "allreduce_frac": 0.09, "single_median_s": 0.01, "tokens": 15,
                "params": 100, "flops": 1000, "compute_dtype": "float32"}  # fmt: skip

    monkeypatch.setattr(ddp, "_measure", probe)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        path = ddp.run_ddp(
            _tiny(arch=("lstm", "gru"), mode=("ddp-train",)), Settings(budget_s=0.05, tf32=tf32), tmp_path,
            "d", ["test"], lambda event: None,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert seen == [{"cuda_matmul_tf32": tf32, "cudnn_tf32": tf32}] * 2
    assert path is not None
    summary = pd.read_csv(path / "summary.csv")
    assert list(summary["math"]) == ["tf32" if tf32 else "ieee"] * 2
    assert list(summary["compute_dtype"]) == ["float32"] * 2
    import json

    flags = json.loads((path / "metadata.json").read_text())["fingerprint_keys"]["cpu"]["numeric_flags"]
    assert flags["cudnn_tf32"] is tf32 and flags["cuda_matmul_tf32"] is tf32


# ---- what a row says about its math and dtype -------------------------------------------------------------
def test_half_precision_rows_do_not_claim_ieee_and_every_row_records_the_dtype_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "calibrate_matmul", lambda *args: 1.0)  # a bfloat16 GEMM peak is slow on CPUs
    df = _run(
        tmp_path,
        _tiny(arch=("gru",), dtype=("float32", "bfloat16")),
        Settings(**{**FAST.__dict__, "tf32": True}),
    )
    assert (df["status"] == "ok").all(), df[["impl", "dtype", "message"]]
    by = {r.dtype: (r.math, r.compute_dtype) for r in df.itertuples()}
    assert by == {"float32": ("tf32", "float32"), "bfloat16": ("bfloat16", "bfloat16")}  # not "tf32" in bf16
    assert numerics.math_name("float16", False) == "float16" and numerics.math_name("float32", False) == "ieee"


def test_the_observed_dtype_is_the_outputs_not_the_requested_one() -> None:
    """A stack that computes in another dtype than asked (autocast, a fallback) is recorded as it ran."""
    case = Case(arch="gru", impl="native", mode="inference", device="cpu", dtype="float32", seq_len=4,
                batch_size=2, input_size=8, hidden_size=8, threads=1)  # fmt: skip
    prepared = runner.prepare(case, "cpu")
    assert runner.inspect_iteration(prepared).compute_dtype == "float32"

    def half_output(module: Any, inputs: Any, output: Any) -> Any:
        return (output[0].to(torch.bfloat16), output[1])

    prepared.network.register_forward_hook(half_output)  # runs before the observer (registered first)
    assert runner.inspect_iteration(prepared).compute_dtype == "bfloat16"


WEIGHT_WARNING = (
    "RNN module weights are not part of single contiguous chunk of memory. This means they need to be compacted "
    "at every call, possibly greatly increasing memory usage. To compact weights again call flatten_parameters()."
)


def test_cudnns_weight_copy_warning_is_recorded_in_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cuDNN (``TORCH_WARN``) warns on every call when the weights are not one chunk: the row says so, whichever
    case comes first in the process; other warnings are shown as before, not swallowed."""
    real_prepare = runner.prepare

    def warning_prepare(case: Case, device: str) -> runner.Prepared:
        prepared = real_prepare(case, device)
        if case.arch == "lstm":
            once = prepared.once

            def warn_then_run() -> object:
                warnings.warn(WEIGHT_WARNING, UserWarning, stacklevel=1)
                warnings.warn("unrelated deprecation", DeprecationWarning, stacklevel=1)
                return once()

            prepared.once = warn_then_run
        return prepared

    monkeypatch.setattr(runner, "prepare", warning_prepare)
    with pytest.warns(DeprecationWarning, match="unrelated deprecation"):
        df = _run(tmp_path, _tiny(arch=("lstm", "gru")))
    message = dict(zip(df["arch"], df["message"], strict=True))
    assert "not one contiguous chunk: it copies them into one buffer on every call" in message["lstm"]
    assert message["lstm"].startswith("stopped by ")
    assert "contiguous" not in message["gru"]


def test_warnings_of_a_case_that_fails_to_build_are_still_shown() -> None:
    from rnnbench.measure.observe import noting_warnings

    notes: list[str] = []
    with (
        pytest.warns(DeprecationWarning, match="said before failing"),
        pytest.raises(RuntimeError),
        noting_warnings(notes),
    ):
        warnings.warn("said before failing", DeprecationWarning, stacklevel=1)
        warnings.warn(WEIGHT_WARNING, UserWarning, stacklevel=1)
        raise RuntimeError("build failed")
    assert len(notes) == 1 and "contiguous" in notes[0]


# ---- one-time set-up before the first cold iteration ------------------------------------------------------
def test_the_process_set_up_is_paid_before_the_first_case_is_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LSTM, timed first, paid cuDNN's handle and library loading in its cold iteration. The priming runs once
    per (device, dtype), after each group is built and before its first timed iteration."""
    order: list[str] = []
    monkeypatch.setattr(priming, "_PRIMED", set())
    real_prime, real_time = runner.prime_device, runner.time_interleaved

    def prime(device: str, dtype: str, optimizer: bool = False) -> bool:
        first = real_prime(device, dtype, optimizer)
        order.append(f"prime {dtype} {'adam ' if optimizer else ''}{first}")
        return first

    def timed(items: Any, settings: Settings, *args: Any) -> Any:
        order.append("time")
        return real_time(items, settings, *args)

    monkeypatch.setattr(runner, "prime_device", prime)
    monkeypatch.setattr(runner, "calibrate_matmul", lambda *args: 1.0)
    monkeypatch.setattr(runner, "time_interleaved", timed)
    _run(tmp_path, _tiny(arch=("gru",), seq_len=(4, 5), dtype=("float32", "bfloat16")))
    assert order == [
        "prime float32 True", "time", "prime float32 False", "time",
        "prime bfloat16 True", "time", "prime bfloat16 False", "time",
    ]  # fmt: skip
    order.clear()
    _run(tmp_path / "train", _tiny(arch=("gru",), mode=("train",)))
    assert order == ["prime float32 adam True", "time"]  # train groups prime Adam's first step too


def test_priming_runs_a_recurrent_step_and_never_fails_a_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priming, "_PRIMED", set())
    ran: list[str] = []
    real_forward = torch.nn.RNN.forward

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append("rnn")
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.RNN, "forward", forward)
    steps: list[str] = []
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append("adam"))
    assert priming.prime_device("cpu", "float32") and ran == ["rnn"] and steps == []
    assert not priming.prime_device("cpu", "float32") and ran == ["rnn"]
    assert priming.prime_device("cpu", "float32", optimizer=True) and steps == ["adam"]
    assert priming.prime_device("cpu", "no-such-dtype")  # best effort: no exception reaches the case


# ---- the driver in the fingerprint ------------------------------------------------------------------------
def test_the_driver_version_is_read_from_the_kernel_module_then_nvml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version_file = tmp_path / "version"
    version_file.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.03  Thu Oct  9 01:40:09 UTC 2026\n"
        "GCC version:  gcc version 12.3.0\n"
    )
    monkeypatch.setattr(env, "NVIDIA_VERSION_FILE", str(version_file))
    assert env.gpu_driver_version() == "580.159.03"
    version_file.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  535.104.05  Release Build\n"
    )
    assert env.gpu_driver_version() == "535.104.05"

    monkeypatch.setattr(env, "NVIDIA_VERSION_FILE", str(tmp_path / "absent"))  # a sandbox without /proc/driver
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlSystemGetDriverVersion=lambda: b"580.159.03"
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert env.gpu_driver_version() == "580.159.03"

    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: the CUDA driver API's version
    monkeypatch.setattr(torch._C, "_cuda_getDriverVersion", lambda: 13000, raising=False)
    assert env.gpu_driver_version() == "CUDA driver API 13.0"


def test_the_driver_is_a_hard_fingerprint_key_of_cuda_devices_only() -> None:
    captured = {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}], "gpu_driver": "580.159.03", "cpu_model": "EPYC"}
    cuda = env.fingerprint_keys(captured, "cuda:0", 1)
    cpu = env.fingerprint_keys(captured, "cpu", 1)
    assert cuda["driver"] == "580.159.03" and cpu["driver"] is None
    assert tuple(cuda) == schema.HARD_KEYS and "driver" in schema.HARD_KEYS
    other = env.fingerprint_keys({**captured, "gpu_driver": "575.57.08"}, "cuda:0", 1)
    assert env.fingerprint(other) != env.fingerprint(cuda)  # a new driver is another fingerprint
    assert env.capture()["gpu_driver"] is None  # no GPU here: nothing to read
