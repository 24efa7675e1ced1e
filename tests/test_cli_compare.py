"""The commands ``compare``, ``ab``, ``calibrate``, ``history`` as a user types them: exit codes, formats, exports,
help texts, and that none of them imports torch.

``ab``/``calibrate`` get fake interpreters: small scripts that answer ``-m rnnbench run …`` by writing a run
folder, so the whole path (argument passing, subprocesses, ABBA, confirmation) runs without torch.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
)
from tests.runfolders import noisy, write_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """base; head_same (no change); head_slow (LSTM 40% slower); head_torch (other torch); head_fail (error)."""
    rng = np.random.default_rng(11)
    base = {"lstm": noisy(1000, 6, rng, 0.005), "gru": noisy(800, 6, rng, 0.005)}
    out = {"base": write_run(tmp_path / "base", "b", base)}
    out["same"] = write_run(
        tmp_path / "same", "s", {k: noisy(np.median(v), 6, rng, 0.005) for k, v in base.items()}
    )
    out["slow"] = write_run(tmp_path / "slow", "x", {"lstm": noisy(600, 6, rng, 0.005), "gru": base["gru"]})
    out["torch"] = write_run(tmp_path / "torch", "t", base, keys={"torch": "9.9"})
    out["fail"] = write_run(tmp_path / "fail", "f", base, status={"gru": "error"})
    out["few"] = write_run(tmp_path / "few", "w", {k: v[:3] for k, v in base.items()})
    return out


def test_compare_exit_codes(cli, folders: dict[str, Path]) -> None:
    def code(*args: object) -> int:
        result = cli([str(a) for a in args])
        return result.exit_code

    assert code("compare", folders["base"], folders["same"]) == EXIT_OK
    assert code("compare", folders["base"], folders["slow"]) == EXIT_REGRESSION
    assert code("compare", folders["base"], folders["torch"]) == EXIT_NOTHING_COMPARABLE
    assert code("compare", folders["base"], folders["torch"], "--allow-diff", "torch") == EXIT_OK
    assert code("compare", folders["base"], folders["fail"]) == EXIT_BENCHMARK_FAILED
    assert code("compare", folders["base"], folders["few"]) == EXIT_OK
    assert code("compare", folders["base"], folders["few"], "--strict") == EXIT_INCONCLUSIVE


def test_compare_table_and_summary(cli, folders: dict[str, Path]) -> None:
    result = cli(["compare", str(folders["base"]), str(folders["slow"])])
    assert "regression" in result.stdout and "lstm native inference cpu float32" in result.stdout
    assert "1 regression" in result.stderr and "exit 1" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["only-one"], "two folders"),
        (["{base}", "{same}", "--min-effect", "5"], "did you mean 5%"),
        (["{base}", "{same}", "--min-effect", "abc"], "fraction like 0.05"),
        (["{base}", "{same}", "--allow-diff", "thread"], "Did you mean 'threads'"),
        (["{base}", "{same}", "--format", "xml"], "Unknown format"),
        (["{base}", "{same}", "--export", "md"], "FORMAT=PATH"),
        (["{base}", "{same}", "--alpha", "0.9"], "--alpha"),
        (["{base}", "/nonexistent/folder"], "no such file"),
    ],
)
def test_compare_usage_errors(cli, folders: dict[str, Path], args: list[str], message: str) -> None:
    result = cli(["compare", *(a.format(**{k: str(v) for k, v in folders.items()}) for a in args)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.stderr and result.stderr.startswith("Error: ")


def test_compare_formats_and_exports(cli, folders: dict[str, Path], tmp_path: Path) -> None:
    result = cli(["compare", str(folders["base"]), str(folders["slow"]), "--format", "json"])
    assert json.loads(result.stdout)["exit_code"] == EXIT_REGRESSION
    result = cli(["compare", str(folders["base"]), str(folders["slow"]), "-f", "github-benchmark"])
    assert {e["unit"] for e in json.loads(result.stdout)} == {"tokens/s"}
    md, gab = tmp_path / "out" / "report.md", tmp_path / "out" / "bench.json"
    result = cli(
        [
            "compare",
            str(folders["base"]),
            str(folders["slow"]),
            "--export",
            f"md={md}",
            f"github-benchmark={gab}",
        ]
    )
    assert result.exit_code == EXIT_REGRESSION
    assert md.read_text().startswith("## rnnbench regression gate")
    assert len(json.loads(gab.read_text())) == 2
    assert "head tok/s" in result.stdout  # the table still goes to stdout


def test_gate_option_defaults_are_the_gate_settings(cli, folders: dict[str, Path]) -> None:
    """compare, ab and calibrate share one option block whose defaults are GateSettings' own."""
    import typer

    from rnnbench.cli import app
    from rnnbench.cli.gate_options import parse_fraction
    from rnnbench.gate.settings import GateSettings

    result = cli(["compare", str(folders["base"]), str(folders["same"]), "-f", "json"])
    assert json.loads(result.stdout)["settings"] == GateSettings().as_dict()
    defaults = GateSettings()
    group = typer.main.get_command(app)
    for name in ("compare", "ab", "calibrate"):
        params = {p.name: p.default for p in group.commands[name].params}
        assert parse_fraction("--min-effect", params["min_effect"]) == defaults.min_effect
        for key in ("alpha", "level", "n_boot", "seed"):
            assert params[key] == getattr(defaults, key), (name, key)
        if name != "calibrate":
            assert params["strict"] is defaults.strict and not params["allow_diff"]


