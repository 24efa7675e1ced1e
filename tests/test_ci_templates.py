"""The CI templates users copy (docs/ci/) and rnnbench's own workflows: zizmor finds nothing, and each gate
step's shell runs as a GitHub runner would run it (``bash -e``, its env, ``$GITHUB_OUTPUT``,
``$GITHUB_STEP_SUMMARY``) — against a fake ``rnnbench`` for every exit code, against the real argument parser,
and (slow) against the real ``rnnbench ab`` on a tiny grid. The comment workflow's script runs under node with
a fake GitHub API. What no runner here can do: the checkouts, pip installs from the internet, the upload and
download of artifacts, github-action-benchmark's push."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "docs" / "ci").glob("*.yml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GATED = {  # file → does it pass --allow-diff torch (a user's torch pin changes), does its gate step fail itself
    "docs/ci/rnnbench-gate.yml": (True, True),
    "docs/ci/rnnbench-history.yml": (True, False),
    ".github/workflows/benchmark.yml": (False, True),
}


def _zizmor() -> str:
    found = Path(sys.executable).with_name("zizmor")
    return str(found) if found.exists() else shutil.which("zizmor") or pytest.skip("zizmor is not installed")


def test_the_workflows_and_templates_pass_zizmor(tmp_path: Path) -> None:
    files = [str(p) for p in TEMPLATES + WORKFLOWS]
    assert len(TEMPLATES) == 3 and files
    done = subprocess.run([_zizmor(), "--offline", "--no-progress", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # and zizmor does see what it is for: the old example's unpinned action and an injectable expression
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    done = subprocess.run([_zizmor(), "--offline", "--no-progress", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "unpinned" in done.stdout + done.stderr


def _workflow(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def _step(workflow: dict, step_id: str) -> dict:
    (job,) = workflow["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("id") == step_id]
    return step


def _expressions(text: str, context: dict[str, str]) -> str:
    """``${{ a.b }}`` → its value in ``context`` (every expression a gate step uses must be listed)."""
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: context[m.group(1)], text)


def _run_step(
    rel: str, step_id: str, workspace: Path, extra_env: dict[str, str]
) -> subprocess.CompletedProcess:
    """The step's ``run`` under ``bash -e`` (GitHub's default shell), with the workflow's and the step's env,
    the runner's variables and ``working-directory``."""
    workflow = _workflow(rel)
    step = _step(workflow, step_id)
    temp = workspace / "_temp"
    temp.mkdir(exist_ok=True)
    context = {"runner.temp": str(temp), "github.event.pull_request.number": "17"}
    env = {k: str(v) for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env |= {k: _expressions(str(v), context) for k, v in (workflow.get("env") or {}).items()}
    env |= {k: _expressions(str(v), context) for k, v in (step.get("env") or {}).items()}
    env |= {
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(workspace / "_output"),
        "GITHUB_STEP_SUMMARY": str(workspace / "_summary"),
        **extra_env,
    }
    script = workspace / "_step.sh"
    script.write_text(_expressions(step["run"], context))
    cwd = _expressions(step.get("working-directory", str(workspace)), context)
    return subprocess.run(["bash", "-e", str(script)], cwd=cwd, env=env, capture_output=True, text=True)


FAKE = """#!/usr/bin/env bash
printf '%s\\n' "$@" > "$FAKE_ARGS"
echo '| case | verdict |'
echo '|---|---|'
echo '| lstm T=32 | no_change |'
exit "$FAKE_CODE"
"""


def _fake_side(workspace: Path, side: str, rnnbench: str) -> None:
    bin_dir = workspace / f"venv-{side}" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, body in (("rnnbench", rnnbench), ("python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')):
        path = bin_dir / name
        path.write_text(body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("rel", sorted(GATED))
@pytest.mark.parametrize("code", [0, 1, 4, 5, 6])
def test_the_gate_step_maps_each_exit_code(rel: str, code: int, tmp_path: Path) -> None:
    allow_torch, fails_itself = GATED[rel]
    for side in ("base", "head"):
        _fake_side(tmp_path, side, FAKE)
    args_file = tmp_path / "_args"
    done = _run_step(rel, "gate", tmp_path, {"FAKE_CODE": str(code), "FAKE_ARGS": str(args_file)})
    passes = code in (0, 5)
    assert done.returncode == (0 if passes or not fails_itself else code), done.stdout + done.stderr
    if code == 1:
        assert "::error::Confirmed slowdown beyond 3%" in done.stdout
    if code == 5:
        assert "::warning::Inconclusive" in done.stdout
    assert f"code={code}\n" in (tmp_path / "_output").read_text()
    assert "| lstm T=32 | no_change |" in (tmp_path / "_summary").read_text()  # the report, no image links
    assert "![" not in (tmp_path / "_summary").read_text()
    args = args_file.read_text().splitlines()
    split = args.index("--")
    assert args[0] == "ab" and args[split + 1 :] == ["--preset", "quick", "--threads", "1"]
    options = args[1:split]
    assert options[options.index("--base-python") + 1] == str(tmp_path / "venv-base/bin/python")
    assert options[options.index("--head-python") + 1] == str(tmp_path / "venv-head/bin/python")
    assert (
        options[options.index("--min-effect") + 1] == "3%" and options[options.index("--budget") + 1] == "10m"
    )
    assert ("--allow-diff" in options) == allow_torch and "--rounds" not in options
    if rel.endswith("rnnbench-gate.yml"):  # the comment workflow's artifact
        gate = tmp_path / "gate"
        assert (gate / "exit-code").read_text().strip() == str(code) and (
            gate / "pr-number"
        ).read_text() == "17\n"
        assert "no_change" in (gate / "report.md").read_text()
    if rel.endswith("rnnbench-history.yml"):  # its last step fails the job
        workflow = _workflow(rel)
        (job,) = workflow["jobs"].values()
        final = job["steps"][-1]
        script = tmp_path / "_final.sh"
        script.write_text(final["run"])
        env = {**os.environ, "CODE": str(code)}
        assert subprocess.run(["bash", "-e", str(script)], env=env).returncode == (0 if passes else code)


def _ab_options() -> set[str]:
    import typer

    from rnnbench.cli import app

    command = typer.main.get_command(app).get_command(None, "ab")  # type: ignore[attr-defined]
    return {name for param in command.params for name in getattr(param, "opts", [])}


@pytest.mark.parametrize("rel", sorted(GATED))
def test_the_gate_commands_options_exist(rel: str, tmp_path: Path) -> None:
    """Every option a template passes to ``rnnbench ab`` is one the installed rnnbench knows."""
    for side in ("base", "head"):
        _fake_side(tmp_path, side, FAKE)
    args_file = tmp_path / "_args"
    _run_step(rel, "gate", tmp_path, {"FAKE_CODE": "0", "FAKE_ARGS": str(args_file)})
    args = args_file.read_text().splitlines()
    used = {a for a in args[1 : args.index("--")] if a.startswith("-")}
    missing = used - _ab_options()
    if missing == {"--budget"}:  # the sequential gate's time budget (issue 20) is not in this rnnbench yet
        pytest.xfail("rnnbench ab has no --budget yet (the lead's sequential gate, issue 20)")
    assert not missing, missing


@pytest.mark.slow
def test_the_gate_step_with_the_real_rnnbench_ab(tmp_path: Path) -> None:
    """The gate template's step as written, both sides this interpreter (an A/A), on a one-case grid with a
    short budget: it must pass, with a Markdown report in the summary and the artifact."""
    if "--budget" not in _ab_options():
        pytest.skip("rnnbench ab has no --budget yet (the lead's sequential gate, issue 20)")
    real = f'#!/bin/sh\nexec "{sys.executable}" -m rnnbench "$@"\n'
    for side in ("base", "head"):
        _fake_side(tmp_path, side, real)
    grid = "--arch lstm --mode inference --seq-len 8 --hidden 8 --batch 2 --threads 1"
    done = _run_step(
        "docs/ci/rnnbench-gate.yml",
        "gate",
        tmp_path,
        {"RNNBENCH_GRID": grid, "BUDGET": "40s", "MIN_EFFECT": "20%"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "code=0" in (tmp_path / "_output").read_text()
    assert "|" in (tmp_path / "gate" / "report.md").read_text()


COMMENT_HARNESS = """
const fs = require('fs');
const scenario = JSON.parse(process.argv[2]);
const calls = [];
const core = { setFailed: (m) => calls.push(['failed', m]) };
const context = { repo: { owner: 'o', repo: 'r' }, payload: { workflow_run: {
  head_sha: 'abc1234def', html_url: 'https://github.com/o/r/actions/runs/1' } } };
const github = {
  rest: {
    pulls: { get: async ({ pull_number }) => ({ data: { number: pull_number, head: { sha: scenario.prHead } } }) },
    issues: {
      listComments: 'listComments',
      createComment: async (a) => calls.push(['create', a.issue_number, a.body]),
      updateComment: async (a) => calls.push(['update', a.comment_id, a.body]),
    },
  },
  paginate: async () => scenario.comments,
};
(async () => {
  await (async function () { SCRIPT })();
  console.log(JSON.stringify(calls));
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the github-script step")
def test_the_comment_scripts_checks_and_upsert(tmp_path: Path) -> None:
    step = next(
        s
        for s in _workflow("docs/ci/rnnbench-comment.yml")["jobs"]["comment"]["steps"]
        if "script" in s.get("with", {})
    )
    harness = tmp_path / "harness.js"
    harness.write_text(COMMENT_HARNESS.replace("SCRIPT", step["with"]["script"]))
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "report.md").write_text("| case | verdict |\n|---|---|\n| gru | regression |\n")

    def comment(pr: str, code: str, pr_head: str, comments: list) -> list:
        (gate / "pr-number").write_text(pr)
        (gate / "exit-code").write_text(code)
        scenario = json.dumps({"prHead": pr_head, "comments": comments})
        done = subprocess.run(["node", str(harness), scenario], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    ((kind, number, body),) = comment("17\n", "1\n", "abc1234def", [])
    assert (kind, number) == ("create", 17) and body.startswith("<!-- rnnbench-gate -->")
    assert "confirmed regression" in body and "| gru | regression |" in body and "abc1234" in body
    mine = {"id": 5, "user": {"type": "Bot"}, "body": "<!-- rnnbench-gate -->\nold"}
    other = {"id": 6, "user": {"type": "User"}, "body": "<!-- rnnbench-gate -->\nquoted by a person"}
    assert [c[:2] for c in comment("17", "0", "abc1234def", [other, mine])] == [["update", 5]]
    # a fork's artifact naming another pull request (whose head is not the measured commit): nothing posted
    assert comment("18", "0", "fff0000", []) == [
        ["failed", "PR #18's head fff0000 is not the measured abc1234def"]
    ]
    assert comment("17; rm -rf /", "0", "abc1234def", [])[0][0] == "failed"
    assert comment("17", "x", "abc1234def", [])[0][0] == "failed"
