"""The Typer application and the one place where library errors become exit codes.

Exit codes (also in ``rnnbench --help`` and the README): 0 success; 1 confirmed regression (compare/ab);
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
from typing import Any

import typer
from rich.console import Console
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

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 confirmed regression; 2 usage error; 3 internal error; "
    "4 nothing comparable; 5 inconclusive under --strict; 6 a benchmark failed to run; 130 interrupted."
)


def err_console() -> Console:
    """A console on the *current* stderr (CliRunner swaps the streams per invocation)."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def out_console() -> Console:
    """A console on the current stdout; honours NO_COLOR and COLUMNS."""
    return Console(file=sys.stdout, highlight=False)


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


class RnnbenchGroup(TyperGroup):
    """Turns ``RnnbenchError`` into one stderr line + its exit code, an operating-system error on the user's
    files (read-only, full disk, no permission) into one line naming the path and a fix (exit 2), and anything
    unexpected into exit 3. Library warnings about the data (``DataWarning``) are printed as they happen."""

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


class MultiValueCommand(TyperCommand):
    """Lets every list-valued option take several values after one flag: ``--seq-len 64 128 256`` is read
    as ``--seq-len 64 --seq-len 128 --seq-len 256``. Repeated flags and comma lists (split later) work too.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        multi = {
            opt
            for param in self.params
            if getattr(param, "multiple", False)
            for opt in getattr(param, "opts", [])
        }
        return super().parse_args(ctx, expand_multi_values(args, multi))


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
    add_completion=False,
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
