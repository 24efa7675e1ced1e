"""Can the paired gate decide on this machine? The issue's targets, measured through the CLI as a user runs it.

Stages (each writes its JSON into ``--output`` as soon as it ends, so a stage cut short keeps the others):

``t1`` — ``rnnbench calibrate --inject 2% 5% -f json -- --preset quick --threads 1`` (paired, defaults):
    the A/A honest min effect (target ≤ 3%), the A/A false alarms, the fraction of cases in which an injected
    5% (target ≥ 90%) and 2% (target ≥ 50%) slowdown is detected *and confirmed* on fresh restarts, the
    smallest slowdown detected with ≥ 90% power, and the time.
``fwer`` — family-wise false alarms by resampling the real A/A pairs of ``t1`` (target ≤ 1% of gate runs):
    in an A/A run the two workers are exchangeable, so flipping the sign of every pair log-ratio of a restart
    (both workers swap labels) gives another equally likely gate run; 4,000 random sign patterns over the
    restarts (shared by all 16 cases, which were measured by the same worker pairs) are decided as the gate
    decides (Holm over the cases), counting runs with any regression verdict at the default 5% min effect and
    runs with any statistically significant slowdown whatever the min effect.
``ab1`` / ``ab2`` — ``rnnbench ab --head-inject 5% --min-effect 2% -f json -- --preset quick --threads N``: a
    whole ``ab`` of the quick grid with confirmation (every case flagged: the slowest case; target ≤ 10 minutes
    at one thread, reported at two), with the cases confirmed.

Run it on an otherwise idle machine (it checks and records the load average and any other Python process):

    python benchmarks/gate_power.py                       # all stages, results in results/gate_power-<time>
    python benchmarks/gate_power.py --stages fwer --output results/gate_power-…   # re-analyse t1's pairs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def machine_state() -> dict[str, Any]:
    """Load averages and the other Python processes (not this one, not its children)."""
    import psutil

    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.children(recursive=True))}
    others = []
    for proc in psutil.process_iter(["pid", "cmdline", "cpu_percent"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["pid"] not in mine and "python" in cmd and "gate_power" not in cmd:
            others.append(cmd[:100])
    return {
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "other_python_processes": others,
    }


def rnnbench(args: list[str], log: Path) -> tuple[int, str, float]:
    start = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.run(
            [sys.executable, "-m", "rnnbench", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
        )
    return proc.returncode, proc.stdout, time.perf_counter() - start


def stage_t1(out: Path) -> dict[str, Any]:
    before = machine_state()
    code, stdout, wall = rnnbench(
        ["calibrate", "--inject", "2%", "5%", "-f", "json", "-o", str(out / "cal-t1"), "--",
         "--preset", "quick", "--threads", "1"],
        out / "cal-t1.log",
    )  # fmt: skip
    data = json.loads(stdout) if stdout.strip() else {}
    return {"exit_code": code, "wall_s": wall, "before": before, "after": machine_state(), "calibrate": data}


def read_pairs(path: Path) -> dict[str, list[list[float]]]:
    """case id → per restart, the A/A pair log-ratios (condition 0) of the first restarts."""
    import csv

    by: dict[str, dict[int, list[float]]] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row["phase"] != "first" or float(row["condition"]) != 0.0:
                continue
            by.setdefault(row["case_id"], {}).setdefault(int(row["restart"]), []).append(
                float(row["log_ratio"])
            )
    return {case: [r[k] for k in sorted(r)] for case, r in by.items()}


def stage_fwer(out: Path, runs: int = 4000, seed: int = 0) -> dict[str, Any]:
    from rnnbench.gate.settings import GateSettings
    from rnnbench.gate.verdict import decide_restarts

    pairs = read_pairs(out / "cal-t1" / "paired" / "first" / "pairs.csv")
    cases = sorted(pairs)
    restarts = min(len(pairs[c]) for c in cases)
    settings = GateSettings()
    rng = np.random.default_rng(seed)
    regression = significant = 0
    for _ in range(runs):
        signs = rng.choice([-1.0, 1.0], restarts)
        family = [[[s * v for v in pairs[c][r]] for r, s in enumerate(signs)] for c in cases]
        decisions = decide_restarts(family, settings)
        regression += any(d.verdict == "regression" for d in decisions)
        significant += any(
            d.p_side == "slower" and d.p_value <= settings.alpha and d.ratio.high < 1 for d in decisions
        )
    return {
        "gate_runs": runs,
        "cases": len(cases),
        "restarts": restarts,
        "alpha": settings.alpha,
        "runs_with_a_regression": regression / runs,
        "runs_with_a_significant_slowdown": significant / runs,
    }


def stage_ab(out: Path, threads: int) -> dict[str, Any]:
    before = machine_state()
    code, stdout, wall = rnnbench(
        ["ab", "--head-inject", "5%", "--min-effect", "2%", "-f", "json", "-o", str(out / f"ab-t{threads}"),
         "--", "--preset", "quick", "--threads", str(threads)],
        out / f"ab-t{threads}.log",
    )  # fmt: skip
    data = json.loads(stdout) if stdout.strip() else {}
    cases = data.get("cases", [])
    confirmed = sum(1 for c in cases if c.get("verdict") == "regression" and c.get("confirmed"))
    halfwidths = [
        (c["ratio_high"] - c["ratio_low"]) / 2 for c in cases if c.get("ratio_low") and c.get("ratio_high")
    ]
    return {
        "threads": threads,
        "exit_code": code,
        "wall_s": wall,
        "before": before,
        "after": machine_state(),
        "cases": len(cases),
        "confirmed": confirmed,
        "median_interval_half_width": float(np.median(halfwidths)) if halfwidths else None,
        "honest_min_effect_of_data": data.get("honest_min_effect"),
        "notes": data.get("notes", []),
    }


def table(results: dict[str, Any]) -> str:
    """The README's table, from whatever stages ran."""
    lines = ["| target | measured | verdict |", "|---|---|---|"]

    def row(target: str, value: str, ok: bool | None) -> None:
        lines.append(f"| {target} | {value} | {'met' if ok else 'missed' if ok is not None else '—'} |")

    cal = results.get("t1", {}).get("calibrate", {})
    if cal:
        honest = cal.get("honest_min_effect")
        power = cal.get("power", {})
        row("A/A honest min effect ≤ 3% (t=1)", f"{honest:.2%}" if honest is not None else "—",
            honest is not None and honest <= 0.03)  # fmt: skip
        row("A/A false alarms (t=1, one gate run)", str(cal.get("false_alarms")), cal.get("false_alarms") == 0)
        p5, p2 = power.get("0.05"), power.get("0.02")
        row("injected 5% detected and confirmed ≥ 90% of cases (t=1)", f"{p5:.0%}" if p5 is not None else "—",
            p5 is not None and p5 >= 0.9)  # fmt: skip
        row("injected 2% detected and confirmed ≥ 50% of cases (t=1)", f"{p2:.0%}" if p2 is not None else "—",
            p2 is not None and p2 >= 0.5)  # fmt: skip
        mde, mde_med = cal.get("detectable_effect_90"), cal.get("detectable_effect_90_median")
        row("smallest slowdown detected with ≥ 90% power (t=1): every case / median case",
            f"{mde:.1%} / {mde_med:.1%}" if mde and mde_med else "—", None)  # fmt: skip
        med = cal.get("honest_min_effect_median")
        row("A/A honest min effect, median case (t=1)", f"{med:.2%}" if med else "—", None)
        row("A/A cases called no change at the default 5% min effect (t=1)",
            f"{sum(c['verdict'] == 'no_change' for c in cal.get('cases', []))}/{len(cal.get('cases', []))}",
            None)  # fmt: skip
        row("calibrate --inject 2% 5% wall time (t=1)", f"{results['t1']['wall_s']:.0f} s", None)
    fwer = results.get("fwer")
    if fwer:
        row(
            f"family-wise false alarms ≤ 1% of gate runs ({fwer['gate_runs']} sign-flip resamples of real A/A "
            f"pairs, {fwer['cases']} cases × {fwer['restarts']} restarts)",
            f"{fwer['runs_with_a_regression']:.2%} (any significant slowdown: "
            f"{fwer['runs_with_a_significant_slowdown']:.2%})",
            fwer["runs_with_a_regression"] <= 0.01,
        )
    for threads in (1, 2):
        ab = results.get(f"ab{threads}")
        if not ab:
            continue
        row(f"whole `ab` of the quick grid with confirmation ≤ 10 min (t={threads}, every case flagged)",
            f"{ab['wall_s'] / 60:.1f} min", ab["wall_s"] <= 600 if threads == 1 else None)  # fmt: skip
        row(f"injected 5% confirmed (t={threads})", f"{ab['confirmed']}/{ab['cases']} cases", None)
        hw = ab.get("median_interval_half_width")
        row(f"median ratio-interval half-width (t={threads})", f"±{hw:.2%}" if hw else "—", None)
    return "\n".join(lines)


STAGES: dict[str, Any] = {
    "t1": stage_t1,
    "fwer": stage_fwer,
    "ab1": lambda out: stage_ab(out, 1),
    "ab2": lambda out: stage_ab(out, 2),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.output or ROOT / "results" / time.strftime("gate_power-%Y%m%d-%H%M%S", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    path = out / "gate_power.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    print(json.dumps(machine_state()), file=sys.stderr, flush=True)
    for stage in args.stages:
        print(f"stage {stage} …", file=sys.stderr, flush=True)
        results[stage] = STAGES[stage](out)
        path.write_text(
            json.dumps(
                results, indent=2, default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v)
            )
        )
        print(json.dumps({k: v for k, v in results[stage].items() if k != "calibrate"}, default=str)[:2000],
              file=sys.stderr, flush=True)  # fmt: skip
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
