"""The gate library: verdict rules and their boundaries, false alarms per run (Holm over the cases), fingerprint
checks, exit codes.

``tests/runfolders.py`` writes hand-made run folders the way ``rnnbench run`` does, so none of these tests
needs torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    EXIT_PRECEDENCE,
    EXIT_REGRESSION,
    ConfigError,
    most_severe,
)
from rnnbench.gate.cases import case_name
from rnnbench.gate.history import build_history
from rnnbench.gate.results import CaseComparison, Comparison, exit_code_for
from rnnbench.gate.rounds import compare_paths, round_throughputs
from rnnbench.gate.settings import GateSettings
from rnnbench.gate.verdict import classify, decide, decide_rounds
from rnnbench.stats.intervals import Interval
from rnnbench.stats.ranks import mann_whitney_exact
from tests.runfolders import SHAPE, noisy, write_run

S = GateSettings()


# ---- verdict rules and their boundaries -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("est", "lo", "hi", "p", "verdict"),
    [
        (0.97, 0.95, 1.05, 0.5, "no_change"),  # low end exactly at 1 - m: inside (closed)
        (1.00, 0.96, 1.05, 0.5, "no_change"),  # high end exactly at 1 + m: inside
        (0.97, 0.9499, 1.05, 0.5, "inconclusive"),  # just outside
        (1.00, 0.96, 1.0501, 0.5, "inconclusive"),
        (0.90, 0.85, 0.95, 0.002, "regression"),  # interval touching 1 - m from below, estimate beyond m
        (0.95, 0.93, 0.97, 0.002, "inconclusive"),  # estimate exactly 1 - m: not "slower by more than m"
        (0.90, 0.85, 1.00, 0.002, "inconclusive"),  # interval touching 1: does not exclude it
        (0.90, 0.85, 0.99, 0.01, "regression"),  # p exactly alpha counts
        (0.90, 0.85, 0.99, 0.0101, "inconclusive"),
        (1.10, 1.05, 1.20, 0.002, "improvement"),  # touching 1 + m from above
        (1.05, 1.03, 1.07, 0.002, "inconclusive"),  # estimate exactly 1 + m
        (1.10, 1.00, 1.20, 0.002, "inconclusive"),  # touching 1
        (0.98, 0.975, 0.985, 0.002, "no_change"),  # significant but smaller than the min effect
    ],
)
def test_classify_boundaries(est: float, lo: float, hi: float, p: float, verdict: str) -> None:
    got, reason = classify(Interval(est, lo, hi), p, 6, 6, S)
    assert got == verdict, reason


def test_classify_boundaries_follow_min_effect() -> None:
    s = GateSettings(min_effect=0.1)
    assert classify(Interval(1.0, 0.9, 1.1), 0.5, 6, 6, s)[0] == "no_change"
    assert classify(Interval(0.85, 0.8, 0.9), 0.002, 6, 6, s)[0] == "regression"
    assert classify(Interval(0.92, 0.88, 0.95), 0.002, 6, 6, s)[0] == "inconclusive"


def test_too_few_rounds_is_never_decisive() -> None:
    # 4+4 rounds: the bootstrap interval undercovers and the one-sided exact test cannot reach α = 0.01
    # (smallest p 1/70 = 0.014): even a tight interval is not "no change"
    verdict, reason = classify(Interval(1.0, 0.99, 1.01), 0.5, 4, 6, S)
    assert verdict == "inconclusive" and "≥ 5" in reason
    assert classify(Interval(0.5, 0.45, 0.55), 0.0001, 4, 4, S)[0] == "inconclusive"
    # at α = 0.05 a one-sided test could fire from 3+3, but the interval still needs 5 per side
    assert classify(Interval(1.0, 0.99, 1.01), 0.5, 4, 4, GateSettings(alpha=0.05))[0] == "inconclusive"
    assert classify(Interval(1.0, 0.99, 1.01), 0.5, 5, 5, GateSettings(alpha=0.05))[0] == "no_change"


def test_decide_flags_a_large_slowdown_and_reports_rounds_needed_when_unsure() -> None:
    rng = np.random.default_rng(1)
    base = noisy(1000, 6, rng)
    d = decide(base, noisy(1000 / 1.5, 6, rng), S)
    assert d.verdict == "regression" and d.p_value == pytest.approx(1 / 924)  # one-sided, a family of one
    assert d.p_side == "slower" and d.p_raw == d.p_value and d.family == 1
    assert d.ratio.estimate == pytest.approx(1 / 1.5, rel=0.05)
    unsure = decide(noisy(1000, 6, rng, sd=0.08), noisy(960, 6, rng, sd=0.08), S)
    assert unsure.verdict == "inconclusive"
    assert unsure.rounds_needed is None or unsure.rounds_needed > 6
    assert unsure.rounds_needed is None or "rounds per side for 80% power to decide" in unsure.reason


def test_aa_false_positive_rate_at_most_alpha_at_defaults() -> None:
    """Identical code, 6+6 round medians with realistic (3%, lognormal) round-to-round noise: the share of
    A/A comparisons of one case called regression or improvement stays at or below α = 0.01."""
    rng = np.random.default_rng(20240601)
    trials = 600
    alarms = 0
    for i in range(trials):
        base = noisy(1000, 6, rng, sd=0.03)
        head = noisy(1000, 6, rng, sd=0.03)
        d = decide(base, head, GateSettings(seed=i))
        alarms += d.verdict in ("regression", "improvement")
    assert alarms / trials <= S.alpha


def test_aa_rank_test_size_is_exact() -> None:
    """The one-sided exact test's rejection rate at α = 0.01 with 6+6 rounds is 7/924 (U ≤ 3) whatever the
    distribution."""
    rng = np.random.default_rng(7)
    x = rng.standard_cauchy((4000, 12))
    rejections = sum(mann_whitney_exact(row[:6], row[6:]).p_less <= 0.01 for row in x)
    assert rejections / 4000 == pytest.approx(7 / 924, abs=0.003)


# ---- false alarms per run: Holm over the cases compared ---------------------------------------------------
def test_aa_false_alarms_per_run_at_most_alpha_over_16_cases() -> None:
    """A run of 16 unchanged cases exits 1 (any regression) in ≤ α of runs. The old rule — each case on its
    own at α, two-sided — exited 1 in about 16 × α/2 of them (the issue measured 7% at α = 0.01): α was a
    per-case promise, the exit code a per-run one.

    α = 0.05 keeps the simulation small (the bound is the same at any α; at α = 0.01 with 5,000 runs the
    gate gave 0.94% against 5.5% for the old rule); 8+8 rounds, so that even α/16 is reachable."""
    alpha, cases, rounds, runs = 0.05, 16, 8, 400
    settings = GateSettings(alpha=alpha, n_boot=200)
    rng = np.random.default_rng(2024)
    new_alarms = old_alarms = 0
    for _ in range(runs):
        values = np.exp(rng.normal(0, 0.1, (cases, 2, rounds)))
        pairs = [(v[0], v[1]) for v in values]
        decisions = decide_rounds(pairs, settings)
        new_alarms += any(d.verdict == "regression" for d in decisions)
        old = [
            classify(d.ratio, mann_whitney_exact(head, base).p_value, rounds, rounds, settings)[0]
            for (base, head), d in zip(pairs, decisions, strict=True)
        ]
        old_alarms += "regression" in old
    error = 2 * np.sqrt(alpha * (1 - alpha) / runs)
    assert new_alarms / runs <= alpha + error
    assert old_alarms / runs > alpha + 4 * error  # what the per-case rule did (≈ 25% here)


def test_holm_is_step_down() -> None:
    """Holm, not Bonferroni: once the clearest of 16 cases is called at α/16, the next needs only α/15. With
    6 base and 8 head rounds, one head round above one base round gives p = 2/3003 = 0.000666 — above
    α/16 = 0.000625, so Bonferroni would miss it, and at most α/15 = 0.000667, so Holm calls it."""
    settings = GateSettings()
    base = np.arange(100.0, 108.0)
    clear = np.arange(1.0, 9.0)  # all 8 below all 8 base rounds: p = 1/12870
    almost = np.array([1.0, 2, 3, 4, 5, 6, 7, 100.5])  # against 6 base rounds: U = 1
    same = [(base, base.copy()) for _ in range(14)]  # unchanged: p ≈ 0.5
    decisions = decide_rounds([(base, clear), (base[:6], almost), *same], settings)
    assert [d.family for d in decisions] == [16] * 16
    assert decisions[1].p_raw == pytest.approx(2 / 3003) and 16 * decisions[1].p_raw > settings.alpha
    assert decisions[0].p_value == pytest.approx(16 / 12870)
    assert decisions[1].p_value == pytest.approx(15 * 2 / 3003)
    assert decisions[0].verdict == decisions[1].verdict == "regression"
    assert "(Holm, 16 cases)" in decisions[1].reason
    assert all(d.verdict == "no_change" for d in decisions[2:])


def _sixteen_cases(tmp_path: Path, rounds: int, slow: float = 0.6, fast: float = 1.0) -> Comparison:
    """16 cases; c0 is slower by ``slow`` in head, c1 faster by ``fast``, the rest unchanged (tight noise)."""
    rng = np.random.default_rng(rounds)
    base = {f"c{i}": noisy(1000, rounds, rng, sd=0.005) for i in range(16)}
    factor = {"c0": slow, "c1": fast}
    head = {f"c{i}": noisy(1000 * factor.get(f"c{i}", 1.0), rounds, rng, sd=0.005) for i in range(16)}
    write_run(tmp_path / f"base{rounds}", "b", base)
    write_run(tmp_path / f"head{rounds}", "h", head)
    return compare_paths([tmp_path / f"base{rounds}"], [tmp_path / f"head{rounds}"])


def test_an_effect_one_case_would_show_is_inconclusive_among_16(tmp_path: Path) -> None:
    """A 40% slowdown with 6+6 rounds: p = 1/924 = 0.0011 ≤ α on its own, but among 16 cases α/16 = 0.000625
    is out of reach of 6+6 rounds — inconclusive, saying why and how many rounds would do; exit 0."""
    comp = _sixteen_cases(tmp_path, 6, fast=1.5)
    by_arch = {c.labels["arch"]: c for c in comp.cases}
    slow, fast = by_arch["c0"], by_arch["c1"]
    assert slow.p_raw == pytest.approx(1 / 924) and slow.p_raw <= S.alpha
    assert slow.verdict == "inconclusive" and slow.p_value == pytest.approx(16 / 924)
    assert "over 16 cases an exact one-sided test needs ≥ 7 rounds per side to reach α/16" in slow.reason
    assert slow.rounds_needed is not None and slow.rounds_needed >= 7
    assert fast.verdict == "inconclusive" and fast.p_side == "faster"  # improvements are corrected too
    assert comp.family == 16 and comp.exit_code == EXIT_OK
    assert any("shared among 16 cases (Holm)" in n and "≥ 7 rounds" in n for n in comp.notes)
    control = comp.as_dict()["false_alarm_control"]
    assert control["correction"] == "holm" and control["family_size"] == 16 and control["min_rounds"] == 7
    # the same case compared on its own is a regression: the correction, not the data, withholds the verdict
    alone = compare_paths(
        [tmp_path / "base6"], [tmp_path / "head6"], only={(slow.case_id, slow.base_threads, slow.head_threads)}
    )
    assert [c.verdict for c in alone.cases] == ["regression"] and alone.family == 1


def test_enough_rounds_call_the_effect_among_16(tmp_path: Path) -> None:
    comp = _sixteen_cases(tmp_path, 8, fast=1.5)
    by_arch = {c.labels["arch"]: c for c in comp.cases}
    assert by_arch["c0"].verdict == "regression" and by_arch["c1"].verdict == "improvement"
    assert comp.exit_code == EXIT_REGRESSION
    assert not any("shared among" in n for n in comp.notes)


def test_settings_and_comparison_record_the_correction(tmp_path: Path) -> None:
    settings = GateSettings().as_dict()
    assert settings["correction"] == "holm" and "one-sided" in settings["test"]
    assert "per run" in settings["alpha_scope"] and settings["power"] == 0.8
    comp = _sixteen_cases(tmp_path, 6)
    data = comp.as_dict()
    assert data["false_alarm_control"]["family_size"] == 16
    assert data["false_alarm_control"]["first_step_level"] == pytest.approx(0.01 / 16)
    assert "exchangeable" in data["false_alarm_control"]["assumes"]
    assert {c["p_side"] for c in data["cases"]} <= {"slower", "faster"}


# ---- comparing folders ----------------------------------------------------------------------------------
def test_compare_folders_verdicts(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    write_run(tmp_path / "base", "b", {"lstm": noisy(1000, 6, rng), "gru": noisy(800, 6, rng)})
    write_run(tmp_path / "head", "h", {"lstm": noisy(600, 6, rng), "gru": noisy(800, 6, rng, sd=0.005)})
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"])
    by_arch = {c.labels["arch"]: c for c in comp.cases}
    assert by_arch["lstm"].verdict == "regression"
    assert by_arch["gru"].verdict in ("no_change", "inconclusive")
    assert comp.base_rounds == 6 and comp.head_rounds == 6
    assert comp.exit_code == EXIT_REGRESSION
    assert by_arch["lstm"].base_value == pytest.approx(np.median(by_arch["lstm"].base_values))


def test_rounds_from_several_folders_are_replication_units(tmp_path: Path) -> None:
    """``ab`` writes one folder per round (all with round 0): (run_id, round) keeps them apart."""
    rng = np.random.default_rng(4)
    for k in range(6):
        write_run(tmp_path / "base", f"base-r{k}", {"lstm": noisy(1000, 1, rng)})
        write_run(tmp_path / "head", f"head-r{k}", {"lstm": noisy(700, 1, rng)})
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"])
    (case,) = comp.cases
    assert len(case.base_values) == 6 and len(case.head_values) == 6
    assert case.verdict == "regression"


def test_fingerprint_difference_is_not_comparable_unless_allowed(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    write_run(tmp_path / "base", "b", {"lstm": noisy(1000, 6, rng)})
    write_run(tmp_path / "head", "h", {"lstm": noisy(1000, 6, rng)}, keys={"torch": "2.6.0+cpu"})
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"])
    (case,) = comp.cases
    assert case.verdict == "not_comparable" and "torch" in case.reason and "2.6.0" in case.reason
    assert comp.exit_code == EXIT_NOTHING_COMPARABLE
    allowed = compare_paths([tmp_path / "base"], [tmp_path / "head"], GateSettings(allow_diff=("torch",)))
    assert allowed.cases[0].verdict in ("no_change", "inconclusive")


def test_threads_pair_up_when_allowed(tmp_path: Path) -> None:
    """Base --threads 2 against head --threads 1: the same case_id, different thread counts."""
    rng = np.random.default_rng(6)
    write_run(tmp_path / "base", "b", {"lstm": noisy(1000, 6, rng)}, threads=2)
    write_run(tmp_path / "head", "h", {"lstm": noisy(550, 6, rng)}, threads=1)
    strict = compare_paths([tmp_path / "base"], [tmp_path / "head"])
    assert strict.cases[0].verdict == "not_comparable" and "threads 2 → 1" in strict.cases[0].reason
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"], GateSettings(allow_diff=("threads",)))
    (case,) = comp.cases
    assert (case.base_threads, case.head_threads) == (2, 1)
    assert case.verdict == "regression" and case.name.endswith("threads=1")


def test_same_threads_sweep_pairs_by_thread_count(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    for t, level in ((1, 500), (2, 1000)):
        write_run(tmp_path / "base", f"b{t}", {"lstm": noisy(level, 6, rng)}, threads=t)
        write_run(tmp_path / "head", f"h{t}", {"lstm": noisy(level, 6, rng)}, threads=t)
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"])
    assert sorted((c.base_threads, c.head_threads) for c in comp.cases) == [(1, 1), (2, 2)]
    assert all(c.verdict in ("no_change", "inconclusive") for c in comp.cases)
    assert len({c.name for c in comp.cases}) == 2


def test_hash_only_fingerprints(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    write_run(tmp_path / "base", "b", {"lstm": noisy(1000, 6, rng)}, with_keys=False)
    write_run(tmp_path / "head", "h", {"lstm": noisy(1000, 6, rng)}, with_keys=False, keys={"onednn": "3.6"})
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"], GateSettings(allow_diff=("onednn",)))
    assert comp.cases[0].verdict == "not_comparable" and "no fingerprint_keys" in comp.cases[0].reason


def test_failed_and_missing_cases(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    write_run(
        tmp_path / "base",
        "b",
        {"lstm": noisy(1000, 6, rng), "gru": noisy(900, 6, rng), "rnn": noisy(2000, 6, rng)},
        status={"rnn": "unsupported"},
    )
    write_run(
        tmp_path / "head",
        "h",
        {"lstm": noisy(1000, 6, rng), "gru": noisy(900, 6, rng), "rnn": noisy(2000, 6, rng)},
        status={"gru": "oom", "rnn": "unsupported"},
    )
    write_run(tmp_path / "head2", "h2", {"lstm@cuda:0": noisy(1000, 6, rng)}, device="cuda:0")
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head", tmp_path / "head2"])
    verdicts = {c.name.split()[0] + " " + c.device: c for c in comp.cases}
    assert verdicts["gru cpu"].verdict == "error" and "head: oom" in verdicts["gru cpu"].reason
    assert verdicts["rnn cpu"].verdict == "not_comparable"
    assert (
        verdicts["lstm cuda:0"].verdict == "not_comparable" and "only in head" in verdicts["lstm cuda:0"].reason
    )
    assert comp.exit_code == EXIT_BENCHMARK_FAILED


def test_settings_validation() -> None:
    with pytest.raises(ConfigError, match="min-effect"):
        GateSettings(min_effect=5)
    with pytest.raises(ConfigError, match="alpha"):
        GateSettings(alpha=0.7)
    with pytest.raises(ConfigError, match="Did you mean 'threads'"):
        GateSettings(allow_diff=("thread",))
    with pytest.raises(ConfigError, match="power"):
        GateSettings(power=0.3)
    assert GateSettings().min_rounds == 5
    assert GateSettings().min_rounds_for(16) == 7 and GateSettings().min_rounds_for(100) == 8
    assert GateSettings(alpha=0.05).min_rounds == 5  # the interval's floor, though 3+3 could reach 0.05


# ---- exit codes -------------------------------------------------------------------------------------------
def _case(verdict: str, confirmed: bool | None = None) -> CaseComparison:
    return CaseComparison("x", "id", {}, 1, 1, (1.0,), (1.0,), verdict, "", confirmed=confirmed)


def test_exit_precedence_order() -> None:
    assert EXIT_PRECEDENCE == (
        EXIT_INTERNAL,
        EXIT_BENCHMARK_FAILED,
        EXIT_REGRESSION,
        EXIT_NOTHING_COMPARABLE,
        EXIT_INCONCLUSIVE,
        EXIT_OK,
    )
    assert most_severe([EXIT_OK, EXIT_INCONCLUSIVE, EXIT_REGRESSION]) == EXIT_REGRESSION
    assert most_severe([EXIT_REGRESSION, EXIT_BENCHMARK_FAILED]) == EXIT_BENCHMARK_FAILED
    assert most_severe([EXIT_BENCHMARK_FAILED, EXIT_INTERNAL]) == EXIT_INTERNAL
    assert most_severe([EXIT_INCONCLUSIVE, EXIT_NOTHING_COMPARABLE]) == EXIT_NOTHING_COMPARABLE
    assert most_severe([]) == EXIT_OK
    assert most_severe([42]) == EXIT_INTERNAL  # an unknown code is never quietly ignored


def test_every_statement_of_the_exit_code_order_is_the_one_order(cli) -> None:
    """The order is written once (``errors.EXIT_PRECEDENCE``); the README states it, and each gate command's
    ``--help`` lists its codes in it (generated by ``cli.gate_options.exit_codes``)."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "docs" / "gate.md").read_text(encoding="utf-8")
    stated = re.search(r"most severe wins, in this order: \*\*([0-9 >]+)\*\*", readme)
    assert stated is not None
    assert [int(c) for c in stated.group(1).split(">")] == list(EXIT_PRECEDENCE)
    for command in ("compare", "ab", "calibrate"):
        text = cli([command, "--help"]).stdout
        listed = [int(m) for m in re.findall(r"^\s*[•-] (\d+) ", text.split("Exit codes")[1], re.M)]
        ranked = [c for c in listed if c in EXIT_PRECEDENCE]
        assert ranked == [c for c in EXIT_PRECEDENCE if c in ranked], (command, listed)
        assert ranked[0] == EXIT_INTERNAL and ranked[-1] == EXIT_OK


