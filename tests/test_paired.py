"""The paired A/B: the worker protocol (fake workers, injectable clock), the coordinator's A B / B A order and
confirmation, the phase simulator (process rounds stay inconclusive where pairs decide), the interval's
coverage and the family-wise error by simulation, version skew, faults, and one real two-process A/A."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import psutil
import pytest

from rnnbench.ab.calibrate import run_calibrate
from rnnbench.ab.channel import WorkerFailed
from rnnbench.ab.coordinator import run_paired
from rnnbench.ab.flows import run_ab
from rnnbench.ab.paired import paired_comparison
from rnnbench.ab.sides import PairedSide, SideCommand
from rnnbench.core.protocol import PROTOCOL_VERSION
from rnnbench.errors import EXIT_BENCHMARK_FAILED, EXIT_INTERRUPTED, EXIT_OK, ConfigError
from rnnbench.gate.settings import GateSettings, PairedSettings
from rnnbench.gate.verdict import decide_rounds
from rnnbench.stats.power import detectable_effect
from rnnbench.stats.restarts import restart_estimate, restart_estimates
from rnnbench.stats.sequential import SequentialEvidence
from tests.phase_sim import PhaseMachine, SimCase, process_rounds, sim_factory

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fake_worker.py"
SIDES = (PairedSide("base", ("fake",), ()), PairedSide("head", ("fake",), ()))
FAST = PairedSettings(max_restarts=16, pairs=6, block_s=0.05, confirm_restarts=16, budget_s=1e6)
"""A fixed design (no pilot) with a budget the simulated clock never reaches."""


def cases(n: int = 4) -> list[SimCase]:
    return [SimCase(f"c{i}@1", 0.0004 * (i + 1)) for i in range(n)]


# ---- the worker side of the protocol ------------------------------------------------------------------------
class FakeClock:
    """Advances 1 µs per reading, plus whatever a fake iteration "takes"."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1e-6
        return self.t


def fake_worker(clock: FakeClock, iter_s: float = 0.01) -> object:
    from rnnbench.measure.serve import Worker, _Built
    from rnnbench.measure.timing import Timed

    def run() -> None:
        clock.t += iter_s

    worker = Worker(clock=clock)
    worker.cases["k@1"] = _Built(case=None, threads=1, prepared=SimpleNamespace(timed=Timed(run)))  # type: ignore[arg-type]
    return worker


def test_protocol_versions_agree() -> None:
    from rnnbench.measure.serve import PROTOCOL_VERSION as WORKER_VERSION

    assert WORKER_VERSION == PROTOCOL_VERSION


def test_worker_answers_the_protocol_with_an_injectable_clock() -> None:
    from rnnbench.measure.serve import serve

    clock = FakeClock()
    worker = fake_worker(clock)
    requests = [
        {"op": "hello", "protocol": PROTOCOL_VERSION},
        {"op": "block", "case": "k@1", "iters": 10, "inject": 0.0},
        {"op": "block", "case": "k@1", "iters": 10, "inject": 0.05},
        {"op": "block", "case": "nope@1", "iters": 10},
        {"op": "hello", "protocol": PROTOCOL_VERSION + 1},
        {"op": "frobnicate"},
        {"op": "quit"},
        {"op": "hello"},  # after quit: never read
    ]
    stdin = io.StringIO(
        "\n".join(json.dumps(r) for r in requests[:3])
        + "\nnot json\n"
        + "\n".join(json.dumps(r) for r in requests[3:])
        + "\n"
    )
    stdout = io.StringIO()
    assert serve(stdin, stdout, worker) == 0  # type: ignore[arg-type]
    replies = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert len(replies) == 8  # the request after quit is not answered
    hello, plain, injected, bad_json, missing, other_version, unknown, bye = replies
    assert hello["ok"] and hello["protocol"] == PROTOCOL_VERSION and hello["pid"] == os.getpid()
    assert plain["seconds"] == pytest.approx(10 * 0.01, rel=1e-3) and plain["iters"] == 10
    # busy work proportional to each iteration's own time, inside the timed part
    assert injected["seconds"] == pytest.approx(10 * 0.01 * 1.05, rel=1e-3)
    assert not bad_json["ok"] and "JSON" in bad_json["error"]
    assert not missing["ok"] and "not built" in missing["error"]
    assert not other_version["ok"] and other_version["protocol"] == PROTOCOL_VERSION
    assert not unknown["ok"] and bye == {"ok": True}


