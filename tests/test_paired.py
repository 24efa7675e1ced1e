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
from rnnbench.gate.verdict import decide_restarts, decide_rounds
from rnnbench.stats.power import detectable_effect
from rnnbench.stats.restarts import paired_evidence, restart_estimate
from tests.phase_sim import PhaseMachine, SimCase, process_rounds, sim_factory

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fake_worker.py"
SIDES = (PairedSide("base", ("fake",), ()), PairedSide("head", ("fake",), ()))
FAST = PairedSettings(restarts=6, pairs=6, block_s=0.05, confirm_restarts=6)


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


def test_grid_options_parse_like_run() -> None:
    from rnnbench.measure.serve import parse_grid

    spec, _ = parse_grid(["--arch", "lstm", "gru", "--seq-len", "8,16", "--threads", "1", "--preset", "quick"])
    assert spec.arch == ("lstm", "gru") and spec.seq_len == (8, 16) and spec.threads == (1,)
    with pytest.raises(ConfigError, match="not supported by the paired mode"):
        parse_grid(["--shard", "1/2"])


# ---- the coordinator ------------------------------------------------------------------------------------------
def test_blocks_alternate_a_b_b_a_one_side_at_a_time(tmp_path: Path) -> None:
    machine = PhaseMachine(np.random.default_rng(0))
    log: list[tuple[str, str]] = []
    factory = sim_factory(machine, cases(2))

    def recording(label: str, argv: object, path: Path) -> object:
        worker = factory(label, argv, path)
        real = worker.request

        def request(msg: dict, timeout_s: float) -> dict:
            if msg["op"] == "block":
                log.append((label, msg["case"]))
            return real(msg, timeout_s)

        worker.request = request  # type: ignore[method-assign]
        return worker

    run = run_paired(*SIDES, tmp_path, PairedSettings(restarts=2, pairs=4, block_s=0.05),
                     factory=recording, clock=machine.clock)  # fmt: skip
    first_case = [side for side, case in log if case == "c0@1"][:8]
    assert first_case == ["base", "head", "head", "base", "base", "head", "head", "base"]
    assert run.restarts == 2 and all(w.closed for w in factory.made)
    assert len(factory.made) == 4  # a fresh worker pair per restart
    rows = (tmp_path / "first" / "pairs.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2 * 4  # header + restarts × cases × pairs, on disk


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
    run = run_paired(
        *SIDES, tmp_path, PairedSettings(), factory=sim_factory(machine, grid, slow), clock=machine.clock
    )
    comp = paired_comparison(run, settings)
    assert [c.verdict for c in comp.cases] == ["regression"] * 4
    assert all(c.ratio_low < 0.95 < c.ratio_high for c in comp.cases)
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
    assert all(v[0] != "regression" for k, v in verdicts.items() if k != "c2")
    assert result.exit_code == 1
    confirm_rows = (tmp_path / "paired" / "confirm" / "pairs.csv").read_text().splitlines()[1:]
    assert confirm_rows and {row.split(",")[2] for row in confirm_rows} == {"c2"}
    assert result.confirmation is not None and result.confirmation.family == 1


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
    assert data["false_alarms"] == 0 and data["honest_min_effect"] < 0.03
    assert data["power"]["0.1"] == 1.0  # 10% is caught (and confirmed) in every case
    assert 0 <= data["power"]["0.02"] <= 1
    assert math.isfinite(cal.detectable_effect) and cal.detectable_effect < 0.10
    assert "detected and confirmed" in render(cal, "md")


# ---- statistics by simulation ---------------------------------------------------------------------------------
def _restarts(rng: np.random.Generator, delta: float, r: int = 8, p: int = 8) -> list[list[float]]:
    """The model's data: a heavy-tailed process effect per restart (t with 3 df, scale 0.4%), pair noise 1.5%
    with 10% of pairs straddling a 1.8× phase switch."""
    u = 0.004 * rng.standard_t(3, size=(r, 1))
    e = rng.normal(0, 0.015, (r, p))
    straddle = rng.random((r, p)) < 0.1
    e += straddle * rng.choice([-1, 1], (r, p)) * math.log(1.8) * rng.random((r, p))
    return (delta + u + e).tolist()


@pytest.mark.parametrize("restarts", [6, 12])  # the ordinary t; Yuen's trimmed t (one restart off each end)
def test_interval_over_restarts_covers_by_simulation(restarts: int) -> None:
    rng = np.random.default_rng(11)
    delta = math.log(0.97)
    hits = 0
    n = 1500
    for _ in range(n):
        ci = paired_evidence(_restarts(rng, delta, r=restarts)).interval(0.95)
        hits += ci.low <= 0.97 <= ci.high
    assert 0.93 <= hits / n <= 0.975, hits / n


def test_family_wise_false_alarms_by_simulation() -> None:
    """16 unchanged cases, correlated through a shared restart effect: any case flagged slower (Holm-adjusted
    p ≤ α, interval below 1 — whatever the min effect) in ≤ α of gate runs."""
    rng = np.random.default_rng(12)
    settings = GateSettings(alpha=0.05)
    runs, alarms = 600, 0
    for _ in range(runs):
        shared = [0.003 * rng.standard_t(3) for _ in range(12)]
        family = []
        for _ in range(16):
            data = _restarts(rng, 0.0, r=12, p=4)
            family.append([[v + s for v in r] for r, s in zip(data, shared, strict=True)])
        decisions = decide_restarts(family, settings)
        alarms += any(d.p_side == "slower" and d.p_value <= settings.alpha for d in decisions)
    assert alarms / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs), alarms / runs


def test_restart_estimate_and_detectable_effect() -> None:
    assert restart_estimate([0.01, 0.02, math.log(1.8), -0.5, 0.015]) == pytest.approx(0.015)
    assert math.isnan(restart_estimate([]))
    small = detectable_effect(0.005, 12, 0.01, family=16)
    assert 0 < small < detectable_effect(0.01, 12, 0.01, family=16) < 0.1
    assert detectable_effect(0.005, 12, 0.01, 16, confirm_restarts=12) > small  # both stages must see it
    assert math.isnan(detectable_effect(0.0, 8, 0.01))


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


TINY = PairedSettings(restarts=4, pairs=4, block_s=0.05, confirm_restarts=0, timeout_s=2.0)
HANG = PairedSettings(restarts=4, pairs=4, block_s=0.05, confirm_restarts=0, timeout_s=0.5)
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
         "--method", "paired", "-o", str(out)],
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
    paired = PairedSettings(restarts=2, pairs=3, block_s=0.05, confirm_restarts=0)
    result = run_ab(base, head, grid, tmp_path, method="paired", paired=paired)
    assert result.comparison.method == "paired"
    [case] = result.comparison.cases
    assert case.verdict == "inconclusive" and "a verdict needs ≥ 4" in case.reason  # 2 restarts: honest
    assert 0.5 < case.ratio < 2 and result.exit_code == EXIT_OK  # a mechanics check: 2 restarts decide nothing
    assert len((tmp_path / "paired" / "first" / "pairs.csv").read_text().splitlines()) == 1 + 2 * 3


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
