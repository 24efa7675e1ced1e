"""minGRU and minLSTM in ``train`` (issue 24): each arm's implementation, parameter matching with the exact
formula, and the paper's three claims on hand-built tables (no torch) — each with a case that must say true,
one false, one with no verdict and one with no data — plus the error rate of each new decision rule where
the truth sits exactly on its boundary."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rnnbench.analyse.claims import (
    COUNTING_MARGIN,
    Claim,
    _counting_verdict,
    claim_counting,
    claim_minimal_speed,
    claim_selective_copy,
)
from rnnbench.analyse.seeds import MIN_SEEDS, compare_differences, compare_values
from rnnbench.analyse.training import chosen_rows, train_arms
from rnnbench.core.flops import param_count
from rnnbench.errors import ConfigError, UnsupportedError
from rnnbench.learn.sizing import solve_hidden, total_params
from rnnbench.learn.spec import TrainSpec, validate
from rnnbench.stats.intervals import wilson_interval


def run(
    arm: str,
    seed: int,
    *,
    task: str = "adding",
    seq_len: int = 512,
    metric: float = 0.5,
    solved: bool = False,
    diverged: bool = False,
    seconds_per_step: float = 0.01,
    impl: str | None = None,
    device: str = "cpu",
    score: float | None = None,
) -> dict[str, Any]:
    """One ``train_summary.csv`` row as ``learn.loop`` writes it, with the arm's implementation."""
    if diverged:
        metric, solved = math.nan, False
    default = "scan" if arm.startswith("min") else "native"
    return {
        "task": task, "arm": arm, "seed": seed, "seq_len": seq_len, "match": "params", "budget": 17_473,
        "hidden_size": 2496 if arm == "mingru" else 64, "params": 17_473, "lr": 0.01, "steps": 100,
        "train_seconds": 100 * seconds_per_step, "seconds_per_step": seconds_per_step,
        "final_metric": metric, "baseline_metric": 1.0, "normalized_metric": metric, "solved": solved,
        "steps_to_target": 50 if solved else None, "seconds_to_target": 1.0 if solved else None,
        "diverged": diverged, "status": "diverged" if diverged else "ok", "metric": "ce_nats",
        "val_metric": math.nan if diverged else metric, "train_size": 0, "impl": impl or default,
        "device": device, "score": score,
    }  # fmt: skip


def _chosen(rows: list[dict[str, Any]]) -> pd.DataFrame:
    train = pd.DataFrame(rows)
    return chosen_rows(train, train_arms(train))


def _speed(pairs: list[tuple[float, float]], small: str = "mingru", classic: str = "gru") -> Claim:
    rows = []
    for seed, (a, b) in enumerate(pairs):
        rows += [run(small, seed, seconds_per_step=a), run(classic, seed, seconds_per_step=b)]
    return claim_minimal_speed(_chosen(rows))


# ---- which implementation each arm trains with -------------------------------------------------------------
def test_impl_applies_to_the_arms_it_computes() -> None:
    arms = ("lstm", "lstm-fb1", "gru", "mingru", "minlstm")
    assert TrainSpec(arms=arms).arm_impls() == {
        "lstm": "native", "lstm-fb1": "native", "gru": "native", "mingru": "scan", "minlstm": "scan"
    }  # fmt: skip
    # scratch computes every architecture; cell has no minGRU/minLSTM, so those keep their scan
    assert set(TrainSpec(arms=arms, impl="scratch").arm_impls().values()) == {"scratch"}
    assert TrainSpec(arms=("gru", "mingru"), impl="cell").arm_impls() == {"gru": "cell", "mingru": "scan"}
    assert TrainSpec(arms=("gru", "mingru"), impl="scan").arm_impls() == {"gru": "native", "mingru": "scan"}
    assert TrainSpec(arms=("mingru",)).arm_impls() == {"mingru": "scan"}  # the default impl: no complaint
    validate(TrainSpec(arms=("mingru",)))


