"""The textbook claims tested against the data: one verdict per claim, evidence per scope."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from rnnbench.analyse.seeds import MIN_SEEDS, RULE, SeedComparison, compare_differences, compare_seeds
from rnnbench.analyse.speed import (
    GRU_FASTER,
    LSTM_FASTER,
    NO_DIFFERENCE,
    ONE_PROCESS,
    REPLICATED_METHODS,
    order_rank,
    ratio_verdicts,
)
from rnnbench.analyse.training import (
    NO_VALIDATION,
    largest_solved,
    setting_keys,
    setting_label,
    success_rates,
    unchosen_settings,
)
from rnnbench.core.flops import param_count
from rnnbench.core.values import int_text, is_finite
from rnnbench.core.vocab import (
    ARM_ARCH,
    ARMS,
    IMPLS,
    MIN_EFFECT,
    MINIMAL_ARCHS,
    MODES,
    PAIR_KEYS,
    SOLVED_MAJORITY,
    THEORETICAL_GRU_LSTM,
)
from rnnbench.results.schema import TRAIN_SIZE_COLUMN
from rnnbench.stats import intervals

# ---- claims --------------------------------------------------------------------------------------------
VERDICTS = ("true", "false", "inconclusive", "no difference", "no data", "mixed")


@dataclass
class ClaimRow:
    """The claim tested in one scope (a mode and device, a task and length, ...)."""

    scope: str
    verdict: str
    evidence: str


@dataclass
class Claim:
    """A textbook statement, its overall verdict and the evidence per scope."""

    statement: str
    verdict: str
    summary: str
    rows: list[ClaimRow] = field(default_factory=list)
    note: str = ""


def _overall(rows: list[ClaimRow]) -> tuple[str, str]:
    decisive = [r for r in rows if r.verdict != "no data"]
    if not decisive:
        return "no data", "no data for this claim in these results"
    counts: dict[str, int] = {}
    for r in decisive:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    if len(counts) == 1:
        verdict = decisive[0].verdict
        return verdict, f"{verdict} in all {len(decisive)} setting(s) tested"
    parts = ", ".join(f"{v} in {n}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return "mixed", f"{parts} of {len(decisive)} settings"


def claim_parameters(cases: pd.DataFrame, train: pd.DataFrame) -> Claim:
    """ "GRU has fewer parameters": arithmetic says exactly 3/4 (a quarter fewer) at equal sizes; the data
    confirm it per measured shape (a classifier head or a parameter-matched size changes the ratio)."""
    example = param_count("gru", 128, 128) / param_count("lstm", 128, 128)
    rows = [
        ClaimRow(
            "arithmetic (any I, H, layers)",
            "true",
            f"GRU 3·H·(I+H+2) vs LSTM 4·H·(I+H+2) per layer and direction: ratio {example:.2f}, "
            'i.e. exactly 25% fewer — not "a third fewer".',
        )
    ]
    if not cases.empty:
        ok = cases[(cases["status"] == "ok") & cases["params"].notna()]
        pairs = ok[ok["arch"] == "gru"].merge(
            ok[ok["arch"] == "lstm"], on=list(PAIR_KEYS), suffixes=("_g", "_l")
        )
        if len(pairs):
            r = pairs["params_g"] / pairs["params_l"]
            exact = int(np.isclose(r, THEORETICAL_GRU_LSTM).sum())
            rows.append(
                ClaimRow(
                    "measured shapes",
                    "true" if (r < 1).all() else "false",
                    f"{len(pairs)} LSTM/GRU pairs at equal sizes: GRU/LSTM parameters "
                    f"{r.min():.4f}–{r.max():.4f}; "
                    f"exactly {THEORETICAL_GRU_LSTM} in {exact} of {len(pairs)}"
                    + (" (the rest include a classifier head)" if exact < len(pairs) else "")
                    + ".",
                )
            )
    training = _training_parameter_rows(train)
    evidence = rows + [r for r in training if r.verdict != MATCHED_BY_DESIGN]
    verdict, summary = _overall(evidence)
    return Claim(
        "GRU has fewer parameters than LSTM",
        verdict,
        summary,
        rows + training,
        note="Training runs matched by parameter count (--match params) have equal counts by design — each "
        f"arm's hidden size is solved to one budget — so they are listed as '{MATCHED_BY_DESIGN}' and not "
        "counted; training runs at the same hidden size (--match hidden) are evidence.",
    )


MATCHED_BY_DESIGN = "matched by design"
"""The parameter claim's label for parameter-matched training runs: not a verdict, not counted in one."""


