"""benchmarks/gpu_check.py plans its steps anywhere (``--dry-run``) and reads results the way a GPU run writes
them; the GPU run itself happens on a device machine."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def _module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_dry_run_lists_every_step(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    gpu_check = _module()
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("verify float32 --tf32", "verify bfloat16", "run impl × mode × dtype", "train quick bfloat16",
                 "train anbn", "pytest -m cuda", "pool cuda:0 cuda:1 (needs 2 GPUs)", "torchrun DDP 2 ranks"):  # fmt: skip
        assert name in out
    assert "15 steps" in out and "--tf32" in out and "--device cuda:0 cuda:1" in out
    assert not any(tmp_path.iterdir())  # nothing ran


def test_a_run_with_an_error_row_fails_the_step(tmp_path: Path) -> None:
    gpu_check = _module()
    folder = tmp_path / "grid"
    folder.mkdir()
    (folder / "summary.csv").write_text(
        "arch,impl,mode,dtype,status,message,backend,median_s\n"
        "lstm,native,train,bfloat16,ok,,cudnn,0.002\n"
        "gru,native,train,bfloat16,ok,,aten,0.001\n"
        "gru,cell,train,bfloat16,error,RuntimeError: boom,,\n"
    )
    outcome = gpu_check.check_run(None, 0, "", folder)
    assert outcome.status == "FAIL" and "boom" in outcome.figures
    assert outcome.backend == "aten, cudnn" and outcome.dtype_ran == "bfloat16"
    assert "native/train/bfloat16 0.50" in outcome.figures
