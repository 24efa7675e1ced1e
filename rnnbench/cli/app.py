"""The Typer application and the one place where library errors become exit codes.

Exit codes (also in ``rnnbench --help`` and docs/commands.md): 0 success; 1 confirmed regression (compare/ab);
2 usage error (bad option, bad value, unknown name, device not present, a run folder in use by another
process, a file system error on the user's path such as read-only or full); 3 internal error (a bug: any
unexpected exception); 4 nothing comparable; 5 inconclusive under ``--strict``; 6 a benchmark failed to run;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

import typer
from rich.console import Console
from typer._click import exceptions as click_exceptions
from typer.core import TyperCommand, TyperGroup

from rnnbench import __version__
from rnnbench.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    DataWarning,
    RnnbenchError,
    describe_os_error,
)
from rnnbench.present.durations import fmt_clock

if TYPE_CHECKING:
    from rich.progress import Progress

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 confirmed regression; 2 usage error; 3 internal error; "
    "4 nothing comparable; 5 inconclusive under --strict; 6 a benchmark failed to run; 130 interrupted."
)


PIPE_WIDTH = 4000
"""The width tables get when stdout is not a terminal (a pipe, a file, a CI log): wide enough that Rich
never folds a cell or cuts a value; each table still takes only the width its content needs."""


def is_terminal(stream: Any) -> bool:
    """``stream`` is an interactive terminal (not a pipe, a file, CliRunner's buffer or a CI log)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def err_console() -> Console:
    """A console on the *current* stderr (CliRunner swaps the streams per invocation)."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def out_console() -> Console:
    """A console on the current stdout; honours NO_COLOR. On a terminal, tables fit its width (COLUMNS);
    piped or in a CI log, every table takes the width its content needs (:data:`PIPE_WIDTH` at most) and
    lines are never re-wrapped, so no value, word or verdict is ever folded or cut."""
    if is_terminal(sys.stdout):
        return Console(file=sys.stdout, highlight=False)
    return Console(file=sys.stdout, highlight=False, width=PIPE_WIDTH, soft_wrap=True)


def progress_console() -> Console | None:
    """Where a progress bar may redraw: stderr when it is a terminal; ``None`` when it is not (a pipe, a CI
    log), where commands print one plain line per finished item instead."""
    if is_terminal(sys.stderr) and not os.environ.get("CI"):
        return Console(file=sys.stderr, highlight=False)
    return None


def fail(message: str, code: int) -> None:
    """Print ``Error: message`` on stderr (no markup interpretation) and exit with ``code``."""
    err_console().print(f"Error: {message}", markup=False)
    raise typer.Exit(code)


def _show_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``DataWarning``s (a torn line skipped while reading) become one ``Warning: …`` line on stderr; other
    warnings print as Python prints them."""
    if isinstance(category, type) and issubclass(category, DataWarning):
        err_console().print(f"Warning: {message}", markup=False)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def plain_metavars(params: list[Any]) -> list[Any]:
    """Help without type noise: flags show no ``<bool>``, list options ``<value …>`` rather than
    ``<list[str]>`` (each takes several values after one flag)."""
    for param in params:
        if getattr(param, "metavar", None) is not None or getattr(param, "param_type_name", "") != "option":
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "multiple", False):
            param.metavar = "<value …>"
    return params


