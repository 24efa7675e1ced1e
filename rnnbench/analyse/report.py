"""The whole report as values: ``results.loader`` loads, ``analyse.speed`` aggregates and pairs,
``analyse.training`` summarises training, ``analyse.claims`` tests the textbook claims, ``analyse.crossover``
finds where minGRU/minLSTM's scan overtakes the fastest LSTM/GRU, and ``Report`` holds it all. Rendering is
``present.render``'s job and figures are ``present.plots``', so the same numbers feed the terminal, Markdown
and HTML.

Never prints and never imports torch (``rnnbench report`` must work on a machine without the GPU stack).
Warnings (mixed environments, partial runs, busy machines, duplicates) are returned as strings for the caller.

Everything is vectorised pandas/NumPy: a report over 100,000 summary rows must take seconds, not minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from rnnbench.analyse.claims import (
    Claim,
    claim_counting,
    claim_forget_bias,
    claim_memory,
    claim_minimal_speed,
    claim_parameters,
    claim_selective_copy,
    claim_small_data,
    claim_speed,
    claim_target,
)
from rnnbench.analyse.crossover import Crossover, crossover_of
from rnnbench.analyse.speed import SpeedTable, aggregate_cases, pair_ratios, speed_tables
from rnnbench.analyse.training import chosen_rows, train_arms
from rnnbench.results.loader import ReportData, load_report_data


# ---- the whole report ----------------------------------------------------------------------------------
@dataclass
class Report:
    """Everything the renderers and plots need, computed once."""

    data: ReportData
    cases: pd.DataFrame
    rounds: pd.DataFrame
    ratios: pd.DataFrame
    tables: list[SpeedTable]
    arms: pd.DataFrame
    chosen: pd.DataFrame
    claims: list[Claim]
    title: str = "rnnbench report — LSTM vs GRU vs RNN"

    @cached_property
    def crossover(self) -> Crossover:
        """minGRU/minLSTM against the fastest LSTM/GRU over T (``analyse.crossover``); empty without them.
        Computed on first use from the cases and rounds, then kept."""
        return crossover_of(self.cases, self.rounds)

    @property
    def warnings(self) -> list[str]:
        return self.data.warnings


def build_report(data: ReportData) -> Report:
    """Aggregate, pair and test the claims."""
    cases, rounds = aggregate_cases(data.summary)
    ratios = pair_ratios(cases, rounds, data.sample_files)
    tables = speed_tables(cases, ratios)
    arms = train_arms(data.train)
    chosen = chosen_rows(data.train, arms)
    claims = [
        claim_parameters(cases, data.train),
        claim_speed(ratios),
        claim_target(chosen),
        claim_small_data(chosen),
        claim_memory(chosen),
        claim_forget_bias(chosen),
        claim_minimal_speed(chosen),
        claim_selective_copy(chosen),
        claim_counting(chosen),
    ]
    return Report(data, cases, rounds, ratios, tables, arms, chosen, claims)


def make_report(paths: Sequence[Path | str]) -> Report:
    """Load and build in one call (what the CLI uses)."""
    return build_report(load_report_data(paths))