def test_injected_slowdown_is_exact_even_at_microsecond_iterations() -> None:
    """One busy wait per block: 1000 iterations of 10 µs (each clock read costs 1 µs here) stretched ×1.05
    come out ×1.05 to 0.1% — a wait per iteration overshot by a clock read each time (×1.09 here)."""
    clock = FakeClock()
    worker = fake_worker(clock, iter_s=1e-5)
    plain = worker.block("k@1", 1000, 0.0)["seconds"]  # type: ignore[attr-defined]
    slow = worker.block("k@1", 1000, 0.05)["seconds"]  # type: ignore[attr-defined]
    assert slow / plain == pytest.approx(1.05, rel=1e-3)


def test_injection_is_in_throughput_units() -> None:
    """``--inject 5%`` lowers throughput by 5%: the worker is asked to stretch time by 1/0.95 − 1."""
    from rnnbench.ab.coordinator import stretch_for

    assert 1 / (1 + stretch_for(0.05)) == pytest.approx(0.95)
    assert stretch_for(0.0) == 0.0


def test_grid_options_parse_like_run() -> None:
    from rnnbench.measure.serve import parse_grid

    spec, _ = parse_grid(["--arch", "lstm", "gru", "--seq-len", "8,16", "--threads", "1", "--preset", "quick"])
    assert spec.arch == ("lstm", "gru") and spec.seq_len == (8, 16) and spec.threads == (1,)
    with pytest.raises(ConfigError, match="unknown to the paired mode.s workers"):
        parse_grid(["--shard", "1/2"])


def test_workers_take_every_short_grid_option_run_takes() -> None:
    """``ab -- -a gru -T 64 -b 4`` must build in the paired workers exactly as ``run`` would read it (the
    worker's parser once lacked ``-b``: the build was refused)."""
    import typer

    from rnnbench.cli.app import app
    from rnnbench.measure.plan import AXES
    from rnnbench.measure.serve import grid_parser

    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    worker = {opt for action in grid_parser()._actions for opt in action.option_strings}
    axes = {"--" + name.replace("_", "-") for name in AXES}
    for param in run.params:
        if any(opt in axes for opt in param.opts):
            shorts = [o for o in param.opts + param.secondary_opts if not o.startswith("--")]
            assert set(shorts) <= worker, (param.opts, shorts)


# ---- the coordinator ------------------------------------------------------------------------------------------
def test_roles_and_orders_are_randomised_and_balanced(tmp_path: Path) -> None:
    """Per restart and case, base opens exactly half of the pairs, in a random order; which side is spawned
    and built first and the order of the cases are drawn per restart (both spawn orders occur); one side's
    block at a time; every worker closed."""
    machine = PhaseMachine(np.random.default_rng(0))
    log: list[tuple[str, str]] = []
    factory = sim_factory(machine, cases(3))
    spawned: list[str] = []

    def recording(label: str, argv: object, path: Path) -> object:
        worker = factory(label, argv, path)
        spawned.append(label)
        real = worker.request

        def request(msg: dict, timeout_s: float) -> dict:
            if msg["op"] == "block":
                log.append((label, msg["case"]))
            return real(msg, timeout_s)

        worker.request = request  # type: ignore[method-assign]
        return worker

    run = run_paired(*SIDES, tmp_path, PairedSettings(pairs=6, block_s=0.05, warm_iters=0), restarts=8,
                     factory=recording, clock=machine.clock)  # fmt: skip
    assert run.restarts == 8 and all(w.closed for w in factory.made) and len(factory.made) == 16
    firsts = spawned[::2]
    assert run.spawned_first == firsts
    assert all({firsts[i], firsts[i + 1]} == {"base", "head"} for i in range(0, 8, 2))  # one of each per two
    assert len({tuple(firsts[i : i + 2]) for i in range(0, 8, 2)}) == 2  # …in a drawn order
    rows = [r.split(",") for r in (tmp_path / "first" / "pairs.csv").read_text().splitlines()[1:]]
    assert len(rows) == 8 * 3 * 6  # restarts × cases × pairs, on disk
    openers: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        openers.setdefault((row[1], row[2]), []).append(row[7])
    assert all(v.count("base") == 3 for v in openers.values())  # balanced in every restart and case
    assert len({tuple(v) for v in openers.values()}) > 4  # …in a random order
    case_orders = {tuple(dict.fromkeys(r[2] for r in rows if r[1] == str(k))) for k in range(8)}
    assert len(case_orders) > 1
    for i in range(0, len(log), 2):  # blocks come in pairs, one of each side
        assert {log[i][0], log[i + 1][0]} == {"base", "head"} and log[i][1] == log[i + 1][1]
    assert (tmp_path / "first" / "restarts.csv").read_text().count("\n") == 1 + 8


