"""The CUDA paths of ``run``, checked on the CPU by recorded calls (issue 12): the case's device is current
and named by every event and sync, the numeric policy is set before anything runs and recorded, dtype support
comes from the probe, half-precision train mode steps through float32 masters, the classifier copies its
lengths once. What only a GPU can show is benchmarks/gpu_check.py's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from rnnbench.core.spec import Case, Settings, SweepSpec
from rnnbench.measure import numerics, runner
from rnnbench.measure.sweep import execute, start_run

FAST = Settings(budget_s=0.05, warmup_max_s=0.02, warmup_min_iters=1, min_block_s=0.001, min_samples=3)


pytestmark = pytest.mark.usefixtures("restore_tf32")


def _tiny(**axes: object) -> SweepSpec:
    base: dict[str, object] = {"seq_len": (5,), "hidden_size": (8,), "batch_size": (3,), "threads": (1,)}
    base.update(axes)
    return SweepSpec(**base)  # type: ignore[arg-type]


def _run(tmp_path: Path, spec: SweepSpec, settings: Settings = FAST) -> tuple[Any, pd.DataFrame]:
    run = start_run(spec, settings, 1, tmp_path, run_id="t")
    execute(run, lambda event: None)
    return run.folder, pd.read_csv(run.folder.path / "summary.csv")


class _FakeCuda:
    """Records what the runner asks of ``torch.cuda``: the device made current, events' devices, syncs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.current: Any = torch.device("cuda", 0)

    def set_device(self, device: Any) -> None:
        self.calls.append(("set_device", torch.device(device)))
        self.current = torch.device(device)

    @contextlib.contextmanager
    def device(self, device: Any) -> Iterator[None]:
        before, self.current = self.current, torch.device(device)
        try:
            yield
        finally:
            self.current = before

    def Event(self, enable_timing: bool = False) -> tuple[str, Any]:
        self.calls.append(("event", self.current))
        return ("event", self.current)

    def synchronize(self, device: Any = None) -> None:
        self.calls.append(("synchronize", device))


def test_events_and_syncs_name_the_cases_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """For cuda:1 the device is made current and every event and sync targets it — measuring with GPU 0
    current would time an idle device (defect 1). Fails on the old code: no set_device, events on GPU 0,
    synchronize of the string only."""
    fake = _FakeCuda()
    for name in ("set_device", "device", "Event", "synchronize"):
        monkeypatch.setattr(torch.cuda, name, getattr(fake, name))
    runner.use_device("cuda:1")
    fake.current = torch.device("cuda", 0)  # something else made GPU 0 current meanwhile
    events = runner._events_fn("cuda:1")
    sync = runner.sync_fn("cuda:1")
    assert events is not None and sync is not None
    events()
    sync()
    assert fake.calls == [
        ("set_device", torch.device("cuda", 1)),
        ("event", torch.device("cuda", 1)),
        ("event", torch.device("cuda", 1)),
        ("synchronize", torch.device("cuda", 1)),
    ]
    runner.use_device("cpu")  # a no-op on the CPU
    assert len(fake.calls) == 4


def test_each_group_makes_its_device_current_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_prepare = runner.prepare
    monkeypatch.setattr(runner, "use_device", lambda device: order.append(f"use {device}"))

    def recording_prepare(case: Case, device: str) -> Any:
        order.append(f"prepare {case.arch}")
        return real_prepare(case, device)

    monkeypatch.setattr(runner, "prepare", recording_prepare)
    _run(tmp_path, _tiny(arch=("lstm", "gru")))
    assert order == ["use cpu", "prepare lstm", "prepare gru"]


@pytest.mark.parametrize("tf32", [False, True])
def test_the_policy_is_set_before_anything_runs_and_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tf32: bool
) -> None:
    """TF32 for matmul and cuDNN together, before the first case is built (so the matmul peak and every
    implementation share it), in every row (``math``) and in the fingerprint's numeric flags (defect 2)."""
    order: list[str] = []
    real_set, real_prepare = numerics.set_tf32, runner.prepare
    monkeypatch.setattr(
        runner, "set_tf32", lambda enabled: (order.append(f"tf32={enabled}"), real_set(enabled))
    )
    monkeypatch.setattr(
        runner, "prepare", lambda case, device: (order.append("prepare"), real_prepare(case, device))[1]
    )
    folder, df = _run(tmp_path, _tiny(arch=("gru",)), Settings(**{**FAST.__dict__, "tf32": tf32}))
    assert order[0] == f"tf32={tf32}" and "prepare" in order
    assert set(df["math"]) == {"tf32" if tf32 else "ieee"}
    flags = folder.read_metadata()["fingerprint_keys"]["cpu"]["numeric_flags"]
    assert flags["cuda_matmul_tf32"] is tf32 and flags["cudnn_tf32"] is tf32


def test_a_dtype_the_installed_torch_lacks_is_unsupported_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rnnbench.measure.models import probe

    def no_bf16_cells(impl: str, arch: str, mode: str, device: str, dtype: str) -> str | None:
        if impl == "cell" and dtype == "bfloat16":
            return "torch x has no bfloat16 kernel for 'cell' gru train on cpu: not implemented for 'BFloat16'"
        return None

    monkeypatch.setattr(probe, "dtype_unsupported_reason", no_bf16_cells)
    _, df = _run(tmp_path, _tiny(arch=("gru",), impl=("cell", "scratch"), dtype=("bfloat16",)))
    by = {r.impl: (r.status, r.message) for r in df.itertuples()}
    assert by["cell"][0] == "unsupported" and "no bfloat16 kernel" in by["cell"][1]
    assert by["scratch"][0] == "ok"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_train_mode_steps_float32_masters(dtype: str) -> None:
    """Train mode in half precision keeps float32 masters: the weights stay finite step after step, where
    pure-fp16 Adam made them NaN after one (defect 6)."""
    case = Case(
        "lstm", impl="scratch", mode="train", dtype=dtype, seq_len=4, batch_size=2, input_size=4, hidden_size=4
    )
    prepared = runner.prepare(case, "cpu")
    weights = prepared.keep[0]
    assert weights.mixed and all(m.dtype == torch.float32 for m in weights.masters)
    for _ in range(4):
        prepared.timed.run()
    model = prepared.workload.model
    assert all(torch.isfinite(p).all() and p.dtype == getattr(torch, dtype) for p in model.parameters())


def test_classifier_copies_its_lengths_to_the_device_once() -> None:
    """The classifier's mean pooling divides by the lengths on the device: one copy per case, not one per
    timed pass (a host→device copy synchronises the stream; defect 7)."""
    case = Case("gru", impl="native", workload="classifier", length_spread=0.5, seq_len=6, batch_size=3,
                input_size=4, hidden_size=4)  # fmt: skip
    prepared = runner.prepare(case, "cpu")
    for _ in range(3):
        prepared.timed.run()
    assert prepared.workload.model._lengths.copies == 1


def test_sibling_workers_inherit_the_runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round run in this process marks it as the run's root, so its machine-load record counts the run's
    whole process tree as its own (defect 9)."""
    from rnnbench.measure import machine_load

    monkeypatch.delenv(machine_load.RUN_ROOT_ENV, raising=False)
    _run(tmp_path, _tiny(arch=("gru",)))
    import os

    assert os.environ[machine_load.RUN_ROOT_ENV] == str(os.getpid())
    monkeypatch.delenv(machine_load.RUN_ROOT_ENV)