def test_an_impl_that_computes_no_arm_is_refused() -> None:
    with pytest.raises(ConfigError, match="--impl scan computes mingru, minlstm, none of the arms"):
        validate(TrainSpec(arms=("lstm", "gru"), impl="scan"))
    with pytest.raises(ConfigError, match="--impl aten computes lstm, gru, rnn, none of the arms"):
        validate(TrainSpec(arms=("mingru",), impl="aten"))
    with pytest.raises(ConfigError, match="inference-only"):
        validate(TrainSpec(arms=("mingru",), impl="numpy"))


def test_unsupported_check_is_per_arm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each arm is checked with its own implementation and architecture, and the refusal names the arm."""
    import rnnbench.measure.models.build as build
    from rnnbench.learn.session import check_supported

    asked: list[tuple[str, str | None]] = []

    def fake(impl: str, *, mode: str, device_type: str, dtype: str, arch: str | None = None) -> str | None:
        asked.append((impl, arch))
        return "no scan here" if impl == "scan" else None

    monkeypatch.setattr(build, "unsupported_reason", fake)
    check_supported(TrainSpec(arms=("lstm", "gru")), "cpu")
    assert asked == [("native", "lstm"), ("native", "gru")]
    with pytest.raises(UnsupportedError, match=r"arm mingru \(implementation scan\): no scan here"):
        check_supported(TrainSpec(arms=("lstm", "mingru")), "cpu")


def test_train_records_each_arms_implementation(tmp_path: Any) -> None:
    """A real (tiny) run: lstm on native, mingru and minlstm on their scan, in every summary row."""
    from rnnbench.learn.session import run_training
    from rnnbench.results.folder import RunFolder

    spec = TrainSpec(
        arms=("lstm", "mingru", "minlstm"), seeds=1, steps=2, eval_every=2, eval_size=8, val_size=8,
        batch_size=4, lrs=(0.01,), hidden=(4,), seq_lens=(6,),
    )  # fmt: skip
    folder = RunFolder.create(tmp_path, {"kind": "train", "settings": spec.to_dict()})
    try:
        rows = run_training(spec, folder)
    finally:
        folder.release()
    assert {r["arm"]: r["impl"] for r in rows} == {"lstm": "native", "mingru": "scan", "minlstm": "scan"}
    assert all(r["status"] == "ok" for r in rows), rows


# ---- parameter matching -------------------------------------------------------------------------------------
def _walk(arch: str, i: int, o: int, budget: int, layers: int) -> int:
    """The old linear walk, as the reference for the bisection: closest total, ties the smaller."""
    best, best_err, h = 1, abs(total_params(arch, i, 1, o, layers) - budget), 1
    while True:
        h += 1
        count = total_params(arch, i, h, o, layers)
        if abs(count - budget) < best_err:
            best, best_err = h, abs(count - budget)
        if count > budget:
            return best


def test_solve_hidden_equals_the_walk() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        arch = str(rng.choice(["lstm", "gru", "rnn", "mingru", "minlstm"]))
        i, o, layers = int(rng.integers(1, 12)), int(rng.integers(1, 12)), int(rng.integers(1, 3))
        budget = int(rng.integers(1, 30_000))
        assert solve_hidden(arch, i, o, budget, layers) == _walk(arch, i, o, budget, layers), (arch, budget)


def test_param_matched_minimal_cells_get_a_much_larger_h() -> None:
    """No W_hh: minGRU's stack is 2·H·(I+1), so at the adding task's LSTM-64 budget (I=2, O=1) its H is ~34×
    the GRU's, and the counts match exactly."""
    budget = total_params("lstm", 2, 64, 1)
    assert budget == 4 * 64 * (2 + 64 + 2) + 64 + 1 == 17_473
    assert param_count("mingru", 2, 10) == 2 * 10 * 3 and param_count("minlstm", 2, 10) == 3 * 10 * 3
    gru, mingru, minlstm = (solve_hidden(a, 2, 1, budget) for a in ("gru", "mingru", "minlstm"))
    assert (gru, mingru, minlstm) == (74, 2496, 1747)
    assert total_params("mingru", 2, mingru, 1) == 7 * 2496 + 1 == budget  # 2·H·3 + H + 1
    assert total_params("minlstm", 2, minlstm, 1) == 10 * 1747 + 1 == 17_471


