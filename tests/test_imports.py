"""What each way into rnnbench imports, in one fresh interpreter (README, "Design": only the measuring half
imports torch; ``--help`` and completion stay free of the numeric stack; figures never touch pyplot).

One probe process walks the steps in the order a process would meet them — each step imports at most what
the later ones may — and records, after each, which heavy modules are loaded; each step is then its own test
case. One interpreter instead of seven: the probes used to cost a fresh start (and a torch-free import of
pandas and matplotlib) each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.runfolders import noisy, write_run

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
HEAVY = ("torch", "numpy", "pandas", "matplotlib.pyplot")

PROBE = r"""
import contextlib, io, json, os, sys
from pathlib import Path

base, slow, hist, golden, out = sys.argv[1:6]
seen = {}


def record(step):
    seen[step] = sorted(m for m in ("torch", "numpy", "pandas", "matplotlib.pyplot") if m in sys.modules)


def quietly(call):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            call()
        except SystemExit:
            pass


import rnnbench
record("import rnnbench")
import rnnbench.cli
from rnnbench.cli import app, main
record("import rnnbench.cli")
os.environ.update(_RNNBENCH_COMPLETE="complete_bash", COMP_WORDS="rnnbench run -i n", COMP_CWORD="3")
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    try:
        main()
    except SystemExit:
        pass
for key in ("_RNNBENCH_COMPLETE", "COMP_WORDS", "COMP_CWORD"):
    del os.environ[key]
seen["completion output"] = buf.getvalue().split()
record("completion")
for args in (["--help"], *([c, "--help"] for c in ("run", "list", "env", "verify", "ab", "calibrate"))):
    quietly(lambda: app(args, prog_name="rnnbench"))
record("--help")
quietly(lambda: app(["compare", base, slow, "-f", "md"], prog_name="rnnbench"))
quietly(lambda: app(["history", hist], prog_name="rnnbench"))
record("compare and history")
quietly(lambda: app(["report", golden, "--out", out, "-q", "-f", "md"], prog_name="rnnbench"))
record("report")
from rnnbench.analyse.report import make_report
from rnnbench.present.plots import FIGURES
report = make_report([Path(golden)])
for spec in FIGURES:
    spec.build(report)
record("every figure")
print(json.dumps(seen))
"""

ALLOWED: dict[str, set[str]] = {
    "import rnnbench": set(),  # the API is imported on first use
    "import rnnbench.cli": set(),  # declaring the commands (defaults included) pulls in no numeric stack
    "completion": set(),  # completion answers at once: nothing heavy either
    "--help": set(),
    "compare and history": {"numpy", "pandas"},  # a CI gate starts fast and runs without torch
    "report": {"numpy", "pandas"},
    "every figure": {"numpy", "pandas"},  # matplotlib's object API only, never pyplot
}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    tmp = tmp_path_factory.mktemp("imports")
    rng = np.random.default_rng(11)
    base = {"lstm": noisy(1000, 6, rng, 0.005), "gru": noisy(800, 6, rng, 0.005)}
    base_dir = write_run(tmp / "base", "b", base)
    slow_dir = write_run(tmp / "slow", "x", {"lstm": noisy(600, 6, rng, 0.005), "gru": base["gru"]})
    for i in range(4):
        write_run(tmp / "hist", f"r{i}", {"lstm": [1000.0]}, started_at=f"2026-04-0{i + 1}")
    args = [str(base_dir), str(slow_dir), str(tmp / "hist"), str(GOLDEN), str(tmp / "report")]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("step", list(ALLOWED))
def test_each_way_in_imports_only_what_it_needs(probe: dict[str, list[str]], step: str) -> None:
    loaded = set(probe[step])
    assert loaded <= ALLOWED[step], f"{step} imported {sorted(loaded - ALLOWED[step])}"


def test_completion_answered_inside_the_probe(probe: dict[str, list[str]]) -> None:
    """The completion step really completed (so its 'imports nothing heavy' is about a real answer)."""
    assert probe["completion output"] == ["native", "numpy"]


def test_the_probe_sees_heavy_imports(tmp_path: Path) -> None:
    """The probe's recording is not blind: a heavy import shows."""
    code = PROBE.split("import rnnbench\n")[0] + "import numpy\nrecord('m')\nprint(seen)"
    args = ["x"] * 5
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    assert "'numpy'" in out.stdout
