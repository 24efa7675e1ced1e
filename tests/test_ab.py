"""``ab`` and ``calibrate`` orchestration: ABBA order and drift, confirmation, failures, A/A calibration.

A fake launcher stands in for ``rnnbench run`` subprocesses: it writes a run folder per call (via the
``write_run`` helper of test_gate), with throughputs from a model of the two sides, so no torch is needed.
One test at the end runs the real ``rnnbench run`` when it exists (marked ``slow``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from rnnbench.ab.calibrate import run_calibrate
from rnnbench.ab.flows import run_ab
from rnnbench.ab.rounds import abba_order, build_jobs
from rnnbench.ab.sides import LaunchResult, SideCommand
from rnnbench.core.progress import ProgressEvent
from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    EXIT_REGRESSION,
    BenchmarkFailedError,
    ConfigError,
)
from rnnbench.gate.calibration import calibration_from
from rnnbench.gate.results import Comparison
from rnnbench.gate.settings import GateSettings
from rnnbench.gate.verdict import decide
from tests.runfolders import write_run

Model = Callable[[str, str, int, Sequence[str]], dict[str, float]]
"""(side label, run id, call slot, argv) → throughput per case."""


class FakeRun:
    """Records every command; for ``run`` commands writes ``--output/--run-id`` with the model's values."""

    def __init__(self, model: Model, fail: Callable[[str], LaunchResult | None] | None = None) -> None:
        self.model = model
        self.fail = fail
        self.calls: list[tuple[tuple[str, ...], Path]] = []
        self.slot = 0

    def __call__(self, argv: Sequence[str], cwd: Path) -> LaunchResult:
        argv = tuple(argv)
        self.calls.append((argv, cwd))
        if argv[-1] == "--help":
            label = "base" if "base" in argv[0] else "head"
            return (self.fail and self.fail(f"{label}-help")) or LaunchResult(0, "Usage: rnnbench run")
        run_id = argv[argv.index("--run-id") + 1]
        if self.fail and (failure := self.fail(run_id)):
            return failure
        output = Path(argv[argv.index("--output") + 1])
        threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else 2
        values = self.model(run_id.split("-")[0], run_id, self.slot, argv)
        self.slot += 1
        write_run(output, run_id, {k: [v] for k, v in values.items()}, threads=threads)
        return LaunchResult(0, "", "", 0.01)

    @property
    def run_ids(self) -> list[str]:
        return [a[a.index("--run-id") + 1] for a, _ in self.calls if "--run-id" in a]


def noise_model(factors: dict[str, float], sd: float = 0.02, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)

    def model(side: str, run_id: str, slot: int, argv: Sequence[str]) -> dict[str, float]:
        f = factors.get(side, 1.0)
        return {
            "lstm": float(1000 * f * np.exp(rng.normal(0, sd))),
            "gru": float(800 * np.exp(rng.normal(0, sd))),
        }

    return model


BASE = SideCommand("base", ("/venvs/base/bin/python", "-m", "rnnbench"))
HEAD = SideCommand("head", ("/venvs/head/bin/python", "-m", "rnnbench"))


# ---- ABBA order -------------------------------------------------------------------------------------------
def test_abba_order() -> None:
    order = abba_order(4)
    assert [s[0] for s in order] == ["base", "head", "head", "base"] * 2
    assert sorted(k for s, k in order if s == "base") == [0, 1, 2, 3]
    for n in (2, 4, 6, 8):
        pos = {side: [i for i, (s, _) in enumerate(abba_order(n)) if s == side] for side in ("base", "head")}
        assert np.mean(pos["base"]) == np.mean(pos["head"])  # equal mean time: linear drift cancels


def test_abba_cancels_a_linear_drift() -> None:
    """A machine slowing 1% per round, identical code: ABBA gives a ratio of exactly 1; measuring all base
    rounds first (the naive schedule) turns the drift into a false "regression"."""

    def drift(slot: int) -> float:
        return 1000 * (1 - 0.01 * slot)

    n = 6
    abba = abba_order(n)
    base = [drift(i) for i, (s, _) in enumerate(abba) if s == "base"]
    head = [drift(i) for i, (s, _) in enumerate(abba) if s == "head"]
    d = decide(base, head, GateSettings())
    assert d.ratio.estimate == pytest.approx(1.0, abs=1e-12)
    assert d.verdict not in ("regression", "improvement")
    naive = decide([drift(i) for i in range(n)], [drift(n + i) for i in range(n)], GateSettings())
    assert naive.verdict == "regression"  # what ABBA protects against
    alternating = decide([drift(2 * i) for i in range(n)], [drift(2 * i + 1) for i in range(n)], GateSettings())
    assert alternating.ratio.estimate < 1  # ABAB leaves a bias: B is always one slot later