# ---- claim: faster per step ---------------------------------------------------------------------------------
def test_speed_claim_true_names_t_and_implementations() -> None:
    pairs = [(0.002 + 1e-4 * s, 0.010 + 3e-4 * s) for s in range(6)]
    claim = _speed(pairs)
    assert claim.verdict == "true" and len(claim.rows) == 1
    row = claim.rows[0]
    assert row.scope == "adding T=512 P=17473 · mingru vs gru · cpu"
    assert "implementations: mingru scan, gru native; H 2496 vs 64" in row.evidence
    expected = compare_values(*np.array(pairs).T, ratio=True)  # the paired rule on the log ratio
    assert expected.direction == -1 and 0.2 < expected.estimate < 0.22
    assert f"time per step {expected.describe('mingru', 'gru')}" in row.evidence
    assert f"mingru {1 / expected.estimate:.3g}× faster per step" in row.evidence
    assert "175×" in claim.note and "2410.01201" in claim.note


def test_speed_claim_false_when_slower_and_pairs_minlstm_with_lstm() -> None:
    slower = _speed([(0.2 + 0.01 * s, 0.004) for s in range(6)])
    assert slower.verdict == "false" and "mingru 56.1× slower per step" in slower.rows[0].evidence
    assert "median ms/step mingru 225, gru 4" in slower.rows[0].evidence
    claim = _speed([(0.001, 0.004 + 1e-4 * s) for s in range(6)], "minlstm", "lstm")
    assert claim.verdict == "true" and "minlstm vs lstm" in claim.rows[0].scope


def test_speed_claim_without_a_verdict() -> None:
    few = _speed([(0.002, 0.01 + 1e-3 * s) for s in range(5)])  # 5 of 5 faster: p = 0.0625
    assert few.verdict == "inconclusive" and "≥ 6 seeds needed" in few.rows[0].evidence
    mixed = _speed([(0.01 * (1 + (-1) ** s * 0.2), 0.01) for s in range(8)])
    assert mixed.verdict == "inconclusive"


def test_speed_claim_no_data_and_split_by_device() -> None:
    classic = [run(a, s) for s in range(6) for a in ("lstm", "gru")]
    assert claim_minimal_speed(_chosen(classic)).verdict == "no data"
    assert claim_minimal_speed(pd.DataFrame()).verdict == "no data"
    lonely = [run("mingru", s) for s in range(6)] + [run("lstm", s) for s in range(6)]  # no gru to pair with
    assert claim_minimal_speed(_chosen(lonely)).rows == []
    rows = [run(a, s, device=d) for s in range(3) for a in ("mingru", "gru") for d in ("cpu", "cuda:0")]
    claim = claim_minimal_speed(_chosen(rows))
    assert [r.scope.rsplit(" · ", 1)[1] for r in claim.rows] == ["cpu", "cuda:0"]


# ---- claim: selective copying -------------------------------------------------------------------------------
def _copying(solved: dict[str, list[bool]], task: str = "selective-copy") -> Claim:
    rows = [
        run(arm, seed, task=task, seq_len=20, solved=ok, metric=0.01 if ok else 2.0)
        for arm, flags in solved.items()
        for seed, ok in enumerate(flags)
    ]
    return claim_selective_copy(_chosen(rows))


