"""The one-shot device check: what rnnbench does on an NVIDIA GPU, run once, unattended, as one table.

GPU time is scarce (a lent machine, a window of minutes, no single command over 10 minutes, no network), so the
check is built to survive its first run:

* every step is a real command in a fresh process group with its own timeout, its stdout and stderr in log
  files (kept when it times out; the whole group is killed, torchrun's ranks too);
* each step's row goes to stdout and to ``OUT/gpu_check.md`` (and ``OUT/gpu_check.jsonl``) the moment the step
  ends, and ``OUT/gpu_check.tar.gz`` (the rows, every step's logs and run folders) is re-packed after every
  step: a check cut short keeps everything it finished;
* a deadline (``--deadline``, default 540 s, below a 10-minute command limit) clips each step's timeout to
  the time left and marks the steps it cannot start SKIP, with the reason;
* the steps run in order of what they are worth (the TF32 fix's float32 check and the headline timing grid
  first, ``compiled`` last) and PASS only when something was measured: a requested implementation that is
  unsupported is a SKIP row with torch's reason, a step where nothing ran is SKIP, an error or a dtype other
  than the one asked for is FAIL.

Exit 1 when any step fails, 0 otherwise (SKIP is not a failure: it says why the step could not run here, e.g.
one GPU only for the pool and DDP steps); 130 when interrupted (the rows so far are packed).

On a fresh GPU machine (a CUDA torch preinstalled, no network; docs/development.md, "The GPU check", says
what to carry and the one command)::

    python3 -m pip install --no-deps --no-build-isolation -e .
    python3 benchmarks/gpu_check.py --out "$OUT"          # ≤ 9 min: --deadline 540 (--quick: shorter steps)
    python3 benchmarks/gpu_check.py --dry-run              # the steps and their commands; runs nothing

``tests/test_gpu_check.py`` runs every planned ``rnnbench`` command with ``--dry-run`` (``verify`` parsed with
its computation replaced) on the CPU, so an option that does not exist fails CI, not the GPU window.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent

DEADLINE_S = 540.0
"""Default wall-clock limit of the whole check: under a 10-minute command limit, with room to pack."""
RESERVE_S = 15.0
"""Seconds kept back from the deadline for the last packing and the closing lines."""
MIN_STEP_S = 20.0
"""A step is not started with less than this (or its own timeout, if shorter) left before the deadline."""
KILL_GRACE_S = 5.0
"""After SIGTERM, seconds a timed-out step's process group gets before SIGKILL."""

IMPL_ORDER = ("native", "aten", "cell", "scratch", "compiled", "numpy")
MODE_ORDER = ("inference", "forward", "backward", "train", "ddp-train")
DTYPE_ORDER = ("float32", "bfloat16", "float16")


@dataclass
class Ran:
    """What one step's command did."""

    rc: int | None  # None: it did not finish (timed out, interrupted) or could not start
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str = ""  # why it could not start

    def last_line(self) -> str:
        """The last non-blank line of stderr, else of stdout: what a failing command said last."""
        return _last_line(self.stderr) or _last_line(self.stdout)


