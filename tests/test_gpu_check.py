"""benchmarks/gpu_check.py on the CPU: every planned command runs dry (an option that does not exist fails CI,
not the GPU window), the checkers PASS only what was measured, and a run keeps its rows through timeouts and
its deadline. The GPU run itself happens on a device machine (README, GPU status)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from rnnbench.measure.verify import Check

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"


def _module() -> Any:
    if "gpu_check" in sys.modules:
        return sys.modules["gpu_check"]
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


gpu_check = _module()


# ---- the plan runs dry here -----------------------------------------------------------------------------
def test_dry_run_lists_every_step_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    assert gpu_check.main(["--dry-run", "--out", str(out), "--work", str(work)]) == 0
    text = capsys.readouterr().out
    for name in ("deps", "verify float32 (IEEE)", "verify float32 --tf32", "verify bfloat16", "verify compiled",
                 "run impl × mode × dtype", "train quick bfloat16", "train anbn", "pytest -m cuda",
                 "pool cuda:0 cuda:1 (needs 2 GPUs)", "torchrun DDP 2 ranks (needs 2 GPUs)"):  # fmt: skip
        assert name in text
    assert "18 steps" in text and "540 s deadline" in text and "torch.distributed.run" in text
    assert not out.exists() and not work.exists()  # the old --dry-run created an empty folder


def _verify_dry(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``verify`` runs its whole command body (option parsing, value checks) with the computation replaced."""
    from rnnbench.measure import devices
    from rnnbench.measure import verify as verify_module

    calls: list[dict[str, Any]] = []

    def recorded(config: Any, impls: list[str], **kwargs: Any) -> list[Check]:
        calls.append({"arch": config.arch, "impls": impls, "bidirectional": config.bidirectional, **kwargs})
        return [Check(config.arch, impls[0], "ok", 0.0, 0.0, 0.0, 1e-5)]

    monkeypatch.setattr(verify_module, "verify", recorded)
    monkeypatch.setattr(devices, "resolve_device", lambda device: device)
    return calls


@pytest.mark.parametrize("quick", [False, True])
def test_every_planned_command_runs_dry_on_the_cpu(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, quick: bool
) -> None:
    """Each ``rnnbench`` command of the plan, as the GPU machine would run it, with ``--dry-run`` (``verify``
    with its computation replaced): the first GPU run lost all three training steps to ``--run-id``, an option
    ``train`` does not have (exit 2). torchrun's own options go through torchrun's parser."""
    from torch.distributed.run import get_args_parser

    calls = _verify_dry(monkeypatch)
    steps = gpu_check.plan(sys.executable, tmp_path, quick)
    checked = 0
    for step in steps:
        args = gpu_check.cli_args(step.argv)
        if step.name == "deps":
            continue
        if step.name.startswith("pytest"):
            files = step.argv[step.argv.index("cuda") + 1 :]
            assert files and all("pytest.mark.cuda" in (SCRIPT.parent.parent / f).read_text() for f in files)
            continue
        assert args is not None, step.name
        if "torch.distributed.run" in step.argv:
            parsed = get_args_parser().parse_args(step.argv[3:])
            assert parsed.module and parsed.training_script == "rnnbench" and parsed.nproc_per_node == "2"
        dry = args if args[0] in ("env", "verify") else [*args, "--dry-run"]
        result = cli(dry)
        assert result.exit_code == 0, f"{step.name}: {shlex_join(dry)}\n{result.output}"
        checked += 1
    assert checked == 16
    assert not any(tmp_path.iterdir())  # dry runs create no folder
    assert len(calls) == 5 * 5 - 1  # five verify steps, five architectures each but compiled's four
    assert {c["device"] for c in calls} == {"cuda"}
    assert {c["dtype"] for c in calls} == {"float32", "float16", "bfloat16"}


def shlex_join(args: list[str]) -> str:
    import shlex

    return shlex.join(args)