def test_selective_copy_true_false_and_no_verdict() -> None:
    claim = _copying({"mingru": [True] * 6, "minlstm": [False] * 6, "lstm": [True, False] * 3})
    verdicts = {r.scope: r.verdict for r in claim.rows}
    assert verdicts == {
        "selective-copy T=20 P=17473 · mingru": "true",
        "selective-copy T=20 P=17473 · minlstm": "false",
    }
    assert claim.verdict == "mixed"
    assert "mingru 6/6 solved: success rate 1.00 [0.61–1.00]" in claim.rows[0].evidence
    assert "lstm 3/6 solved" in claim.rows[0].evidence  # the classic arm beside it, described only
    assert "implementation scan" in claim.rows[0].evidence
    assert _copying({"mingru": [True] * 3}).verdict == "inconclusive"  # 3/3: Wilson [0.44, 1]
    assert _copying({"mingru": [True] * 5 + [False]}).verdict == "inconclusive"  # 5/6: [0.44, 0.97]
    assert _copying({"mingru": [False] * 3}).verdict == "inconclusive"  # 0/3: [0, 0.56]


def test_selective_copy_no_data() -> None:
    assert _copying({"lstm": [True] * 6, "gru": [True] * 6}).verdict == "no data"
    assert _copying({"mingru": [True] * 6}, task="copy").verdict == "no data"
    assert claim_selective_copy(pd.DataFrame()).verdict == "no data"


def test_selective_copy_rule_at_its_boundary() -> None:
    """When exactly half the seeds solve in truth (p = 0.5, the boundary), how often does the rule say 'false'
    (or, just below it, 'true')? Computed exactly from the binomial for 6–60 seeds: at most 3.9% a side (a
    95% interval's nominal 2.5%, plus Wilson's discreteness). Below 6 seeds it never decides: 4 of 4 would
    clear the Wilson bound, and a coin-flip arm does that 6.25% of the time. The interval is the Wilson
    interval whose coverage ``tests/test_coverage.py`` simulates."""
    worst = 0.0
    for n in range(MIN_SEEDS, 61):
        probabilities = [math.comb(n, k) / 2**n for k in range(n + 1)]
        says_true = sum(p for k, p in enumerate(probabilities) if wilson_interval(k, n).low >= 0.5)
        says_false = sum(p for k, p in enumerate(probabilities) if wilson_interval(k, n).high < 0.5)
        worst = max(worst, says_true, says_false)
    assert 0.025 < worst <= 0.04
    assert wilson_interval(4, 4).low >= 0.5 and _copying({"mingru": [True] * 4}).verdict == "inconclusive"
    assert wilson_interval(6, 6).low >= 0.5 > wilson_interval(5, 6).low  # 6 seeds, all solved, decide


# ---- claim: counting on aⁿbⁿ --------------------------------------------------------------------------------
def _counting(diffs: list[float], arm: str = "mingru", lstm: float = 0.4, **extra: Any) -> Claim:
    rows = []
    for seed, d in enumerate(diffs):
        rows += [
            run("lstm", seed, task="anbn", seq_len=10, metric=lstm + 0.01 * seed, score=30),
            run(arm, seed, task="anbn", seq_len=10, metric=lstm + 0.01 * seed + d, score=12, **extra),
        ]
    return claim_counting(_chosen(rows))


def test_counting_true_by_non_inferiority() -> None:
    claim = _counting([0.001 * (s - 3) for s in range(8)])
    assert claim.verdict == "true" and claim.rows[0].scope == "anbn T=10 P=17473 · mingru vs lstm"
    assert f"margin ±{COUNTING_MARGIN:g}" in claim.rows[0].evidence
    assert "median max_n mingru 12, lstm 30" in claim.rows[0].evidence
    # better than the LSTM counts as counting at least as well
    assert _counting([-0.2 - 0.01 * s for s in range(6)]).verdict == "true"
    assert "non-inferiority" in claim.note and "0.05" in claim.note


def test_counting_false_when_worse_at_95() -> None:
    assert _counting([0.3 + 0.01 * s for s in range(6)], arm="minlstm").verdict == "false"
    # worse in every seed by less than the margin is still worse at 95%: false, not true
    assert _counting([0.01 + 0.001 * s for s in range(6)]).verdict == "false"


