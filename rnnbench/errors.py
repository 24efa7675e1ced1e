"""Exceptions the library raises instead of printing or exiting.

The CLI turns any ``RnnbenchError`` into one ``Error: <message>`` line on stderr and the exit code carried by
the exception class; anything else escaping the library is a bug and exits with ``EXIT_INTERNAL``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_NOTHING_COMPARABLE = 4
EXIT_INCONCLUSIVE = 5
EXIT_BENCHMARK_FAILED = 6
EXIT_INTERRUPTED = 130


class RnnbenchError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code: int = EXIT_USAGE


class ConfigError(RnnbenchError, ValueError):
    """A value given by the user (size, name, option combination) is not acceptable."""


class UnknownNameError(ConfigError, KeyError):
    """A name looked up in a registry does not exist; the message lists the alternatives."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


class DeviceUnavailableError(ConfigError):
    """The requested device is not present on this machine."""


class UnsupportedError(RnnbenchError):
    """A combination (architecture, implementation, mode, device, dtype) cannot be built or run."""


class SchemaError(RnnbenchError):
    """A results file cannot be read: names the file, the column and the fix."""


class BenchmarkFailedError(RnnbenchError):
    """A benchmark (worker process, round) failed to run."""

    exit_code = EXIT_BENCHMARK_FAILED
