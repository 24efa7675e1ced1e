"""``rnnbench compare``, ``ab``, ``calibrate`` and ``history``: the CI regression gate's commands.

Thin by design: parse options, call :mod:`rnnbench.analyse.gate` / :mod:`rnnbench.analyse.ab` /
:mod:`rnnbench.analyse.history`, render with rich or :mod:`rnnbench.present.exports`, exit with the gate's
code. None of this imports torch: a CI job that only compares folders starts in a second and works on a
machine without torch's GPU stack.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from rnnbench.cli.app import MultiValueCommand, app, err_console, out_console
from rnnbench.core.parsing import split_values
from rnnbench.errors import ConfigError

if TYPE_CHECKING:  # the library modules are imported inside the commands: --help stays fast
    from rnnbench.analyse.ab import Calibration, SideCommand
    from rnnbench.analyse.gate import Comparison, GateSettings
    from rnnbench.analyse.history import History

_GATE_EXIT_HELP = (
    "Exit codes (most severe wins, in this order): 3 internal error; 6 a benchmark failed to run (a round's "
    "process failed, or a case has status error/oom); 1 confirmed regression; 4 nothing comparable; "
    "5 inconclusive, only with --strict; 0 otherwise. 2: usage error (before anything is measured)."
)

_EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}

_FORMAT_CHOICES = ("table", "md", "json", "csv", "github-benchmark")


# ---- shared option parsing --------------------------------------------------------------------------------
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


def _settings(
    min_effect: str,
    alpha: float,
    level: float,
    n_boot: int,
    seed: int,
    allow_diff: list[str] | None,
    strict: bool,
) -> GateSettings:
    from rnnbench.analyse.gate import GateSettings

    return GateSettings(
        min_effect=parse_fraction("--min-effect", min_effect),
        alpha=alpha,
        level=level,
        n_boot=n_boot,
        seed=seed,
        allow_diff=tuple(k.lower() for k in split_values(allow_diff)),
        strict=strict,
    )


def _parse_exports(exports: list[str] | None) -> list[tuple[str, Path]]:
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


def _check_format(fmt: str) -> str:
    from rnnbench.registry import check_choice

    return check_choice("format", fmt, _FORMAT_CHOICES)


def _emit(
    result: Comparison | Calibration | History, fmt: str, exports: list[tuple[str, Path]], table: Table
) -> None:
    """Write the exports, then print the table or the chosen format on stdout (summary lines go to stderr,
    so stdout stays machine-readable)."""
    from rnnbench.present.exports import render

    texts = [(path, render(result, f)) for f, path in exports]  # render all first: a bad format fails early
    stdout = None if fmt == "table" else render(result, fmt)
    for path, text in texts:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stdout is None:
        out_console().print(table)
    else:
        typer.echo(stdout, nl=False)


def _fmt_value(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


_VERDICT_STYLE = {
    "regression": "bold red",
    "improvement": "green",
    "no_change": "",
    "inconclusive": "yellow",
    "not_comparable": "dim",
    "error": "bold magenta",
}


def _comparison_table(comp: Comparison, title: str) -> Table:
    from rnnbench.present.exports import sorted_cases

    table = Table(title=title, title_justify="left")
    table.add_column("case", overflow="fold", min_width=36)
    for col in ("base tok/s", "head tok/s"):
        table.add_column(col, justify="right")
    table.add_column("ratio [95% interval]")
    table.add_column("p", justify="right")
    for col in ("verdict", "note"):
        table.add_column(col, overflow="fold")
    for c in sorted_cases(comp):
        ratio = f"{c.ratio:.3f} [{c.ratio_low:.3f}, {c.ratio_high:.3f}]" if math.isfinite(c.ratio) else "—"
        verdict = c.verdict + (" (confirmed)" if c.confirmed else "")
        table.add_row(
            c.name,
            _fmt_value(c.base_value),
            _fmt_value(c.head_value),
            ratio,
            f"{c.p_value:.2g}" if math.isfinite(c.p_value) else "—",
            f"[{_VERDICT_STYLE.get(c.verdict, '')}]{verdict}[/]" if _VERDICT_STYLE.get(c.verdict) else verdict,
            c.reason,
        )
    return table


def _report(comp: Comparison, fmt: str, exports: list[tuple[str, Path]], title: str) -> None:
    _emit(comp, fmt, exports, _comparison_table(comp, title))
    console = err_console()
    for note in comp.notes:
        console.print(f"Note: {note}", markup=False)
    console.print(comp.summary(), markup=False)


_MIN_EFFECT_HELP = "Smallest slowdown/speed-up that counts, as a fraction or percentage (0.05 or 5%)."
_ALPHA_HELP = "Significance level of the exact Mann–Whitney test on round throughputs."
_ALLOW_HELP = (
    "Hard fingerprint key allowed to differ between base and head: torch, cuda, cudnn, onednn, device_model, "
    "threads, numeric_flags (repeatable)."
)
_FORMAT_HELP = "What to print on stdout: table, md, json, csv or github-benchmark."
_EXPORT_HELP = (
    "Also write FORMAT=PATH (md, json, csv, github-benchmark = github-action-benchmark customBiggerIsBetter); "
    "repeatable."
)


# ---- compare -------------------------------------------------------------------------------------------------
@app.command("compare", cls=MultiValueCommand)
def compare_command(
    folders: list[Path] = typer.Argument(
        None, help="BASE HEAD: two result folders (a run folder or a parent of several runs)."
    ),
    base: list[Path] = typer.Option(None, "--base", help="More base folders (repeatable, several values)."),
    head: list[Path] = typer.Option(None, "--head", help="More head folders (repeatable, several values)."),
    min_effect: str = typer.Option("5%", "--min-effect", help=_MIN_EFFECT_HELP),
    alpha: float = typer.Option(0.01, "--alpha", help=_ALPHA_HELP),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the bootstrap ratio interval."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples (fixed seed: reproducible)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    allow_diff: list[str] = typer.Option(None, "--allow-diff", help=_ALLOW_HELP),
    strict: bool = typer.Option(False, "--strict", help="Exit 5 when any case is inconclusive."),
    fmt: str = typer.Option("table", "--format", "-f", help=_FORMAT_HELP),
    export: list[str] = typer.Option(None, "--export", help=_EXPORT_HELP),
) -> None:
    """Gate HEAD against BASE, per case: ratio of medians of per-round throughputs, bootstrap interval
    over rounds, exact Mann–Whitney test, verdict.

    Verdicts: regression, improvement, no_change (interval within ±min effect), inconclusive (with the rounds
    that would decide), not_comparable (fingerprint differs; see --allow-diff), error.
    A side's replication unit is a round (`run_id`, `round`); a side may span several folders.

    **Exit codes** (the most severe wins, in this order):

    - 3 internal error
    - 6 a benchmark failed (a case has status error/oom or no usable round)
    - 1 regression
    - 4 nothing comparable
    - 5 inconclusive, only with --strict
    - 0 otherwise
    - 2 usage error (before anything is compared)
    """
    from rnnbench.analyse.gate import compare_paths

    positional = list(folders or [])
    if len(positional) not in (0, 2):
        raise ConfigError(
            f"compare takes two folders, BASE HEAD (got {len(positional)}); add more with --base/--head."
        )
    base_paths = positional[:1] + list(base or [])
    head_paths = positional[1:] + list(head or [])
    if not base_paths or not head_paths:
        raise ConfigError("compare needs a base and a head: 'rnnbench compare BASE HEAD' or --base … --head ….")
    settings = _settings(min_effect, alpha, level, n_boot, seed, allow_diff, strict)
    fmt = _check_format(fmt)
    exports = _parse_exports(export)
    comp = compare_paths(base_paths, head_paths, settings)
    _report(comp, fmt, exports, "rnnbench compare (head / base throughput)")
    raise typer.Exit(comp.exit_code)


# ---- ab ------------------------------------------------------------------------------------------------------
def _side(label: str, python: Path | None, cmd: str | None, args: str | None) -> SideCommand:
    import shlex

    from rnnbench.analyse.ab import SideCommand

    extra = shlex.split(args) if args else []
    if python is not None and cmd is not None:
        raise ConfigError(f"--{label}-python and --{label}-cmd both given; pass one of them.")
    if cmd is not None:
        return SideCommand.from_command(label, cmd, extra)
    return SideCommand.from_python(label, python, extra)


def _default_output(kind: str) -> Path:
    from rnnbench.results.folder import new_run_id

    return Path("results") / f"{kind}-{new_run_id()}"


def _progress(message: str) -> None:
    err_console().print(message, markup=False)


@app.command("ab", cls=MultiValueCommand, context_settings=_EXTRA_ARGS)
def ab_command(
    ctx: typer.Context,
    base_python: Path = typer.Option(
        None, "--base-python", help="Interpreter with the base rnnbench installed."
    ),
    head_python: Path = typer.Option(
        None, "--head-python", help="Interpreter with the head rnnbench installed."
    ),
    base_cmd: str = typer.Option(
        None, "--base-cmd", help="Command that starts base rnnbench (instead of python)."
    ),
    head_cmd: str = typer.Option(
        None, "--head-cmd", help="Command that starts head rnnbench (instead of python)."
    ),
    base_args: str = typer.Option(
        None, "--base-args", help="Extra 'run' arguments for base only, e.g. '--threads 2'."
    ),
    head_args: str = typer.Option(
        None, "--head-args", help="Extra 'run' arguments for head only, e.g. '--threads 1'."
    ),
    rounds: int = typer.Option(
        6, "--rounds", help="Fresh-process rounds per side (≥ 5 at α = 0.01; even is best)."
    ),
    confirm_rounds: int = typer.Option(
        6, "--confirm-rounds", help="Fresh rounds per side that must confirm a regression (0: trust the first)."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Folder for all rounds (default `results/ab-<id>`)."
    ),
    min_effect: str = typer.Option("5%", "--min-effect", help=_MIN_EFFECT_HELP),
    alpha: float = typer.Option(0.01, "--alpha", help=_ALPHA_HELP),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the bootstrap ratio interval."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples (fixed seed: reproducible)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    allow_diff: list[str] = typer.Option(None, "--allow-diff", help=_ALLOW_HELP),
    strict: bool = typer.Option(False, "--strict", help="Exit 5 when any case is inconclusive."),
    fmt: str = typer.Option("table", "--format", "-f", help=_FORMAT_HELP),
    export: list[str] = typer.Option(None, "--export", help=_EXPORT_HELP),
) -> None:
    """Measure base and head in this job, in fresh processes, in ABBA order, then gate; a regression counts
    only if fresh rounds confirm it.

    Arguments after the options (best after `--`) go to `rnnbench run` on both sides, e.g.
    `rnnbench ab --base-python base/.venv/bin/python --head-python head/.venv/bin/python -- --preset quick`.
    Each round runs `<python> -m rnnbench run <grid> --rounds 1 --output <dir> --run-id <side>-r<k>`.

    **Exit codes** (the most severe wins, in this order):

    - 3 internal error
    - 6 a benchmark failed to run (a round's process failed: its stderr tail is shown; or a case has status
      error/oom)
    - 1 confirmed regression
    - 4 nothing comparable
    - 5 inconclusive, only with --strict
    - 0 otherwise
    - 2 usage error (before anything runs)
    """
    from rnnbench.analyse.ab import run_ab

    settings = _settings(min_effect, alpha, level, n_boot, seed, allow_diff, strict)
    fmt = _check_format(fmt)
    exports = _parse_exports(export)
    base_side = _side("base", base_python, base_cmd, base_args)
    head_side = _side("head", head_python, head_cmd, head_args)
    if base_side.prefix == head_side.prefix and base_side.extra_args == head_side.extra_args:
        _progress("Note: base and head run the same command: this is an A/A comparison (see 'calibrate').")
    result = run_ab(
        base_side,
        head_side,
        list(ctx.args),
        output or _default_output("ab"),
        settings,
        rounds=rounds,
        confirm_rounds=confirm_rounds,
        progress=_progress,
    )
    _report(result.comparison, fmt, exports, "rnnbench ab (head / base throughput, ABBA rounds)")
    _progress(f"Rounds in {result.output}; took {result.seconds.get('total', 0):.0f} s.")
    raise typer.Exit(result.exit_code)


# ---- calibrate -----------------------------------------------------------------------------------------------
def _calibration_table(cal: Calibration) -> Table:
    table = Table(title="rnnbench calibrate (A/A: same environment on both sides)", title_justify="left")
    for col in (
        "case",
        "rounds",
        "median tok/s",
        "spread",
        "A/A ratio [interval]",
        "p",
        "verdict",
        "honest min",
    ):
        table.add_column(col, overflow="fold", justify="left" if col in ("case", "verdict") else "right")
    for c in cal.cases:
        ratio = f"{c.ratio:.3f} [{c.ratio_low:.3f}, {c.ratio_high:.3f}]" if math.isfinite(c.ratio) else "—"
        table.add_row(
            c.name,
            str(c.rounds),
            _fmt_value(c.median),
            f"{c.spread:.1%}" if math.isfinite(c.spread) else "—",
            ratio,
            f"{c.p_value:.2g}" if math.isfinite(c.p_value) else "—",
            c.verdict,
            f"{c.honest_min_effect:.1%}" if math.isfinite(c.honest_min_effect) else "—",
        )
    return table


@app.command("calibrate", cls=MultiValueCommand, context_settings=_EXTRA_ARGS)
def calibrate_command(
    ctx: typer.Context,
    python: Path = typer.Option(
        None, "--python", help="Interpreter with rnnbench installed (default: this one)."
    ),
    cmd: str = typer.Option(None, "--cmd", help="Command that starts rnnbench (instead of --python)."),
    rounds: int = typer.Option(6, "--rounds", help="Fresh-process rounds per side (≥ 5 at α = 0.01)."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Folder for all rounds (default `results/calibrate-<id>`)."
    ),
    min_effect: str = typer.Option("5%", "--min-effect", help=_MIN_EFFECT_HELP),
    alpha: float = typer.Option(0.01, "--alpha", help=_ALPHA_HELP),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the bootstrap ratio interval."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples (fixed seed: reproducible)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    fmt: str = typer.Option("table", "--format", "-f", help="What to print on stdout: table, md, json or csv."),
    export: list[str] = typer.Option(
        None, "--export", help="Also write FORMAT=PATH (md, json, csv); repeatable."
    ),
) -> None:
    """A/A calibration: the same environment on both sides, in ABBA order: each case's round-to-round
    variation and the smallest --min-effect this machine can gate honestly.

    Grid arguments after the options (best after `--`) go to `rnnbench run`. A regression or improvement
    reported here is a false alarm.

    Exit codes: 0 done (false alarms do not fail it); 2 usage error; 3 internal error; 4 nothing comparable;
    6 a benchmark failed to run.
    """
    from rnnbench.analyse.ab import SideCommand, run_calibrate
    from rnnbench.analyse.gate import most_severe
    from rnnbench.errors import EXIT_BENCHMARK_FAILED, EXIT_NOTHING_COMPARABLE, EXIT_OK

    settings = _settings(min_effect, alpha, level, n_boot, seed, None, False)
    fmt = _check_format(fmt)
    exports = _parse_exports(export)
    if python is not None and cmd is not None:
        raise ConfigError("--python and --cmd both given; pass one of them.")
    side = SideCommand.from_command("a", cmd) if cmd else SideCommand.from_python("a", python)
    cal = run_calibrate(
        side,
        list(ctx.args),
        output or _default_output("calibrate"),
        settings,
        rounds=rounds,
        progress=_progress,
    )
    _emit(cal, fmt, exports, _calibration_table(cal))
    recommended = f"{cal.recommended_min_effect:.1%}" if math.isfinite(cal.recommended_min_effect) else "—"
    _progress(
        f"Smallest honest --min-effect here: {recommended}; false alarms at {settings.min_effect:.1%}: "
        f"{cal.false_alarms}; took {cal.seconds:.0f} s."
    )
    verdicts = [c.verdict for c in cal.cases]
    code = most_severe(
        [
            EXIT_OK,
            EXIT_BENCHMARK_FAILED if "error" in verdicts else EXIT_OK,
            EXIT_NOTHING_COMPARABLE if all(v == "not_comparable" for v in verdicts) else EXIT_OK,
        ]
    )
    raise typer.Exit(code)


# ---- history -------------------------------------------------------------------------------------------------
def _history_table(hist: History) -> Table:
    table = Table(title="rnnbench history (latest run vs rolling median)", title_justify="left")
    for col in ("case", "fingerprint", "runs", "latest tok/s", "rolling median", "ratio", "status"):
        table.add_column(col, overflow="fold", justify="right" if col in ("runs", "ratio") else "left")
    for c in sorted(hist.cases, key=lambda c: (not c.warning, not c.latest.flagged, c.name)):
        p = c.latest
        status = "[bold red]warning[/]" if c.warning else ("[yellow]flagged[/]" if p.flagged else "ok")
        table.add_row(
            c.name,
            c.fingerprint or "—",
            str(len(c.points)),
            _fmt_value(p.value),
            _fmt_value(p.baseline),
            f"{p.ratio:.3f}" if math.isfinite(p.ratio) else "—",
            status,
        )
    return table


@app.command("history", cls=MultiValueCommand)
def history_command(
    folders: list[Path] = typer.Argument(..., help="Folders holding past run folders (searched recursively)."),
    window: int = typer.Option(5, "--window", help="Previous runs in the rolling median."),
    threshold: str = typer.Option(
        "5%", "--threshold", help="Slowdown vs the rolling median that flags a point."
    ),
    min_history: int = typer.Option(
        3, "--min-history", help="Previous runs needed before a point can be flagged."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="What to print on stdout: table, md, json or csv."),
    export: list[str] = typer.Option(
        None, "--export", help="Also write FORMAT=PATH (md, json, csv); repeatable."
    ),
) -> None:
    """Each case's throughput over past runs against the rolling median of earlier runs with the same
    environment fingerprint; warns when the latest two runs are both flagged.

    Exit codes: 0 no warning; 1 a warning (the latest two runs flagged); 2 usage error; 3 internal error.
    """
    from rnnbench.analyse.history import build_history

    fmt = _check_format(fmt)
    exports = _parse_exports(export)
    hist = build_history(folders, window, parse_fraction("--threshold", threshold), min_history)
    _emit(hist, fmt, exports, _history_table(hist))
    err_console().print(hist.summary(), markup=False)
    raise typer.Exit(hist.exit_code)