@dataclass
class Outcome:
    status: str  # PASS | FAIL | SKIP
    backend: str = ""
    dtype_ran: str = ""
    figures: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Requested parts that could not run here, each ``(what, why)`` (torch's reason): one SKIP row each."""
    gpus: int | None = None
    """``env`` only: how many CUDA GPUs torch sees."""


Checker = Callable[["Step", Ran, Path], Outcome]


@dataclass
class Step:
    name: str
    argv: list[str]
    timeout_s: int
    check: Checker
    needs_gpus: int = 1
    folder: str = ""
    """The step's own results folder under the work folder (its ``--output``), read by its checker."""


# ---- reading what a step wrote ---------------------------------------------------------------------------
def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _order(value: object, order: tuple[str, ...]) -> tuple[int, str]:
    text = str(value)
    return (order.index(text) if text in order else len(order), text)


def _summary(folder: Path):  # type: ignore[no-untyped-def]  # pandas is imported lazily
    import pandas as pd

    files = sorted(folder.rglob("summary.csv"))
    if not files:
        return pd.DataFrame()
    frames = [pd.read_csv(f, dtype={"case_id": str, "run_id": str, "fingerprint": str}) for f in files]
    return pd.concat(frames, ignore_index=True)


def ratios(frame) -> str:  # type: ignore[no-untyped-def]
    """GRU/LSTM median-time ratio per (impl, mode, dtype[, workload, lengths]) of the ok rows, ``native``
    (cuDNN, the headline) first and every combination shown: the figure a user asks for first."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty or not {"gru", "lstm"} <= set(ok["arch"]):
        return ""
    extra = [c for c in ("workload", "length_spread") if c in ok.columns and ok[c].nunique(dropna=False) > 1]
    keys = ["impl", "mode", "dtype", *extra]
    med = ok.groupby([*keys, "arch"], dropna=False)["median_s"].median().unstack("arch")
    med = med.dropna(subset=["gru", "lstm"])
    by_impl: dict[str, list[tuple[tuple[Any, ...], str]]] = {}
    for key, gru, lstm in zip(med.index, med["gru"], med["lstm"], strict=True):
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        label = " ".join([str(values["mode"]), str(values["dtype"])] + [f"{c}={values[c]}" for c in extra])
        order = (_order(values["mode"], MODE_ORDER), _order(values["dtype"], DTYPE_ORDER), label)
        by_impl.setdefault(str(values["impl"]), []).append((order, f"{label} {gru / lstm:.2f}"))
    parts = [
        f"{impl}: " + ", ".join(text for _, text in sorted(by_impl[impl]))
        for impl in sorted(by_impl, key=lambda i: _order(i, IMPL_ORDER))
    ]
    return "GRU/LSTM " + "; ".join(parts)


def _skipped_parts(frame) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The unsupported or skipped rows as ``(impl dtype (modes), reason)``: one entry per impl and dtype."""
    rows = frame[frame["status"].isin(["unsupported", "skipped"])]
    found: dict[tuple[str, str], tuple[set[str], str]] = {}
    for r in rows.itertuples():
        key = (str(r.impl), str(r.dtype))
        found.setdefault(key, (set(), str(r.message)))[0].add(str(r.mode))
    return [
        (f"{impl} {dtype} ({', '.join(sorted(modes, key=lambda m: _order(m, MODE_ORDER)))})", message)
        for (impl, dtype), (modes, message) in sorted(
            found.items(), key=lambda kv: (_order(kv[0][0], IMPL_ORDER), _order(kv[0][1], DTYPE_ORDER))
        )
    ]


def check_run(step: Step, ran: Ran, folder: Path) -> Outcome:
    """A ``run`` (or torchrun ``ddp-train``) step: PASS only with measured rows, no error or oom row, exit 0
    and every measured row computed in the dtype it asked for (``compute_dtype``)."""
    frame = _summary(folder)
    if frame.empty:
        return Outcome("FAIL", figures=f"exit {ran.rc}, no rows: {ran.last_line()}")
    counts = "; ".join(f"{k} {v}" for k, v in frame["status"].value_counts().items())
    skipped = _skipped_parts(frame)
    ok = frame[frame["status"] == "ok"]
    backends = ", ".join(sorted(set(ok["backend"].dropna().astype(str)))) if "backend" in ok else ""
    ran_dtypes, wrong = _dtypes_ran(ok)
    errors = frame[frame["status"].isin(["error", "oom"])]
    detail = f"{ratios(frame)} ({counts})".strip()
    if not errors.empty:
        first = errors.iloc[0]
        where = f"{first['arch']}/{first['impl']} {first['mode']} {first['dtype']}"
        return Outcome(
            "FAIL", backends, ran_dtypes, f"{detail}; first error: {where}: {first['message']}", skipped
        )
    if ran.rc != 0:
        return Outcome("FAIL", backends, ran_dtypes, f"exit {ran.rc}: {ran.last_line()}; {detail}", skipped)
    if ok.empty:
        return Outcome("SKIP", figures=f"nothing measured ({counts})", skipped=skipped)
    if wrong:
        return Outcome("FAIL", backends, ran_dtypes, f"{wrong}; {detail}", skipped)
    return Outcome("PASS", backends, ran_dtypes, detail, skipped)


def _dtypes_ran(ok) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The dtypes the ok rows computed in (``compute_dtype``) and, if any row computed in another dtype than it
    asked for, what to say about it."""
    if ok.empty:
        return "", ""
    if "compute_dtype" not in ok.columns or ok["compute_dtype"].isna().all():
        return "not recorded", ""
    observed = ok["compute_dtype"].fillna("not recorded").astype(str)
    wrong = ok[observed != ok["dtype"].astype(str)]
    text = ", ".join(sorted(set(observed), key=lambda d: _order(d, DTYPE_ORDER)))
    if wrong.empty:
        return text, ""
    first = wrong.iloc[0]
    return text, (
        f"asked for {first['dtype']}, computed in {first['compute_dtype']} ({first['arch']}/{first['impl']} "
        f"{first['mode']}; {len(wrong)} row(s))"
    )


def parse_verify_table(output: str) -> list[dict[str, str]]:
    """The rows of ``rnnbench verify``'s table (arch, impl, vs, status, note) from its printed output, columns
    found by the header's names (a column added to the table must not shift them); a note wrapped onto
    continuation lines is joined back."""
    rows: list[dict[str, str]] = []
    names: list[str] = []
    for line in output.splitlines():
        if line.startswith("┃") and not names:
            names = [c.strip() for c in line.strip().strip("┃").split("┃")]
            continue
        if not line.startswith("│") or not names:
            continue
        cells = dict(zip(names, (c.strip() for c in line.strip().strip("│").split("│")), strict=False))
        if len(cells) < len(names):
            continue
        if cells["arch"]:
            rows.append({"arch": cells["arch"], "impl": cells["impl"], "vs": cells.get("vs", "native"),
                         "status": cells["status"], "note": cells["note"]})  # fmt: skip
        elif rows and cells["note"]:
            rows[-1]["note"] = f"{rows[-1]['note']} {cells['note']}".strip()
    return rows


def check_verify(step: Step, ran: Ran, folder: Path) -> Outcome:
    """A ``verify`` step: PASS only when some implementation was compared and none disagrees; unsupported
    implementations are SKIP rows with their reason; nothing compared is SKIP; exit 1 is the mismatch."""
    rows = parse_verify_table(ran.stdout)
    if ran.rc not in (0, 1) or not rows:
        return Outcome("FAIL", figures=f"exit {ran.rc}, no verify table: {ran.last_line()}")
    ok = [r for r in rows if r["status"] == "ok"]
    bad = [r for r in rows if r["status"] == "mismatch"]
    reasons: dict[str, tuple[list[str], str]] = {}
    for r in rows:
        if r["status"] == "unsupported":
            reasons.setdefault(r["impl"], ([], r["note"]))[0].append(r["arch"])
    skipped = [(f"{impl} ({', '.join(archs)})", why) for impl, (archs, why) in reasons.items()]
    impls = ", ".join(dict.fromkeys(f"{r['impl']} vs {r['vs']}" for r in ok))
    if bad:
        first = bad[0]
        figures = f"{len(bad)} mismatch(es), e.g. {first['arch']}/{first['impl']}: {first['note']}"
        return Outcome("FAIL", figures=figures, skipped=skipped)
    if ran.rc != 0:
        return Outcome(
            "FAIL", figures=f"exit {ran.rc} without a mismatch row: {ran.last_line()}", skipped=skipped
        )
    if not ok:
        return Outcome(
            "SKIP", figures="nothing compared: every implementation is unsupported here", skipped=skipped
        )
    return Outcome(
        "PASS", figures=f"{len(ok)} of {len(rows)} checks agree with the reference ({impls})", skipped=skipped
    )


def check_train(step: Step, ran: Ran, folder: Path) -> Outcome:
    """A ``train`` step: PASS only with trained runs (ok or diverged), none failed, exit 0 and the recurrent
    stack computing in the dtype asked for."""
    import pandas as pd

    files = sorted(folder.rglob("train_summary.csv"))
    if not files:
        return Outcome("FAIL", figures=f"exit {ran.rc}, no train_summary.csv: {ran.last_line()}")
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    trained = frame[frame["status"].isin(["ok", "diverged"])]
    bad = frame[~frame["status"].isin(["ok", "diverged"])]
    observed = trained["compute_dtype"].dropna().astype(str) if "compute_dtype" in trained else pd.Series([])
    dtypes = ", ".join(sorted(set(observed))) or "not recorded"
    solved = trained.groupby("arm")["solved"].agg(lambda s: f"{int(s.astype(bool).sum())}/{len(s)}")
    figures = "solved " + ", ".join(f"{a} {v}" for a, v in solved.items()) if not trained.empty else ""
    wrong = trained[observed.reindex(trained.index).fillna("") != trained["dtype"].astype(str)]
    if not bad.empty:
        return Outcome(
            "FAIL", dtype_ran=dtypes, figures=f"{len(bad)} failed: {bad.iloc[0]['message']}; {figures}"
        )
    if ran.rc != 0:
        return Outcome("FAIL", dtype_ran=dtypes, figures=f"exit {ran.rc}: {ran.last_line()}; {figures}")
    if trained.empty:
        return Outcome("SKIP", figures="no run trained")
    if "compute_dtype" in trained and not wrong.empty:
        first = wrong.iloc[0]
        return Outcome("FAIL", dtype_ran=dtypes, figures=f"asked for {first['dtype']}, computed in "
                       f"{first['compute_dtype']}; {figures}")  # fmt: skip
    return Outcome("PASS", dtype_ran=dtypes, figures=figures)


def check_env(step: Step, ran: Ran, folder: Path) -> Outcome:
    """``rnnbench env --json``: the JSON is read from stdout alone (a warning on stderr is not JSON); how many
    GPUs torch sees decides which later steps can run."""
    if ran.rc != 0:
        return Outcome("FAIL", figures=f"exit {ran.rc}: {ran.last_line()}")
    text = ran.stdout
    env = json.loads(text[text.index("{") :] if "{" in text else text)
    gpus = env.get("gpus") or []
    if not gpus:
        return Outcome("FAIL", figures="no CUDA GPU visible to torch", gpus=0)
    names = ", ".join(sorted({str(g.get("name", "?")) for g in gpus}))
    return Outcome(
        "PASS",
        figures=f"torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, driver "
        f"{env.get('gpu_driver') or 'not read'}; {len(gpus)} × {names}",
        gpus=len(gpus),
    )


NEEDED = ("torch", "typer", "rich", "pandas", "numpy", "scipy", "psutil", "filelock")
"""rnnbench's requirements that the check's commands import (``matplotlib`` draws reports and ``ruptures`` finds
change points in ``history``: neither runs here, so neither fails the requirements step); plus pytest, for the
``cuda``-marked tests."""

DEPS_SCRIPT = r"""
import importlib.metadata as md, json, re
try:
    wanted = [r for r in (md.requires("rnnbench") or []) if "extra ==" not in r]
except md.PackageNotFoundError:
    print(json.dumps({"error": "rnnbench is not installed for this interpreter"})); raise SystemExit(0)
try:
    from packaging.requirements import Requirement
except ImportError:
    Requirement = None
found = []
for text in wanted + ["pytest"]:
    name = re.match(r"[A-Za-z0-9_.\-]+", text).group(0).lower()
    try:
        version = md.version(name)
    except md.PackageNotFoundError:
        version = None
    ok = version is not None and (
        Requirement is None or Requirement(text).specifier.contains(version, prereleases=True))
    found.append({"name": name, "wants": text, "version": version, "ok": ok})
print(json.dumps({"found": found}))
"""


def check_deps(step: Step, ran: Ran, folder: Path) -> Outcome:
    """rnnbench's requirements in the interpreter that runs the steps, versions checked: a missing or too old
    package that the steps import (typer, filelock on a bare GPU image) fails here, named, instead of every
    later step with an import error; the others are noted."""
    if ran.rc != 0:
        return Outcome("FAIL", figures=f"exit {ran.rc}: {ran.last_line()}")
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    if "error" in report:
        return Outcome("FAIL", figures=f"{report['error']}: python3 -m pip install --no-deps "
                       "--no-build-isolation -e .")  # fmt: skip
    found = {r["name"]: r for r in report["found"]}

    def said(r: dict[str, Any]) -> str:
        return f"{r['wants']} (missing)" if r["version"] is None else f"{r['wants']} (has {r['version']})"

    needed = [said(r) for name, r in found.items() if name in NEEDED and not r["ok"]]
    others = [said(r) for name, r in found.items() if name not in NEEDED and not r["ok"]]
    note = f"; not used by these steps: {', '.join(others)}" if others else ""
    if needed:
        return Outcome("FAIL", figures=f"needed: {', '.join(needed)}; carry wheels (docs/development.md){note}")
    versions = ", ".join(
        f"{n} {found[n]['version']}" for n in ("torch", "typer", "filelock", "pandas") if n in found
    )
    return Outcome("PASS", figures=f"what the steps import is installed as required ({versions}){note}")


def check_pytest(step: Step, ran: Ran, folder: Path) -> Outcome:
    """The ``cuda``-marked tests: PASS only when one passed; all skipped is SKIP with pytest's reason."""
    output = ran.stdout + ran.stderr
    if "No module named pytest" in output:
        return Outcome("SKIP", figures="pytest is not installed here")
    summary = _last_line(ran.stdout)
    if ran.rc == 0 and re.search(r"\d+ passed", summary):
        return Outcome("PASS", figures=summary)
    if ran.rc == 0 and re.search(r"\d+ skipped", summary):
        reasons = re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", ran.stdout, re.MULTILINE)
        return Outcome("SKIP", figures=f"{summary}: {reasons[0] if reasons else 'no reason given'}")
    if ran.rc == 5:
        return Outcome("FAIL", figures=f"no test selected: {summary}")
    return Outcome("FAIL", figures=f"exit {ran.rc}: {summary or ran.last_line()}")


# ---- the plan --------------------------------------------------------------------------------------------
def cuda_test_files(tests: Path = ROOT / "tests") -> list[str]:
    """The test files with ``cuda``-marked tests (relative to the repository): pytest imports only these."""
    return sorted(
        str(p.relative_to(ROOT)) for p in tests.glob("test_*.py") if "pytest.mark.cuda" in p.read_text()
    )


def plan(python: str, work: Path, quick: bool) -> list[Step]:
    """The steps in the order they run (what matters most first), each a command line written once."""
    rb = [python, "-m", "rnnbench"]
    budget = "0.2" if quick else "0.4"
    shape = "--seq-len 64 --batch 32 --hidden 256"
    pace = f"--budget {budget} --warmup 0.2"
    timing = f"{pace} {shape}"
    train_steps = "300" if quick else "600"

    def cmd(text: str) -> list[str]:
        return [*rb, *shlex.split(text)]

    def verify(name: str, options: str, timeout_s: int = 90) -> Step:
        return Step(name, cmd(f"verify --device cuda {options}"), timeout_s, check_verify)

    def run(
        name: str,
        options: str,
        folder: str,
        timeout_s: int,
        gpus: int = 1,
        device: str = "cuda",
        archs: str = "lstm gru",
    ) -> Step:
        sizes = "" if "--seq-len" in options else shape  # a step may sweep its own shapes
        line = f"run --arch {archs} {options} {pace} {sizes} --device {device} --output {work / folder}"
        return Step(name, cmd(line), timeout_s, check_run, needs_gpus=gpus, folder=folder)

    def training(name: str, options: str, folder: str, timeout_s: int = 180) -> Step:
        line = f"train {options} --device cuda --output {work / folder}"
        return Step(name, cmd(line), timeout_s, check_train, folder=folder)

    quick_train = f"--preset quick --seeds 2 --steps {train_steps}"
    ddp = [
        *(python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"),
        *("-m", "rnnbench", "run", "--mode", "ddp-train"),
        *shlex.split(f"--arch lstm gru --impl native --device cuda {timing} --output {work / 'ddp'}"),
    ]
    tests = cuda_test_files() or ["tests"]  # only the files with cuda-marked tests: pytest imports no other
    pytest = [python, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "-m", "cuda", *tests]
    return [
        Step("deps", [python, "-c", DEPS_SCRIPT], 30, check_deps, needs_gpus=0),
        Step("env", cmd("env --json"), 60, check_env, needs_gpus=0),
        verify("verify float32 (IEEE)", "--impl aten cell scratch scan numpy --bidirectional --lengths 0.5"),
        run(
            "run impl × mode × dtype",
            "--impl native aten cell scratch --mode inference train --dtype float32 bfloat16 float16",
            "grid",
            150 if quick else 240,
        ),
        training("train quick float32", quick_train, "train-fp32"),
        training("train quick bfloat16", f"{quick_train} --dtype bfloat16", "train-bf16"),
        training("train anbn (device mixing)", "--task anbn --seeds 1 --steps 100", "train-anbn", 120),
        verify("verify float32 --tf32", "--tf32 --impl aten cell scratch scan"),
        verify("verify float16", "--dtype float16 --impl aten cell scratch scan"),
        verify("verify bfloat16", "--dtype bfloat16 --impl aten cell scratch scan"),
        run(
            "run scan vs cuDNN, T 64-4096",
            "--impl native scan --mode train --seq-len 64 512 4096 --batch 64 --hidden 128",
            "scan",
            150,
            archs="lstm gru mingru minlstm",
        ),
        run(
            "run lengths 0.5 + classifier",
            "--impl native scratch --mode inference train --lengths 0.5 --workload layer classifier",
            "varlen",
            120,
        ),
        run("run native --tf32", "--impl native aten --mode inference train --tf32", "tf32", 90),
        run("pool cuda:0 cuda:1", "--impl native --mode train", "pool", 120, gpus=2, device="cuda:0 cuda:1"),
        Step("torchrun DDP 2 ranks", ddp, 180, check_run, needs_gpus=2, folder="ddp"),
        # compiled last: its own steps (a compile failure hides nothing else) and the slowest to start
        verify("verify compiled", "--impl compiled --arch lstm gru mingru minlstm", 180),
        run("run compiled", "--impl compiled --mode inference train", "compiled", 240),
        Step("pytest -m cuda", pytest, 180, check_pytest),
    ]


def cli_args(argv: list[str]) -> list[str] | None:
    """The ``rnnbench`` arguments of a planned command (after ``-m rnnbench``, torchrun's too), or None."""
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "rnnbench":
            return argv[i + 2 :]
    return None


# ---- running a step --------------------------------------------------------------------------------------
def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the step's whole process group (torchrun's ranks, a worker's children): SIGTERM, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers whose leader is gone, too
    proc.wait()


def run_command(argv: list[str], timeout_s: float, logs: Path, stem: str) -> Ran:
    """Run ``argv`` in its own process group with stdout and stderr in ``logs/stem.stdout|.stderr``: what it
    printed survives a timeout, and a timeout ends every process it started."""
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{stem}.stdout", logs / f"{stem}.stderr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "250"}
    timed_out = False
    with out_path.open("wb") as out, err_path.open("wb") as err:
        try:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=ROOT, process_group=0
            )
        except OSError as exc:
            return Ran(None, error=f"could not start {argv[0]}: {exc.strerror or exc}")
        try:
            rc: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            rc, timed_out = None, True
        except BaseException:  # Ctrl-C: the step's group is not in the terminal's foreground group
            _kill_group(proc)
            raise
    read = lambda p: p.read_text(encoding="utf-8", errors="replace")  # noqa: E731
    return Ran(rc, read(out_path), read(err_path), timed_out)


