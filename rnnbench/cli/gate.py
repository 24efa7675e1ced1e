"""``rnnbench compare``, ``ab``, ``calibrate`` and ``history``: the CI regression gate's commands.

Thin by design: parse options (their shared declarations are :mod:`rnnbench.cli.gate_options`), call the
library — :mod:`rnnbench.gate.rounds` (compare), :mod:`rnnbench.ab.flows` (ab), :mod:`rnnbench.ab.calibrate`,
:mod:`rnnbench.gate.history` — render with :mod:`rnnbench.present.gate` (terminal) or
:mod:`rnnbench.present.exports` (files, machine-readable stdout), and exit with the result's own
``exit_code``. Errors are raised and turned into ``Error: …`` and an exit code in one place, ``cli/app.py``.
``compare`` and ``history`` import no torch: a CI job that only compares folders starts in a second and works
on a machine without torch's GPU stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rnnbench.cli.app import (
    BarView,
    MultiValueCommand,
    app,
    err_console,
    eta_text,
    out_console,
    progress_bar,
    progress_console,
)
from rnnbench.cli.gate_options import (
    ALPHA,
    EXTRA_ARGS,
    LEVEL,
    MIN_EFFECT,
    N_BOOT,
    SEED,
    STRICT,
    AllowDiffOption,
    AlphaOption,
    BlockOption,
    BudgetOption,
    ConfirmRestartsOption,
    CpusOption,
    ExportOption,
    FormatOption,
    GateExportOption,
    GateFormatOption,
    LevelOption,
    MethodOption,
    MinEffectOption,
    NBootOption,
    PairsOption,
    QuietOption,
    RestartsOption,
    SeedOption,
    StrictOption,
    WorkerTimeoutOption,
    exit_codes,
    gate_settings,
    measuring,
    outputs,
    parse_fraction,
)
from rnnbench.errors import (
    EXIT_BENCHMARK_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
    ConfigError,
)
from rnnbench.gate.settings import DEFAULT_CONFIRM_ROUNDS, DEFAULT_ROUNDS, PairedSettings
from rnnbench.present.durations import fmt_clock

if TYPE_CHECKING:  # the other library modules are imported inside the commands: --help stays fast
    from rich.console import Console

    from rnnbench.ab.sides import SideCommand
    from rnnbench.core.progress import ProgressEvent
    from rnnbench.gate.calibration import Calibration
    from rnnbench.gate.history import History
    from rnnbench.gate.results import Comparison


# ---- shared output ----------------------------------------------------------------------------------------
def _say(line: str) -> None:
    """A line for the person watching, on stderr (stdout stays machine-readable)."""
    err_console().print(line, markup=False)


class GateProgress(BarView):
    """What ``ab`` and ``calibrate`` show while they measure, all on stderr, one phase at a time (the first
    restarts or rounds, then the confirmation's): a bar at a terminal; in a pipe or CI log one line per
    finished restart or round, ``[3/12] first restart done in 12.9 s (0:00:39 elapsed, ETA 0:01:57)``, whose ETA
    is the phase's own, from the pace of its finished items (a confirmation is only known to be needed once
    the first phase has been decided); with ``--quiet`` only warnings."""

    def __init__(self, quiet: bool, console: Console | None = None) -> None:
        self.quiet = quiet
        self.phase: str | None = None
        self.phase_started = 0.0
        self.task: Any = None
        target = None if quiet else console or progress_console()
        self.bar = progress_bar(target, reserved=60) if target is not None else None

    def _print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, markup=False)
        else:
            _say(line)

    def on_event(self, event: ProgressEvent) -> None:
        import time

        from rnnbench.present.gate import progress_line

        if event.kind == "warning":
            self._print(f"Warning: {event.message}")
            return
        if self.quiet:
            return
        if event.kind == "note":
            self._print(event.message)
            return
        if event.kind != "done":
            return
        phase = str(event.values.get("phase", ""))
        now = time.monotonic()
        if phase != self.phase:  # a new phase: its own count, clock and bar
            self.phase = phase
            self.phase_started = now - float(event.values.get("seconds", 0.0))
            if self.bar is not None:
                if self.task is not None:
                    self.bar.update(self.task, eta="0:00:00")
                self.task = self.bar.add_task(event.label or phase, total=event.total, eta="?")
        elapsed = now - self.phase_started
        if "eta_s" in event.values:  # the sequential gate: it stops when decided, at the latest with its budget
            eta = f"≤ {fmt_clock(float(event.values['eta_s']))}"
        else:
            eta = eta_text(elapsed, event.done, event.total - event.done)
        if self.bar is not None:
            self.bar.update(self.task, completed=event.done, total=event.total, eta=eta)
        else:
            self._print(f"{progress_line(event)} ({fmt_clock(elapsed)} elapsed, ETA {eta})")


def _emit(
    result: Comparison | Calibration | History,
    fmt: str,
    exports: list[tuple[str, Path]],
    title: str | None = None,
    quiet: bool = False,
) -> None:
    """Write the exports, then print the table (not with ``quiet``) or the chosen format on stdout (summary
    lines go to stderr, so stdout stays machine-readable)."""
    from rnnbench.present.exports import render
    from rnnbench.present.gate import terminal_table

    texts = [(path, render(result, f)) for f, path in exports]  # render all first: a bad format fails early
    stdout = None if fmt == "table" else render(result, fmt)
    for path, text in texts:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if stdout is None:
        if not quiet:
            out_console().print(terminal_table(result, title))
    else:
        typer.echo(stdout, nl=False)


def _finish(summary: str, output: Path, quiet: bool) -> None:
    """The last lines of ab/calibrate: the summary on stderr; with --quiet stdout gets only the folder the
    measurements are in — the bare path, as ``run --quiet`` prints it, so ``$(rnnbench ab -q …)`` is it."""
    _say(summary)
    if quiet:
        out_console().print(str(output), markup=False, soft_wrap=True)


def _report(
    comp: Comparison, fmt: str, exports: list[tuple[str, Path]], title: str, quiet: bool = False
) -> None:
    _emit(comp, fmt, exports, title, quiet)
    if not quiet:
        for note in comp.notes:
            _say(f"Note: {note}")
    _say(comp.summary())


# ---- compare -------------------------------------------------------------------------------------------------
@app.command("compare", cls=MultiValueCommand)
@exit_codes(
    {EXIT_BENCHMARK_FAILED: "a benchmark failed (a case has status error/oom or no usable round)"},
    [(EXIT_USAGE, "usage error (before anything is compared)")],
)
def compare_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(help="BASE HEAD: two result folders (a run folder or a parent of several runs)."),
    ] = None,
    base: Annotated[
        list[Path] | None, typer.Option("--base", help="More base folders (repeatable, several values).")
    ] = None,
    head: Annotated[
        list[Path] | None, typer.Option("--head", help="More head folders (repeatable, several values).")
    ] = None,
    min_effect: MinEffectOption = MIN_EFFECT,
    alpha: AlphaOption = ALPHA,
    level: LevelOption = LEVEL,
    n_boot: NBootOption = N_BOOT,
    seed: SeedOption = SEED,
    allow_diff: AllowDiffOption = None,
    strict: StrictOption = STRICT,
    fmt: GateFormatOption = "table",
    export: GateExportOption = None,
    quiet: QuietOption = False,
) -> None:
    """Gate HEAD against BASE, per case: ratio of medians of per-round throughputs, bootstrap interval
    over rounds, exact one-sided Mann–Whitney test, verdict.

    Verdicts: regression, improvement, no_change (interval within ±min effect), inconclusive (with the rounds
    per side for 80% power to decide), not_comparable (fingerprint differs; see --allow-diff), error.
    A side's replication unit is a round (`run_id`, `round`); a side may span several folders.

    **False alarms are controlled per run**: --alpha bounds the probability that unchanged code gives any
    regression among all the cases compared (one-sided "head slower" p values, Holm-corrected over the
    cases; improvements the same way in the other direction, never failing the job). So more cases need more
    rounds: an exact test with n+n rounds reaches α/K only if 1/C(2n, n) ≤ α/K — at α = 0.01, 5 rounds per
    side for 1–2 cases, 6 up to 9, 7 up to 34, 8 up to 128.

    **The test assumes exchangeable rounds**: base and head measured side by side in one job (`rnnbench ab`).
    Folders from different CI jobs or machines also differ by the drift between jobs, which no test over
    rounds covers; a "regression" between them may be the machine.

    {exit_codes}

    **Examples:** `rnnbench compare results/base results/head` ·
    `rnnbench compare --base main-*/ --head pr-*/ --min-effect 10%` ·
    `rnnbench compare base/ head/ -f md --export json=gate.json` ·
    `rnnbench compare base/ head/ --allow-diff torch -q`
    """
    from rnnbench.gate.rounds import compare_paths

    positional = list(folders or [])
    if len(positional) not in (0, 2):
        raise ConfigError(
            f"compare takes two folders, BASE HEAD (got {len(positional)}); add more with --base/--head."
        )
    base_paths = positional[:1] + list(base or [])
    head_paths = positional[1:] + list(head or [])
    if not base_paths or not head_paths:
        raise ConfigError("compare needs a base and a head: 'rnnbench compare BASE HEAD' or --base … --head ….")
    settings = gate_settings(min_effect, alpha, level, n_boot, seed, allow_diff, strict)
    fmt, exports = outputs(fmt, export)
    comp = compare_paths(base_paths, head_paths, settings)
    _report(comp, fmt, exports, "rnnbench compare (head / base throughput)", quiet)
    raise typer.Exit(comp.exit_code)


# ---- ab ------------------------------------------------------------------------------------------------------
def _side(label: str, python: Path | None, cmd: str | None, args: str | None, flags: str) -> SideCommand:
    """One side from its options (``flags``: ``--base-``, ``--head-`` or ``--`` for calibrate's one side)."""
    import shlex

    from rnnbench.ab.sides import SideCommand

    extra = shlex.split(args) if args else []
    if python is not None and cmd is not None:
        raise ConfigError(f"{flags}python and {flags}cmd both given; pass one of them.")
    if cmd is not None:
        return SideCommand.from_command(label, cmd, extra, option=f"{flags}cmd")
    return SideCommand.from_python(label, python, extra, option=f"{flags}python")


def _default_output(kind: str) -> Path:
    from rnnbench.results.folder import new_run_id

    return Path("results") / f"{kind}-{new_run_id()}"


@app.command("ab", cls=MultiValueCommand, context_settings=EXTRA_ARGS)
@exit_codes(
    {
        EXIT_BENCHMARK_FAILED: "a benchmark failed to run (a round's process or a worker failed, died or hung: "
        "its log tail is shown; or a case has status error/oom, e.g. on one side only)",
        EXIT_REGRESSION: "confirmed regression",
    },
    [
        (EXIT_USAGE, "usage error (before anything runs)"),
        (
            EXIT_INTERRUPTED,
            "interrupted (Ctrl-C): both workers are ended; measured pairs stay in the output folder",
        ),
    ],
)
def ab_command(
    ctx: typer.Context,
    base_python: Annotated[
        Path | None, typer.Option("--base-python", help="Interpreter with the base rnnbench installed.")
    ] = None,
    head_python: Annotated[
        Path | None, typer.Option("--head-python", help="Interpreter with the head rnnbench installed.")
    ] = None,
    base_cmd: Annotated[
        str | None, typer.Option("--base-cmd", help="Command that starts base rnnbench (instead of python).")
    ] = None,
    head_cmd: Annotated[
        str | None, typer.Option("--head-cmd", help="Command that starts head rnnbench (instead of python).")
    ] = None,
    base_args: Annotated[
        str | None, typer.Option("--base-args", help="Extra 'run' arguments for base only, e.g. '--threads 2'.")
    ] = None,
    head_args: Annotated[
        str | None, typer.Option("--head-args", help="Extra 'run' arguments for head only, e.g. '--threads 1'.")
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds",
            help=f"Rounds only (--method rounds, or auto's fallback): fresh-process rounds per side, default "
            f"{DEFAULT_ROUNDS}; even is best. α is shared among the grid's cases, so at α = 0.01 a regression "
            "needs ≥ 5 for 1–2 cases, 6 up to 9, 7 up to 34, 8 up to 128.",
        ),
    ] = None,
    confirm_rounds: Annotated[
        int | None,
        typer.Option(
            "--confirm-rounds",
            help=f"Rounds only: fresh rounds per side that must confirm a regression, default "
            f"{DEFAULT_CONFIRM_ROUNDS} (0: trust the first); raised when the regressions are too many for α "
            "over them.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for all rounds (default `results/ab-<id>`)."),
    ] = None,
    method: MethodOption = "auto",
    budget: BudgetOption = "10m",
    restarts: RestartsOption = PairedSettings.max_restarts,
    pairs: PairsOption = "auto",
    block: BlockOption = "auto",
    confirm_restarts: ConfirmRestartsOption = PairedSettings.confirm_restarts,
    cpus: CpusOption = "auto",
    worker_timeout: WorkerTimeoutOption = PairedSettings.timeout_s,
    head_inject: Annotated[
        str | None,
        typer.Option(
            "--head-inject",
            help="Paired: make head's throughput lower by this fraction (busy work inside each timed block, "
            "time × 1/(1 − f)) — a known regression, to check the gate end to end.",
        ),
    ] = None,
    min_effect: MinEffectOption = MIN_EFFECT,
    alpha: AlphaOption = ALPHA,
    level: LevelOption = LEVEL,
    n_boot: NBootOption = N_BOOT,
    seed: SeedOption = SEED,
    allow_diff: AllowDiffOption = None,
    strict: StrictOption = STRICT,
    fmt: GateFormatOption = "table",
    export: GateExportOption = None,
    quiet: QuietOption = False,
) -> None:
    """Measure base and head in this job, then gate; a regression counts only if fresh measurements confirm
    it.

    **Paired (default), sequential:** each side runs a persistent worker (`<python> -m rnnbench.measure.worker
    --serve`, or `<cmd> worker --serve`), both pinned to the same CPUs (--cpus); short timed blocks
    alternate A B / B A, and each pair of adjacent blocks gives one log-ratio — taken inside one phase of a
    noisy machine. A pilot restart picks the block length and pairs per restart from the noise it sees; then
    fresh worker pairs (restarts) are measured until every case is decided — its anytime-valid interval
    inside ±--min-effect (no change) or a slowdown/speed-up beyond it — or --budget ends. Decided cases stop;
    the time goes to the undecided. Flagged cases are re-measured, only those, on fresh restarts. Which side
    starts and builds first, which block opens each pair and the case order are drawn at random. A side whose
    rnnbench cannot serve the protocol makes `--method auto` fall back to process rounds for both sides.

    **Rounds:** each round is a fresh `<python> -m rnnbench run <grid> --rounds 1 …` in ABBA order.

    False alarms are controlled per run: unchanged code exits 1 with probability ≤ --alpha, however often the
    gate looked (paired: √α to flag, √α to confirm, each Holm-corrected; rounds: α for each stage).

    Arguments after the options (best after `--`) go to `rnnbench run` (or the workers' build) on both sides,
    e.g. `rnnbench ab --base-python base/.venv/bin/python --head-python head/.venv/bin/python -- --preset
    quick --threads 1`.

    {exit_codes}

    Progress goes to stderr: a bar at a terminal, a line per finished restart (round) with its ETA in a pipe
    or CI log, none with --quiet.

    **Examples:** `rnnbench ab --base-python base/.venv/bin/python --head-python .venv/bin/python -- --preset
    quick --threads 1` · `rnnbench ab --base-cmd 'uv run --project base rnnbench' -f md --export
    json=gate.json -- -a gru -T 64` · `rnnbench ab --head-inject 5% -- --preset quick` (a known 5% slowdown,
    to check the gate end to end)
    """
    from rnnbench.ab.flows import run_ab
    from rnnbench.present.gate import ab_summary

    settings = gate_settings(min_effect, alpha, level, n_boot, seed, allow_diff, strict)
    fmt, exports = outputs(fmt, export)
    method, paired = measuring(method, restarts, pairs, block, confirm_restarts, worker_timeout, budget, cpus)
    inject = parse_fraction("--head-inject", head_inject) if head_inject else 0.0
    base_side = _side("base", base_python, base_cmd, base_args, "--base-")
    head_side = _side("head", head_python, head_cmd, head_args, "--head-")
    if (
        not quiet
        and base_side.prefix == head_side.prefix
        and base_side.extra_args == head_side.extra_args
        and not inject
    ):
        _say("Note: base and head run the same command: this is an A/A comparison (see 'calibrate').")
    with GateProgress(quiet) as view:
        result = run_ab(
            base_side,
            head_side,
            list(ctx.args),
            output or _default_output("ab"),
            settings,
            rounds=rounds,
            confirm_rounds=confirm_rounds,
            progress=view.on_event,
            method=method,
            paired=paired,
            inject=inject,
        )
    how = "paired blocks" if result.comparison.method == "paired" else "ABBA rounds"
    _report(result.comparison, fmt, exports, f"rnnbench ab (head / base throughput, {how})", quiet)
    _finish(ab_summary(result), result.output, quiet)
    raise typer.Exit(result.exit_code)