def test_every_timed_block_follows_an_untimed_iteration_on_its_side(tmp_path: Path) -> None:
    """With both workers on one CPU, the block after a switch starts with the other side's caches: a switch
    cost of 5% on the simulated machine moves every pair's log-ratio by ±5% without the untimed warm-up
    iteration, and not at all with it."""
    log: list[tuple[str, int]] = []
    spreads = {}
    for warm in (0, 1):
        machine = PhaseMachine(np.random.default_rng(9), block_noise=0.001, switch_cost=0.05)
        factory = sim_factory(machine, cases(1), process_sd=0.0)

        def recording(label: str, argv: object, path: Path, factory: Any = factory) -> object:
            worker = factory(label, argv, path)
            real = worker.request

            def request(msg: dict, timeout_s: float) -> dict:
                if msg["op"] == "block":
                    log.append((label, int(msg["iters"])))
                return real(msg, timeout_s)

            worker.request = request  # type: ignore[method-assign]
            return worker

        log.clear()
        run = run_paired(*SIDES, tmp_path / str(warm), PairedSettings(pairs=8, block_s=0.05, warm_iters=warm),
                         restarts=2, factory=recording, clock=machine.clock)  # fmt: skip
        [(pid, _)] = list(run.log_ratios)
        spreads[warm] = max(abs(v) for r in run.restarts_of(pid) for v in r)
        timed = [i for i, (_, iters) in enumerate(log) if iters > 1]
        if warm:  # every timed block right after a block of its own side: its warm-up, or its previous block
            assert all(i > 0 and log[i - 1][0] == log[i][0] for i in timed)
            assert len(log) < 2 * len(timed)  # no warm-up where the same side ran last
        else:
            assert len(log) == len(timed)
    assert spreads[0] > 0.04 and spreads[1] < 0.01, spreads


def test_a_role_tied_offset_cancels_under_randomisation(tmp_path: Path) -> None:
    """The worker spawned first runs 3% slower (a role-tied offset). Were base always spawned first (the old
    coordinator), every A/A restart would read head 3% faster; with one of each order per two restarts the
    offset cancels in the mean: the A/A estimate stays within 1% of 1, no false alarm, and the per-restart
    estimates split into two clusters around ±3%."""
    machine = PhaseMachine(np.random.default_rng(3))
    run = run_paired(*SIDES, tmp_path, PairedSettings(pairs=8, block_s=0.05), restarts=16,
                     factory=sim_factory(machine, cases(2), role_offset=0.03), clock=machine.clock)  # fmt: skip
    for pid in run.cases:
        est = restart_estimates(run.restarts_of(pid))
        assert abs(math.exp(float(np.mean(est))) - 1) < 0.01
        assert max(est) > 0.02 and min(est) < -0.02
    comp = paired_comparison(run, GateSettings(min_effect=0.05))
    assert not any(c.verdict in ("regression", "improvement") for c in comp.cases)


def test_phase_machine_rounds_stay_inconclusive_where_pairs_decide(tmp_path: Path) -> None:
    """Speed switching 1.8× every few seconds: process rounds (8+8, ABBA) cannot decide a 5% slowdown in any
    case; the paired mode calls it a regression in every case, on the same machine."""
    settings = GateSettings(min_effect=0.02)
    grid = cases(4)
    slow = {c.key: 1 / 0.95 for c in grid}  # throughput −5%
    machine = PhaseMachine(np.random.default_rng(1))
    rounds = process_rounds(machine, grid, 8, slow)
    verdicts = [d.verdict for d in decide_rounds([rounds[c.key] for c in grid], settings)]
    assert verdicts == ["inconclusive"] * 4
    machine = PhaseMachine(np.random.default_rng(2))
    run = run_paired(*SIDES, tmp_path, PairedSettings(pairs=8, block_s=0.05), restarts=12,
                     factory=sim_factory(machine, grid, slow), clock=machine.clock)  # fmt: skip
    comp = paired_comparison(run, settings)
    assert [c.verdict for c in comp.cases] == ["regression"] * 4
    assert all(abs(c.ratio - 0.95) < 0.01 and c.ratio_high < 0.98 for c in comp.cases)
    assert comp.method == "paired" and comp.family == 4
    assert machine.now > 10 * machine.mean_phase_s  # it really spanned many phases