def judge(step: Step, ran: Ran, work: Path, timeout_s: float, clipped: bool) -> Outcome:
    """The step's outcome: its checker's, unless the command could not start or did not finish."""
    if ran.error:
        return Outcome("FAIL", figures=ran.error)
    if ran.timed_out:
        why = "cut by the deadline" if clipped else "timed out"
        last = ran.last_line()
        return Outcome(
            "SKIP" if clipped else "FAIL",
            figures=f"{why} after {timeout_s:.0f} s" + (f"; last: {last}" if last else ""),
        )
    try:
        return step.check(step, ran, work / step.folder if step.folder else work)
    except Exception as exc:  # a checker bug must not hide the other steps
        return Outcome("FAIL", figures=f"exit {ran.rc}; could not read the result: {exc!r}; {ran.last_line()}")


def gpu_count(python: str, timeout_s: float) -> int:
    """CUDA GPUs torch sees in ``python`` (0 when it cannot tell): asked only when ``env`` could not say."""
    code = "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
    try:
        done = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=timeout_s, check=False
        )
        return int(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return 0


# ---- the rows, as they come ------------------------------------------------------------------------------
HEADER = ("step", "status", "s", "backend", "dtype ran", "figures")


def md_cell(value: object) -> str:
    """A table cell: no pipe or line break from a message can break the Markdown table."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip()


def md_row(cells: tuple[object, ...] | list[object]) -> str:
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"


class Rows:
    """Writes each step's rows the moment it ends — stdout, ``gpu_check.md``, ``gpu_check.jsonl`` — and packs
    ``gpu_check.tar.gz`` (those two files, the work folder: logs and run folders) after every step."""

    def __init__(self, out: Path, work: Path, stream: TextIO) -> None:
        self.out, self.work, self.stream = out, work, stream
        out.mkdir(parents=True, exist_ok=True)
        self.md, self.jsonl, self.archive = (
            out / "gpu_check.md",
            out / "gpu_check.jsonl",
            out / "gpu_check.tar.gz",
        )
        self.statuses: list[tuple[str, str]] = []
        self.jsonl.write_text("")
        self._emit([md_row(HEADER), "|" + "|".join("---" for _ in HEADER) + "|"], fresh=True)

    def _emit(self, lines: list[str], fresh: bool = False) -> None:
        with self.md.open("w" if fresh else "a", encoding="utf-8") as fh:
            fh.write("".join(f"{line}\n" for line in lines))
        for line in lines:
            print(line, file=self.stream, flush=True)

    def add(self, step: Step, outcome: Outcome, seconds: float) -> None:
        self.statuses.append((step.name, outcome.status))
        lines = [md_row((step.name, outcome.status, f"{seconds:.0f}", outcome.backend, outcome.dtype_ran,
                         outcome.figures))]  # fmt: skip
        lines += [md_row((f"↳ {what}", "SKIP", "", "", "", why)) for what, why in outcome.skipped]
        self._emit(lines)
        record = {
            "step": step.name,
            "seconds": round(seconds, 1),
            "command": shlex.join(step.argv),
            **asdict(outcome),
        }
        with self.jsonl.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def close(self, line: str) -> None:
        self._emit(["", line])

    def pack(self) -> None:
        """``gpu_check.tar.gz``, written beside and renamed over the last one: never half an archive."""
        part = self.archive.with_name(self.archive.name + ".part")
        with tarfile.open(part, "w:gz") as tar:
            for path in (self.md, self.jsonl):
                tar.add(path, arcname=f"gpu_check/{path.name}")
            if self.work.exists():
                tar.add(self.work, arcname="gpu_check/work")
        os.replace(part, self.archive)


# ---- the check -------------------------------------------------------------------------------------------
@dataclass
class Clock:
    deadline_s: float
    began: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.deadline_s - (time.monotonic() - self.began) - RESERVE_S

    def elapsed(self) -> float:
        return time.monotonic() - self.began


def _slug(index: int, name: str) -> str:
    return f"{index:02d}-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def run_check(steps: list[Step], python: str, out: Path, work: Path, deadline_s: float,
              stream: TextIO = sys.stdout) -> int:  # fmt: skip
    """Run ``steps`` in order under the deadline; rows as they end; the archive after each. Exit code."""
    clock = Clock(deadline_s)
    rows = Rows(out, work, stream)
    gpus: int | None = None
    interrupted = False
    for index, step in enumerate(steps):
        left = clock.left()
        if interrupted:
            rows.add(step, Outcome("SKIP", figures="not started: the check was interrupted"), 0.0)
            continue
        if left < min(float(step.timeout_s), MIN_STEP_S):
            why = f"not started: {max(left, 0):.0f} s left before the {deadline_s:.0f} s deadline (--deadline)"
            rows.add(step, Outcome("SKIP", figures=why), 0.0)
            continue
        if step.needs_gpus and gpus is None:
            gpus = gpu_count(python, min(60.0, left))
        if step.needs_gpus and (gpus or 0) < step.needs_gpus:
            need = f"needs {step.needs_gpus} GPU{'s' if step.needs_gpus > 1 else ''}"
            rows.add(step, Outcome("SKIP", figures=f"{need}, {gpus} visible to torch here"), 0.0)
            continue
        timeout = min(float(step.timeout_s), clock.left())
        print(f"→ {step.name} (≤ {timeout:.0f} s)", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            ran = run_command(step.argv, timeout, work / "logs", _slug(index, step.name))
            outcome = judge(step, ran, work, timeout, clipped=timeout < step.timeout_s)
        except KeyboardInterrupt:
            interrupted = True
            outcome = Outcome("SKIP", figures="interrupted (Ctrl-C) while running; its logs are in the archive")
        if step.name == "env" and outcome.gpus is not None:
            gpus = outcome.gpus
        rows.add(step, outcome, time.monotonic() - started)
        rows.pack()
    failed = [name for name, status in rows.statuses if status == "FAIL"]
    passed = sum(status == "PASS" for _, status in rows.statuses)
    verdict = f"FAIL: {', '.join(failed)}" if failed else "no FAIL (PASS, or SKIP with its reason)"
    rows.close(
        f"{len(steps)} steps in {clock.elapsed():.0f} s ({passed} PASS); {verdict}. Archive: {rows.archive}"
    )
    rows.pack()
    if interrupted:
        return 130
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list the steps and their commands; run nothing")
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets and training")
    parser.add_argument("--python", default=sys.executable, help="interpreter with rnnbench and a CUDA torch")
    parser.add_argument(
        "--out", type=Path, default=None,
        help="folder for the results: gpu_check.md, gpu_check.jsonl, gpu_check.tar.gz [./gpu-check-<time>]",
    )  # fmt: skip
    parser.add_argument(
        "--work", type=Path, default=None,
        help="folder for the steps' run folders and logs (packed into the archive) [a temporary one]",
    )  # fmt: skip
    parser.add_argument(
        "--deadline", type=float, default=DEADLINE_S,
        help=f"seconds for the whole check; steps it cannot start are SKIP [{DEADLINE_S:.0f}]",
    )  # fmt: skip
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only steps whose name contains one of these"
    )
    args = parser.parse_args(argv)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    # absolute: the steps run in the repository's root, the checkers read from here
    out = (args.out or Path(f"gpu-check-{stamp}")).resolve()
    work = (args.work or Path(tempfile.gettempdir()) / f"rnnbench-gpu-check-{stamp}").resolve()
    steps = plan(args.python, work, args.quick)
    if args.only:
        steps = [s for s in steps if any(word in s.name for word in args.only)]
    if args.dry_run:  # nothing is created
        for s in steps:
            needs = f" (needs {s.needs_gpus} GPUs)" if s.needs_gpus > 1 else ""
            shown = "python -c <the requirement check>" if s.name == "deps" else shlex.join(s.argv)
            print(f"{s.name}{needs} [≤ {s.timeout_s} s]\n    {shown}")
        total = sum(s.timeout_s for s in steps)
        print(
            f"{len(steps)} steps; their timeouts sum to {total} s, and the {args.deadline:.0f} s deadline "
            "(--deadline) marks the steps it leaves no time for SKIP. Results would go to "
            f"{out}/gpu_check.tar.gz; nothing was run or created."
        )
        return 0
    work.mkdir(parents=True, exist_ok=True)
    print(f"rnnbench GPU check: {len(steps)} steps, deadline {args.deadline:.0f} s; results in {out}",
          file=sys.stderr, flush=True)  # fmt: skip
    return run_check(steps, args.python, out, work, args.deadline)


if __name__ == "__main__":
    sys.exit(main())
