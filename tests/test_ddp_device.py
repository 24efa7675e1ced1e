"""DDP binds each rank to its GPU: ``device_id`` for the process group and ``device_ids`` for NCCL barriers
(issue 12, defect 11). Checked as the arguments the calls receive; the GPU run is benchmarks/gpu_check.py's."""

from __future__ import annotations

import pytest
import torch

from rnnbench.measure import ddp


def test_ranks_name_their_gpu() -> None:
    assert ddp.process_group_kwargs("cuda:1") == {"device_id": torch.device("cuda", 1)}
    assert ddp.barrier_kwargs("cuda:1") == {"device_ids": [1]}
    assert ddp.barrier_kwargs("cuda") == {"device_ids": [0]}


def test_gloo_on_the_cpu_gets_no_device_arguments() -> None:
    assert ddp.process_group_kwargs("cpu") == {}
    assert ddp.barrier_kwargs("cpu") == {}


def test_older_torch_without_device_id_is_not_passed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    def init_process_group(backend: str, timeout: object = None) -> None:  # a torch < 2.3 signature
        raise AssertionError("not called")

    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    assert ddp.process_group_kwargs("cuda:0") == {}