def test_counting_without_a_verdict() -> None:
    assert _counting([0.001 * (s - 2) for s in range(5)]).verdict == "inconclusive"  # 93.8% interval
    assert _counting([(-1) ** s * 0.3 for s in range(8)]).verdict == "inconclusive"  # too wide
    rows = [run("lstm", s, task="anbn", seq_len=10, metric=0.4) for s in range(8)]
    rows += [run("mingru", s, task="anbn", seq_len=10, metric=0.4, diverged=s == 0) for s in range(8)]
    diverged = claim_counting(_chosen(rows))  # the diverged seed is +∞: an unbounded interval never says true
    assert diverged.verdict == "inconclusive" and "mingru diverged in 1" in diverged.rows[0].evidence


def test_counting_no_data() -> None:
    no_lstm = [run("mingru", s, task="anbn", seq_len=10) for s in range(6)]
    no_lstm += [run("gru", s, task="anbn", seq_len=10) for s in range(6)]
    assert claim_counting(_chosen(no_lstm)).verdict == "no data"
    other_task = [run(a, s, task="parity") for s in range(6) for a in ("lstm", "mingru")]
    assert claim_counting(_chosen(other_task)).verdict == "no data"


def test_counting_rule_at_its_margin() -> None:
    """Simulated: when the minimal arm is in truth worse by exactly the margin, 'true' must come in at most
    5% of seed sets (the one-sided 2.5% of the Hodges–Lehmann interval, whose coverage ``tests/test_coverage.py``
    simulates; a little above from the discreteness it may show). Normal and heavy-tailed (t₃) seed noise."""
    rng = np.random.default_rng(24)
    for n in (6, 8, 10):
        for noise in ("normal", "t3"):
            draws = rng.standard_normal((400, n)) if noise == "normal" else rng.standard_t(3, (400, n))
            diffs = COUNTING_MARGIN + 0.03 * draws
            says_true = np.mean([_counting_verdict(compare_differences(d)) == "true" for d in diffs])
            assert says_true <= 0.05, (n, noise, says_true)
    # and it has power: equal arms with small seed noise are found non-inferior most of the time
    diffs = 0.01 * rng.standard_normal((200, 10))
    assert np.mean([_counting_verdict(compare_differences(d)) == "true" for d in diffs]) > 0.9


def test_the_six_classic_claims_ignore_the_minimal_arms() -> None:
    """Adding minGRU/minLSTM rows changes none of the existing claims' verdicts, rows or evidence."""
    from rnnbench.analyse.report import build_report
    from rnnbench.results.loader import ReportData

    classic = [run(a, s, metric=0.3 + 0.01 * s, solved=s % 2 == 0) for s in range(6) for a in ("lstm", "gru")]
    minimal = [run(a, s, seconds_per_step=0.002) for s in range(6) for a in ("mingru", "minlstm")]

    def claims(rows: list[dict[str, Any]]) -> list[Claim]:
        data = ReportData(pd.DataFrame(), pd.DataFrame(rows), pd.DataFrame(), {}, [], [])
        return build_report(data).claims

    before, after = claims(classic), claims(classic + minimal)
    assert len(after) == 9
    assert [(c.statement, c.verdict, c.rows) for c in before[:6]] == [
        (c.statement, c.verdict, c.rows) for c in after[:6]
    ]
    assert [c.verdict for c in before[6:]] == ["no data"] * 3
    assert after[6].verdict == "true"  # 6 of 6 seeds: mingru and minlstm 5× faster per step


def test_train_preset_quick_accepts_both_minimal_arms(cli: Any) -> None:
    """Issue 24's "done when": ``train --preset quick`` takes mingru and minlstm, each on its scan and sized to
    the LSTM's parameter budget (exact formula: 2·H·(I+1) and 3·H·(I+1) plus the head)."""
    result = cli(["train", "--preset", "quick", "--arm", "lstm", "gru", "mingru", "minlstm", "--dry-run"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "24 runs" in text
    assert "implementations: lstm native, gru native, mingru scan, minlstm scan" in text
    assert "│ adding │ 50 │ mingru │ scan │ params≈17473 │ 2496 │ 17473 │" in text