def test_ab_confirms_by_re_measuring_only_flagged_cases(tmp_path: Path) -> None:
    machine = PhaseMachine(np.random.default_rng(5))
    grid = cases(4)
    factory = sim_factory(machine, grid, {"c2@1": 1.10})
    side = SideCommand("base", ("x",), serve=("x",))
    result = run_ab(side, SideCommand("head", ("x",), serve=("x",)), [], tmp_path, GateSettings(min_effect=0.03),
                    method="paired", paired=FAST, factory=factory, clock=machine.clock, launcher=_ok_launcher)  # fmt: skip
    verdicts = {c.case_id: (c.verdict, c.confirmed) for c in result.comparison.cases}
    assert verdicts["c2"] == ("regression", True)
    # a confirmed regression shows the confirmation's own estimate (the first stage's is selected, biased)
    final = next(c for c in result.comparison.cases if c.case_id == "c2")
    assert result.confirmation is not None
    again = next(c for c in result.confirmation.cases if c.case_id == "c2")
    assert (final.ratio, final.ratio_low, final.ratio_high) == (again.ratio, again.ratio_low, again.ratio_high)
    assert "first stage" in final.reason
    assert all(v[0] != "regression" for k, v in verdicts.items() if k != "c2")
    assert result.exit_code == 1
    confirm_rows = (tmp_path / "paired" / "confirm" / "pairs.csv").read_text().splitlines()[1:]
    assert confirm_rows and {row.split(",")[2] for row in confirm_rows} == {"c2"}
    assert result.confirmation is not None and result.confirmation.family == 1


def test_the_budget_ends_the_measurement_and_says_what_would_decide(tmp_path: Path) -> None:
    """A min effect no A/A case can reach (0.1%) and a 40 s budget: the gate stops when the next restart
    would not fit, every case is "inconclusive" with the restarts that would decide it, the time stays
    within the budget, and the note says the budget ended — no verdict where the data cannot give one."""
    from dataclasses import replace

    machine = PhaseMachine(np.random.default_rng(8))
    side = SideCommand("base", ("x",), serve=("x",))
    paired = replace(FAST, budget_s=40.0)
    result = run_ab(side, SideCommand("head", ("x",), serve=("x",)), [], tmp_path, GateSettings(min_effect=0.001),
                    method="paired", paired=paired, factory=sim_factory(machine, cases(4)), clock=machine.clock,
                    launcher=_ok_launcher)  # fmt: skip
    assert [c.verdict for c in result.comparison.cases] == ["inconclusive"] * 4
    assert all(
        "restarts for 80% power" in c.reason or "no affordable number of restarts" in c.reason
        for c in result.comparison.cases
    )
    assert any("restarts for 80% power" in c.reason for c in result.comparison.cases)
    assert result.comparison.design["first_stopped"] == "budget"
    assert result.seconds["total"] <= 40.0
    assert "the budget ended" in result.comparison.notes[0]
    assert result.exit_code == EXIT_OK


def _ok_launcher(argv: object, cwd: Path) -> object:
    from rnnbench.ab.sides import LaunchResult

    return LaunchResult(0, "Usage: rnnbench run")


def test_calibrate_inject_reports_power_and_json_keys(tmp_path: Path) -> None:
    from rnnbench.present.exports import render

    machine = PhaseMachine(np.random.default_rng(7))
    side = SideCommand("a", ("x",), serve=("x",))
    cal = run_calibrate(side, [], tmp_path, GateSettings(), method="paired", paired=FAST, inject=[0.02, 0.10],
                        factory=sim_factory(machine, cases(4)), clock=machine.clock, launcher=_ok_launcher)  # fmt: skip
    data = json.loads(render(cal, "json"))
    assert set(data) >= {"honest_min_effect", "false_alarms", "power", "seconds"}
    assert data["false_alarms"] == 0 and data["honest_min_effect"] < 0.05  # A/A stops once inside ±5%
    assert all(c["verdict"] == "no_change" for c in data["cases"])
    assert data["power"]["0.1"] == 1.0  # 10% is caught (and confirmed) in every case
    # ab's own rule, min effect included: a 2% slowdown is never a regression "beyond 5%" (the old power
    # ignored the min effect and counted any significant slowdown)
    assert data["power"]["0.02"] == 0.0
    assert math.isfinite(cal.detectable_effect) and 0.05 <= cal.detectable_effect < 0.10
    assert 0.005 <= cal.recommended_min_effect <= 0.05
    md = render(cal, "md")
    assert "confirmed regression (ab's rule)" in md and "anytime-valid interval over restarts" in md
    assert "Mann–Whitney" not in md  # the method that ran, not the rounds' one