def _training_parameter_rows(train: pd.DataFrame) -> list[ClaimRow]:
    """The parameter claim's training rows: hidden-matched settings (same H for both arms) as evidence, and
    one ``matched by design`` row for the parameter-matched runs, whose counts differ only by the rounding of
    each arm's hidden size — evidence of nothing."""
    if train.empty or not {"lstm", "gru"} <= set(train["arm"]):
        return []
    frame = train[train["arm"].isin(["lstm", "gru"])]
    match = (
        frame["match"].fillna("").astype(str)
        if "match" in frame.columns
        else pd.Series("", index=frame.index, dtype=str)
    )
    out = []
    keys = [c for c in ("task", "hidden_size", "num_layers") if c in frame.columns]
    same_h = frame[match == "hidden"].groupby([*keys, "arm"])["params"].median().unstack("arm")
    same_h = same_h.dropna(subset=[c for c in ("lstm", "gru") if c in same_h.columns])
    if {"lstm", "gru"} <= set(same_h.columns) and len(same_h):
        ratio = same_h["gru"] / same_h["lstm"]
        out.append(
            ClaimRow(
                "training runs at the same hidden size",
                "true" if (ratio < 1).all() else "false",
                f"{len(same_h)} setting(s) with the same H for both arms: GRU/LSTM parameters "
                f"{ratio.min():.3f}–{ratio.max():.3f} (head included, so a little above 0.75).",
            )
        )
    designed = frame[match != "hidden"]
    if {"lstm", "gru"} <= set(designed["arm"]):
        per_arm = designed.groupby("arm")["params"].median()
        hidden = designed.groupby("arm")["hidden_size"].median()
        out.append(
            ClaimRow(
                "training runs (parameter-matched)",
                MATCHED_BY_DESIGN,
                f"median params LSTM {per_arm['lstm']:,.0f} (H={hidden['lstm']:.0f}), GRU "
                f"{per_arm['gru']:,.0f} (H={hidden['gru']:.0f}): equal up to the rounding of H by "
                "construction — the GRU gets a larger H (≈1.155×) instead; no evidence either way.",
            )
        )
    return out