# ---- calibrate -----------------------------------------------------------------------------------------------
@app.command("calibrate", cls=MultiValueCommand, context_settings=EXTRA_ARGS)
@exit_codes(
    {
        EXIT_BENCHMARK_FAILED: "a benchmark failed to run (a worker died or hung)",
        EXIT_REGRESSION: None,
        EXIT_INCONCLUSIVE: None,
        EXIT_OK: "done (false alarms are what it measures: they do not fail it)",
    },
    [(EXIT_USAGE, "usage error"), (EXIT_INTERRUPTED, "interrupted")],
)
def calibrate_command(
    ctx: typer.Context,
    python: Annotated[
        Path | None, typer.Option("--python", help="Interpreter with rnnbench installed (default: this one).")
    ] = None,
    cmd: Annotated[
        str | None, typer.Option("--cmd", help="Command that starts rnnbench (instead of --python).")
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds",
            help=f"Rounds only (--method rounds, or auto's fallback): fresh-process rounds per side, default "
            f"{DEFAULT_ROUNDS} (use the same as for ab).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for all rounds (default `results/calibrate-<id>`)."),
    ] = None,
    method: MethodOption = "auto",
    budget: BudgetOption = "10m",
    restarts: RestartsOption = PairedSettings.max_restarts,
    pairs: PairsOption = "auto",
    block: BlockOption = "auto",
    confirm_restarts: ConfirmRestartsOption = PairedSettings.confirm_restarts,
    cpus: CpusOption = "auto",
    worker_timeout: WorkerTimeoutOption = PairedSettings.timeout_s,
    inject: Annotated[
        list[str] | None,
        typer.Option(
            "--inject",
            help="Paired: also measure side b with its throughput lowered by these fractions (e.g. 2% 5% 10%) "
            "in the same restarts; report the fraction of cases ab's own rule (min effect included) ends with "
            "a confirmed regression (power).",
        ),
    ] = None,
    min_effect: MinEffectOption = MIN_EFFECT,
    alpha: AlphaOption = ALPHA,
    level: LevelOption = LEVEL,
    n_boot: NBootOption = N_BOOT,
    seed: SeedOption = SEED,
    fmt: FormatOption = "table",
    export: ExportOption = None,
    quiet: QuietOption = False,
) -> None:
    """A/A calibration: the same environment on both sides (paired blocks by default, or ABBA rounds): each
    case's variation and the smallest --min-effect this machine can gate honestly; with --inject, the power
    to catch known slowdowns and the smallest effect detected with ≥ 90% power at this budget.

    Grid arguments after the options (best after `--`) go to `rnnbench run` (or the workers). A regression or
    improvement on the A/A side is a false alarm; with --alpha per run and per direction, an A/A run has any
    with probability ≤ 2α. `--format json` has `honest_min_effect`, `false_alarms`, `power` (injected fraction
    → detected fraction) and `seconds`.

    {exit_codes}

    **Examples:** `rnnbench calibrate -- --preset quick --threads 1` ·
    `rnnbench calibrate --inject 2% 5% 10% -f json -- --preset quick` (power at this budget) ·
    `rnnbench calibrate --method rounds --rounds 6 -- -a gru -T 64`
    """
    from rnnbench.ab.calibrate import run_calibrate
    from rnnbench.core.parsing import split_values
    from rnnbench.present.gate import calibration_summary

    settings = gate_settings(min_effect, alpha, level, n_boot, seed)
    fmt, exports = outputs(fmt, export)
    method, paired = measuring(method, restarts, pairs, block, confirm_restarts, worker_timeout, budget, cpus)
    injected = [parse_fraction("--inject", v) for v in split_values(inject)]
    if injected and method == "rounds":
        raise ConfigError("--inject needs the paired mode; drop --method rounds.")
    side = _side("a", python, cmd, None, "--")
    out = output or _default_output("calibrate")
    with GateProgress(quiet) as view:
        cal = run_calibrate(
            side,
            list(ctx.args),
            out,
            settings,
            rounds=rounds,
            progress=view.on_event,
            method=method,
            paired=paired,
            inject=injected,
        )
    for note in [] if quiet else cal.notes:
        _say(f"Note: {note}")
    _emit(cal, fmt, exports, quiet=quiet)
    _finish(calibration_summary(cal), out, quiet)
    raise typer.Exit(cal.exit_code)


