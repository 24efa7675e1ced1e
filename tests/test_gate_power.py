"""``benchmarks/gate_power.py`` runs in CI as far as a runner allows: its simulated stages for real (a couple
of simulated gate runs each, seconds), and its real stages' command lines parsed by the CLI — so the script
cannot drift from the gate it measures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer

from rnnbench.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    path = ROOT / "benchmarks" / "gate_power.py"
    spec = importlib.util.spec_from_file_location("rnnbench_gate_power_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gate_power = _load()


def test_real_stages_parse_with_the_cli(tmp_path: Path) -> None:
    command = typer.main.get_command(app)
    for name in gate_power.REAL:
        args = gate_power.real_args(tmp_path, name)
        sub = command.commands[args[0]]  # type: ignore[attr-defined]
        ctx = sub.make_context(args[0], list(args[1:]))  # raises on a bad value
        assert ctx.params["budget"] == "10m" and ctx.params["min_effect"] in ("3%", "1%")
        # ab passes unknown arguments on to the grid: only the grid's own may be left over
        assert ctx.args == gate_power.QUICK, ctx.args
    ab = command.commands["ab"]  # type: ignore[attr-defined]
    assert ab.make_context("ab", ["--no-such-option", "--", *gate_power.QUICK]).args != gate_power.QUICK
    with pytest.raises(Exception, match="valid integer"):  # typer's own click: BadParameter
        ab.make_context("ab", ["--restarts", "many"])


def test_simulated_stages_run_and_fill_the_table(tmp_path: Path, capsys: object) -> None:
    args = ["--stages", "sim-inj", "--runs", "4", "--sim-budget", "90", "--output", str(tmp_path)]
    assert gate_power.main(args) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "simulated injected 5% at 3%: confirmed" in out and "simulated injected 2% at 1%" in out
    assert (tmp_path / "gate_power.json").exists()