# ---- statistics by simulation ---------------------------------------------------------------------------------
def _restarts(rng: np.random.Generator, delta: float, r: int = 8, p: int = 8) -> list[list[float]]:
    """The model's data: a heavy-tailed process effect per restart (t with 3 df, scale 0.4%), pair noise 1.5%
    with 10% of pairs straddling a 1.8× phase switch."""
    u = 0.004 * rng.standard_t(3, size=(r, 1))
    e = rng.normal(0, 0.015, (r, p))
    straddle = rng.random((r, p)) < 0.1
    e += straddle * rng.choice([-1, 1], (r, p)) * math.log(1.8) * rng.random((r, p))
    return (delta + u + e).tolist()


def test_sequence_covers_at_every_look_by_simulation() -> None:
    """The model's data (heavy-tailed process effects, phase-straddling pairs), 30 restarts looked at after
    each: the 95% confidence sequence misses the true ratio at *any* look in ≤ 5% of series (a fixed-n t
    interval looked at 29 times misses in about a third)."""
    from scipy import stats as sps

    rng = np.random.default_rng(11)
    truth = math.log(0.97)
    n, looks, missed, missed_fixed = 600, 30, 0, 0
    for _ in range(n):
        est = restart_estimates(_restarts(rng, truth, r=looks))
        seq_miss = fixed_miss = False
        for k in range(4, looks + 1):
            ev = SequentialEvidence(est[:k])
            ci = ev.interval(0.95)
            seq_miss |= not (ci.low <= 0.97 <= ci.high)
            half = float(sps.t.ppf(0.975, k - 1)) * ev.se
            fixed_miss |= abs(ev.mean - truth) > half
        missed += seq_miss
        missed_fixed += fixed_miss
    assert missed / n <= 0.05, missed / n
    assert missed_fixed / n > 0.15  # what looking again and again does to a fixed-n interval


def test_anytime_p_is_the_running_minimum_of_one_over_the_bayes_factor() -> None:
    from rnnbench.stats.sequential import critical_t, log_bayes_factor

    rng = np.random.default_rng(2)
    x = tuple(rng.normal(-0.5, 1, 12))
    best = 0.0
    for k in range(2, 13):
        m, sd = float(np.mean(x[:k])), float(np.std(x[:k], ddof=1))
        if m < 0:
            best = max(best, log_bayes_factor(k * m * m / sd**2, k))
    assert SequentialEvidence(x).p_slower() == pytest.approx(min(1.0, math.exp(-best)))
    assert SequentialEvidence(x).p_faster() >= SequentialEvidence(x).p_slower()
    # the half-width is where the Bayes factor reaches 1/α
    c = critical_t(10, 0.05)
    assert log_bayes_factor(c * c, 10) == pytest.approx(math.log(20))
    assert math.isinf(critical_t(3, 0.05)) and math.isfinite(critical_t(4, 0.05))


def test_family_wise_false_alarms_of_the_sequential_rule_by_simulation() -> None:
    """16 unchanged cases, a shared restart effect and a role-tied offset of ±1% per restart (the spawn
    order, drawn at random), looked at after every restart up to 20: any case *ever* flagged slower
    (Holm-adjusted anytime p ≤ α₁ with the estimate beyond the min effect, as the stage rule flags) in ≤ α₁
    of runs."""
    from rnnbench.gate.evidence import RestartEvidence
    from rnnbench.gate.verdict import decide_family

    rng = np.random.default_rng(12)
    settings = GateSettings(alpha=0.1, min_effect=0.01)
    runs, alarms, looks = 150, 0, 20
    for _ in range(runs):
        shared = 0.003 * rng.standard_t(3, size=looks) + 0.01 * rng.choice([-1, 1], size=looks)
        family = [restart_estimates(_restarts(rng, 0.0, r=looks, p=8)) for _ in range(16)]
        family = [tuple(v + s for v, s in zip(est, shared, strict=True)) for est in family]
        flagged = False
        for k in range(4, looks + 1, 2):
            evidence = [RestartEvidence(SequentialEvidence(est[:k])) for est in family]
            flagged |= any(d.verdict == "regression" for d in decide_family(evidence, settings))
        alarms += flagged
    assert alarms / runs <= 0.1 + 2 * math.sqrt(0.1 * 0.9 / runs), alarms / runs


