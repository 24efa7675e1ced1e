"""``rnnbench train`` end to end: every task at tiny size, the tables, errors, Ctrl-C, and resume after a
SIGKILL of a real subprocess."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

TINY = (
    "--seeds 1 --steps 3 --eval-every 3 --eval-size 8 --val-size 8 --batch 4 --lr 0.01 --match hidden "
    "--hidden 4"
)


def _folder(root: Path) -> Path:
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    return run


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    path = tmp_path / "series.csv"
    path.write_text("x,y\n" + "".join(f"{i},{math.cos(i / 7):.5f}\n" for i in range(300)))
    return path


TASK_ARGS = {
    "adding": "--seq-len 6",
    "copy": "--seq-len 3 --copy-symbols 2",
    "selective-copy": "--seq-len 6",
    "temporal-order": "--seq-len 12",
    "parity": "--seq-len 5",
    "anbn": "--seq-len 3",
    "charlm": "--seq-len 12",
    "series": "--seq-len 10 --column y --csv {csv}",
    "digits": "",
}


@pytest.mark.parametrize("task", list(TASK_ARGS))
def test_every_task_tiny(cli: Any, tmp_path: Path, series_csv: Path, task: str) -> None:
    out = tmp_path / "out"
    args = f"train --task {task} --arm lstm gru {TINY} {TASK_ARGS[task].format(csv=series_csv)} --output {out}"
    result = cli(args)
    assert result.exit_code == 0, result.output
    run = _folder(out)
    summary = _rows(run / "train_summary.csv")
    assert [r["arm"] for r in summary] == ["lstm", "gru"]
    assert all(r["status"] == "ok" and r["steps"] == "3" for r in summary)
    assert len(_rows(run / "curves.csv")) == 4  # steps 0 and 3, two arms
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["kind"] == "train" and meta["status"] == "complete" and meta["env"]["torch"]
    assert meta["settings"]["tasks"] == [task]
    assert "gru − lstm" in result.output and "[95% CI]" in result.output


def test_sweep_table_horizon_and_lr_choice(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = (
        "train --task adding --arm lstm-fb1 gru rnn --seeds 2 --steps 4 --eval-every 2 --eval-size 8 --batch 4 "
        f"--hidden 6 --seq-len 4 8 --lr 0.01 0.003 --output {out}"
    )
    result = cli(args)
    assert result.exit_code == 0, result.output
    rows = _rows(_folder(out) / "train_summary.csv")
    assert len(rows) == 3 * 2 * 2 * 2  # arms × seeds × lengths × lrs: every sweep row kept
    assert "Memory horizon: adding" in result.output
    assert "largest solved" in result.output
    assert "chosen per arm by median validation" in result.output
    assert "gru − lstm-fb1" in result.output
    selected = json.loads((_folder(out) / "metadata.json").read_text())["selected_lr"]
    # one per (task, length, size, arm), sorted by them, as ``rnnbench train`` has always stored it
    assert [(r["seq_len"], r["arm"]) for r in selected] == [
        (n, a) for n in (4, 8) for a in ("gru", "lstm-fb1", "rnn")
    ]
    assert all(set(r) == {"task", "seq_len", "match", "budget", "arm", "lr"} for r in selected)
    assert all(r["task"] == "adding" and r["match"] == "params" and r["lr"] in (0.01, 0.003) for r in selected)


def test_unknown_names_and_bad_combinations(cli: Any, tmp_path: Path) -> None:
    result = cli(f"train --task addng --output {tmp_path}")
    assert result.exit_code == 2 and "Did you mean 'adding'" in result.output
    result = cli(f"train --arm gur --output {tmp_path}")
    assert result.exit_code == 2 and "Did you mean 'gru'" in result.output
    result = cli(f"train --preset quik --output {tmp_path}")
    assert result.exit_code == 2 and "quick" in result.output
    result = cli(f"train --impl numpy --output {tmp_path}")
    assert result.exit_code == 2 and "inference-only" in result.output
    result = cli(f"train --task series --output {tmp_path}")
    assert result.exit_code == 2 and "--csv FILE" in result.output
    assert not list(tmp_path.iterdir())  # nothing created for a bad command


def test_resume_refuses_new_settings(cli: Any, tmp_path: Path) -> None:
    result = cli(f"train --resume {tmp_path} --steps 5")
    assert result.exit_code == 2 and "drop the other settings (steps)" in result.output
    result = cli(f"train --resume {tmp_path}")
    assert result.exit_code == 2 and "metadata.json" in result.output


def test_ctrl_c_keeps_finished_rows(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnbench.learn.session as train_mod

    real = train_mod.train_unit
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_unit", flaky)
    result = cli(f"train --task adding --seq-len 6 --arm lstm gru {TINY} --output {tmp_path}")
    assert result.exit_code == 130
    run = _folder(tmp_path)
    assert len(_rows(run / "train_summary.csv")) == 1
    assert json.loads((run / "metadata.json").read_text())["status"] == "interrupted"


def test_resume_after_kill(cli: Any, tmp_path: Path) -> None:
    """SIGKILL a real run once a unit is on disk, resume it, and check nothing is lost or duplicated."""
    out = tmp_path / "runs"
    seeds, steps, every = 4, 40, 10
    args = [
        sys.executable, "-m", "rnnbench", "train", "--task", "adding", "--seq-len", "10",
        "--arm", "lstm", "gru",
        "--seeds", str(seeds), "--steps", str(steps), "--eval-every", str(every), "--eval-size", "16",
        "--batch", "8", "--hidden", "8", "--lr", "0.01", "--threads", "1", "--output", str(out),
    ]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            files = list(out.glob("*/train_summary.csv")) if out.exists() else []
            if files and len(_rows(files[0])) >= 1:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    run = _folder(out)
    before = len(_rows(run / "train_summary.csv"))
    assert 1 <= before < 2 * seeds, "the kill should land mid-run"
    result = cli(["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    rows = _rows(run / "train_summary.csv")
    keys = [(r["arm"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * seeds
    curves = _rows(run / "curves.csv")
    curve_keys = [(r["arm"], r["seed"], r["step"]) for r in curves]
    assert len(curve_keys) == len(set(curve_keys)) == 2 * seeds * (steps // every + 1)
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "complete" and len(meta["resumed"]) == 1


def test_one_seed_says_its_interval_is_missing(cli: Any, tmp_path: Path) -> None:
    """One seed has no interval; the table says so in words ('[n too small]' once vanished as Rich markup)."""
    result = cli(f"train --task adding --seq-len 6 --arm lstm gru {TINY} --output {tmp_path}")
    assert result.exit_code == 0, result.output
    assert "[n too small]" in result.stdout