def test_abba_drift_through_the_whole_pipeline(tmp_path: Path) -> None:
    def model(side: str, run_id: str, slot: int, argv: Sequence[str]) -> dict[str, float]:
        return {"lstm": 1000 * (1 - 0.008 * slot)}

    result = run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=FakeRun(model))
    (case,) = result.comparison.cases
    assert case.ratio == pytest.approx(1.0, abs=1e-9)
    assert result.exit_code == EXIT_OK


def test_build_jobs_commands(tmp_path: Path) -> None:
    side = SideCommand("head", ("py", "-m", "rnnbench"), ("--threads", "1"))
    jobs = build_jobs((BASE, side), ["--preset", "quick"], 2, tmp_path, "r")
    assert [j.run_id for j in jobs] == ["base-r0", "head-r0", "head-r1", "base-r1"]
    head0 = jobs[1]
    assert head0.argv == (
        "py", "-m", "rnnbench", "run", "--preset", "quick", "--threads", "1", "--rounds", "1",
        "--output", str((tmp_path / "head").resolve()), "--run-id", "head-r0",
    )  # fmt: skip
    assert head0.folder == (tmp_path / "head" / "head-r0").resolve()


# ---- ab ------------------------------------------------------------------------------------------------------
def test_aa_has_no_regression(tmp_path: Path) -> None:
    fake = FakeRun(noise_model({}))
    result = run_ab(BASE, HEAD, ["--preset", "quick"], tmp_path / "ab", launcher=fake)
    assert result.exit_code == EXIT_OK
    assert result.confirmation is None
    assert all(c.verdict != "regression" for c in result.comparison.cases)
    assert len(fake.calls) == 2 + 16  # two preflights, 8 rounds per side
    assert all(cwd == (tmp_path / "ab").resolve() for _, cwd in fake.calls)  # never inside a checkout


def test_slowdown_is_confirmed(tmp_path: Path) -> None:
    fake = FakeRun(noise_model({"head": 1 / 1.5}))
    progress: list[ProgressEvent] = []
    result = run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=fake, progress=progress.append)
    lstm = next(c for c in result.comparison.cases if c.labels["arch"] == "lstm")
    gru = next(c for c in result.comparison.cases if c.labels["arch"] == "gru")
    assert lstm.verdict == "regression" and lstm.confirmed is True and "confirmed" in lstm.reason
    assert gru.verdict != "regression"
    assert result.confirmation is not None
    assert result.exit_code == EXIT_REGRESSION
    assert [c.name for c in result.confirmed_regressions] == [lstm.name]
    assert sum(1 for r in fake.run_ids if "-c" in r) == 12
    assert any("confirming" in p.message for p in progress)
    notes = [p for p in progress if p.kind == "note"]
    assert len(notes) == 1 and notes[0].values == {"regressions": 1, "confirm_rounds": 6}
    done = [p for p in progress if p.kind == "done"]  # one per round: 16 first, then 12 confirming
    first, confirming = [(i, 16) for i in range(1, 17)], [(i, 12) for i in range(1, 13)]
    assert [(p.done, p.total) for p in done] == first + confirming
    assert [p.label for p in done] == fake.run_ids
    assert all(p.status == "ok" and p.values["seconds"] == 0.01 for p in done)
    assert progress.index(notes[0]) == 16  # the note comes between the two phases
    assert set(result.seconds) == {"rounds", "confirm", "total"}
    # the confirmation re-tests only the regression, at α over it: a family of one
    assert result.first.family == 2 and result.confirmation.family == 1
    assert [c.labels["arch"] for c in result.confirmation.cases] == ["lstm"]


def test_many_regressions_raise_the_confirmation_rounds(tmp_path: Path) -> None:
    """Twelve cases all slower: the confirmation's family is twelve, and 6 rounds cannot reach α/12 (6+6
    gives at best 1/924 > 0.01/12) — confirming with 6 would refute every real regression. The rounds are
    raised to 7, with a note, and all twelve are confirmed."""
    rng = np.random.default_rng(5)

    def model(side: str, run_id: str, slot: int, argv: Sequence[str]) -> dict[str, float]:
        factor = 0.6 if side == "head" else 1.0
        return {f"c{i}": float(1000 * factor * np.exp(rng.normal(0, 0.01))) for i in range(12)}

    fake = FakeRun(model)
    result = run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=fake)
    assert result.first.family == 12 and result.confirmation is not None
    assert result.confirmation.family == 12
    assert sum(1 for r in fake.run_ids if "-c" in r) == 14  # 7 per side
    assert any("--confirm-rounds 6 raised to 7" in n for n in result.comparison.notes)
    assert len(result.confirmed_regressions) == 12 and result.exit_code == EXIT_REGRESSION