def test_compiled_has_its_own_steps() -> None:
    """A compile failure must not take the float32 (TF32 fix) check down with it: ``verify`` stops at the first
    implementation that raises, so ``compiled`` is never in a step with the others."""
    steps = {s.name: s for s in gpu_check.plan("python", Path("w"), quick=False)}
    ieee = steps["verify float32 (IEEE)"].argv
    assert {"aten", "cell", "scratch", "numpy"} <= set(ieee) and "compiled" not in ieee
    with_compiled = [name for name, s in steps.items() if "compiled" in s.argv]
    assert with_compiled == ["verify compiled", "run compiled"]
    for name in with_compiled:
        impls = steps[name].argv[steps[name].argv.index("--impl") + 1 :]
        assert impls[0] == "compiled" and (len(impls) == 1 or impls[1].startswith("--"))


def test_requirements_step_reads_this_interpreter(tmp_path: Path) -> None:
    step = next(s for s in gpu_check.plan(sys.executable, tmp_path, False) if s.name == "deps")
    ran = gpu_check.run_command(step.argv, 60, tmp_path, "deps")
    outcome = gpu_check.check_deps(step, ran, tmp_path)
    assert outcome.status == "PASS", outcome.figures
    assert "typer" in outcome.figures and "filelock" in outcome.figures
    image = [
        {"name": "typer", "wants": "typer>=0.28", "version": None, "ok": False},
        {"name": "filelock", "wants": "filelock>=4.0", "version": "3.12.0", "ok": False},
        {"name": "ruptures", "wants": "ruptures>=1.1", "version": None, "ok": False},
        {"name": "torch", "wants": "torch<3,>=2.2", "version": "2.11.0", "ok": True},
    ]
    outcome = gpu_check.check_deps(step, gpu_check.Ran(0, json.dumps({"found": image})), tmp_path)
    assert outcome.status == "FAIL"
    assert "needed: typer>=0.28 (missing), filelock>=4.0 (has 3.12.0)" in outcome.figures
    assert "not used by these steps: ruptures>=1.1 (missing)" in outcome.figures
    without_history = gpu_check.Ran(0, json.dumps({"found": [image[2], image[3]]}))
    assert gpu_check.check_deps(step, without_history, tmp_path).status == "PASS"


# ---- PASS only with a measurement -------------------------------------------------------------------------
_COLUMNS = "arch,impl,mode,dtype,status,message,backend,median_s,compute_dtype\n"


