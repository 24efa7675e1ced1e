"""What ``rnnbench train`` shows: one line per finished run while it trains, and at the end, per comparison, a
table of arms, the paired differences and — across lengths — the memory horizon.

Functions return Rich renderables and lines; they never print (``cli/train.py`` does). A plain ``str`` in a
returned list is a line to print verbatim (no markup, as ``console.print(line, markup=False)``); a ``Table`` is
printed as it is. The numbers are ``analyse.training.summarize``'s: the same aggregation, learning-rate choice
and horizon as ``rnnbench report``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from rnnbench.analyse.seeds import MIN_SEEDS, RULE, SeedComparison
from rnnbench.analyse.training import NO_VALIDATION, ArmSummary, Horizon, TrainSummary
from rnnbench.core.values import interval_text
from rnnbench.stats.intervals import Interval

_ARM_COLUMNS: tuple[str, ...] = (
    "arm", "h", "params", "lr", "seeds", "geo. mean [95% CI]", "median", "solved [95% CI]", "steps→target",
    "ms/step",
)  # fmt: skip
"""The arm table's columns; the task's score (accuracy, recall, …) follows as the last one."""


# ---- while training ------------------------------------------------------------------------------------
def done_line(label: str, row: Mapping[str, Any]) -> str:
    """The line a finished run leaves above the progress bars: its metric against chance, whether and when it
    reached the target, and its speed; a failed run shows its status and message instead."""
    status = row.get("status", "")
    if status not in ("ok",):
        return f"{label}: {status} — {row.get('message', '')}"
    solved = "solved" if row.get("solved") else "not solved"
    at = f" at step {row['steps_to_target']}" if row.get("steps_to_target") is not None else ""
    score = "" if row.get("score") is None else f", {row.get('score_name')} {row['score']:.3g}"
    return (
        f"{label}: {row.get('metric')} {row['final_metric']:.4g} (chance {row['baseline_metric']:.4g}{score}), "
        f"{solved}{at}, {row['steps']} steps, {row['seconds_per_step'] * 1000:.1f} ms/step"
    )


# ---- --dry-run -----------------------------------------------------------------------------------------
def plan_renderables(units: Sequence[Any], spec: Any) -> list[RenderableType]:
    """What ``train --dry-run`` prints: one row per configuration (its seeds on one line) and the plan's size.
    ``units`` are ``learn.spec.Unit``-like (task, arm, seed, seq_len, match, budget, hidden_size, params, lr,
    impl) and ``spec`` a ``TrainSpec``-like (steps, batch_size, device, dtype). Each arm's implementation is
    named: ``--impl`` applies only to the arms whose architecture it computes."""
    table = Table(title=f"Plan: {len(units)} training runs", title_justify="left")
    for col in ("task", "T", "arch", "impl", "size", "h", "params", "lr", "seeds"):
        table.add_column(col)
    groups: dict[tuple[Any, ...], list[int]] = {}
    impls: dict[str, str] = {}
    for u in units:
        key = (u.task, u.seq_len, u.arm, u.impl, _size(u.match, u.budget), u.hidden_size, u.params, u.lr)
        groups.setdefault(key, []).append(int(u.seed))
        impls.setdefault(u.arm, u.impl)
    for (task, seq_len, arm, impl, size, h, params, lr), seeds in groups.items():
        _add_row(table, task, str(seq_len), arm, impl, size, str(h), str(params), f"{lr:g}", _seed_text(seeds))
    by_arm = ", ".join(f"{arm} {impl}" for arm, impl in impls.items())
    line = (
        f"{len(units)} runs of up to {spec.steps} steps (batch {spec.batch_size}) on {spec.device}, "
        f"{spec.dtype}; implementations: {by_arm}; nothing was trained (drop --dry-run to start)."
    )
    return [table, line]


def _seed_text(seeds: Sequence[int]) -> str:
    """``0–4`` for a contiguous run of seeds, else the list."""
    ordered = sorted(seeds)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(x) for x in ordered)


# ---- at the end ----------------------------------------------------------------------------------------
def _add_row(table: Table, *cells: str) -> None:
    """Cells are data, never Rich markup: ``[n too small]`` must print, not vanish as an unknown tag."""
    table.add_row(*(Text(c) for c in cells))


def _fmt(value: float, digits: int = 4, worst: str = "–") -> str:
    """A number; ``worst`` for ``inf`` (a median that is the worst value: "diverged", "not reached")."""
    if value is not None and value == math.inf:
        return worst
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _interval(iv: Interval, digits: int = 3, signed: bool = False) -> str:
    """An estimate and its interval at one precision (``core.values.interval_text``), its level after it when
    below 95%; ``[n too small]`` when there is none."""
    if not math.isfinite(iv.low) and not math.isinf(iv.low):
        return f"{_fmt(iv.estimate, digits)} [n too small]"
    level = "" if iv.level >= 0.95 - 1e-12 else f" ({100 * iv.level:.3g}%)"
    return interval_text(iv.estimate, iv.low, iv.high, digits, signed=signed) + level


def _rate(iv: Interval) -> str:
    if not math.isfinite(iv.estimate):
        return "–"
    return f"{iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def reading(c: SeedComparison, a: str, b: str) -> str:
    """Words for a paired comparison of ``b − a`` (``c``'s first side is ``b``): a direction only when the
    exact signed-rank test reaches 95%, and — when it cannot — why."""
    if c.method == "none":
        return "nothing to compare (no seed with a known order)"
    why = f"signed-rank p = {c.p_value:.2g}"
    if not c.direction and c.used < MIN_SEEDS:
        why += f"; {c.used} seeds: ≥ {MIN_SEEDS} needed to decide"
    if c.direction < 0:
        return f"{b} lower than {a} ({why})"
    if c.direction > 0:
        return f"{b} higher than {a} ({why})"
    return f"inconclusive ({why})"


def _paired_cell(c: SeedComparison) -> str:
    """The Hodges–Lehmann estimate and its interval (its level when below 95%); ``±∞`` bounds where seeds
    diverged; none when every difference was equal."""
    if c.method == "none":
        return "–"
    if math.isnan(c.low):
        return f"{_fmt(c.estimate, 3)} (every difference equal: no interval)"
    return _interval(c.interval, signed=True)


def _size(match: str, budget: int) -> str:
    return f"params≈{budget}" if match == "params" else f"hidden={budget}"


def _arm_table(arms: list[ArmSummary], target: str) -> Table:
    first = arms[0]
    table = Table(
        title=(
            f"{first.task}, T={first.seq_len}, {_size(first.match, first.budget)}: {first.metric_name} "
            f"(lower is better; chance {_fmt(first.baseline)}), solved = {target}"
        ),
        title_justify="left",
    )
    for col in (*_ARM_COLUMNS, first.score_name or "score"):
        table.add_column(col)
    for s in arms:
        notes = []
        if s.diverged:
            notes.append(f"{s.diverged} diverged")
        if s.failed:
            notes.append(f"{s.failed} failed")
        mean = _interval(s.mean)
        if s.mean_scale == "arithmetic":
            mean += " (arithmetic: a value ≤ 0)"
        if s.diverged:
            mean = f"{mean} over {s.mean_n} of {s.n}" if s.mean_n else "– (every seed diverged)"
        _add_row(
            table,
            s.arm + (f" ({', '.join(notes)})" if notes else ""),
            str(s.hidden_size),
            str(s.params),
            f"{s.lr:g}" + (" (none chosen)" if s.selection == "none" else ""),
            str(s.n),
            mean,
            _fmt(s.median, 3, "diverged"),
            f"{s.successes}/{s.n} {_rate(s.success)}",
            _fmt(s.median_steps_to_target, worst="not reached"),
            _fmt(s.seconds_per_step * 1000, 3),
            _fmt(s.mean_score, 3),
        )
    return table


def _horizon_table(task: str, match: str, budget: int, horizons: list[Horizon]) -> Table:
    table = Table(
        title=f"Memory horizon: {task}, {_size(match, budget)} — seeds solved per length (Wilson 95%)",
        title_justify="left",
    )
    table.add_column("length")
    for h in horizons:
        table.add_column(h.arm)
    for length in sorted({r[0] for h in horizons for r in h.rates}):
        cells = []
        for h in horizons:
            found = [r for r in h.rates if r[0] == length]
            cells.append(f"{found[0][1]}/{found[0][2]} {_rate(found[0][3])}" if found else "–")
        _add_row(table, str(length), *cells)
    _add_row(
        table,
        "largest solved (≥ half the seeds)",
        *["none" if h.largest_solved is None else str(h.largest_solved) for h in horizons],
    )
    return table


def summary_renderables(
    summary: TrainSummary, targets: Mapping[str, str], stop_at_target: bool
) -> list[RenderableType]:
    """The end-of-run tables: per comparison the arms and their paired differences, then one memory-horizon
    table per (task, size) swept over two or more lengths, then the notes the run's settings call for.
    ``targets`` gives each task's "solved" criterion in words. Differences always come with their interval
    and a reading that says when the data cannot decide."""
    out: list[RenderableType] = []
    groups: dict[tuple[str, int, str, int], list[ArmSummary]] = {}
    for s in summary.arms:
        groups.setdefault((s.task, s.seq_len, s.match, s.budget), []).append(s)
    for key, arms in groups.items():
        out.append(_arm_table(arms, targets.get(key[0], "")))
        pairs = [p for p in summary.pairs if (p.task, p.seq_len, p.match, p.budget) == key]
        if pairs:
            table = Table(
                title="Paired by seed (same data stream): difference of final metric", title_justify="left"
            )
            for col in ("difference", "seeds", "Hodges–Lehmann [95% CI]", "lower in (seeds)", "solved (b − a)"):
                table.add_column(col)
            table.add_column("reading")
            for p in pairs:
                c = p.comparison
                _add_row(
                    table,
                    f"{p.b} − {p.a}",
                    str(p.n),
                    _paired_cell(c),
                    f"{p.b} {c.a_lower}, {p.a} {c.b_lower}"
                    + (f", neither {c.undecided}" if c.undecided else ""),
                    f"{p.success_diff:+d}",
                    reading(c, p.a, p.b),
                )
            out.append(table)
    horizons: dict[tuple[str, str, int], list[Horizon]] = {}
    for h in summary.horizons:
        if len(h.rates) >= 2:
            horizons.setdefault((h.task, h.match, h.budget), []).append(h)
    for (task, match, budget), hs in horizons.items():
        out.append(_horizon_table(task, match, budget, hs))
    if summary.swept:
        out.append(
            "Learning rate chosen per arm by median validation metric; every sweep run is kept in "
            "train_summary.csv."
        )
    unchosen = sorted(
        {
            f"{s.task} T={s.seq_len} {_size(s.match, s.budget)} {s.arm}"
            for s in summary.arms
            if s.selection == "none"
        }
    )
    if unchosen:
        out.append(f"No learning rate chosen for {', '.join(unchosen)}: {NO_VALIDATION}.")
    if summary.pairs:
        out.append(f"Paired comparisons: {RULE}.")
    if any(s.diverged for s in summary.arms):
        out.append(
            "A diverged seed counts as unsolved, as never reaching the target and as the worst metric: medians "
            "and paired comparisons include it (a difference of ±∞), geometric means and their intervals are "
            "over the other seeds and say how many diverged ('over k of n')."
        )
    if stop_at_target:
        out.append(
            "Runs stopped at their target (--stop-at-target): compare steps→target and success; the final "
            "metric of a solved run is the one at its stopping point."
        )
    return out