class RnnbenchGroup(TyperGroup):
    """Turns ``RnnbenchError`` into one stderr line + its exit code, an operating-system error on the user's
    files (read-only, full disk, no permission) into one line naming the path and a fix (exit 2), and anything
    unexpected into exit 3. Library warnings about the data (``DataWarning``) are printed as they happen.
    Usage errors (an unknown option, a missing value) are one line too,
    ``Error: …; see 'rnnbench CMD --help'.``, never Click's multi-line box."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click_exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click_exceptions.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "rnnbench"
            message = " ".join(exc.format_message().split()).rstrip(".")
            err_console().print(f"Error: {message}; see '{command} --help'.", markup=False)
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            err_console().print(f"Error: {' '.join(exc.format_message().split())}", markup=False)
            sys.exit(exc.exit_code)
        except typer.Abort:
            err_console().print("Aborted.", markup=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_metavars(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("default", DataWarning)
            warnings.showwarning = _show_warning
            return self._invoke(ctx)

    def _invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except RnnbenchError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            err_console().print("Interrupted.", markup=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:  # output piped into `head` and closed: not an error
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except OSError as exc:  # the user's path: read-only, full, missing, not permitted — not a bug
            if os.environ.get("RNNBENCH_DEBUG"):
                traceback.print_exc()
            path = exc.filename if exc.filename is not None else "a file"
            fail(describe_os_error(str(path), exc, "access"), EXIT_USAGE)
        except Exception as exc:
            if os.environ.get("RNNBENCH_DEBUG"):
                traceback.print_exc()
            fail(
                f"internal error: {type(exc).__name__}: {exc}. This is a bug in rnnbench; rerun with "
                "RNNBENCH_DEBUG=1 for the traceback and report it.",
                EXIT_INTERNAL,
            )
        return None


OPTION_ALIASES: dict[str, dict[str, str]] = {
    "run": {"--length-spread": "--lengths"},
    "verify": {"--length-spread": "--lengths"},
    "train": {"--arm": "--arch"},
    "report": {"--out": "--output"},
}
"""Old spellings, per command, still accepted but hidden from help and completion: one vocabulary
(docs/commands.md), no broken scripts."""


def rewrite_aliases(args: Sequence[str], aliases: dict[str, str]) -> list[str]:
    """``--arm x`` → ``--arch x`` and ``--out=x`` → ``--output=x`` for the names in ``aliases``; nothing after a
    literal ``--`` (arguments passed through to another command) is touched."""
    out: list[str] = []
    for i, token in enumerate(args):
        if token == "--":
            return out + list(args[i:])
        name, eq, value = token.partition("=")
        out.append(aliases[name] + eq + value if name in aliases else token)
    return out


class MultiValueCommand(TyperCommand):
    """Every command's class. Lets every list-valued option take several values after one flag:
    ``--seq-len 64 128 256`` is read as ``--seq-len 64 --seq-len 128 --seq-len 256``; repeated flags and comma
    lists (split later) work too. Accepts the command's hidden old spellings (:data:`OPTION_ALIASES`) and
    shows help without type noise (:func:`plain_metavars`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        args = rewrite_aliases(args, OPTION_ALIASES.get(self.name or "", {}))
        multi = {
            opt
            for param in self.params
            if getattr(param, "multiple", False)
            for opt in getattr(param, "opts", [])
        }
        return super().parse_args(ctx, expand_multi_values(args, multi))

    def get_params(self, ctx: Any) -> list[Any]:
        return plain_metavars(super().get_params(ctx))


def expand_multi_values(args: Sequence[str], multi_opts: set[str]) -> list[str]:
    """Rewrite ``--opt a b`` into ``--opt a --opt b`` for the options in ``multi_opts``.

    Values are the following tokens up to the next one that starts with ``-`` followed by a letter or
    another ``-`` (so negative numbers would still be values) or a literal ``--``.
    """
    out: list[str] = []
    current: str | None = None
    for token in args:
        if token == "--":
            current = None
            out.append(token)
            continue
        is_flag = token.startswith("-") and len(token) > 1 and not token[1].isdigit()
        if is_flag:
            current = token if token in multi_opts else None
            out.append(token)
            continue
        if current is not None and out and out[-1] != current:
            out.append(current)
        out.append(token)
    return out


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"rnnbench {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    cls=RnnbenchGroup,
    name="rnnbench",
    help=(
        "LSTM or GRU — which is faster, which learns better, on your shapes and your hardware? "
        "rnnbench times LSTM, GRU and a plain RNN across implementations and shapes, trains them on "
        "long-range tasks, reports with uncertainty, and gates regressions in CI.\n\n" + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Root options."""


def main() -> None:
    """Console-script entry point."""
    app(prog_name="rnnbench")


# ---- shell completion (names only: nothing here imports torch) --------------------------------------------
TASK_NAMES: tuple[str, ...] = (
    "adding", "copy", "selective-copy", "temporal-order", "parity", "anbn", "charlm", "series", "digits",
)  # fmt: skip
"""``learn.tasks``' names, spelled here so that ``--help`` and completion stay free of torch (a test checks
they equal the registry)."""
TRAIN_PRESET_NAMES: tuple[str, ...] = ("quick", "full")
"""``learn.presets.TRAIN_PRESETS``' names (a test checks they agree)."""


def complete_from(choices: Sequence[str], incomplete: str) -> list[str]:
    """The names that complete what was typed so far; after a comma, the list's last item."""
    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    return [prefix + c for c in choices if c.startswith(last.lower())]


def complete_arch(incomplete: str) -> list[str]:
    from rnnbench.core.vocab import ARCHS

    return complete_from(ARCHS, incomplete)


def complete_arm(incomplete: str) -> list[str]:
    """``train --arch``: the architectures and ``lstm-fb1`` (LSTM with forget bias +1)."""
    from rnnbench.core.vocab import ARMS

    return complete_from(ARMS, incomplete)


def complete_impl(incomplete: str) -> list[str]:
    from rnnbench.core.vocab import IMPLS

    return complete_from(IMPLS, incomplete)


def complete_mode(incomplete: str) -> list[str]:
    from rnnbench.core.vocab import MODES

    return complete_from(MODES, incomplete)


def complete_dtype(incomplete: str) -> list[str]:
    from rnnbench.core.vocab import DTYPES

    return complete_from(DTYPES, incomplete)


def complete_run_preset(incomplete: str) -> list[str]:
    from rnnbench.measure.presets import RUN_PRESETS

    return complete_from(RUN_PRESETS.names(), incomplete)


def complete_train_preset(incomplete: str) -> list[str]:
    return complete_from(TRAIN_PRESET_NAMES, incomplete)


def complete_task(incomplete: str) -> list[str]:
    return complete_from(TASK_NAMES, incomplete)


def complete_device(incomplete: str) -> list[str]:
    """``cpu``, ``auto``, ``cuda`` and one ``cuda:N`` per NVIDIA device node (no torch import: completion
    must answer at once)."""
    import glob

    gpus = sorted(int(p.removeprefix("/dev/nvidia")) for p in glob.glob("/dev/nvidia[0-9]*"))
    names = ["cpu", "auto", "cuda", *(f"cuda:{i}" for i in gpus)]
    return complete_from(names, incomplete)


# ---- progress ---------------------------------------------------------------------------------------------
def eta_text(elapsed_s: float, done_here: int, remaining: int, estimate_s: float | None = None) -> str:
    """The time left, from the average pace of the items finished *in this process* (never from items
    finished before a resume, nor from a short recent window that one fast first case makes wildly
    optimistic); before the first one finishes, the plan's estimate (``~``) or ``?``."""
    if remaining <= 0:
        return "0:00:00"
    if done_here <= 0:
        return f"~{fmt_clock(estimate_s)}" if estimate_s is not None else "?"
    return fmt_clock(elapsed_s / done_here * remaining)


def progress_bar(console: Console | None, reserved: int, last: str = "ETA {task.fields[eta]}") -> Progress:
    """Every command's progress bar, one layout: description, bar, done/total, elapsed time, then ``last``
    (the ETA, or a command's own field). The bar gives way to the rest: it takes what ``reserved`` columns
    leave of the console's width, between 5 and 40. Without a console (a pipe, a CI log, --quiet) the bar is
    disabled and draws nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    width = console.width if console is not None else 80
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=max(5, min(40, width - reserved))),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn(last),
        console=console,
        transient=False,
        disable=console is None,
    )


class BarView:
    """A progress view that may draw a rich bar: ``bar`` is ``None`` in a pipe, a CI log or with --quiet
    (the view prints lines instead). Used as a context manager, which starts and stops the bar."""

    bar: Progress | None = None

    def __enter__(self) -> Self:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