def test_compare_with_several_folders_per_side(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    for k in range(6):
        write_run(tmp_path / f"b{k}", f"base-r{k}", {"lstm": noisy(1000, 1, rng)})
        write_run(tmp_path / f"h{k}", f"head-r{k}", {"lstm": noisy(500, 1, rng)})
    bases = [str(tmp_path / f"b{k}") for k in range(6)]
    heads = [str(tmp_path / f"h{k}") for k in range(6)]
    result = cli(["compare", "--base", *bases, "--head", *heads, "-f", "json"])
    data = json.loads(result.stdout)
    assert data["base"]["rounds"] == 6 and data["cases"][0]["verdict"] == "regression"
    assert result.exit_code == EXIT_REGRESSION


def test_history_command(cli, tmp_path: Path) -> None:
    for i, level in enumerate([1000, 1002, 998, 1000, 1001, 999, 1000, 1000, 850, 845, 840]):
        write_run(tmp_path, f"r{i}", {"lstm": [float(level)]}, started_at=f"2026-03-{i + 1:02d}")
    result = cli(["history", str(tmp_path)])
    assert result.exit_code == EXIT_REGRESSION, result.output
    assert "slowdown" in result.stdout and "r8" in result.stdout and "1 warning" in result.stderr
    result = cli(["history", str(tmp_path), "--threshold", "20%", "-f", "csv"])
    assert result.exit_code == EXIT_OK and result.stdout.startswith("name,case_id")
    result = cli(["history", str(tmp_path), "-f", "json"])
    [case] = json.loads(result.stdout)["cases"]
    change = case["last_change_tested"]  # the tested change: p simulated, Holm-adjusted, with its interval
    assert change["run_id"] == "r8" and change["significant"] and change["magnitude"] < -0.1
    assert change["ratio_low"] < change["ratio"] < change["ratio_high"] < 1 and change["p_adjusted"] < 0.05
    assert [c["run_id"] for c in case["change_points"]] == ["r8"]  # PELT's segment boundary, described


def test_compare_help_states_what_alpha_promises(cli) -> None:
    """The false-alarm promise is per run and one-sided, and it rests on exchangeable rounds: the help says so
    where it describes the statistics."""
    text = " ".join(cli(["compare", "--help"]).stdout.split())
    assert "False alarms are controlled per run" in text and "Holm" in text and "one-sided" in text
    assert "exchangeable rounds" in text and "different CI jobs" in text
    assert "7 up to 34" in text  # the rounds the corrected level needs
    ab_text = " ".join(cli(["ab", "--help"]).stdout.split())
    assert "exits 1 with probability ≤ --alpha, however often the gate looked" in ab_text
    assert "√α to flag, √α to confirm" in ab_text and "128" in ab_text and "Rounds only" in ab_text


def test_compare_json_records_the_family(cli, folders: dict[str, Path]) -> None:
    data = json.loads(cli(["compare", str(folders["base"]), str(folders["slow"]), "-f", "json"]).stdout)
    control = data["false_alarm_control"]
    assert control["correction"] == "holm" and control["family_size"] == 2
    assert control["first_step_level"] == pytest.approx(0.005)
    lstm = next(c for c in data["cases"] if c["arch"] == "lstm")
    assert lstm["verdict"] == "regression" and lstm["p_side"] == "slower"
    assert lstm["p_value"] == pytest.approx(min(1.0, 2 * lstm["p_raw"]))  # the smallest p of two: ×2


@pytest.mark.parametrize("command", ["compare", "ab", "calibrate", "history"])
def test_help_documents_exit_codes(cli, command: str) -> None:
    result = cli([command, "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes" in text
    for code in ("0", "2", "3"):
        assert f"{code} " in text
    if command in ("compare", "ab"):
        assert "most severe wins" in text and "--strict" in text


# ---- ab and calibrate through fake interpreters ---------------------------------------------------------
FAKE_PYTHON = """#!{python}
import random, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
args = sys.argv[1:]
assert args[:3] == ["-m", "rnnbench", "run"], args
if args[-1] == "--help":
    print("Usage: rnnbench run")
    sys.exit(0)
if {fail!r}:
    print("loading model…\\nTraceback (most recent call last):\\nRuntimeError: worker crashed", file=sys.stderr)
    sys.exit(3)
from tests.runfolders import write_run
out, run_id = Path(args[args.index("--output") + 1]), args[args.index("--run-id") + 1]
random.seed(run_id)
level = {level} * (2 if "--preset" in args else 1)  # proves the grid arguments arrive
write_run(out, run_id, {{"lstm": [level * (1 + random.gauss(0, 0.005))], "gru": [800 * (1 + random.gauss(0, 0.005))]}})
"""


def fake_python(tmp_path: Path, name: str, level: float, fail: bool = False) -> Path:
    path = tmp_path / name
    tests = str(Path(__file__).resolve().parent.parent)  # the repo root, so `tests.runfolders` imports
    path.write_text(FAKE_PYTHON.format(python=sys.executable, tests=tests, fail=fail, level=level))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_ab_command_confirms_a_slowdown(cli, tmp_path: Path) -> None:
    base = fake_python(tmp_path, "base-python", 1000)
    head = fake_python(tmp_path, "head-python", 600)
    out = tmp_path / "ab"
    md = tmp_path / "ab.md"
    args = [
        "ab",
        "--base-python",
        str(base),
        "--head-python",
        str(head),
        "--rounds",
        "5",
        "--confirm-rounds",
        "5",
    ]
    result = cli([*args, "--output", str(out), "--export", f"md={md}", "--", "--preset", "quick"])
    assert result.exit_code == EXIT_REGRESSION, result.output
    assert "confirmed" in md.read_text()
    assert sorted(p.name for p in (out / "rounds" / "head").iterdir()) == [f"head-r{k}" for k in range(5)]
    assert (out / "confirm" / "base" / "base-c4" / "summary.csv").exists()
    assert "[10/10] head-c4" in result.stderr and "confirming on 5 fresh rounds" in result.stderr


def test_ab_command_reports_a_failed_round(cli, tmp_path: Path) -> None:
    base = fake_python(tmp_path, "base-python", 1000)
    head = fake_python(tmp_path, "head-python", 1000, fail=True)
    result = cli(["ab", "--base-python", str(base), "--head-python", str(head), "-o", str(tmp_path / "ab")])
    assert result.exit_code == EXIT_BENCHMARK_FAILED
    assert (
        "head-r0 failed with exit status 3" in result.stderr and "RuntimeError: worker crashed" in result.stderr
    )


def test_ab_command_usage_errors(cli, tmp_path: Path) -> None:
    base = fake_python(tmp_path, "base-python", 1000)
    result = cli(["ab", "--base-python", str(base), "--base-cmd", "x", "-o", str(tmp_path / "ab")])
    assert result.exit_code == EXIT_USAGE and "both given" in result.stderr
    result = cli(["ab", "--rounds", "3", "-o", str(tmp_path / "ab")])
    assert result.exit_code == EXIT_USAGE and "smallest one-sided exact p" in result.stderr
    result = cli(["ab", "-o", str(tmp_path / "ab"), "--", "--run-id", "x"])
    assert result.exit_code == EXIT_USAGE and "set by ab" in result.stderr
    result = cli(["ab", "--base-python", str(tmp_path / "nope"), "-o", str(tmp_path / "ab")])
    assert result.exit_code == EXIT_USAGE and "no such file" in result.stderr


def test_ab_command_with_base_cmd(cli, tmp_path: Path) -> None:
    python = fake_python(tmp_path, "fake-python", 1000)
    cmd = f"{python} -m rnnbench"
    result = cli(
        ["ab", "--base-cmd", cmd, "--head-cmd", cmd, "--rounds", "5", "-o", str(tmp_path / "ab"), "-f", "csv"]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "A/A" in result.stderr
    assert result.stdout.startswith("name,case_id")


def test_calibrate_command(cli, tmp_path: Path) -> None:
    python = fake_python(tmp_path, "python", 1000)
    result = cli(
        ["calibrate", "--python", str(python), "--rounds", "5", "-o", str(tmp_path / "cal"), "-f", "md"]
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "Smallest honest --min-effect on this machine" in result.stdout
    assert "false alarms" in result.stderr
    result = cli(["calibrate", "--python", str(python), "-o", str(tmp_path / "cal2"), "-f", "github-benchmark"])
    assert result.exit_code == EXIT_USAGE and "exports a comparison" in result.stderr
    # its one side is parsed like ab's two, and its errors name calibrate's own options (not --a-python)
    result = cli(["calibrate", "--python", str(tmp_path / "nope"), "-o", str(tmp_path / "cal3")])
    assert result.exit_code == EXIT_USAGE and f"--python {tmp_path / 'nope'}: no such file" in result.stderr
    result = cli(["calibrate", "--cmd", "", "-o", str(tmp_path / "cal3")])
    assert result.exit_code == EXIT_USAGE and "--cmd is empty" in result.stderr
    result = cli(["calibrate", "--python", str(python), "--cmd", "x", "-o", str(tmp_path / "cal3")])
    assert result.exit_code == EXIT_USAGE and "--python and --cmd both given" in result.stderr


@pytest.mark.skipif(os.name == "nt", reason="fake interpreters are shebang scripts")
def test_fake_python_is_executable(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(fake_python(tmp_path, "p", 1)), "-m", "rnnbench", "run", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "Usage" in proc.stdout


# ---- the paired mode through the CLI (fake workers: tests/fake_worker.py) ----------------------------------------
FAKE_WORKER = Path(__file__).resolve().parent / "fake_worker.py"


def test_ab_paired_command_and_json(cli, tmp_path: Path) -> None:
    cmd = f"{sys.executable} {FAKE_WORKER} ok"
    result = cli(
        ["ab", "--base-cmd", cmd, "--head-cmd", cmd, "--restarts", "4", "--pairs", "4", "--head-inject", "10%",
         "-o", str(tmp_path / "ab"), "-f", "json"]
    )  # fmt: skip
    assert result.exit_code == EXIT_REGRESSION, result.output
    data = json.loads(result.stdout)
    assert data["method"] == "paired" and data["false_alarm_control"]["test"].startswith(
        "anytime-valid one-sided t test"
    )
    assert all(c["verdict"] == "regression" and c["confirmed"] for c in data["cases"])
    assert "restart" in result.stderr and "Sequential paired gate: " in result.stderr


def test_ab_falls_back_when_a_side_cannot_serve(cli, tmp_path: Path) -> None:
    old = f"{sys.executable} {FAKE_WORKER} old"
    result = cli(["ab", "--base-cmd", old, "--head-cmd", old, "--rounds", "5", "-o", str(tmp_path / "ab")])
    assert result.exit_code == EXIT_OK, result.output
    assert "fell back to process rounds" in result.stderr and "ABBA rounds" in result.stdout


def test_calibrate_inject_json_keys(cli, tmp_path: Path) -> None:
    cmd = f"{sys.executable} {FAKE_WORKER} ok"
    result = cli(
        ["calibrate", "--cmd", cmd, "--inject", "5%", "10%", "--restarts", "4", "--pairs", "4",
         "--confirm-restarts", "4", "--min-effect", "3%", "-o", str(tmp_path / "cal"), "-f", "json"]
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    data = json.loads(result.stdout)
    assert {"honest_min_effect", "false_alarms", "power", "seconds"} <= set(data)
    assert data["power"] == {"0.05": 1.0, "0.1": 1.0} and data["false_alarms"] == 0  # beyond the 3% min effect
    result = cli(["calibrate", "--inject", "5%", "--method", "rounds", "-o", str(tmp_path / "c2")])
    assert result.exit_code == EXIT_USAGE and "needs the paired mode" in result.stderr


def test_compare_states_the_honest_min_effect(cli, folders: dict[str, Path]) -> None:
    result = cli(["compare", str(folders["base"]), str(folders["same"])])
    assert "can decide only effects beyond" in result.stderr
    data = json.loads(cli(["compare", str(folders["base"]), str(folders["same"]), "-f", "json"]).stdout)
    assert data["method"] == "rounds" and 0 < data["honest_min_effect"] < 0.1