def _summary(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "grid" / "run-1"
    folder.mkdir(parents=True)
    (folder / "summary.csv").write_text(_COLUMNS + body)
    return tmp_path / "grid"


def test_a_run_with_an_error_row_fails_the_step(tmp_path: Path) -> None:
    folder = _summary(
        tmp_path,
        "lstm,native,train,bfloat16,ok,,cudnn,0.002,bfloat16\n"
        "gru,native,train,bfloat16,ok,,cudnn,0.001,bfloat16\n"
        "gru,cell,train,bfloat16,error,RuntimeError: boom,,,\n",
    )
    outcome = gpu_check.check_run(None, gpu_check.Ran(0), folder)
    assert outcome.status == "FAIL" and "boom" in outcome.figures
    assert outcome.backend == "cudnn" and outcome.dtype_ran == "bfloat16"
    assert "native: train bfloat16 0.50" in outcome.figures


def test_a_run_where_everything_is_unsupported_is_skip_not_pass(tmp_path: Path) -> None:
    """Old code: PASS with nothing measured."""
    folder = _summary(
        tmp_path,
        "lstm,compiled,train,float32,unsupported,torch.compile on CUDA needs Triton,,,\n"
        "gru,compiled,train,float32,unsupported,torch.compile on CUDA needs Triton,,,\n",
    )
    outcome = gpu_check.check_run(None, gpu_check.Ran(0), folder)
    assert outcome.status == "SKIP" and "nothing measured" in outcome.figures
    assert outcome.skipped == [("compiled float32 (train)", "torch.compile on CUDA needs Triton")]


def test_unsupported_implementations_are_skip_rows_beside_a_pass(tmp_path: Path) -> None:
    folder = _summary(
        tmp_path,
        "lstm,native,inference,float16,ok,,cudnn,0.004,float16\n"
        "gru,native,inference,float16,ok,,cudnn,0.003,float16\n"
        "lstm,cell,inference,float16,unsupported,no float16 kernel for 'cell',,,\n"
        "lstm,cell,train,float16,unsupported,no float16 kernel for 'cell',,,\n",
    )
    outcome = gpu_check.check_run(None, gpu_check.Ran(0), folder)
    assert outcome.status == "PASS" and outcome.dtype_ran == "float16"
    assert outcome.skipped == [("cell float16 (inference, train)", "no float16 kernel for 'cell'")]


def test_a_dtype_other_than_the_one_asked_for_fails(tmp_path: Path) -> None:
    folder = _summary(
        tmp_path,
        "lstm,native,train,bfloat16,ok,,cudnn,0.002,float16\ngru,native,train,bfloat16,ok,,cudnn,0.001,bfloat16\n",
    )
    outcome = gpu_check.check_run(None, gpu_check.Ran(0), folder)
    assert outcome.status == "FAIL" and "asked for bfloat16, computed in float16" in outcome.figures
    assert outcome.dtype_ran == "bfloat16, float16"


def test_a_nonzero_exit_fails_even_with_good_rows(tmp_path: Path) -> None:
    folder = _summary(tmp_path, "lstm,native,train,float32,ok,,cudnn,0.002,float32\n")
    outcome = gpu_check.check_run(None, gpu_check.Ran(6, stderr="Error: round 1 failed\n"), folder)
    assert outcome.status == "FAIL" and "exit 6: Error: round 1 failed" in outcome.figures


def test_the_grid_lists_native_first_with_every_dtype() -> None:
    """24 combinations: the old figure sorted them alphabetically and kept 8 (aten and cell), so cuDNN's ratio
    — the headline — never reached the table."""
    import pandas as pd

    rows = []
    for impl, base in (("native", 1.0), ("aten", 2.0), ("cell", 3.0), ("scratch", 4.0)):
        for mode in ("inference", "train"):
            for dtype in ("float32", "bfloat16", "float16"):
                rows.append({"arch": "lstm", "impl": impl, "mode": mode, "dtype": dtype, "status": "ok",
                             "median_s": base})  # fmt: skip
                rows.append({"arch": "gru", "impl": impl, "mode": mode, "dtype": dtype, "status": "ok",
                             "median_s": base * 0.8})  # fmt: skip
    text = gpu_check.ratios(pd.DataFrame(rows))
    assert text.startswith(
        "GRU/LSTM native: inference float32 0.80, inference bfloat16 0.80, inference float16"
    )
    native = text.split(";")[0]
    for mode in ("inference", "train"):
        for dtype in ("float32", "bfloat16", "float16"):
            assert f"{mode} {dtype} 0.80" in native
    assert [part.split(":")[0].strip() for part in text.removeprefix("GRU/LSTM ").split(";")] == [
        "native", "aten", "cell", "scratch"
    ]  # fmt: skip
    assert "…" not in text


def _verify_output(cli: Any, monkeypatch: pytest.MonkeyPatch, checks: list[Check]) -> gpu_check.Ran:
    """``rnnbench verify``'s real table for these checks, as the step's stdout."""
    from rnnbench.measure import verify as verify_module

    monkeypatch.setattr(
        verify_module, "verify", lambda config, impls, **kw: [c for c in checks if c.arch == config.arch]
    )
    result = cli(["verify", "--arch", "lstm", "gru", "--impl", "aten", "cell"])
    return gpu_check.Ran(result.exit_code, result.stdout, result.stderr)


def test_verify_passes_only_what_was_compared(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old code: PASS whenever verify exited 0, also when every row said unsupported."""
    reason = (
        "torch 2.11 has no bfloat16 kernel for 'cell' gru train on cuda: 'addmm' not implemented for 'BFloat16'"
    )
    none = [Check(a, "cell", "unsupported", 0.0, 0.0, 0.0, 5e-2, reason) for a in ("lstm", "gru")]
    outcome = gpu_check.check_verify(None, _verify_output(cli, monkeypatch, none), Path())
    assert outcome.status == "SKIP" and outcome.skipped == [("cell (lstm, gru)", reason)]

    some = [Check("lstm", "aten", "ok", 1e-7, 1e-7, 2e-7, 5e-2), *none]
    outcome = gpu_check.check_verify(None, _verify_output(cli, monkeypatch, some), Path())
    assert (
        outcome.status == "PASS"
        and "1 of 3 checks agree with the reference (aten vs native)" in outcome.figures
    )
    assert outcome.skipped == [("cell (lstm, gru)", reason)]

    bad = [
        Check("gru", "aten", "mismatch", 5e-4, 1e-4, 5e-4, 2e-5, "relative error 5.00e-04 exceeds 2e-05"),
        *some,
    ]
    ran = _verify_output(cli, monkeypatch, bad)
    assert ran.rc == 1
    outcome = gpu_check.check_verify(None, ran, Path())
    assert outcome.status == "FAIL" and "gru/aten: relative error 5.00e-04 exceeds 2e-05" in outcome.figures


def test_train_needs_trained_runs_in_the_dtype_asked_for(tmp_path: Path) -> None:
    folder = tmp_path / "train" / "run"
    folder.mkdir(parents=True)
    header = "arm,seed,status,message,solved,dtype,compute_dtype\n"
    (folder / "train_summary.csv").write_text(
        header + "lstm,0,ok,,true,bfloat16,bfloat16\ngru,0,ok,,false,bfloat16,bfloat16\n"
    )
    good = gpu_check.check_train(None, gpu_check.Ran(0), tmp_path / "train")
    assert good.status == "PASS" and good.dtype_ran == "bfloat16" and "lstm 1/1" in good.figures
    (folder / "train_summary.csv").write_text(header + "lstm,0,ok,,true,bfloat16,float16\n")
    wrong = gpu_check.check_train(None, gpu_check.Ran(0), tmp_path / "train")
    assert wrong.status == "FAIL" and "asked for bfloat16, computed in float16" in wrong.figures


def test_pytest_all_skipped_is_skip_with_the_reason() -> None:
    skipped = gpu_check.Ran(
        0, "s\nSKIPPED [1] tests/test_runner.py:181: needs an NVIDIA GPU\n1 skipped in 0.5s\n"
    )
    outcome = gpu_check.check_pytest(None, skipped, Path())
    assert outcome.status == "SKIP" and "needs an NVIDIA GPU" in outcome.figures
    assert gpu_check.check_pytest(None, gpu_check.Ran(0, ".\n1 passed in 3.1s\n"), Path()).status == "PASS"
    assert gpu_check.check_pytest(None, gpu_check.Ran(5, "\n1 deselected in 0.1s\n"), Path()).status == "FAIL"


# ---- running steps ----------------------------------------------------------------------------------------
def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_env_reads_stdout_only_and_a_warning_on_stderr_does_not_fail_it(tmp_path: Path) -> None:
    """Old code parsed stdout and stderr joined: one warning line made the JSON unreadable and failed the step
    (and the loop stopped there)."""
    env = {"torch": "2.11.0+cu130", "cuda": "13.0", "cudnn": 91900, "gpu_driver": "580.159.03",
           "gpus": [{"name": "NVIDIA H100 80GB HBM3"}, {"name": "NVIDIA H100 80GB HBM3"}]}  # fmt: skip
    code = f"import sys; print({json.dumps(json.dumps(env))}); print('UserWarning: something', file=sys.stderr)"
    step = gpu_check.Step("env", _python(code), 30, gpu_check.check_env, needs_gpus=0)
    ran = gpu_check.run_command(step.argv, 30, tmp_path, "env")
    outcome = gpu_check.judge(step, ran, tmp_path, 30, clipped=False)
    assert outcome.status == "PASS" and outcome.gpus == 2
    assert "driver 580.159.03" in outcome.figures and "2 × NVIDIA H100 80GB HBM3" in outcome.figures


def test_a_timeout_ends_the_whole_process_group_and_keeps_stderr(tmp_path: Path) -> None:
    """Old code killed the direct child only (torchrun's ranks lived on) and dropped its stderr."""
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('rank 1: still compiling', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )
    step = gpu_check.Step("slow", _python(code), 1, gpu_check.check_run)
    started = time.monotonic()
    ran = gpu_check.run_command(step.argv, 0.8, tmp_path, "slow")
    assert ran.timed_out and time.monotonic() - started < 30
    outcome = gpu_check.judge(step, ran, tmp_path, 0.8, clipped=False)
    assert outcome.status == "FAIL" and "timed out after 1 s; last: rank 1: still compiling" in outcome.figures
    grandchild = int(pid_file.read_text())
    for _ in range(100):
        if not _alive(grandchild):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the step's grandchild outlived the timeout")
    cut = gpu_check.judge(step, ran, tmp_path, 0.8, clipped=True)
    assert cut.status == "SKIP" and "cut by the deadline" in cut.figures


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for whoever adopted it to reap it."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


def _passing(step: Any, ran: Any, folder: Path) -> Any:
    return gpu_check.Outcome("PASS" if ran.rc == 0 else "FAIL", figures=f"said {ran.stdout.strip()} | piped")


def test_rows_are_written_as_steps_end_and_the_deadline_skips_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu_check, "RESERVE_S", 0.0)
    monkeypatch.setattr(gpu_check, "MIN_STEP_S", 0.3)
    seen_before_second: list[str] = []
    out, work = tmp_path / "out", tmp_path / "work"

    def first_check(step: Any, ran: Any, folder: Path) -> Any:
        return _passing(step, ran, folder)

    def second_check(step: Any, ran: Any, folder: Path) -> Any:
        seen_before_second.append((out / "gpu_check.md").read_text())  # the first row is already on disk
        assert (out / "gpu_check.tar.gz").exists()  # and packed
        return _passing(step, ran, folder)

    steps = [
        gpu_check.Step("first", _python("print('hello')"), 10, first_check, needs_gpus=0),
        gpu_check.Step("second", _python("print('again')"), 10, second_check, needs_gpus=0),
        gpu_check.Step("slow", _python("import time; time.sleep(30)"), 30, _passing, needs_gpus=0),
        gpu_check.Step("never", _python("print('no')"), 10, _passing, needs_gpus=0),
        gpu_check.Step("two gpus", _python("print('no')"), 10, _passing, needs_gpus=2),
    ]
    stream = io.StringIO()
    code = gpu_check.run_check(steps, sys.executable, out, work, deadline_s=1.5, stream=stream)
    assert code == 0  # SKIP is not a failure
    assert "| first | PASS |" in seen_before_second[0] and "second" not in seen_before_second[0]
    table = (out / "gpu_check.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0].removeprefix("| ") for line in lines[1:]] == [
        "first",
        "second",
        "slow",
        "never",
        "two gpus",
    ]
    assert "said hello \\| piped" in table  # a pipe in a figure cannot break the Markdown table
    assert "| slow | SKIP |" in table and "cut by the deadline" in table
    assert "| never | SKIP |" in table and "before the 2 s deadline (--deadline)" in table
    assert stream.getvalue().splitlines()[: len(table.splitlines())] == table.splitlines()
    records = [json.loads(line) for line in (out / "gpu_check.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["PASS", "PASS", "SKIP", "SKIP", "SKIP"]
    with tarfile.open(out / "gpu_check.tar.gz") as tar:
        names = tar.getnames()
    assert {"gpu_check/gpu_check.md", "gpu_check/gpu_check.jsonl", "gpu_check/work/logs/00-first.stdout",
            "gpu_check/work/logs/02-slow.stderr"} <= set(names)  # fmt: skip