def test_regression_not_confirmed_becomes_inconclusive(tmp_path: Path) -> None:
    """A slowdown seen only in the first rounds (a noisy neighbour) is not evidence enough to fail."""
    rng = np.random.default_rng(1)

    def model(side: str, run_id: str, slot: int, argv: Sequence[str]) -> dict[str, float]:
        slow = side == "head" and "-r" in run_id
        return {"lstm": float(1000 * (0.6 if slow else 1.0) * np.exp(rng.normal(0, 0.02)))}

    result = run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=FakeRun(model))
    (case,) = result.comparison.cases
    assert result.first.cases[0].verdict == "regression"
    assert case.verdict == "inconclusive" and case.confirmed is False and "not confirmed" in case.reason
    assert result.exit_code == EXIT_OK
    assert any("0 of 1 regression" in n for n in result.comparison.notes)


def test_confirm_rounds_zero_trusts_the_first_comparison(tmp_path: Path) -> None:
    fake = FakeRun(noise_model({"head": 0.5}))
    result = run_ab(BASE, HEAD, [], tmp_path / "ab", confirm_rounds=0, launcher=fake)
    assert result.exit_code == EXIT_REGRESSION and result.confirmation is None
    assert not any("-c" in r for r in fake.run_ids)


def test_threads_slowdown_with_allowed_difference(tmp_path: Path) -> None:
    def model(side: str, run_id: str, slot: int, argv: Sequence[str]) -> dict[str, float]:
        threads = int(argv[argv.index("--threads") + 1])
        return {"lstm": 1000.0 * threads * (1 + 0.001 * (slot % 3))}

    base = SideCommand("base", BASE.prefix, ("--threads", "2"))
    head = SideCommand("head", HEAD.prefix, ("--threads", "1"))
    settings = GateSettings(allow_diff=("threads",))
    result = run_ab(base, head, ["--arch", "lstm"], tmp_path / "ab", settings, launcher=FakeRun(model))
    (case,) = result.comparison.cases
    assert (case.base_threads, case.head_threads) == (2, 1)
    assert case.verdict == "regression" and case.confirmed
    refused = run_ab(base, head, [], tmp_path / "ab2", launcher=FakeRun(model))
    assert refused.comparison.cases[0].verdict == "not_comparable"


def test_failed_round_raises_with_stderr_tail(tmp_path: Path) -> None:
    def fail(run_id: str) -> LaunchResult | None:
        if run_id == "head-r2":
            lines = "\n".join(f"line {i}" for i in range(40))
            return LaunchResult(1, "", f"{lines}\nRuntimeError: oneDNN exploded\n")
        return None

    with pytest.raises(BenchmarkFailedError) as info:
        run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=FakeRun(noise_model({}), fail))
    message = str(info.value)
    assert "head-r2" in message and "oneDNN exploded" in message and "exit status 1" in message
    assert "line 39" in message and "line 5\n" not in message  # a tail, not the whole log
    assert info.value.exit_code == EXIT_BENCHMARK_FAILED


def test_preflight_failure_is_reported_per_side(tmp_path: Path) -> None:
    def fail(run_id: str) -> LaunchResult | None:
        return LaunchResult(2, "", "No such command 'run'.") if run_id == "base-help" else None

    with pytest.raises(BenchmarkFailedError, match="(?s)base: .*No such command 'run'"):
        run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=FakeRun(noise_model({}), fail))


def test_round_that_writes_nothing(tmp_path: Path) -> None:
    def launcher(argv: Sequence[str], cwd: Path) -> LaunchResult:
        return LaunchResult(0)

    with pytest.raises(BenchmarkFailedError, match="wrote no"):
        run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=launcher)


def test_argument_checks(tmp_path: Path) -> None:
    fake = FakeRun(noise_model({}))
    with pytest.raises(ConfigError, match="'--rounds' is set by ab"):
        run_ab(BASE, HEAD, ["--rounds", "3"], tmp_path / "a", launcher=fake)
    with pytest.raises(ConfigError, match="--output"):
        run_ab(BASE, HEAD, ["--output=x"], tmp_path / "a", launcher=fake)
    with pytest.raises(ConfigError, match=r"--rounds 4 can never .* 0\.014"):
        run_ab(BASE, HEAD, [], tmp_path / "a", rounds=4, launcher=fake)
    with pytest.raises(ConfigError, match="--confirm-rounds 3 .* or 0 to skip"):
        run_ab(BASE, HEAD, [], tmp_path / "a", confirm_rounds=3, launcher=fake)
    assert fake.calls == []
    with pytest.raises(ConfigError, match="no such file"):
        SideCommand.from_python("base", tmp_path / "missing" / "python")
    assert SideCommand.from_command("head", "uv run --project '../my head' rnnbench").prefix == (
        "uv", "run", "--project", "../my head", "rnnbench",
    )  # fmt: skip
    assert SideCommand.from_python("base", None).prefix == (sys.executable, "-m", "rnnbench")


