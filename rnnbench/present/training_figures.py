"""The report's training figures: curves against steps and seconds with seed bands, the final metric against
parameters (arms dodged, never moved in value), and the memory horizon (success rate against length with
Wilson intervals)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnnbench.analyse.report import Report
from rnnbench.analyse.training import setting_keys, setting_label, success_rates
from rnnbench.core.vocab import ARMS
from rnnbench.present.figure_kit import (
    DODGE_POINTS,
    FONT,
    PANEL_SIZE,
    arch_color,
    handle,
    legend,
    log2_x,
    log_axis,
    new_figure,
    panel_groups,
    suptitle,
    title,
    wrap_to_width,
    ylabel,
)


def _chosen_curves(report: Report) -> pd.DataFrame:
    """Curve points of the configurations the report compares (each arm's chosen learning rate)."""
    curves, arms = report.data.curves, report.arms
    if curves.empty or arms.empty:
        return pd.DataFrame()
    keys = [k for k in ("task", "seq_len", "match", "budget") if k in curves.columns and k in arms.columns]
    chosen = arms.loc[arms["chosen"], [*keys, "arm", "hidden_size", "lr"]].drop_duplicates()
    frame = curves.copy()
    if "budget" in frame.columns:
        frame["budget"] = frame["budget"].fillna(0).astype(np.int64)
    if "match" in frame.columns:
        frame["match"] = frame["match"].fillna("").astype(str)
    merged = frame.merge(chosen, on=[*keys, "arm", "hidden_size", "lr"])
    return merged[np.isfinite(merged["eval_metric"])]


def _metric_names(report: Report) -> dict[str, str]:
    train = report.data.train
    if train.empty or "metric" not in train.columns:
        return {}
    return {str(k): str(v) for k, v in train.groupby("task")["metric"].first().items()}


def _baselines(report: Report) -> dict[tuple[Any, ...], float]:
    train = report.data.train
    if train.empty:
        return {}
    medians = train.groupby(["task", "seq_len"])["baseline_metric"].median()
    return {cast(tuple[Any, ...], k): float(v) for k, v in medians.items()}


def training_curves(report: Report, x: str) -> Figure | None:
    """Evaluation metric against steps or seconds: per arm the median over seeds, the band the quartiles over
    seeds (min–max would let one failed seed swallow the panel: outcomes are bimodal); the dashed grey line is
    the memoryless baseline."""
    curves = _chosen_curves(report)
    if curves.empty:
        return None
    keys = [k for k in ("task", "seq_len", "match", "budget") if k in curves.columns]
    groups = panel_groups(curves, keys)
    metric_names = _metric_names(report)
    baselines = _baselines(report)
    fig, axes = new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        per_step = part.groupby(["arm", "step"]).agg(
            median=("eval_metric", "median"),
            low=("eval_metric", lambda v: v.quantile(0.25)),
            high=("eval_metric", lambda v: v.quantile(0.75)),
            seconds=("train_seconds", "median"),
            seeds=("seed", "nunique"),
        )
        for arm in sorted(per_step.index.get_level_values(0).unique(), key=_arm_rank):
            s = per_step.loc[arm].reset_index()
            xs = s["step"] if x == "step" else s["seconds"]
            color = arch_color(arm)
            ax.plot(xs, s["median"], color=color, linewidth=1.6)
            if s["seeds"].max() > 1:
                ax.fill_between(xs, s["low"], s["high"], color=color, alpha=0.18, linewidth=0)
            handles.setdefault(arm, handle(arm, color, "-", ""))
        baseline = baselines.get((key[0], key[1]))
        if baseline is not None and np.isfinite(baseline):
            ax.axhline(baseline, color="#555555", linestyle="--", linewidth=1)
            handles.setdefault("memoryless baseline", handle("memoryless baseline", "#555555", "--", ""))
        values = part["eval_metric"].to_numpy(float)
        positive = values[values > 0]
        if len(positive) and positive.max() / positive.min() > 50:
            log_axis(ax, "y")
        ax.set_xlabel(
            "training step" if x == "step" else "training time (s, evaluation excluded)", fontsize=FONT
        )
        ylabel(ax, f"eval {metric_names.get(str(key[0]), 'metric')} (lower is better)")
        title(ax, setting_label(keys, list(key)))
    legend(fig, handles)
    what = "steps" if x == "step" else "seconds"
    suptitle(fig, f"Training curves vs {what} (median over seeds; band: quartiles over seeds)")
    return fig


def _arm_rank(arm: str) -> int:
    return ARMS.index(arm) if arm in ARMS else 99


def final_vs_params(report: Report) -> Figure | None:
    """Final evaluation metric against total parameters: small dots are seeds, large markers the median of
    each arm's chosen configuration per size."""
    chosen = report.chosen
    if chosen.empty:
        return None
    data = chosen[np.isfinite(chosen["final_metric"])]
    keys = [k for k in setting_keys(data) if k not in ("budget", "match")]
    groups = panel_groups(data, keys)
    if not groups:
        return None
    metric_names = _metric_names(report)
    fig, axes = new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        arms = sorted(part.groupby("arm"), key=lambda kv: _arm_rank(str(kv[0])))
        for i, (arm, series) in enumerate(arms):
            color = arch_color(str(arm))
            # Parameter-matched arms share an x value. Each arm is drawn at its true parameter count, then
            # shifted sideways on screen by a few *points* (not parameters) so none hides another; the axis
            # label says so, and the data coordinates stay true (SVG, hover tools, the CSV).
            shift = transforms.offset_copy(
                ax.transData, fig=fig, x=(i - (len(arms) - 1) / 2) * DODGE_POINTS, y=0, units="points"
            )
            ax.scatter(
                series["params"],
                series["final_metric"],
                color=color,
                s=12,
                alpha=0.45,
                linewidths=0,
                transform=shift,
            )
            med = series.groupby("params")["final_metric"].median().sort_index()
            ax.plot(
                med.index, med.to_numpy(), color=color, marker="o", markersize=6, linewidth=1.4, transform=shift
            )
            handles.setdefault(str(arm), handle(str(arm), color, "-", "o"))
        # artists drawn through an offset transform do not grow the data limits: add the true points
        ax.update_datalim(part[["params", "final_metric"]].to_numpy(float))
        ax.autoscale_view()
        values = part["final_metric"].to_numpy(float)
        positive = values[values > 0]
        if len(positive) and positive.max() / positive.min() > 50:
            log_axis(ax, "y")
        log_axis(ax, "x")
        ax.set_xlabel(
            wrap_to_width(
                "parameters (total, head included)"
                + (f"; arms drawn {DODGE_POINTS:g} pt apart" if len(arms) > 1 else ""),
                PANEL_SIZE[0] * 0.9,
                FONT,
            ),
            fontsize=FONT,
        )
        ylabel(ax, f"final {metric_names.get(str(key[0]), 'metric')} (lower is better)")
        title(ax, setting_label(keys, list(key)))
    legend(fig, handles)
    suptitle(
        fig,
        "Final metric vs parameters (dots: seeds; markers: median; arms at one budget drawn side by side, "
        "offset in points, not in parameters)",
    )
    return fig


def memory_horizon(report: Report) -> Figure | None:
    """Share of seeds that solve the task against sequence length, per arm, with Wilson 95% intervals."""
    rates = success_rates(report.chosen)
    if rates.empty:
        return None
    keys = [k for k in setting_keys(report.chosen) if k != "seq_len"]
    groups = [(k, p) for k, p in panel_groups(rates, keys) if p["seq_len"].nunique() > 1]
    if not groups:
        return None
    fig, axes = new_figure(len(groups))
    handles: dict[str, Line2D] = {}
    for ax, (key, part) in zip(axes, groups, strict=True):
        arms = sorted(part["arm"].unique(), key=_arm_rank)
        for i, arm in enumerate(arms):
            s = part[part["arm"] == arm].sort_values("seq_len")
            # arms at one length drawn side by side by an offset in points: every x stays the true length
            shift = transforms.offset_copy(
                ax.transData, fig=fig, x=(i - (len(arms) - 1) / 2) * DODGE_POINTS / 2, y=0, units="points"
            )
            xs = s["seq_len"].to_numpy(float)
            yerr = np.vstack([s["rate"] - s["low"], s["high"] - s["rate"]]).clip(min=0)
            color = arch_color(str(arm))
            bars = ax.errorbar(
                xs, s["rate"], yerr=yerr, color=color, marker="o", markersize=5, linewidth=1.6, capsize=3
            )
            for artist in bars.get_children():
                artist.set_transform(shift)
            handles.setdefault(str(arm), handle(str(arm), color, "-", "o"))
        log2_x(ax, part["seq_len"].to_numpy(float))
        ax.set_ylim(-0.05, 1.05)
        ax.axhline(0.5, color="#999999", linestyle=":", linewidth=1)
        ax.set_xlabel(
            "sequence length T (steps)"
            + (f"; arms drawn {DODGE_POINTS / 2:g} pt apart" if len(arms) > 1 else ""),
            fontsize=FONT,
        )
        ylabel(ax, "success rate (share of seeds solved)")
        title(ax, setting_label(keys, list(key)))
    legend(fig, handles)
    suptitle(fig, "Memory horizon: success rate vs length (95% Wilson intervals; dotted: half the seeds)")
    return fig