@pytest.mark.parametrize(
    ("verdicts", "strict", "code"),
    [
        (["no_change", "improvement"], False, EXIT_OK),
        (["no_change", "inconclusive"], False, EXIT_OK),
        (["no_change", "inconclusive"], True, EXIT_INCONCLUSIVE),
        (["regression", "inconclusive"], True, EXIT_REGRESSION),
        (["regression", "error"], False, EXIT_BENCHMARK_FAILED),
        (["not_comparable", "not_comparable"], True, EXIT_NOTHING_COMPARABLE),
        ([], False, EXIT_NOTHING_COMPARABLE),
        (["not_comparable", "inconclusive"], True, EXIT_INCONCLUSIVE),
        (["not_comparable", "no_change"], False, EXIT_OK),
        (["error", "not_comparable"], False, EXIT_BENCHMARK_FAILED),
    ],
)
def test_exit_code_for(verdicts: list[str], strict: bool, code: int) -> None:
    assert exit_code_for([_case(v) for v in verdicts], strict) == code


def test_unconfirmed_regression_does_not_fail() -> None:
    assert exit_code_for([_case("regression", confirmed=False)]) == EXIT_OK
    assert exit_code_for([_case("regression", confirmed=True)]) == EXIT_REGRESSION


def test_case_name_is_stable_and_includes_device() -> None:
    labels = {**SHAPE, "arch": "lstm", "device": "cuda:0", "bidirectional": "true", "length_spread": 0.5}
    name = case_name(labels, 4)
    assert (
        name == "lstm native inference cuda:0 float32 T=32 B=8 I=64 H=64 L=1 bidirectional spread=0.5 threads=4"
    )


