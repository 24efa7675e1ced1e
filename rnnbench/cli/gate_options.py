"""The gate commands' shared options (``compare``, ``ab``, ``calibrate``, ``history``): each declared once as a
typed alias whose default is the library's own (``GateSettings``, ``PairedSettings``), their completion, the
parsing of fractions, formats and exports, and the one **Exit codes** section every gate command's help
lists in :data:`rnnbench.errors.EXIT_PRECEDENCE` order.

NumPy-free and torch-free: every ``rnnbench`` start (``--help`` and completion included) imports this.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rnnbench.cli.app import complete_from
from rnnbench.core.parsing import split_values
from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    EXIT_NOTHING_COMPARABLE,
    EXIT_OK,
    EXIT_PRECEDENCE,
    EXIT_REGRESSION,
    ConfigError,
)
from rnnbench.gate.settings import METHODS, GateSettings, PairedSettings, check_method

F = TypeVar("F", bound=Callable[..., Any])

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}

EXPORT_FORMATS = ("md", "json", "csv", "github-benchmark")
"""``present.exports.FORMATS``, spelled here so that completion imports no pandas (a test checks they agree)."""
FORMAT_CHOICES = ("table", *EXPORT_FORMATS)
RESULT_FORMAT_CHOICES = ("table", "md", "json", "csv")
"""calibrate's and history's formats: their results are not comparisons (no github-benchmark)."""


# ---- completion of the gate options' names (no torch, no NumPy: completion answers at once) ------------------
def complete_gate_format(incomplete: str) -> list[str]:
    return complete_from(FORMAT_CHOICES, incomplete)


def complete_file_format(incomplete: str) -> list[str]:
    return complete_from(RESULT_FORMAT_CHOICES, incomplete)


def complete_method(incomplete: str) -> list[str]:
    return complete_from(METHODS, incomplete)


def complete_allow_diff(incomplete: str) -> list[str]:
    from rnnbench.results.schema import HARD_KEYS

    return complete_from(HARD_KEYS, incomplete)


def complete_export(incomplete: str) -> list[str]:
    """``md=`` … ``github-benchmark=``: the format part of FORMAT=PATH (the path is the user's to type)."""
    if "=" in incomplete:
        return []
    return [f"{fmt}=" for fmt in EXPORT_FORMATS if fmt.startswith(incomplete)]


# ---- shared options: defined once, defaults read from GateSettings -----------------------------------------
# compare, ab and calibrate take the same gate options; each is declared here once, as a typed alias, and its
# default is GateSettings' own, so the command line and the library cannot disagree about what "default" is.
def _percent(fraction: float) -> str:
    """0.05 → ``5%``: how --min-effect is usually typed (and shown as its default)."""
    return f"{fraction * 100:g}%"


MinEffectOption = Annotated[
    str,
    typer.Option(
        "--min-effect",
        help="Smallest slowdown/speed-up that counts, as a fraction or percentage (0.05 or 5%).",
    ),
]
AlphaOption = Annotated[
    float,
    typer.Option(
        "--alpha",
        help="False-alarm probability of the whole run: the chance that unchanged code gives any regression, "
        "over all cases compared (exact one-sided Mann–Whitney tests on round throughputs, Holm-corrected).",
    ),
]
LevelOption = Annotated[
    float, typer.Option("--level", help="Confidence level of the bootstrap ratio interval.")
]
NBootOption = Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples (fixed seed: reproducible).")]
SeedOption = Annotated[int, typer.Option("--seed", help="Bootstrap seed.")]
AllowDiffOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-diff",
        help="Hard fingerprint key allowed to differ between base and head: torch, cuda, cudnn, onednn, "
        "device_model, threads, numeric_flags (repeatable).",
        autocompletion=complete_allow_diff,
    ),
]
StrictOption = Annotated[bool, typer.Option("--strict", help="Exit 5 when any case is inconclusive.")]
GateFormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="What to print on stdout: table, md, json, csv or github-benchmark.",
        autocompletion=complete_gate_format,
    ),
]
GateExportOption = Annotated[
    list[str] | None,
    typer.Option(
        "--export",
        help="Also write FORMAT=PATH (md, json, csv, github-benchmark = github-action-benchmark "
        "customBiggerIsBetter); repeatable.",
        autocompletion=complete_export,
    ),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="What to print on stdout: table, md, json or csv.",
        autocompletion=complete_file_format,
    ),
]
"""``--format`` of calibrate and history, whose results are not comparisons (no github-benchmark)."""
ExportOption = Annotated[
    list[str] | None,
    typer.Option(
        "--export", help="Also write FORMAT=PATH (md, json, csv); repeatable.", autocompletion=complete_export
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress, no table, no notes: stderr keeps warnings and the one-line summary (ab/calibrate: "
        "stdout gets only the folder's path); an explicit --format other than table still prints.",
    ),
]

MethodOption = Annotated[
    str,
    typer.Option(
        "--method",
        help="paired: persistent workers, alternating ~50 ms blocks, restarts (decides effects of a few "
        "percent on a noisy machine); rounds: fresh processes in ABBA order (large effects only); auto: "
        "paired, falling back to rounds — with a note — when a side's rnnbench cannot serve it.",
        autocompletion=complete_method,
    ),
]
BudgetOption = Annotated[
    str,
    typer.Option(
        "--budget",
        help="Paired: wall time for the whole measurement (pilot, first stage, confirmation), e.g. 10m, "
        "300s, 1h. Decided cases stop early; what is undecided when it ends is inconclusive, with the "
        "restarts that would decide it.",
    ),
]
RestartsOption = Annotated[
    int,
    typer.Option(
        "--restarts",
        help="Paired: at most this many restarts (fresh worker pairs) in the first stage; the interval and "
        "test are over restarts.",
    ),
]
PairsOption = Annotated[
    str,
    typer.Option(
        "--pairs",
        help="Paired: A/B block pairs per case and restart; auto chooses them from the pilot restart's noise "
        "and costs (10–64).",
    ),
]
BlockOption = Annotated[
    str,
    typer.Option(
        "--block",
        help="Paired: seconds per timed block (0.005–0.2); auto picks, in the pilot restart, the length with "
        "the most precision per second among 10, 25, 50 and 100 ms.",
    ),
]
ConfirmRestartsOption = Annotated[
    int,
    typer.Option(
        "--confirm-restarts",
        help="Paired: at most this many fresh restarts that re-measure only the flagged cases (0: trust the "
        "first stage, which then decides at α).",
    ),
]
CpusOption = Annotated[
    str,
    typer.Option(
        "--cpus",
        help="Paired: CPUs both workers are pinned to (the same set for both sides): auto (as many as "
        "--threads asks, the last ones), a list such as 0 or 2,3 or 0-3, or none (unpinned).",
    ),
]
WorkerTimeoutOption = Annotated[
    float,
    typer.Option(
        "--worker-timeout", help="Paired: seconds a worker may take to answer a block before it counts as hung."
    ),
]

MIN_EFFECT = _percent(GateSettings.min_effect)
ALPHA = GateSettings.alpha
LEVEL = GateSettings.level
N_BOOT = GateSettings.n_boot
SEED = GateSettings.seed
STRICT = GateSettings.strict


def parse_fraction(option: str, raw: str) -> float:
    """``5%`` or ``0.05`` → 0.05; a bare number ≥ 1 is refused (``5`` is probably meant as 5%)."""
    text = raw.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ConfigError(
            f"{option} takes a fraction like 0.05 or a percentage like 5%, got '{raw}'."
        ) from None
    if not text.endswith("%") and value >= 1:
        raise ConfigError(f"{option} {raw}: did you mean {raw}%? Pass a fraction (0.05) or a percentage (5%).")
    if not 0 < value < 1:
        raise ConfigError(f"{option} must lie strictly between 0 and 100%, got '{raw}'.")
    return value


def gate_settings(
    min_effect: str,
    alpha: float,
    level: float,
    n_boot: int,
    seed: int,
    allow_diff: list[str] | None = None,
    strict: bool = STRICT,
) -> GateSettings:
    return GateSettings(
        min_effect=parse_fraction("--min-effect", min_effect),
        alpha=alpha,
        level=level,
        n_boot=n_boot,
        seed=seed,
        allow_diff=tuple(k.lower() for k in split_values(allow_diff)),
        strict=strict,
    )


def parse_exports(exports: list[str] | None) -> list[tuple[str, Path]]:
    """``md=report.md`` → ``("md", Path("report.md"))``; the format is checked against the known ones."""
    from rnnbench.present.exports import FORMATS
    from rnnbench.registry import check_choice

    out = []
    for item in exports or ():
        fmt, sep, path = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--export takes FORMAT=PATH (formats: {', '.join(FORMATS)}), got '{item}'.")
        out.append((check_choice("export format", fmt, FORMATS), Path(path)))
    return out


def outputs(fmt: str, export: list[str] | None) -> tuple[str, list[tuple[str, Path]]]:
    """``--format`` checked and ``--export`` parsed, before anything runs (a typo fails in a second)."""
    return check_format(fmt), parse_exports(export)


def measuring(
    method: str,
    restarts: int,
    pairs: str,
    block: str,
    confirm_restarts: int,
    worker_timeout: float,
    budget: str = "10m",
    cpus: str = "auto",
) -> tuple[str, PairedSettings]:
    """``ab``'s and ``calibrate``'s ``--method`` checked and their paired design and budget as
    ``PairedSettings``."""
    return check_method(method), PairedSettings(
        max_restarts=restarts,
        pairs=None if pairs.strip().lower() == "auto" else _count("--pairs", pairs),
        block_s=None if block.strip().lower() == "auto" else _seconds("--block", block),
        confirm_restarts=confirm_restarts,
        budget_s=parse_duration("--budget", budget),
        cpus=cpus,
        timeout_s=worker_timeout,
    )


def _count(option: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{option} takes auto or a whole number, got '{raw}'.") from None


def _seconds(option: str, raw: str) -> float:
    text = raw.strip().lower()
    try:
        return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))
    except ValueError:
        raise ConfigError(f"{option} takes auto or seconds such as 0.05 (or 50ms), got '{raw}'.") from None


