"""Scale-out: shard folders merge (and refuse duplicates and schema mismatches), several devices run
concurrently into one folder, and a real 2-process torchrun DDP run on CPU (gloo over loopback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.core.progress import ProgressEvent
from rnnbench.core.spec import Settings, SweepSpec
from rnnbench.errors import SchemaError
from rnnbench.measure.merge import merge_runs
from rnnbench.measure.sweep import execute, start_run

GRID = ["--arch", "lstm", "gru", "--mode", "inference", "--seq-len", "3", "4", "5", "--hidden", "4", "--batch", "2",
        "--budget", "0.02", "--warmup", "0.01", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from rnnbench.cli import app

    root = tmp_path_factory.mktemp("shards")
    for k in (1, 2):
        result = CliRunner().invoke(
            app, ["run", *GRID, "--shard", f"{k}/2", "--output", str(root), "--run-id", f"s{k}"]
        )
        assert result.exit_code == 0, result.output
    return root


def test_shards_split_the_grid_and_merge_into_one_folder(shards: Path, cli, tmp_path: Path) -> None:
    a = pd.read_csv(shards / "s1" / "summary.csv")
    b = pd.read_csv(shards / "s2" / "summary.csv")
    assert len(a) + len(b) == 6 and not set(a["case_id"]) & set(b["case_id"])
    assert json.loads((shards / "s1" / "metadata.json").read_text())["shard"] == [1, 2]
    result = cli(["merge", str(shards / "s1"), str(shards / "s2"), "--output", str(tmp_path), "--run-id", "m"])
    assert result.exit_code == 0, result.output
    merged = pd.read_csv(tmp_path / "m" / "summary.csv")
    assert len(merged) == 6 and set(merged["run_id"]) == {"m"}
    assert not merged.duplicated(["case_id", "threads", "round"]).any()
    samples = pd.read_csv(tmp_path / "m" / "samples.csv")
    assert samples.groupby("case_id").size().to_dict() == merged.set_index("case_id")["n_samples"].to_dict()
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert [m["shard"] for m in meta["merged_from"]] == [[1, 2], [2, 2]]


def test_merge_refuses_duplicates(shards: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(shards / "s1", tmp_path / "again")  # the same shard twice, e.g. a re-run CI job
    with pytest.raises(SchemaError, match="is in both"):
        merge_runs([shards / "s1", tmp_path / "again"], tmp_path / "out")


def test_merge_refuses_schema_mismatch(shards: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(shards / "s2", bad)
    meta = json.loads((bad / "metadata.json").read_text())
    meta["schema_version"] = 99
    (bad / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaError, match="schema_version 99"):
        merge_runs([shards / "s1", bad], tmp_path / "out")
    header = tmp_path / "hdr"
    shutil.copytree(shards / "s2", header)
    text = (header / "summary.csv").read_text().replace("median_s", "median_ms", 1)
    (header / "summary.csv").write_text(text)
    with pytest.raises(SchemaError, match="header does not match"):
        merge_runs([shards / "s1", header], tmp_path / "out")


def test_merge_warns_about_a_missing_shard(shards: Path, tmp_path: Path) -> None:
    _, warnings = merge_runs([shards / "s1"], tmp_path)
    assert any("shards 2 of 2 are missing" in w for w in warnings)


def test_shard_folders_also_report_directly(shards: Path, cli, tmp_path: Path) -> None:
    result = cli(["report", str(shards / "s1"), str(shards / "s2"), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / "report.md").exists()


def test_device_pool_runs_concurrent_workers_into_one_folder(tmp_path: Path) -> None:
    # Two CPU "devices" stand in for cuda:0 and cuda:1: one worker process each, concurrently, one folder.
    spec = SweepSpec(
        arch=("lstm", "gru"), seq_len=(3, 4, 5, 6), hidden_size=(4,), batch_size=(2,), threads=(1,)
    )
    settings = Settings(budget_s=0.02, warmup_max_s=0.01, min_block_s=0.001, min_samples=3)
    run = start_run(spec, settings, 1, tmp_path, run_id="pool", pool=["cpu", "cpu"])
    folder = run.folder
    events: list[ProgressEvent] = []
    execute(run, events.append)
    df = pd.read_csv(folder.path / "summary.csv")
    assert len(df) == 8 and not df.duplicated(["case_id", "threads", "round"]).any()
    assert (df["status"] == "ok").all()
    assert {p.name for p in folder.path.glob("worker-round0-part*.log")} == {
        "worker-round0-part0.log",
        "worker-round0-part1.log",
    }
    assert sum(e.kind == "done" for e in events) == 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(tmp_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "rnnbench", "run", "--mode", "ddp-train", "--arch", "lstm", "gru",
           "--seq-len", "6", "--hidden", "8", "--batch", "4", "--budget", "0.05", "--output", str(tmp_path),
           "--run-id", "ddp"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "120", **(extra_env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)


TORCHRUN = pytest.mark.xdist_group("torchrun")
"""Both torchrun tests on one xdist worker (``--dist loadgroup``): never four DDP ranks on 2 cores at once."""


@TORCHRUN
def test_torchrun_two_processes_gloo_writes_a_valid_folder(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "ddp"
    ddp = pd.read_csv(folder / "ddp.csv")
    assert (
        sorted(ddp["rank"]) == [0, 0, 1, 1]
        and set(ddp["world_size"]) == {2}
        and set(ddp["backend"]) == {"gloo"}
    )
    assert (ddp["status"] == "ok").all()
    assert ((ddp["allreduce_frac"] >= 0) & (ddp["allreduce_frac"] < 1)).all()
    assert (ddp["scaling_efficiency"] > 0).all() and (ddp["step_median_s"] > 0).all()
    summary = pd.read_csv(folder / "summary.csv")
    assert sorted(summary["arch"]) == ["gru", "lstm"] and (summary["mode"] == "ddp-train").all()
    assert (summary["status"] == "ok").all()
    # the rows say the policy they ran under and the dtype each rank's recurrent stack computed in (issue 21)
    assert set(summary["math"]) == {"ieee"} and set(summary["compute_dtype"]) == {"float32"}
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["ddp"]["world_size"] == 2
    assert "ddp-train, 2 processes (gloo)" in proc.stdout


@TORCHRUN
def test_a_failing_rank_ends_every_rank_with_a_message(tmp_path: Path) -> None:
    proc = _torchrun(tmp_path, {"RNNBENCH_DDP_FAIL_RANK": "1"})
    assert proc.returncode != 0
    assert "Error: ddp-train stopped: rank 1: RuntimeError: injected failure" in proc.stderr
    # rank 0 either sees its collective fail first or is ended by torchrun: a message either way
    assert "Error: ddp-train stopped: rank 0" in proc.stderr and "another rank" in proc.stderr
    meta = json.loads((tmp_path / "ddp" / "metadata.json").read_text())
    assert meta["status"] == "failed"


def test_ddp_train_outside_torchrun_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli(["run", "--mode", "ddp-train", "--arch", "lstm", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert "needs torchrun" in result.stderr