def test_busy_rounds_are_noted(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    write_run(tmp_path / "base", "b", {"lstm": noisy(1000, 6, rng)})
    head = write_run(tmp_path / "head", "h", {"lstm": noisy(1000, 6, rng)})
    summary = head / "summary.csv"
    lines = summary.read_text().splitlines()
    col = lines[0].split(",").index("busy")
    cells = lines[1].split(",")
    cells[col] = "true"
    summary.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    comp = compare_paths([tmp_path / "base"], [tmp_path / "head"])
    assert any("busy machine (base 0 of 6, head 1 of 6)" in n for n in comp.notes)


def test_round_throughputs_one_value_per_run_and_round() -> None:
    rows = pd.DataFrame(
        {
            "run_id": ["b", "a", "a", "a", "a", "a"],
            "round": [0, 1, 1, 0, 2, 3],
            "status": ["ok", "ok", "ok", "ok", "error", "ok"],
            "tokens_per_s": [5.0, 2.0, 4.0, 1.0, 9.0, 0.0],
        }
    )
    values = round_throughputs(rows)  # a round written twice: its median; failed and zero rows: left out
    assert list(values.index) == [("a", 0), ("a", 1), ("b", 0)]
    assert values.tolist() == [1.0, 3.0, 5.0]


def test_names_and_labels_read_from_folders_are_stable(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    write_run(tmp_path / "base", "b", {"lstm": noisy(1000, 5, rng)})
    write_run(tmp_path / "head", "h", {"lstm": noisy(1000, 5, rng)})
    (case,) = compare_paths([tmp_path / "base"], [tmp_path / "head"]).cases
    assert case.name == "lstm native inference cpu float32 T=32 B=8 I=64 H=64 L=1 threads=2"
    labels = case.as_dict()
    assert labels["input_size"] == 64 and isinstance(labels["input_size"], int)  # never 64.0 in the JSON
    assert labels["bidirectional"] is False and labels["length_spread"] == 0.0 and labels["workload"] == "layer"
    history = build_history([tmp_path])
    assert [c.name for c in history.cases] == [case.name]  # one spelling for compare and history


def test_hard_keys_are_declared_once() -> None:
    from rnnbench.measure import env
    from rnnbench.results import schema

    assert not hasattr(env, "HARD_KEYS")  # one declaration, in the results schema
    # the measuring half fingerprints exactly the keys the gate checks
    assert tuple(env.fingerprint_keys({}, "cpu", 1)) == schema.HARD_KEYS


def test_effect_wording_names_throughput_and_time() -> None:
    """Half the throughput is twice the time: the reason says both, never a bare "slower by 50%" (issue 11, 12)."""
    from rnnbench.gate.settings import GateSettings
    from rnnbench.gate.verdict import classify
    from rnnbench.stats.intervals import Interval

    verdict, reason = classify(Interval(0.5, 0.45, 0.55), 0.001, 8, 8, GateSettings(), 1)
    assert verdict == "regression"
    assert "throughput -50.0% (time ×2.00)" in reason and "slower by" not in reason
    verdict, reason = classify(Interval(1.25, 1.2, 1.3), 0.001, 8, 8, GateSettings(), 1)
    assert verdict == "improvement" and "throughput +25.0% (time ×0.80)" in reason
