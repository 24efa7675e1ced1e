"""The textbook claims tested against the data: one verdict per claim, evidence per scope."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnbench.analyse import stats
from rnnbench.analyse.speed import order_rank, ratio_verdict
from rnnbench.analyse.training import (
    largest_solved,
    paired_difference,
    setting_keys,
    setting_label,
    success_rates,
)
from rnnbench.core.flops import param_count
from rnnbench.core.values import int_text, is_finite
from rnnbench.core.vocab import IMPLS, MIN_EFFECT, MODES, PAIR_KEYS, THEORETICAL_GRU_LSTM
from rnnbench.results.schema import TRAIN_SIZE_COLUMN

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
    if not train.empty and {"lstm", "gru"} <= set(train["arm"]):
        per_arm = train.groupby("arm")["params"].median()
        hidden = train.groupby("arm")["hidden_size"].median()
        rows.append(
            ClaimRow(
                "training runs (as configured)",
                "true" if per_arm["gru"] < per_arm["lstm"] else "no difference",
                f"median params: LSTM {per_arm['lstm']:,.0f} (H={hidden['lstm']:.0f}), "
                f"GRU {per_arm['gru']:,.0f} "
                f"(H={hidden['gru']:.0f}); parameter-matched runs give the GRU a larger H (≈1.155×) instead.",
            )
        )
    verdict, summary = _overall(rows)
    return Claim("GRU has fewer parameters than LSTM", verdict, summary, rows)


def speed_summary(ratios: pd.DataFrame) -> pd.DataFrame:
    """Per (mode, platform, dtype, impl): geometric mean GRU/LSTM time ratio over shapes with a t-interval
    on log ratios (one shape: its own bootstrap interval), and how many shapes each side wins outright."""
    if ratios.empty:
        return pd.DataFrame()
    frame = ratios[np.isfinite(ratios["ratio"]) & (ratios["ratio"] > 0)].copy()
    frame["log"] = np.log(frame["ratio"])
    frame["verdict"] = [
        ratio_verdict(lo, hi) for lo, hi in zip(frame["ratio_low"], frame["ratio_high"], strict=True)
    ]
    keys = ["mode", "platform", "device", "dtype", "impl"]
    g = frame.groupby(keys, sort=False)
    out = g.agg(
        shapes=("ratio", "size"),
        log_mean=("log", "mean"),
        log_sd=("log", "std"),
        single_low=("ratio_low", "first"),
        single_high=("ratio_high", "first"),
        gru_wins=("verdict", lambda v: int((v == "GRU faster").sum())),
        lstm_wins=("verdict", lambda v: int((v == "LSTM faster").sum())),
        min_ratio=("ratio", "min"),
        max_ratio=("ratio", "max"),
        method=("method", "first"),
    ).reset_index()
    from scipy.stats import t as student_t

    n = out["shapes"]
    half = student_t.ppf(0.975, (n - 1).clip(lower=1)) * out["log_sd"].fillna(0) / np.sqrt(n)
    out["ratio"] = np.exp(out["log_mean"])
    out["low"] = np.where(n > 1, np.exp(out["log_mean"] - half), out["single_low"])
    out["high"] = np.where(n > 1, np.exp(out["log_mean"] + half), out["single_high"])
    out["_mode"] = order_rank(out["mode"], MODES)
    out["_impl"] = order_rank(out["impl"], IMPLS)
    return out.sort_values(["_mode", "platform", "dtype", "_impl"]).drop(columns=["_mode", "_impl"])


def claim_speed(ratios: pd.DataFrame) -> Claim:
    """ "GRU is faster per step": per mode, device and implementation."""
    rows = []
    summary = speed_summary(ratios)
    for r in summary.to_dict("records"):
        low, high = r["low"], r["high"]
        if not (np.isfinite(low) and np.isfinite(high)):
            verdict = "inconclusive"
        elif high < 1:
            verdict = "true"
        elif low > 1:
            verdict = "false"
        elif low >= 1 - MIN_EFFECT and high <= 1 + MIN_EFFECT:
            verdict = "no difference"
        else:
            verdict = "inconclusive"
        where = r["platform"] if r["platform"] == r["device"] else f"{r['device']} · {r['platform']}"
        interval = f" [{low:.3f}–{high:.3f}]" if np.isfinite(low) and np.isfinite(high) else " (no interval)"
        spread = (
            f"over {r['shapes']} shapes (range {r['min_ratio']:.2f}–{r['max_ratio']:.2f}; geometric mean, "
            f"t-interval over shapes)"
            if r["shapes"] > 1
            else f"one shape (bootstrap over {r['method']})"
        )
        rows.append(
            ClaimRow(
                f"{r['mode']} · {where} · {r['dtype']} · {r['impl']}",
                verdict,
                f"GRU/LSTM time {r['ratio']:.3f}{interval} {spread} vs theory {THEORETICAL_GRU_LSTM}; "
                f"GRU faster in {r['gru_wins']}, LSTM faster in {r['lstm_wins']} of {r['shapes']} shapes.",
            )
        )
    verdict, text = _overall(rows)
    return Claim(
        "GRU is faster per step than LSTM",
        verdict,
        text,
        rows,
        note="A side wins a setting only when the whole 95% interval is on its side of 1; "
        f"'no difference' when it lies within ±{MIN_EFFECT:.0%}.",
    )


def _paired_ratio(a: pd.DataFrame, b: pd.DataFrame, column: str) -> stats.Interval:
    return stats.bootstrap_ratio_ci(a[column].to_numpy(float), b[column].to_numpy(float))


def _groups(chosen: pd.DataFrame, keys: Sequence[str]) -> Iterable[tuple[str, pd.DataFrame]]:
    """(label, rows) per setting, in a stable order."""
    for key, part in chosen.groupby(list(keys), sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        yield setting_label(keys, values), part


def claim_target(chosen: pd.DataFrame) -> Claim:
    """ "GRU reaches the target in fewer steps and seconds": median over seeds (unsolved seeds count as the
    whole budget — censored, so this favours neither arm), GRU/LSTM ratio with a bootstrap interval over
    seeds."""
    rows = []
    if not chosen.empty:
        for scope, part in _groups(chosen, setting_keys(chosen)):
            gru, lstm = part[part["arm"] == "gru"], part[part["arm"] == "lstm"]
            if gru.empty or lstm.empty:
                continue
            if not (gru["solved"].any() or lstm["solved"].any()):
                rows.append(ClaimRow(scope, "inconclusive", "neither arm reached the target in any seed."))
                continue
            s = _paired_ratio(gru, lstm, "steps_c")
            t = _paired_ratio(gru, lstm, "seconds_c")
            rows.append(
                ClaimRow(
                    scope,
                    _interval_verdict([s, t]),
                    f"solved GRU {int(gru['solved'].sum())}/{len(gru)}, LSTM {int(lstm['solved'].sum())}/"
                    f"{len(lstm)}; GRU/LSTM steps {s.estimate:.2f} [{s.low:.2f}–{s.high:.2f}], seconds "
                    f"{t.estimate:.2f} [{t.low:.2f}–{t.high:.2f}].",
                )
            )
    verdict, text = _overall(rows)
    return Claim(
        "GRU reaches the target in fewer steps and seconds",
        verdict,
        text,
        rows,
        note="Medians over seeds; a seed that never reaches the target counts as its whole budget. "
        "'true' needs both intervals (steps and seconds) below 1.",
    )


def _interval_verdict(intervals: Sequence[stats.Interval]) -> str:
    """All intervals below 1 → true; all above → false; otherwise inconclusive."""
    if all(is_finite(i.high) and i.high < 1 for i in intervals):
        return "true"
    if all(is_finite(i.low) and i.low > 1 for i in intervals):
        return "false"
    return "inconclusive"


def _difference_verdict(d: stats.Interval) -> str:
    if not (is_finite(d.low) and is_finite(d.high)):
        return "inconclusive"
    return "true" if d.high < 0 else "false" if d.low > 0 else "inconclusive"


def claim_small_data(chosen: pd.DataFrame) -> Claim:
    """ "GRU does better on small datasets": paired GRU − LSTM normalized metric (lower is better) at the
    smallest fixed training set of each task, length and size; the larger sets are listed for the trend."""
    statement = "GRU does better than LSTM on small datasets"
    if chosen.empty or TRAIN_SIZE_COLUMN not in chosen.columns or not (chosen[TRAIN_SIZE_COLUMN] > 0).any():
        return Claim(
            statement,
            "no data",
            "no data: every training run drew fresh data each step (train_size 0); run 'rnnbench train' with "
            "--train-size at two or more sizes to test this.",
        )
    rows = []
    keys = [k for k in setting_keys(chosen) if k != TRAIN_SIZE_COLUMN]
    sized = chosen[chosen[TRAIN_SIZE_COLUMN] > 0]
    for scope, part in _groups(sized, keys):
        details, verdict = [], "no data"
        for size in sorted(part[TRAIN_SIZE_COLUMN].unique()):
            at = part[part[TRAIN_SIZE_COLUMN] == size]
            gru, lstm = at[at["arm"] == "gru"], at[at["arm"] == "lstm"]
            if gru.empty or lstm.empty:
                continue
            d = paired_difference(gru, lstm, "normalized_metric")
            details.append(f"n={int_text(size)}: {d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
            if verdict == "no data":
                verdict = _difference_verdict(d)
        if details:
            rows.append(
                ClaimRow(
                    scope,
                    verdict,
                    "GRU − LSTM normalized metric (per-seed differences, < 0 favours GRU; the smallest "
                    "training set decides): " + "; ".join(details) + ".",
                )
            )
    verdict, text = _overall(rows)
    return Claim(statement, verdict, text, rows)


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
    """What the forget-gate bias +1 changes: lstm-fb1 against lstm on success, metric and steps."""
    rows = []
    if not chosen.empty:
        for scope, part in _groups(chosen, setting_keys(chosen)):
            fb1, plain = part[part["arm"] == "lstm-fb1"], part[part["arm"] == "lstm"]
            if fb1.empty or plain.empty:
                continue
            d = paired_difference(fb1, plain, "normalized_metric")
            s = _paired_ratio(fb1, plain, "steps_c")
            wf = stats.wilson_interval(int(fb1["solved"].sum()), len(fb1))
            wp = stats.wilson_interval(int(plain["solved"].sum()), len(plain))
            better = _difference_verdict(d) == "true" or wf.low > wp.high or _interval_verdict([s]) == "true"
            worse = _difference_verdict(d) == "false" or wp.low > wf.high or _interval_verdict([s]) == "false"
            verdict = (
                "mixed" if better and worse else "true" if better else "false" if worse else "inconclusive"
            )
            rows.append(
                ClaimRow(
                    scope,
                    verdict,
                    f"solved lstm-fb1 {int(fb1['solved'].sum())}/{len(fb1)} vs lstm "
                    f"{int(plain['solved'].sum())}/{len(plain)}; normalized metric difference "
                    f"{d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}]; "
                    f"steps ratio {s.estimate:.2f} [{s.low:.2f}–{s.high:.2f}].",
                )
            )
    verdict, text = _overall(rows)
    return Claim(
        "Forget-gate bias +1 helps the LSTM (lstm-fb1 vs lstm; Jozefowicz et al. 2015)",
        verdict,
        text,
        rows,
        note="'true' = lstm-fb1 is better on success rate, normalized metric or steps to target with the "
        "interval clear of no effect; 'false' = worse on one of them; 'mixed' = both.",
    )
