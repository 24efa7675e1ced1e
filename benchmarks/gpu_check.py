"""The one-shot device check: everything rnnbench does on an NVIDIA GPU, in about five minutes, as one table.

GPU time is scarce (a lent machine, minutes per session), so this script is prepared to run once, unattended,
and to say exactly what passed: every step is a real ``rnnbench`` command in a fresh process with its own
timeout, and the table names the backend that ran, the dtype that really ran and the figures (the GRU/LSTM
time ratio per mode and dtype). Exit 1 when any step fails, 0 when all pass (SKIP is not a failure: it says
why the step could not run here, e.g. one GPU only for the pool and DDP steps).

On the GPU machine (a preinstalled CUDA torch, no network)::

    python -m pip install --no-deps --no-build-isolation -e .
    python benchmarks/gpu_check.py                 # ≈ 5 min on one H100; --quick for ≈ 2 min
    python benchmarks/gpu_check.py --dry-run       # what it would run, here or anywhere

Steps: ``rnnbench env``; ``verify`` of every implementation on ``cuda`` in float32 (TF32 off, then on),
float16 and bfloat16; a ``run`` grid over implementations × modes × dtypes; variable lengths and the classifier
workload; ``compiled``; the TF32 policy's effect on ``native``; ``train --preset quick`` in float32 and bf16
(bounded steps); the ``cuda``-marked tests; with two GPUs, a two-device pool and ``torchrun`` DDP training.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Checker = Callable[["Step", int, str, Path], "Outcome"]


@dataclass
class Outcome:
    status: str  # PASS | FAIL | SKIP
    backend: str = ""
    dtype_ran: str = ""
    figures: str = ""


@dataclass
class Step:
    name: str
    argv: list[str]
    timeout_s: int
    check: Checker
    needs_gpus: int = 1
    folder: str = ""
    env: dict[str, str] = field(default_factory=dict)


# ---- reading what a step wrote ---------------------------------------------------------------------------
def _summary(folder: Path):  # type: ignore[no-untyped-def]  # pandas is imported lazily
    import pandas as pd

    files = sorted(folder.rglob("summary.csv"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_csv(f, dtype={"case_id": str, "run_id": str, "fingerprint": str}) for f in files])


def _ratios(frame) -> str:  # type: ignore[no-untyped-def]
    """GRU/LSTM median-time ratio per (impl, mode, dtype) of the ok rows: the figure a user asks for first."""
    ok = frame[frame["status"] == "ok"]
    if ok.empty or not {"gru", "lstm"} <= set(ok["arch"]):
        return ""
    keys = ["impl", "mode", "dtype"]
    med = ok.groupby([*keys, "arch"])["median_s"].median().unstack("arch")
    med = med.dropna(subset=["gru", "lstm"])
    parts = [
        f"{i}/{m}/{d} {g / s:.2f}" for (i, m, d), g, s in zip(med.index, med["gru"], med["lstm"], strict=True)
    ]
    return "GRU/LSTM " + ", ".join(parts[:8]) + (" …" if len(parts) > 8 else "")


def check_exit(step: Step, rc: int, output: str, folder: Path) -> Outcome:
    return Outcome("PASS" if rc == 0 else "FAIL", figures="" if rc == 0 else _last_line(output))


def check_env(step: Step, rc: int, output: str, folder: Path) -> Outcome:
    if rc != 0:
        return Outcome("FAIL", figures=_last_line(output))
    env = json.loads(output[output.index("{") :])
    gpus = env.get("gpus") or []
    if not gpus:
        return Outcome("FAIL", figures="no CUDA GPU visible to torch")
    names = ", ".join(sorted({g.get("name", "?") for g in gpus}))
    return Outcome(
        "PASS", figures=f"torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}; {names}"
    )


def check_verify(step: Step, rc: int, output: str, folder: Path) -> Outcome:
    worst = [line for line in output.splitlines() if "mismatch" in line or "unsupported" in line]
    figures = f"{len(worst)} mismatch/unsupported row(s)" if worst else "all implementations agree"
    return Outcome("PASS" if rc == 0 else "FAIL", figures=figures if rc in (0, 1) else _last_line(output))


def check_run(step: Step, rc: int, output: str, folder: Path) -> Outcome:
    frame = _summary(folder)
    if frame.empty:
        return Outcome("FAIL", figures=f"exit {rc}, no rows: {_last_line(output)}")
    counts = frame["status"].value_counts().to_dict()
    errors = frame[frame["status"].isin(["error", "oom"])]
    backends = ", ".join(sorted(set(frame.loc[frame["status"] == "ok", "backend"].dropna().astype(str))))
    dtypes = ", ".join(sorted(set(frame.loc[frame["status"] == "ok", "dtype"].astype(str))))
    status = "PASS" if rc == 0 and errors.empty else "FAIL"
    detail = "; ".join(f"{k} {v}" for k, v in counts.items())
    if not errors.empty:
        first = errors.iloc[0]
        where = f"{first['arch']}/{first['impl']} {first['mode']} {first['dtype']}"
        detail += f"; first error: {where}: {first['message']}"
    unsupported = frame[frame["status"] == "unsupported"]
    if not unsupported.empty:
        detail += f"; unsupported e.g. {unsupported.iloc[0]['impl']} {unsupported.iloc[0]['dtype']}: "
        detail += str(unsupported.iloc[0]["message"])[:80]
    return Outcome(status, backends, dtypes, f"{_ratios(frame)} ({detail})")


def check_train(step: Step, rc: int, output: str, folder: Path) -> Outcome:
    import pandas as pd

    files = sorted(folder.rglob("train_summary.csv"))
    if not files:
        return Outcome("FAIL", figures=f"exit {rc}, no train_summary.csv: {_last_line(output)}")
    frame = pd.concat([pd.read_csv(f) for f in files])
    bad = frame[~frame["status"].isin(["ok", "diverged"])]
    ran = "compute_dtype" if "compute_dtype" in frame.columns else "dtype"
    dtypes = ", ".join(sorted(set(frame[ran].dropna().astype(str))))
    solved = frame.groupby("arm")["solved"].agg(lambda s: f"{int(s.astype(bool).sum())}/{len(s)}")
    figures = "solved " + ", ".join(f"{a} {v}" for a, v in solved.items())
    if not bad.empty:
        figures += f"; {len(bad)} failed: {bad.iloc[0]['message']}"
    return Outcome("PASS" if rc == 0 and bad.empty else "FAIL", dtype_ran=dtypes, figures=figures)


def check_pytest(step: Step, rc: int, output: str, folder: Path) -> Outcome:
    if "No module named pytest" in output:
        return Outcome("SKIP", figures="pytest is not installed here")
    return Outcome("PASS" if rc == 0 else "FAIL", figures=_last_line(output))


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


# ---- the plan --------------------------------------------------------------------------------------------
def plan(python: str, out: Path, quick: bool) -> list[Step]:
    """The steps, each an rnnbench command line (written as one string per step, split like a shell would)."""
    rb = [python, "-m", "rnnbench"]
    budget = "0.2" if quick else "0.4"
    timing = f"--budget {budget} --warmup 0.2 --seq-len 64 --batch 32 --hidden 256 --output {out}"
    steps_per_run = "300" if quick else "600"
    train = f"train --preset quick --device cuda --seeds 2 --steps {steps_per_run} --output {out}"

    def cmd(text: str) -> list[str]:
        return [*rb, *shlex.split(text)]

    def verify(name: str, options: str, timeout_s: int = 60) -> Step:
        return Step(name, cmd(f"verify --device cuda {options}"), timeout_s, check_verify)

    def run(name: str, options: str, folder: str, timeout_s: int, gpus: int = 1, device: str = "cuda") -> Step:
        line = f"run --arch lstm gru {options} {timing} --device {device} --run-id {folder}"
        return Step(name, cmd(line), timeout_s, check_run, needs_gpus=gpus, folder=folder)

    def training(name: str, options: str, folder: str, timeout_s: int = 240) -> Step:
        return Step(name, cmd(f"{options} --run-id {folder}"), timeout_s, check_train, folder=folder)

    return [
        Step("env", cmd("env --json"), 60, check_env),
        verify(
            "verify float32 (IEEE)",
            "--impl aten cell scratch compiled numpy --bidirectional --length-spread 0.5",
            240,
        ),
        verify("verify float32 --tf32", "--tf32 --impl aten cell scratch"),
        verify("verify float16", "--dtype float16 --impl aten cell scratch"),
        verify("verify bfloat16", "--dtype bfloat16 --impl aten cell scratch"),
        run(
            "run impl × mode × dtype",
            "--impl native aten cell scratch --mode inference train --dtype float32 bfloat16 float16",
            "grid",
            240,
        ),
        run(
            "run lengths 0.5 + classifier",
            "--impl native scratch --mode inference train --lengths 0.5 --workload classifier",
            "varlen",
            120,
        ),
        run("run compiled", "--impl compiled --mode inference train", "compiled", 240),
        run("run native --tf32", "--impl native aten --mode inference train --tf32", "tf32", 90),
        training("train quick float32", train, "train-fp32"),
        training("train quick bfloat16", f"{train} --dtype bfloat16", "train-bf16"),
        training(
            "train anbn (device mixing)",
            f"train --task anbn --device cuda --seeds 1 --steps 100 --output {out}",
            "train-anbn",
            120,
        ),
        Step("pytest -m cuda", [python, "-m", "pytest", "-q", "-m", "cuda", "tests"], 180, check_pytest),
        run("pool cuda:0 cuda:1", "--impl native --mode train", "pool", 120, gpus=2, device="cuda:0 cuda:1"),
        Step(
            "torchrun DDP 2 ranks",
            [
                *("torchrun", "--nproc-per-node", "2", "-m", "rnnbench", "run", "--mode", "ddp-train"),
                *shlex.split(f"--arch lstm --impl native --device cuda --output {out} --run-id ddp"),
            ],
            180,
            check_exit,
            needs_gpus=2,
            folder="ddp",
        ),
    ]


def _gpu_count(python: str) -> int:
    code = "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120, check=False)
        return int(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return 0


def _run_step(step: Step, out: Path) -> tuple[Outcome, float]:
    start = time.monotonic()
    env = {**os.environ, "RNNBENCH_NO_PROMPT": "1", **step.env}
    try:
        done = subprocess.run(
            step.argv,
            capture_output=True,
            text=True,
            timeout=step.timeout_s,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        output, rc = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        partial = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Outcome(
            "FAIL", figures=f"timed out after {step.timeout_s} s {_last_line(partial)}"
        ), time.monotonic() - start
    except FileNotFoundError as exc:
        return Outcome("SKIP", figures=f"{exc.filename} not found"), time.monotonic() - start
    try:
        outcome = step.check(step, rc, output, out / step.folder if step.folder else out)
    except Exception as exc:  # a checker bug must not hide the other steps
        outcome = Outcome("FAIL", figures=f"exit {rc}; could not read the result: {exc!r}")
    return outcome, time.monotonic() - start


def _table(rows: list[tuple[Step, Outcome, float]]) -> str:
    header = ("step", "status", "s", "backend", "dtype ran", "figures")
    body = [(s.name, o.status, f"{t:.0f}", o.backend, o.dtype_ran, o.figures) for s, o, t in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(5)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header[:5], widths, strict=True)) + " | figures |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|---|")
    for r in body:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + f" | {r[5]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list the steps and their commands; run nothing")
    parser.add_argument("--quick", action="store_true", help="shorter budgets and training (≈ 2 min)")
    parser.add_argument("--python", default=sys.executable, help="interpreter with rnnbench and a CUDA torch")
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs [a temporary one]")
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only steps whose name contains one of these"
    )
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="rnnbench-gpu-check-"))
    steps = plan(args.python, out, args.quick)
    if args.only:
        steps = [s for s in steps if any(word in s.name for word in args.only)]
    if args.dry_run:
        total = sum(s.timeout_s for s in steps)
        for s in steps:
            needs = f" (needs {s.needs_gpus} GPUs)" if s.needs_gpus > 1 else ""
            print(f"{s.name}{needs} [≤ {s.timeout_s} s]\n    {shlex.join(s.argv)}")
        print(f"{len(steps)} steps; timeouts sum to {total} s (typical total ≈ 5 min on one H100)")
        return 0
    gpus = _gpu_count(args.python)
    rows: list[tuple[Step, Outcome, float]] = []
    began = time.monotonic()
    for step in steps:
        if gpus < step.needs_gpus:
            rows.append((step, Outcome("SKIP", figures=f"needs {step.needs_gpus} GPUs, {gpus} here"), 0.0))
            continue
        if (
            step.name.startswith("pytest")
            and shutil.which(args.python) is None
            and not Path(args.python).exists()
        ):
            rows.append((step, Outcome("SKIP", figures="no interpreter"), 0.0))
            continue
        outcome, seconds = _run_step(step, out)
        rows.append((step, outcome, seconds))
        print(f"{outcome.status:4} {step.name} ({seconds:.0f} s)", file=sys.stderr, flush=True)
        if step.name == "env" and outcome.status == "FAIL":
            break  # no GPU: nothing else can run
    print(_table(rows))
    failed = [s.name for s, o, _ in rows if o.status == "FAIL"]
    print(f"\n{len(rows)} steps in {time.monotonic() - began:.0f} s; results in {out}")
    if failed:
        print(f"FAIL: {', '.join(failed)}")
        return 1
    print("all steps PASS (or SKIP with a reason)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