def test_settings_refuse_what_cannot_decide() -> None:
    """Odd pairs (one side would open more pairs) and a confirmation too short for its sequence to exclude
    anything (it could never confirm — every flagged regression would end inconclusive, exit 0)."""
    with pytest.raises(ConfigError, match="--pairs must be even"):
        PairedSettings(pairs=3)
    for n in (2, 3):
        with pytest.raises(ConfigError, match="--confirm-restarts must be 0 or ≥ 4"):
            PairedSettings(confirm_restarts=n)
    with pytest.raises(ConfigError, match="--budget"):
        PairedSettings(budget_s=0)
    with pytest.raises(ConfigError, match="--cpus"):
        PairedSettings(cpus="0-x")


def test_a_cpu_that_is_not_here_is_refused_before_anything_runs(tmp_path: Path) -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ConfigError, match=f"--cpus {missing}: CPU {missing} is not available"):
        run_ab(_side("base", "ok"), _side("head", "ok"), [], tmp_path / "x", method="paired",
               paired=PairedSettings(cpus=str(missing)), launcher=_refuse)  # fmt: skip
    assert not (tmp_path / "x").exists()


def _refuse(argv: object, cwd: Path) -> object:
    raise AssertionError("nothing may be launched")


def test_rounds_options_are_refused_or_noted_in_the_paired_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--rounds applies to process rounds only"):
        run_ab(_side("base", "ok"), _side("head", "ok"), [], tmp_path / "a", method="paired", paired=TINY,
               rounds=6)  # fmt: skip
    result = run_ab(_side("base", "ok"), _side("head", "ok"), [], tmp_path / "b", method="auto", paired=TINY,
                    rounds=6)  # fmt: skip
    assert result.comparison.method == "paired"
    assert any("--rounds 6 unused: the paired mode ran" in n for n in result.comparison.notes)


def test_power_model_holds_by_simulation() -> None:
    """``restarts_needed`` says how many restarts decide with 80% power; simulating the rule at that count
    decides at least ~80% of the time (the old model used the winsorized SD where the test's standard error
    is larger: its "90% power" was ~67%)."""
    from rnnbench.gate.evidence import RestartEvidence
    from rnnbench.gate.verdict import decide_family
    from rnnbench.stats.power import restarts_needed

    rng = np.random.default_rng(21)
    settings = GateSettings(min_effect=0.03, alpha=0.1)
    for effect, sd in ((math.log(0.94), 0.03), (0.0, 0.02)):
        n = restarts_needed(effect, sd, 4, 0.03, settings.alpha, power=0.8)
        assert n is not None and 4 < n < 200
        decided = 0
        runs = 300
        for _ in range(runs):
            est = tuple(rng.normal(effect, sd, n))
            [d] = decide_family([RestartEvidence(SequentialEvidence(est))], settings)
            decided += d.verdict == ("regression" if effect < 0 else "no_change")
        assert decided / runs >= 0.8 - 2 * math.sqrt(0.16 / runs), (effect, n, decided / runs)


def test_recommended_min_effect_decides_the_next_a_a_by_simulation() -> None:
    """The recommended min effect comes from each case's restart spread with a stated margin: an A/A at
    that min effect and the same number of restarts calls the case "no change" ≈ 90% of the time (the old
    recommendation, the widest interval of one run, left a case undecided in a third of the next runs)."""
    from rnnbench.ab.calibrate import recommended_effect

    rng = np.random.default_rng(22)
    sd, restarts = 0.015, 16
    m = recommended_effect(sd, restarts)
    assert 0.01 < m < 0.05
    runs, decided = 1000, 0
    for _ in range(runs):
        ci = SequentialEvidence(tuple(rng.normal(0, sd, restarts))).interval(0.95)
        decided += 1 - m <= ci.low and ci.high <= 1 + m
    assert decided / runs >= 0.85, decided / runs