# ---- history -------------------------------------------------------------------------------------------------
@app.command("history", cls=MultiValueCommand)
def history_command(
    folders: Annotated[
        list[Path], typer.Argument(help="Folders holding past run folders (searched recursively).")
    ],
    window: Annotated[
        int, typer.Option("--window", help="A change warns if it starts within the last N runs of its series.")
    ] = 5,
    threshold: Annotated[
        str, typer.Option("--threshold", help="Smallest slowdown at a change point that warns.")
    ] = "5%",
    min_history: Annotated[
        int,
        typer.Option(
            "--min-history", help="Runs each side of a change point needs (2: one odd run is no change)."
        ),
    ] = 2,
    alpha: Annotated[
        float,
        typer.Option(
            "--alpha", help="Chance of claiming a change anywhere when nothing changed (Holm over all series)."
        ),
    ] = 0.05,
    fmt: FormatOption = "table",
    export: ExportOption = None,
    quiet: QuietOption = False,
) -> None:
    """Change points in each case's throughput over past runs, per environment fingerprint (a torch upgrade
    starts a new series): one noise level pooled over all series, the last change of each series with its
    run, ratio after / before and 95% interval, and a p simulated for the split's choice, Holm-adjusted over
    all series; a series under 8 runs is too short to tell. Warns when a series' last change is a significant
    slowdown beyond --threshold that started within the last --window runs.

    Exit codes: 0 no warning; 1 a warning; 2 usage error; 3 internal error.

    **Examples:** `rnnbench history results/nightly/` · `rnnbench history ci-artifacts/ --window 3
    --threshold 3%` · `rnnbench history results/ -f md --export json=history.json`
    """
    from rnnbench.gate.history import build_history

    fmt, exports = outputs(fmt, export)
    hist = build_history(folders, window, parse_fraction("--threshold", threshold), min_history, alpha)
    _emit(hist, fmt, exports, quiet=quiet)
    _say(hist.summary())
    raise typer.Exit(hist.exit_code)


# ---- the paired mode's worker ------------------------------------------------------------------------------
@app.command("worker", hidden=True)
def worker_command(
    serve: Annotated[bool, typer.Option("--serve", help="Answer the paired protocol on stdin/stdout.")] = False,
) -> None:
    """The paired A/B's persistent worker (`ab`/`calibrate` start it: `<cmd> worker --serve`)."""
    if not serve:
        raise ConfigError("'rnnbench worker' only serves the paired protocol: pass --serve.")
    from rnnbench.measure.serve import serve_stdio

    raise typer.Exit(serve_stdio())