def test_refuses_to_mix_with_old_rounds(tmp_path: Path) -> None:
    run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=FakeRun(noise_model({})))
    with pytest.raises(ConfigError, match="exists already"):
        run_ab(BASE, HEAD, [], tmp_path / "ab", launcher=FakeRun(noise_model({})))


# ---- calibrate --------------------------------------------------------------------------------------------
def test_calibrate_aa(tmp_path: Path) -> None:
    fake = FakeRun(noise_model({}, sd=0.03))
    cal = run_calibrate(
        SideCommand("x", ("py", "-m", "rnnbench")), ["--preset", "quick"], tmp_path / "cal", launcher=fake
    )
    assert {r.split("-")[0] for r in fake.run_ids} == {"a", "b"}
    assert len(cal.cases) == 2 and cal.false_alarms == 0
    assert cal.exit_code == EXIT_OK
    for case in cal.cases:
        assert case.rounds == 8
        assert 0 < case.spread < 0.1
        assert case.honest_min_effect == pytest.approx(max(1 - case.ratio_low, case.ratio_high - 1))
    worst = max(c.honest_min_effect for c in cal.cases)
    assert worst <= cal.recommended_min_effect < worst + 0.005 + 1e-12 or cal.recommended_min_effect == 0.01
    assert round(cal.recommended_min_effect * 200, 9) == round(cal.recommended_min_effect * 200)


def test_calibration_recommendation_rounds_up_to_half_percent() -> None:
    from rnnbench.gate.results import CaseComparison

    def case(lo: float, hi: float) -> CaseComparison:
        return CaseComparison("c", "id", {}, 2, 2, (1.0,) * 6, (1.0,) * 6, "no_change", "", 1.0, lo, hi, 0.5)

    comp = Comparison([case(0.968, 1.021), case(0.99, 1.01)], GateSettings())
    assert calibration_from(comp).recommended_min_effect == pytest.approx(0.035)
    tight = Comparison([case(0.999, 1.001)], GateSettings())
    assert calibration_from(tight).recommended_min_effect == 0.01


def test_calibration_exit_code() -> None:
    """Calibration carries its exit code, as Comparison and History do: false alarms never fail it (they are
    what it measures); a failed case is 6, nothing comparable 4, and 6 outranks 4."""
    from rnnbench.gate.results import CaseComparison

    def case(verdict: str) -> CaseComparison:
        return CaseComparison("c", "id", {}, 2, 2, (1.0,) * 6, (1.0,) * 6, verdict, "", 1.0, 0.9, 1.1, 0.5)

    def code(*verdicts: str) -> int:
        return calibration_from(Comparison([case(v) for v in verdicts], GateSettings())).exit_code

    assert code("no_change", "regression", "improvement", "inconclusive") == EXIT_OK
    assert code("no_change", "error") == EXIT_BENCHMARK_FAILED
    assert code("not_comparable", "not_comparable") == EXIT_NOTHING_COMPARABLE
    assert code() == EXIT_NOTHING_COMPARABLE
    assert code("not_comparable", "no_change") == EXIT_OK
    assert code("error", "not_comparable") == EXIT_BENCHMARK_FAILED


# ---- the real thing -------------------------------------------------------------------------------------------
def _run_available() -> bool:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rnnbench", "run", "--help"], capture_output=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@pytest.mark.slow
def test_real_ab_on_a_tiny_grid(tmp_path: Path) -> None:
    """Five real rounds per side of one tiny case through ``python -m rnnbench run``: same code on both sides,
    so no confirmed regression; the folders ``run`` wrote are read by the gate."""
    if not _run_available():
        pytest.skip("'rnnbench run' is not available yet")
    grid = ["--arch", "lstm", "--impl", "native", "--mode", "inference", "--seq-len", "8", "--batch", "2",
            "--input-size", "8", "--hidden", "8", "--threads", "1", "--device", "cpu", "--budget", "0.05",
            "--warmup", "0.02"]  # fmt: skip
    side = SideCommand.from_python("base", None)
    result = run_ab(
        side, SideCommand.from_python("head", None), grid, tmp_path / "ab", rounds=5, confirm_rounds=5
    )
    assert result.comparison.cases, "run wrote no comparable case"
    assert result.exit_code in (EXIT_OK,), result.comparison.summary()
    assert all(c.verdict != "error" for c in result.comparison.cases)