def test_restart_estimate_and_detectable_effect() -> None:
    # a 20%-trimmed mean: the straddling pair (log 1.8) and the outlier (−0.5) are trimmed
    assert restart_estimate([0.01, 0.02, math.log(1.8), -0.5, 0.015]) == pytest.approx(0.015)
    assert restart_estimate([0.01, 0.02, 0.03, 0.04]) == pytest.approx(0.025)
    assert math.isnan(restart_estimate([]))
    small = detectable_effect(0.005, 12, 0.03, 0.01 / 16)
    assert 0.03 <= small < detectable_effect(0.01, 12, 0.03, 0.01 / 16) < 0.1  # never below the min effect
    assert detectable_effect(0.005, 12, 0.03, 0.01 / 16, confirm_restarts=12, alpha_confirm=0.1) > small
    assert math.isnan(detectable_effect(0.0, 8, 0.03, 0.01))


# ---- version skew and faults (real processes, fake workers) -------------------------------------------------
def _side(label: str, mode: str) -> SideCommand:
    return SideCommand.from_command(label, f"{sys.executable} {FAKE} {mode}")


def _no_fake_left(marker: str) -> bool:
    """No fake worker of this test is left running: a worker the coordinator failed to end stays this
    process's child (its own session, not its own parent), so only our descendants are looked at — a fake of
    another test running beside this one (pytest-xdist) is none of ours."""
    time.sleep(0.2)
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
            running = proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            continue
        if running and str(FAKE) in cmd and marker in cmd:
            return False
    return True


def test_the_leak_check_sees_a_leaked_worker() -> None:
    """A fake worker left running in its own session (as a leak would be) is seen; once ended, it is not."""
    argv = [sys.executable, str(FAKE), "ok", "worker", "--serve"]  # serves until its stdin closes
    leak = subprocess.Popen(argv, stdin=subprocess.PIPE, start_new_session=True)
    try:
        assert not _no_fake_left("ok")
    finally:
        leak.kill()
        leak.wait()
    assert _no_fake_left("ok")


TINY = PairedSettings(max_restarts=4, pairs=4, block_s=0.05, confirm_restarts=0, timeout_s=2.0)
HANG = PairedSettings(max_restarts=4, pairs=4, block_s=0.05, confirm_restarts=0, timeout_s=0.5)
"""For the hung worker: its fake blocks answer in microseconds, so half a second is a hang, not a slow block."""


def test_old_rnnbench_falls_back_to_process_rounds(tmp_path: Path) -> None:
    result = run_ab(_side("base", "old"), _side("head", "ok"), [], tmp_path, method="auto", paired=TINY, rounds=5,
                    confirm_rounds=0)  # fmt: skip
    assert result.comparison.method == "rounds"
    assert "fell back to process rounds" in result.comparison.notes[0] and "base" in result.comparison.notes[0]
    assert (tmp_path / "rounds" / "head" / "head-r4" / "summary.csv").exists()
    assert _no_fake_left("ok")


def test_other_protocol_version_falls_back_or_refuses(tmp_path: Path) -> None:
    result = run_ab(_side("base", "ok"), _side("head", "proto2"), [], tmp_path / "a", method="auto", paired=TINY,
                    rounds=5, confirm_rounds=0)  # fmt: skip
    assert result.comparison.method == "rounds" and "speaks protocol 2" in result.comparison.notes[0]
    with pytest.raises(ConfigError, match="--method rounds"):
        run_ab(_side("base", "ok"), _side("head", "proto2"), [], tmp_path / "b", method="paired", paired=TINY)


def test_worker_killed_mid_protocol(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed, match="head worker was killed by signal 9 during 'block'"):
        run_ab(_side("base", "ok"), _side("head", "die"), [], tmp_path, method="paired", paired=TINY)
    assert (tmp_path / "paired" / "first" / "pairs.csv").exists()
    assert _no_fake_left("die") and _no_fake_left("ok")


def test_hung_worker_times_out(tmp_path: Path) -> None:
    with pytest.raises(WorkerFailed, match="head worker did not answer 'block' within its timeout"):
        run_ab(_side("base", "ok"), _side("head", "hang"), [], tmp_path, method="paired", paired=HANG)
    assert _no_fake_left("hang")


def test_case_failing_on_one_side_only(tmp_path: Path) -> None:
    result = run_ab(_side("base", "ok"), _side("head", "failcase"), [], tmp_path, method="paired", paired=TINY)
    verdicts = {c.case_id: c for c in result.comparison.cases}
    assert verdicts["c1"].verdict == "error" and "head cannot run c1" in verdicts["c1"].reason
    assert verdicts["c0"].verdict in ("no_change", "inconclusive")
    assert result.exit_code == EXIT_BENCHMARK_FAILED
    assert _no_fake_left("failcase")


