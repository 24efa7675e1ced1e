"""The first hour's reading (issue 22): a README of at most 10,000 characters whose three goals take under 2,000
characters each, links that lead somewhere, a gate snippet that is the template's, and a Makefile whose first
command answers. (The site itself is built strictly by ``make docs`` in CI.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
GOALS = (
    "## Is GRU or LSTM faster here?",
    "## Gate a torch upgrade in GitHub Actions",
    "## From Python or a notebook",
)


def _section(heading: str) -> str:
    start = README.index(heading)
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_the_readme_is_short_and_each_goal_shorter() -> None:
    assert len(README) <= 10_000
    for heading in GOALS:
        assert len(_section(heading)) < 2_000, heading


@pytest.mark.parametrize(
    "doc", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
)
def test_relative_links_lead_to_files(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code is not a link
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if "://" in target or target.startswith("#"):
            continue
        path = (ROOT / doc).parent / target.split("#")[0]
        assert path.exists(), f"{doc}: {target}"
    assert "shared/" not in text.replace("docs/shared", "")  # developers' notes are not the product's


def test_the_readme_gate_is_the_templates() -> None:
    snippet = re.search(r"```bash\n(rnnbench ab .*?)```", _section(GOALS[1]), re.S)
    assert snippet is not None
    template = (ROOT / "docs" / "ci" / "rnnbench-gate.yml").read_text(encoding="utf-8")
    options = set(re.findall(r"(--[a-z-]+)", snippet.group(1).split(" -- ")[0]))
    assert {"--base-python", "--head-python", "--min-effect", "--budget", "--allow-diff"} <= options
    assert all(option in template for option in options)
    assert "--rounds" not in snippet.group(1) and "--threads 1" in snippet.group(1)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_picks_the_torch_index_and_bench_answers() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout

    default = dry("install")
    assert '"torch==' in default and "--index-url" not in default  # pip's configured index, as before
    cpu = dry("install", "TORCH_INDEX=cpu")
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "--index-url https://download.pytorch.org/whl/cu126" in dry("install", "TORCH_INDEX=cu126")
    assert "--index-url https://mirror.example/simple" in dry(
        "install", "TORCH_INDEX=https://mirror.example/simple"
    )
    bench = dry("bench", "RUN_ID=x")
    assert "rnnbench run --preset quick --rounds 5 --threads 1 --output results --run-id x" in bench
    assert "rnnbench report results/x" in bench