def parse_duration(option: str, raw: str) -> float:
    """``600``, ``600s``, ``10m``, ``1.5h`` → seconds; anything else (or ≤ 0) is a usage error naming the
    option."""
    text = raw.strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}
    unit = text[-1:] if text[-1:] in scale else "s"
    number = text[:-1] if text[-1:] in scale else text
    try:
        seconds = float(number) * scale[unit]
    except ValueError:
        raise ConfigError(f"{option} takes a duration such as 10m, 300s or 1h, got '{raw}'.") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ConfigError(f"{option} must be a positive duration such as 10m, got '{raw}'.")
    return seconds


def check_format(fmt: str) -> str:
    from rnnbench.registry import check_choice

    return check_choice("format", fmt, FORMAT_CHOICES)


# ---- exit codes: one order for every gate command's help ------------------------------------------------
EXIT_MEANINGS: dict[int, str] = {
    EXIT_INTERNAL: "internal error",
    EXIT_BENCHMARK_FAILED: "a benchmark failed",
    EXIT_REGRESSION: "regression",
    EXIT_NOTHING_COMPARABLE: "nothing comparable",
    EXIT_INCONCLUSIVE: "inconclusive, only with --strict",
    EXIT_OK: "otherwise",
}


def exit_codes(meanings: Mapping[int, str | None], after: Sequence[tuple[int, str]]) -> Callable[[F], F]:
    """Fill a gate command's ``{exit_codes}`` placeholder with its **Exit codes** section: the codes of
    :data:`EXIT_PRECEDENCE` in that order (``meanings`` overrides a code's text; ``None`` leaves the code out,
    as it cannot happen there), then ``after`` (usage errors, interruption), which never compete."""
    lines = ["**Exit codes** (the most severe wins, in this order):", ""]
    for code in EXIT_PRECEDENCE:
        text = meanings[code] if code in meanings else EXIT_MEANINGS[code]
        if text is not None:
            lines.append(f"- {code} {text}")
    lines += [f"- {code} {text}" for code, text in after]

    def apply(command: F) -> F:
        assert command.__doc__ and "{exit_codes}" in command.__doc__, command.__name__
        command.__doc__ = command.__doc__.replace("{exit_codes}", "\n    ".join(lines))
        return command

    return apply