def test_interpreter_without_rnnbench(tmp_path: Path) -> None:
    """The base interpreter (no rnnbench installed; started in the output folder, so no checkout on its path)
    fails the preflight with one line naming the missing module: exit 6, nothing measured."""
    from rnnbench.errors import BenchmarkFailedError

    bare = Path(sys.base_prefix) / "bin" / "python3"
    if not bare.exists() or Path(sys.prefix) == Path(sys.base_prefix):
        pytest.skip("no interpreter without rnnbench here")
    side = SideCommand.from_python("head", bare)
    with pytest.raises(BenchmarkFailedError, match="No module named rnnbench") as err:
        run_ab(_side("base", "ok"), side, [], tmp_path / "ab", method="auto", paired=TINY, rounds=5)
    assert err.value.exit_code == EXIT_BENCHMARK_FAILED


def test_ctrl_c_ends_both_workers_and_keeps_the_pairs(tmp_path: Path) -> None:
    out = tmp_path / "ab"
    cmd = f"{sys.executable} {FAKE} slow"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnbench", "ab", "--base-cmd", cmd, "--head-cmd", cmd, "--restarts", "50",
         "--pairs", "4", "--block", "0.05", "--method", "paired", "-o", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    pairs = out / "paired" / "first" / "pairs.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not pairs.exists() or len(pairs.read_text().splitlines()) < 3):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED
    assert err.strip().splitlines()[-1] == "Interrupted."
    assert len(pairs.read_text().splitlines()) >= 3
    assert _no_fake_left("slow")


# ---- the real thing ----------------------------------------------------------------------------------------------
def test_real_paired_ab_a_a_on_a_tiny_grid(tmp_path: Path) -> None:
    """Two real ``python -m rnnbench.measure.worker --serve`` processes per restart, one tiny case, A/A."""
    grid = ["--arch", "lstm", "--mode", "inference", "--seq-len", "4", "--batch", "2", "--hidden", "8",
            "--threads", "1"]  # fmt: skip
    base, head = SideCommand.from_python("base", None), SideCommand.from_python("head", None)
    paired = PairedSettings(max_restarts=2, pairs=4, block_s=0.01, confirm_restarts=0)
    result = run_ab(base, head, grid, tmp_path, method="paired", paired=paired)
    assert result.comparison.method == "paired"
    [case] = result.comparison.cases
    assert case.verdict == "inconclusive" and "a verdict needs ≥ 4" in case.reason  # 2 restarts: honest
    assert 0.5 < case.ratio < 2 and result.exit_code == EXIT_OK  # a mechanics check: 2 restarts decide nothing
    assert len((tmp_path / "paired" / "first" / "pairs.csv").read_text().splitlines()) == 1 + 2 * 4
    cpus = result.comparison.design["cpus"]
    assert cpus and len(cpus) == 1 and cpus[0] in os.sched_getaffinity(0)  # --threads 1: one CPU, both sides
    assert "both workers on CPU" in result.comparison.notes[0]


def test_builds_run_side_by_side_only_when_the_threads_fit_the_cores(tmp_path: Path) -> None:
    from rnnbench.ab.coordinator import builds_fit_side_by_side
    from rnnbench.measure.serve import largest_threads

    assert largest_threads(["--preset", "quick", "--threads", "1"]) == 1
    assert largest_threads(["--threads", "1", "2", "-a", "gru"]) == 2
    assert (
        largest_threads(["--threads=1,4"]) == 4 and largest_threads(["--threads", "2", "--threads", "1"]) == 2
    )
    assert largest_threads(["--preset", "quick"]) is None  # torch's default: every core
    assert largest_threads(["--threads", "0"]) is None and largest_threads(["--threads", "x"]) is None
    config = tmp_path / "grid.toml"  # read as the worker's build reads it: a config file's threads count too
    config.write_text("threads = [1]\n")
    assert largest_threads(["--config", str(config)]) == 1
    assert builds_fit_side_by_side(["--threads", "1"], ["--threads", "1"], cores=2)
    assert not builds_fit_side_by_side(["--threads", "2"], ["--threads", "2"], cores=2)
    assert not builds_fit_side_by_side(["--threads", "1"], [], cores=16)
    assert builds_fit_side_by_side(["--threads", "2"], ["--threads", "2"], cores=16)
