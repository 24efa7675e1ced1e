"""``rnnbench run`` through the real CLI: the exact documented form, every option, bad input, and a run
killed mid-sweep that resumes with nothing lost and nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

FAST = ["--budget", "0.05", "--warmup", "0.02", "--threads", "1"]
TINY = ["--seq-len", "4", "--hidden", "8", "--batch", "2"]


def _only_folder(root: Path) -> Path:
    folders = [p for p in root.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_exact_documented_form(cli, tmp_path: Path) -> None:
    result = cli(["run", "--arch", "gru", "lstm", "--device", "cpu", *TINY, *FAST, "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(_only_folder(tmp_path) / "summary.csv")
    assert sorted(df["arch"]) == ["gru", "gru", "lstm", "lstm"] and (df["status"] == "ok").all()  # × 2 modes
    assert "gru/lstm" in result.stdout and "theory" in result.stdout
    # One round: whichever side the samples favour, the verdict is about that one process and says so, names
    # the whole shape (B, I and threads too) and what would decide — never a bare "gru ran N× faster".
    text = " ".join(result.stdout.split())  # undo the console's line wrapping
    assert "interval: one round's samples: ignores between-process noise — use --rounds ≥ 5" in text
    verdicts = text.split("no difference):", 1)[1].split(" Results:")[0]
    lines = [v for v in verdicts.split("use --rounds 5 to compare") if v.strip()]
    assert len(lines) == 2, verdicts  # inference and train
    for line in lines:
        assert "cpu, T=4 B=2 I=8 H=8 threads=1" in line and "within one process (" in line


def test_list_values_space_comma_and_repeated_flags(cli) -> None:
    result = cli(
        [
            "run",
            "--seq-len",
            "4,6",
            "--seq-len",
            "8",
            "10",
            "--arch",
            "lstm",
            "--hidden",
            "3",
            "--mode",
            "train",
            "--dry-run",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "4 cases × 1 round(s)" in result.stdout


def test_dry_run_measures_nothing(cli, tmp_path: Path) -> None:
    result = cli(["run", "--preset", "fastrnns", "--dry-run", "--output", str(tmp_path)])
    assert result.exit_code == 0
    assert "6 cases" in result.stdout and "512" in result.stdout
    assert not any(tmp_path.iterdir())


def test_every_architecture_implementation_and_mode(cli, tmp_path: Path) -> None:
    args = [
        "run", "--arch", "lstm", "gru", "rnn", "--impl", "native", "aten", "cell", "scratch", "numpy",
        "--mode", "inference", "forward", "backward", "train", "--seq-len", "3", "--batch", "2", "--hidden", "4",
        "--run-id", "all", "--output", str(tmp_path), "--budget", "0.01", "--warmup", "0.01", "--threads", "1",
    ]  # fmt: skip
    result = cli(args)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "all" / "summary.csv")
    assert len(df) == 3 * 5 * 4
    unsupported = df[df["status"] == "unsupported"]
    assert set(unsupported["impl"]) == {"numpy"} and set(unsupported["mode"]) == {
        "forward",
        "backward",
        "train",
    }
    assert (df[df["status"] != "unsupported"]["status"] == "ok").all()


def test_every_shape_option(cli, tmp_path: Path) -> None:
    args = [
        "run", "--arch", "gru", "--mode", "train", "--dtype", "float32", "bfloat16", "--seq-len", "3",
        "--batch", "2", "--hidden", "4", "--input-size", "5", "--layers", "2", "--directions", "1", "2",
        "--lengths", "fixed", "0.5", "--workload", "layer", "classifier", "--target-precision", "0.5",
        "--busy-threshold", "0.9", "--seed", "3", "--run-id", "shapes", "--output", str(tmp_path),
        "--budget", "0.01", "--warmup", "0.01", "--threads", "1",
    ]  # fmt: skip
    result = cli(args)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "shapes" / "summary.csv")
    assert len(df) == 2 * 2 * 2 * 2
    assert (df["status"] == "ok").all(), df[df["status"] != "ok"]["message"].head()
    assert (df["input_size"] == 5).all() and (df["seed"] == 3).all() and (df["num_layers"] == 2).all()
    assert set(df["dtype"]) == {"float32", "bfloat16"} and set(df["workload"]) == {"layer", "classifier"}


def test_config_file(cli, tmp_path: Path) -> None:
    config = tmp_path / "sweep.toml"
    config.write_text(
        'arch = ["rnn"]\nseq_len = [3, 5]\nhidden = [4]\nbatch = [2]\nbudget = 0.02\nthreads = [1]\n'
    )
    result = cli(["run", "--config", str(config), "--output", str(tmp_path / "out"), "--warmup", "0.01"])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(_only_folder(tmp_path / "out") / "summary.csv")
    assert set(df["arch"]) == {"rnn"} and sorted(df["seq_len"]) == [3, 3, 5, 5]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_alone_without_cuda_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli(["run", "--arch", "gru", "lstm", "--device", "cuda", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Device 'cuda' is not available")
    assert "rnnbench list" in result.stderr and "Traceback" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA path")
def test_absent_device_among_others_gives_skipped_rows(cli, tmp_path: Path) -> None:
    result = cli(["run", "--arch", "lstm", "--device", "cpu", "cuda", *TINY, *FAST, "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(_only_folder(tmp_path) / "summary.csv")
    assert set(zip(df["device"], df["status"], strict=True)) >= {("cpu", "ok"), ("cuda", "skipped")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--arch", "lstn"],
            "Unknown architecture 'lstn'. Did you mean 'lstm'? Available: gru, lstm, mingru, minlstm, rnn",
        ),
        (["--impl", "scrach"], "Did you mean 'scratch'"),
        (["--hidden", "0"], "--hidden must be ≥ 1, got 0."),
        (["--seq-len", "-4"], "--seq-len must be ≥ 1"),
        (["--lengths", "2"], "--lengths takes 'fixed' or a spread"),
        (["--device", "tpu"], "Unknown device 'tpu'"),
        (["--rounds", "0"], "--rounds must be ≥ 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path: Path, args: list[str], message: str) -> None:
    result = cli(["run", *args, "--output", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_mistyped_option_suggests(cli) -> None:
    result = cli(["run", "--sq-len", "4"])
    assert result.exit_code == 2
    assert "--seq-len" in result.output


def test_rounds_run_in_fresh_worker_processes(cli, tmp_path: Path) -> None:
    result = cli(
        [
            "run",
            "--arch",
            "lstm",
            "gru",
            "--mode",
            "train",
            *TINY,
            *FAST,
            "--rounds",
            "2",
            "--output",
            str(tmp_path),
        ]
    )
    assert result.exit_code == 0, result.output
    folder = _only_folder(tmp_path)
    df = pd.read_csv(folder / "summary.csv")
    assert sorted(df["round"]) == [0, 0, 1, 1]
    assert (folder / "worker-round1.log").exists()
    # 2 rounds per side: the bootstrap over round medians would cover 67%; the t-interval keeps 95%
    text = " ".join(result.stdout.split())
    assert "95% t-interval over log round medians (fewer than 5 rounds per side)" in text
    assert "bootstrap" not in text and "within one process" not in text


def _spawn(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}
    return subprocess.Popen([sys.executable, "-m", "rnnbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)  # fmt: skip


def _wait_for_rows(path: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the run produced no rows in time")


SWEEP = ["run", "--arch", "lstm", "gru", "--mode", "train", "--seq-len", "4", "5", "6", "7", "8", "9", "--hidden", "8", "--batch", "2",
         "--budget", "0.2", "--warmup", "0.05", "--threads", "1"]  # fmt: skip


def test_sigkill_mid_sweep_then_resume_loses_nothing_and_duplicates_nothing(cli, tmp_path: Path) -> None:
    """kill -9 of the whole run mid-sweep, then ``--resume``: the dead owner's lock does not block it, no
    finished row is lost or repeated, and the finished folder holds no lock or temporary file. (The one
    kill-and-resume scenario of the suite; ``test_faults.py`` covers the other faults.)"""
    from tests.test_folders import _leftovers

    proc = _spawn([*SWEEP, "--output", str(tmp_path), "--run-id", "k"])
    summary = tmp_path / "k" / "summary.csv"
    _wait_for_rows(summary, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "k" / ".owner.lock").exists()  # what kill -9 leaves behind
    before = pd.read_csv(summary)
    assert 2 <= len(before) < 12, "kill landed before or after the sweep; the test proves nothing"
    result = cli(["run", "--resume", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert _leftovers(tmp_path / "k") == []
    after = pd.read_csv(summary)
    assert len(after) == 12
    assert not after.duplicated(["case_id", "round", "threads"]).any()
    assert set(before["case_id"]) <= set(after["case_id"])
    kept = after.set_index("case_id").loc[before["case_id"], "median_s"].to_numpy()
    assert (kept == before["median_s"].to_numpy()).all()  # finished rows untouched
    samples = pd.read_csv(tmp_path / "k" / "samples.csv")
    counts = samples.groupby("case_id").size()
    assert all(counts[r.case_id] == r.n_samples for r in after.itertuples())
    assert json.loads((tmp_path / "k" / "metadata.json").read_text())["status"] == "complete"


def test_ctrl_c_keeps_finished_rows_and_exits_130(tmp_path: Path) -> None:
    proc = _spawn([*SWEEP, "--output", str(tmp_path), "--run-id", "c"])
    _wait_for_rows(tmp_path / "c" / "summary.csv", 2, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"--resume" in err
    meta = json.loads((tmp_path / "c" / "metadata.json").read_text())
    assert meta["status"] == "interrupted"
    assert len(pd.read_csv(tmp_path / "c" / "summary.csv")) >= 2


def test_run_output_is_built_in_present_without_printing(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.table import Table

    from rnnbench.core.spec import SweepSpec
    from rnnbench.present.run_summary import ddp_table, grid_renderables

    table, line = grid_renderables(SweepSpec(seq_len=(4, 8)).expand(), 3)
    assert isinstance(table, Table) and table.row_count == 4
    assert line == "4 cases × 3 round(s) = 12 measurements"
    ddp = pd.DataFrame(
        [{"world_size": 2, "backend": "gloo", "arch": "gru", "seq_len": 6, "batch_size": 4, "hidden_size": 8,
          "rank": r, "step_median_s": 2e-3, "single_median_s": 1e-3, "scaling_efficiency": 0.5,
          "allreduce_frac": 0.25, "global_tokens_per_s": 24000.0} for r in (0, 1)]
    )  # fmt: skip
    assert ddp_table(ddp).title == "ddp-train, 2 processes (gloo)"
    assert capsys.readouterr() == ("", "")