def speed_summary(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per (mode, platform, device, dtype, impl): how many shapes each speed verdict got (the verdicts of
    ``analyse.speed.pair_ratios``, one per shape, each from its own interval), and — as a description of the
    shapes measured, not an estimate — the geometric mean and range of their GRU/LSTM time ratios.

    Shapes whose interval does not come from fresh processes (``samples``: one round; ``point``) are counted
    apart (``unreplicated``): they can describe one process, never decide a claim."""
    if ratios.empty:
        return pd.DataFrame()
    frame = ratios[np.isfinite(ratios["ratio"]) & (ratios["ratio"] > 0)].copy()
    if frame.empty:
        return pd.DataFrame()
    if "verdict" not in frame.columns:
        frame["verdict"] = ratio_verdicts(
            frame["ratio"], frame["ratio_low"], frame["ratio_high"], frame["method"]
        )
    frame["log"] = np.log(frame["ratio"])
    replicated = frame["method"].isin(REPLICATED_METHODS)
    frame["_gru"] = replicated & (frame["verdict"] == GRU_FASTER)
    frame["_lstm"] = replicated & (frame["verdict"] == LSTM_FASTER)
    frame["_same"] = replicated & (frame["verdict"] == NO_DIFFERENCE)
    frame["_open"] = replicated & ~(frame["_gru"] | frame["_lstm"] | frame["_same"])
    frame["_unrep"] = ~replicated
    frame["_gru_1p"] = frame["verdict"] == GRU_FASTER + ONE_PROCESS
    frame["_lstm_1p"] = frame["verdict"] == LSTM_FASTER + ONE_PROCESS
    keys = ["mode", "platform", "device", "dtype", "impl"]
    out = (
        frame.groupby(keys, sort=False)
        .agg(
            shapes=("ratio", "size"),
            log_mean=("log", "mean"),
            min_ratio=("ratio", "min"),
            max_ratio=("ratio", "max"),
            single_low=("ratio_low", "first"),
            single_high=("ratio_high", "first"),
            gru_wins=("_gru", "sum"),
            lstm_wins=("_lstm", "sum"),
            no_difference=("_same", "sum"),
            inconclusive=("_open", "sum"),
            unreplicated=("_unrep", "sum"),
            gru_one_process=("_gru_1p", "sum"),
            lstm_one_process=("_lstm_1p", "sum"),
            methods=("method", lambda m: ", ".join(sorted(set(m)))),
        )
        .reset_index()
    )
    out["geo_mean"] = np.exp(out["log_mean"])
    out["_mode"] = order_rank(out["mode"], MODES)
    out["_impl"] = order_rank(out["impl"], IMPLS)
    out = out.sort_values(["_mode", "platform", "dtype", "_impl"]).drop(columns=["_mode", "_impl", "log_mean"])
    return out.reset_index(drop=True)


def _speed_scope_verdict(r: dict[str, Any]) -> str:
    """All shapes one way → that way; every shape undecided → inconclusive; otherwise mixed. A shape without
    an interval over rounds is undecided."""
    shapes = int(r["shapes"])
    for column, verdict in (("gru_wins", "true"), ("lstm_wins", "false"), ("no_difference", "no difference")):
        if int(r[column]) == shapes:
            return verdict
    if int(r["inconclusive"]) + int(r["unreplicated"]) == shapes:
        return "inconclusive"
    return "mixed"


def claim_speed(ratios: pd.DataFrame) -> Claim:
    """ "GRU is faster per step": per mode, device, dtype and implementation, from the per-shape verdicts."""
    rows = []
    summary = speed_summary(ratios)
    for r in cast(list[dict[str, Any]], summary.to_dict("records")):
        shapes = int(r["shapes"])
        verdict = _speed_scope_verdict(r)
        where = r["platform"] if r["platform"] == r["device"] else f"{r['device']} · {r['platform']}"
        counts = [
            (int(r["gru_wins"]), "GRU faster"),
            (int(r["lstm_wins"]), "LSTM faster"),
            (int(r["no_difference"]), f"no difference (within ±{MIN_EFFECT:.0%})"),
            (int(r["inconclusive"]), "inconclusive"),
            (int(r["unreplicated"]), "one round only (no interval over processes)"),
        ]
        tally = ", ".join(f"{text} in {n}" for n, text in counts if n) + f" of {shapes} shape(s)"
        if shapes == 1:
            low, high = r["single_low"], r["single_high"]
            interval = f" [{low:.3f}–{high:.3f}]" if is_finite(low) and is_finite(high) else " (no interval)"
            described = f"GRU/LSTM time {r['geo_mean']:.3f}{interval} ({r['methods']})"
        else:
            described = (
                f"GRU/LSTM time over the shapes measured: geometric mean {r['geo_mean']:.3f}, range "
                f"{r['min_ratio']:.3f}–{r['max_ratio']:.3f} (a description of these shapes, not an estimate; "
                f"intervals: {r['methods']})"
            )
        evidence = f"{tally}; {described}; theory {THEORETICAL_GRU_LSTM}."
        if int(r["unreplicated"]):
            one = int(r["gru_one_process"]), int(r["lstm_one_process"])
            evidence += (
                f" Within one process GRU was faster in {one[0]} and LSTM in {one[1]} of the "
                f"{int(r['unreplicated'])} one-round shape(s), which ignores between-process noise: rerun with "
                "--rounds 5 to decide."
            )
        rows.append(ClaimRow(f"{r['mode']} · {where} · {r['dtype']} · {r['impl']}", verdict, evidence))
    verdict, text = _overall(rows)
    return Claim(
        "GRU is faster per step than LSTM",
        verdict,
        text,
        rows,
        note="Decided per shape, then per setting: a shape is 'no difference' when its 95% interval lies "
        f"within ±{MIN_EFFECT:.0%}, a GRU (LSTM) win when the whole interval is below (above) 1 and the "
        f"estimate is beyond ±{MIN_EFFECT:.0%}, otherwise inconclusive; only intervals over rounds (fresh "
        "processes) decide — a t-interval below 5 rounds per side, a bootstrap from 5. A setting is true "
        "(false, no difference) when every shape says so, inconclusive when none decides, mixed otherwise. The "
        "geometric mean over shapes only describes the shapes you chose.",
    )


def _groups(chosen: pd.DataFrame, keys: Sequence[str]) -> Iterable[tuple[str, pd.DataFrame]]:
    """(label, rows) per setting, in a stable order."""
    for key, part in chosen.groupby(list(keys), sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        yield setting_label(keys, values), part


def _unchosen_rows(chosen: pd.DataFrame) -> list[ClaimRow]:
    """A ``no data`` row, saying why, for each setting whose learning rate could not be chosen (several rates
    and no validation metric): those arms are not compared rather than compared at a rate the evaluation set
    picked."""
    return [ClaimRow(label, "no data", NO_VALIDATION + ".") for label in unchosen_settings(chosen)]


def _paired_verdict(*comparisons: SeedComparison) -> str:
    """``true`` when every comparison finds its first side lower (better) at 95%, ``false`` when every one
    finds it higher, ``inconclusive`` otherwise. Requiring all of them is an intersection test: no
    multiplicity correction is needed for it."""
    directions = {c.direction for c in comparisons}
    return "true" if directions == {-1} else "false" if directions == {1} else "inconclusive"


def _outcomes(rows: pd.DataFrame, name: str) -> str:
    """``GRU 3/5 solved (1 diverged)``."""
    diverged = int(rows["diverged"].sum())
    return f"{name} {int(rows['solved'].sum())}/{len(rows)} solved" + (
        f" ({diverged} diverged)" if diverged else ""
    )


def _median_steps(rows: pd.DataFrame) -> str:
    """Median steps to target over seeds, a seed that never reached it counted as never (``steps_c``)."""
    median = float(np.median(rows["steps_c"].to_numpy(float))) if len(rows) else float("nan")
    return "not reached" if median == float("inf") else int_text(median)


def claim_target(chosen: pd.DataFrame) -> Claim:
    """ "GRU reaches the target in fewer steps and seconds": GRU against LSTM seed by seed, a seed that
    diverged or never reached the target counted as never reaching it (the one paired rule of
    ``analyse.training``); ``true`` needs both steps and seconds to favour the GRU."""
    rows = []
    if not chosen.empty:
        for scope, part in _groups(chosen, setting_keys(chosen)):
            gru, lstm = part[part["arm"] == "gru"], part[part["arm"] == "lstm"]
            if gru.empty or lstm.empty:
                continue
            outcomes = f"{_outcomes(gru, 'GRU')}, {_outcomes(lstm, 'LSTM')}"
            if not (gru["solved"].any() or lstm["solved"].any()):
                rows.append(
                    ClaimRow(scope, "inconclusive", f"neither arm reached the target in any seed ({outcomes}).")
                )
                continue
            s = compare_seeds(gru, lstm, "steps_c", ratio=True)
            t = compare_seeds(gru, lstm, "seconds_c", ratio=True)
            rows.append(
                ClaimRow(
                    scope,
                    _paired_verdict(s, t),
                    f"{outcomes}; median steps to target GRU {_median_steps(gru)}, LSTM {_median_steps(lstm)}; "
                    f"steps: {s.describe('GRU', 'LSTM', 'never reached')}; "
                    f"seconds: {t.describe('GRU', 'LSTM', 'never reached')}.",
                )
            )
    rows += _unchosen_rows(chosen)
    verdict, text = _overall(rows)
    return Claim(
        "GRU reaches the target in fewer steps and seconds",
        verdict,
        text,
        rows,
        note="Per seed (the same data stream for both arms). A seed that diverged or did not reach the target "
        "never reached it: it counts as later than every seed that did, whatever step it stopped at. The "
        f"GRU/LSTM ratio of steps and of seconds, {RULE}. 'true' needs both steps and seconds to favour the "
        "GRU.",
    )


def _size_text(size: int) -> str:
    return "fresh data (train_size 0)" if size == 0 else f"n={int_text(size)}"


def _gaps(part: pd.DataFrame, size: int) -> pd.DataFrame:
    """Per seed at one training-set size: GRU − LSTM normalized metric (a diverged seed the worst)."""
    at = part[part[TRAIN_SIZE_COLUMN] == size]
    gru = at.loc[at["arm"] == "gru", ["seed", "normalized_metric_w"]]
    lstm = at.loc[at["arm"] == "lstm", ["seed", "normalized_metric_w"]]
    both = gru.merge(lstm, on="seed", suffixes=("_g", "_l"))
    with np.errstate(invalid="ignore"):
        both["gap"] = both["normalized_metric_w_g"] - both["normalized_metric_w_l"]
    return both[["seed", "gap"]]


def claim_small_data(chosen: pd.DataFrame) -> Claim:
    """ "GRU does better on small datasets": does the GRU's advantage grow as the training set shrinks? Per
    seed, the GRU − LSTM normalized metric at the smallest fixed training set minus the same at the largest
    (fresh data every step counts as the largest), tested under the one paired rule. One size cannot answer
    it: a GRU better at n=200 may be just as much better with unlimited data."""
    statement = "GRU does better than LSTM on small datasets"
    rows = []
    has_size = not chosen.empty and TRAIN_SIZE_COLUMN in chosen.columns
    keys = [k for k in setting_keys(chosen) if k != TRAIN_SIZE_COLUMN] if has_size else []
    for scope, part in _groups(chosen, keys) if has_size else ():
        sizes = [
            int(size)
            for size in sorted(part[TRAIN_SIZE_COLUMN].unique())
            if {"gru", "lstm"} <= set(part.loc[part[TRAIN_SIZE_COLUMN] == size, "arm"])
        ]
        fixed = [size for size in sizes if size > 0]
        if not fixed:
            continue  # fresh data only: not a small-data setting
        if len(sizes) < 2:
            rows.append(
                ClaimRow(
                    scope,
                    "no data",
                    f"one training-set size with both arms ({_size_text(sizes[0])}): whether the GRU does "
                    "better on *small* data needs the GRU − LSTM gap at a second, larger size (another "
                    "--train-size, or fresh data) to compare with.",
                )
            )
            continue
        small, large = fixed[0], (0 if 0 in sizes else sizes[-1])
        details = []
        for size in (small, large):
            at = part[part[TRAIN_SIZE_COLUMN] == size]
            gap = compare_seeds(at[at["arm"] == "gru"], at[at["arm"] == "lstm"], "normalized_metric_w")
            details.append(f"{_size_text(size)}: {gap.describe('GRU', 'LSTM')}")
        both = _gaps(part, small).merge(_gaps(part, large), on="seed", suffixes=("_small", "_large"))
        with np.errstate(invalid="ignore"):
            contrast = compare_differences((both["gap_small"] - both["gap_large"]).to_numpy(float))
        rows.append(
            ClaimRow(
                scope,
                _paired_verdict(contrast),
                "GRU − LSTM gap (normalized metric, < 0 favours the GRU) at the small set minus at the large "
                f"one: {contrast.describe(f'gap at {_size_text(small)}', f'gap at {_size_text(large)}')}. "
                "Per size: " + "; ".join(details) + ".",
            )
        )
    rows += _unchosen_rows(chosen)
    if not rows:
        return Claim(
            statement,
            "no data",
            "no data: no setting has GRU and LSTM runs on a fixed training set; run 'rnnbench train' with "
            "--train-size at two or more sizes (or one size and fresh data) to test this.",
        )
    verdict, text = _overall(rows)
    return Claim(
        statement,
        verdict,
        text,
        rows,
        note="Tested: per seed, (GRU − LSTM normalized metric at the smallest fixed training set) − (the same "
        "at the largest; fresh data every step counts as the largest), a diverged seed the worst. 'true' when "
        "that difference is below 0 — the GRU's advantage grows as data shrink — under the paired rule "
        f"({RULE}); 'false' when above.",
    )


def _horizon(rates: pd.DataFrame) -> str:
    """The memory horizon of one arm's success rates, as the evidence writes it."""
    largest = largest_solved(rates)
    return "none" if largest is None else f"T={int_text(largest)}"


def claim_memory(chosen: pd.DataFrame) -> Claim:
    """ "LSTM keeps longer memories": success rate against length; an arm is better at a length only when the
    Wilson intervals do not overlap. The horizon is the longest length solved in at least half the seeds."""
    rows = []
    rates = success_rates(chosen)
    if not rates.empty:
        keys = [k for k in setting_keys(chosen) if k != "seq_len"]
        for scope, part in _groups(rates, keys):
            if part["seq_len"].nunique() < 2:
                continue  # one length says nothing about a horizon
            for lstm_arm in ("lstm", "lstm-fb1"):
                lstm, gru = part[part["arm"] == lstm_arm], part[part["arm"] == "gru"]
                both = lstm.merge(gru, on="seq_len", suffixes=("_l", "_g"))
                if both.empty:
                    continue
                lstm_better = bool((both["low_l"] > both["high_g"]).any())
                gru_better = bool((both["low_g"] > both["high_l"]).any())
                verdict = {
                    (True, False): "true",
                    (False, True): "false",
                    (True, True): "mixed",
                    (False, False): "inconclusive",
                }[(lstm_better, gru_better)]
                per_len = "; ".join(
                    f"T={int_text(t)}: {int(sl)}/{int(nl)} vs {int(sg)}/{int(ng)}"
                    for t, sl, nl, sg, ng in zip(
                        both["seq_len"],
                        both["solved_l"],
                        both["seeds_l"],
                        both["solved_g"],
                        both["seeds_g"],
                        strict=True,
                    )
                )
                rows.append(
                    ClaimRow(
                        f"{scope} · {lstm_arm} vs gru",
                        verdict,
                        f"horizon (longest T solved by ≥ half the seeds) {lstm_arm} {_horizon(lstm)}, gru "
                        f"{_horizon(gru)}; seeds solved {lstm_arm} vs gru: {per_len}.",
                    )
                )
    rows += _unchosen_rows(chosen)
    verdict, text = _overall(rows)
    return Claim(
        "LSTM keeps longer memories than GRU (memory horizon)",
        verdict,
        text,
        rows,
        note="An arm is better at a length only when the 95% Wilson intervals of the success rates do not "
        "overlap: with 3 seeds per length nothing can decide (3/3 against 0/3 still overlaps); 5/5 against 0/5 "
        "can.",
    )


def claim_forget_bias(chosen: pd.DataFrame) -> Claim:
    """What the forget-gate bias +1 changes, decided by one primary test declared here: the paired per-seed
    normalized metric, lstm-fb1 − lstm (a diverged seed the worst). Success rate and steps to target are
    described, not tested — OR-ing three 95% tests would find an effect by chance up to three times as
    often."""
    rows = []
    if not chosen.empty:
        for scope, part in _groups(chosen, setting_keys(chosen)):
            fb1, plain = part[part["arm"] == "lstm-fb1"], part[part["arm"] == "lstm"]
            if fb1.empty or plain.empty:
                continue
            d = compare_seeds(fb1, plain, "normalized_metric_w")
            wf = intervals.wilson_interval(int(fb1["solved"].sum()), len(fb1))
            wp = intervals.wilson_interval(int(plain["solved"].sum()), len(plain))
            rows.append(
                ClaimRow(
                    scope,
                    _paired_verdict(d),
                    f"primary, normalized metric: {d.describe('lstm-fb1', 'lstm')}. Described only: "
                    f"{_outcomes(fb1, 'lstm-fb1')} [{wf.low:.2f}–{wf.high:.2f}], {_outcomes(plain, 'lstm')} "
                    f"[{wp.low:.2f}–{wp.high:.2f}]; median steps to target lstm-fb1 {_median_steps(fb1)}, "
                    f"lstm {_median_steps(plain)}.",
                )
            )
    rows += _unchosen_rows(chosen)
    verdict, text = _overall(rows)
    return Claim(
        "Forget-gate bias +1 helps the LSTM (lstm-fb1 vs lstm; Jozefowicz et al. 2015)",
        verdict,
        text,
        rows,
        note="One primary test: the paired per-seed normalized metric, lstm-fb1 − lstm, a diverged seed the "
        f"worst ({RULE}). 'true' = lstm-fb1 lower, "
        "'false' = higher. Success rates and steps to target are shown as description only: deciding on "
        "any of three 95% tests would raise the chance of a spurious verdict well above 5%.",
    )


# ---- minGRU and minLSTM (Feng et al. 2024, arXiv 2410.01201) -------------------------------------------
MINIMAL_PAIRS: tuple[tuple[str, str], ...] = (("mingru", "gru"), ("minlstm", "lstm"))
"""Each minimal arm and the classic cell it simplifies: the speed claim's pairs."""

MINIMAL_ARMS: tuple[str, ...] = tuple(arm for arm in ARMS if ARM_ARCH[arm] in MINIMAL_ARCHS)

PAPER = "Feng et al. 2024, arXiv 2410.01201"

COUNTING_MARGIN = 0.05
"""The aⁿbⁿ claim's declared non-inferiority margin, in normalized-metric units (the final cross-entropy over
the unigram chance cross-entropy): a minimal arm "counts like an LSTM" when it is worse than the LSTM by less
than 5% of the chance loss — at 95%."""


def _unchosen_minimal(chosen: pd.DataFrame, task: str | None = None) -> list[ClaimRow]:
    """``_unchosen_rows`` of the settings (of ``task``) where a minimal arm's learning rate was not chosen."""
    return [
        r
        for r in _unchosen_rows(chosen)
        if (task is None or r.scope.startswith(f"{task} "))
        and any(arm in r.scope.rsplit("(", 1)[-1].rstrip(")").split(", ") for arm in MINIMAL_ARMS)
    ]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A text column, ``?`` where it is missing (hand-built or old tables have no ``impl``/``device``)."""
    if name not in frame.columns:
        return pd.Series("?", index=frame.index, dtype=str)
    return frame[name].fillna("?").astype(str).replace("", "?")


def _ms(rows: pd.DataFrame) -> str:
    """Median milliseconds per training step over seeds."""
    values = pd.to_numeric(rows["seconds_per_step"], errors="coerce").dropna()
    if values.empty:
        return "–"
    ms = 1000 * float(values.median())
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def claim_minimal_speed(chosen: pd.DataFrame) -> Claim:
    """ "minGRU (minLSTM) trains faster per step than GRU (LSTM)": per setting — the task at its length T, so
    the T = 512 row is there when you trained at 512 — device and implementations, each seed's
    ``seconds_per_step`` of the minimal arm over its classic counterpart's, under the one paired rule on the
    log ratio. Seeds pair because the arms of one seed run back to back on the same data stream, so drift in
    the machine's load hits both."""
    rows = []
    if not chosen.empty:
        frame = chosen.assign(_impl=_column(chosen, "impl"), _device=_column(chosen, "device"))
        for scope, part in _groups(frame, setting_keys(frame)):
            for small, classic in MINIMAL_PAIRS:
                a, b = part[part["arm"] == small], part[part["arm"] == classic]
                for device in sorted(set(a["_device"]) & set(b["_device"])):
                    on_a, on_b = a[a["_device"] == device], b[b["_device"] == device]
                    for impl_a in sorted(set(on_a["_impl"])):
                        for impl_b in sorted(set(on_b["_impl"])):
                            ra, rb = on_a[on_a["_impl"] == impl_a], on_b[on_b["_impl"] == impl_b]
                            rows.append(_speed_row(scope, device, (small, impl_a, ra), (classic, impl_b, rb)))
    rows += _unchosen_minimal(chosen)
    verdict, text = _overall(rows)
    return Claim(
        "minGRU (minLSTM) trains faster per step than GRU (LSTM)",
        verdict,
        text,
        rows,
        note=f"{PAPER} report 175× faster training steps than the classic cells at T = 512 (1,324× and "
        "1,361× at T = 4,096), on a GPU. Tested here per setting (task and length T, size), device and "
        "implementations (the evidence names each arm's): per seed, the minimal arm's seconds per training "
        f"step over its classic counterpart's (minGRU/GRU, minLSTM/LSTM), {RULE}. 'true' = the minimal arm "
        "faster, 'false' = slower. A step is what train_seconds counts — batch generation, forward, backward, "
        "clipping, the optimiser step; evaluation excluded — at each arm's own parameter-matched hidden size "
        "(a minimal cell has no W_hh, so it gets a much larger H); for kernel times at equal shapes see "
        "'rnnbench run'.",
    )


def _speed_row(
    scope: str, device: str, small: tuple[str, str, pd.DataFrame], classic: tuple[str, str, pd.DataFrame]
) -> ClaimRow:
    """One (setting, device, implementations) row of the speed claim."""
    (arm_a, impl_a, ra), (arm_b, impl_b, rb) = small, classic
    c = compare_seeds(ra, rb, "seconds_per_step", ratio=True)
    speedup = ""
    if is_finite(c.estimate) and c.estimate > 0:  # the estimate in the paper's terms: how many times faster
        times, way = (1 / c.estimate, "faster") if c.estimate <= 1 else (c.estimate, "slower")
        speedup = f"; {arm_a} {times:.3g}× {way} per step"
    h_a, h_b = int_text(float(ra["hidden_size"].median())), int_text(float(rb["hidden_size"].median()))
    return ClaimRow(
        f"{scope} · {arm_a} vs {arm_b} · {device}",
        _paired_verdict(c),
        f"implementations: {arm_a} {impl_a}, {arm_b} {impl_b}; H {h_a} vs {h_b}; median ms/step {arm_a} "
        f"{_ms(ra)}, {arm_b} {_ms(rb)}; time per step {c.describe(arm_a, arm_b)}{speedup}.",
    )


def _majority_verdict(interval: intervals.Interval, seeds: int) -> str:
    """``true`` when the Wilson interval of the success rate lies at or above ``SOLVED_MAJORITY``, ``false``
    when it lies below, ``inconclusive`` when it straddles it or with fewer than ``MIN_SEEDS`` seeds — as for
    every training verdict: 4 of 4 solved clears the bound (Wilson [0.51, 1]), yet an arm that solves half
    the time does that in 6.25% of runs; from 6 seeds the rule errs at most 3.9% a side at the boundary
    (``tests/test_min_claims.py``, exact)."""
    if seeds < MIN_SEEDS:
        return "inconclusive"
    if interval.low >= SOLVED_MAJORITY:
        return "true"
    if interval.high < SOLVED_MAJORITY:
        return "false"
    return "inconclusive"


def claim_selective_copy(chosen: pd.DataFrame) -> Claim:
    """ "minGRU/minLSTM solve selective copying" (Feng et al. 2024, after Gu & Dao 2023): per minimal arm and
    setting of task ``selective-copy``, the seeds solved with a 95% Wilson interval; solved when a majority of
    seeds solve (``core.vocab.SOLVED_MAJORITY``) at 95%. The classic arms trained beside it are described."""
    rows = []
    task = chosen[chosen["task"] == "selective-copy"] if not chosen.empty else chosen
    if not task.empty:
        for scope, part in _groups(task, setting_keys(task)):
            context = ", ".join(
                f"{arm} {int(part.loc[part['arm'] == arm, 'solved'].sum())}/{int((part['arm'] == arm).sum())}"
                for arm in ARMS
                if arm not in MINIMAL_ARMS and (part["arm"] == arm).any()
            )
            for arm in MINIMAL_ARMS:
                runs = part[part["arm"] == arm]
                if runs.empty:
                    continue
                solved, n = int(runs["solved"].sum()), len(runs)
                wilson = intervals.wilson_interval(solved, n)
                impl = ", ".join(sorted(set(_column(runs, "impl"))))
                few = f"; ≥ {MIN_SEEDS} seeds needed to decide" if n < MIN_SEEDS else ""
                rows.append(
                    ClaimRow(
                        f"{scope} · {arm}",
                        _majority_verdict(wilson, n),
                        f"{_outcomes(runs, arm)}: success rate {wilson.estimate:.2f} "
                        f"[{wilson.low:.2f}–{wilson.high:.2f}] (Wilson 95%{few}; implementation {impl})"
                        + (f"; beside it (described only): {context} solved" if context else "")
                        + ".",
                    )
                )
    rows += _unchosen_minimal(chosen, "selective-copy")
    verdict, text = _overall(rows)
    return Claim(
        "minGRU/minLSTM solve selective copying",
        verdict,
        text,
        rows,
        note=f"{PAPER} report that minGRU and minLSTM solve selective copying (Gu & Dao 2023). Tested per arm "
        "and length T on task selective-copy (a seed solves when its recall of the answers is ≥ 0.99): "
        f"'true' when the 95% Wilson interval of the share of seeds that solve lies at or above "
        f"{SOLVED_MAJORITY:g} (a majority of seeds solve, the memory horizon's rule), 'false' when it lies "
        f"below {SOLVED_MAJORITY:g}, 'inconclusive' when it straddles it or with fewer than {MIN_SEEDS} seeds "
        "(as every training verdict: 4 of 4 clears the bound, but an arm that solves half the time does that "
        "6.25% of the time). 6 of 6 solved (or 0 of 6) decide, 5 of 6 does not; at the boundary the rule errs "
        "at most 3.9% a side (computed exactly for 6–60 seeds). A diverged seed counts as unsolved.",
    )


def _counting_verdict(c: SeedComparison) -> str:
    """The aⁿbⁿ rule on ``minimal − lstm``: ``false`` when the minimal arm is worse at 95% (signed-rank), else
    ``true`` when the whole 95% Hodges–Lehmann interval lies at or below ``COUNTING_MARGIN`` (worse by less
    than the margin, or better), else ``inconclusive``. An interval below 95% (five seeds or fewer) or with an
    infinite end (a diverged seed) never says ``true``."""
    if c.direction > 0:
        return "false"
    if c.level >= 0.95 - 1e-12 and is_finite(c.low) and is_finite(c.high) and c.high <= COUNTING_MARGIN:
        return "true"
    return "inconclusive"


def claim_counting(chosen: pd.DataFrame) -> Claim:
    """ "minGRU/minLSTM count like an LSTM on aⁿbⁿ": per setting of task ``anbn``, each minimal arm against
    ``lstm`` seed by seed on the normalized metric (a diverged seed the worst), decided by
    ``_counting_verdict``: worse at 95% is ``false``; ``true`` only by non-inferiority within
    ``COUNTING_MARGIN``; success (all n ≤ N recognised) and ``max_n`` are described."""
    rows = []
    task = chosen[chosen["task"] == "anbn"] if not chosen.empty else chosen
    if not task.empty:
        for scope, part in _groups(task, setting_keys(task)):
            lstm = part[part["arm"] == "lstm"]
            for arm in MINIMAL_ARMS:
                runs = part[part["arm"] == arm]
                if runs.empty or lstm.empty:
                    continue
                d = compare_seeds(runs, lstm, "normalized_metric_w")
                score = ""
                if "score" in part.columns:
                    score = f"; median max_n {arm} {_median(runs['score'])}, lstm {_median(lstm['score'])}"
                rows.append(
                    ClaimRow(
                        f"{scope} · {arm} vs lstm",
                        _counting_verdict(d),
                        f"normalized metric (CE / unigram CE): {d.describe(arm, 'lstm')}; margin "
                        f"±{COUNTING_MARGIN:g}. Described only: {_outcomes(runs, arm)}, "
                        f"{_outcomes(lstm, 'lstm')}{score}.",
                    )
                )
    rows += _unchosen_minimal(chosen, "anbn")
    verdict, text = _overall(rows)
    return Claim(
        "minGRU/minLSTM count like an LSTM on aⁿbⁿ",
        verdict,
        text,
        rows,
        note="Whether dropping h_(t−1) from the gates (Feng et al. 2024) keeps the LSTM's ability to count "
        "(Weiss et al. 2018). One primary test per minimal arm and setting of task anbn: per seed, the minimal "
        "arm's normalized metric (final cross-entropy over the unigram chance cross-entropy) minus the LSTM's, "
        f"a diverged seed the worst ({RULE}). 'false' when the minimal arm is worse at 95%; 'true' only by "
        "non-inferiority: the whole 95% Hodges–Lehmann interval of the difference lies at or below the "
        f"declared margin {COUNTING_MARGIN:g} (worse by less than {COUNTING_MARGIN:.0%} of the chance loss, or "
        "better) — an interval at 95% needs ≥ 6 seeds, and one with a diverged seed is unbounded, so neither "
        "says 'true'; 'inconclusive' otherwise. Not significantly worse is not the same as equal: without the "
        "margin 3 seeds would always 'pass'. Success (every n ≤ N recognised) and max_n are described, not "
        "tested.",
    )


def _median(values: pd.Series) -> str:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return "–" if numbers.empty else f"{float(numbers.median()):g}"
