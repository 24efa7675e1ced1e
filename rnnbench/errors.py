"""Exceptions the library raises instead of printing or exiting.

The CLI turns any ``RnnbenchError`` into one ``Error: <message>`` line on stderr and the exit code carried by
the exception class; anything else escaping the library is a bug and exits with ``EXIT_INTERNAL``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_NOTHING_COMPARABLE = 4
EXIT_INCONCLUSIVE = 5
EXIT_BENCHMARK_FAILED = 6
EXIT_INTERRUPTED = 130

EXIT_PRECEDENCE: tuple[int, ...] = (
    EXIT_INTERNAL,
    EXIT_BENCHMARK_FAILED,
    EXIT_REGRESSION,
    EXIT_NOTHING_COMPARABLE,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
)
"""The gate's exit codes from most to least severe; when several apply the first one wins (``compare``,
``ab``, ``calibrate`` and their ``--help`` all read this order; ``gate.results`` says why it is this one)."""


def most_severe(codes: Iterable[int]) -> int:
    """The code that wins under :data:`EXIT_PRECEDENCE` (unknown codes rank as internal errors)."""
    rank = {code: i for i, code in enumerate(EXIT_PRECEDENCE)}
    best = EXIT_OK
    for code in codes:
        if rank.get(code, 0) < rank[best]:
            best = code if code in rank else EXIT_INTERNAL
    return best


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


class FolderInUseError(RnnbenchError):
    """Another live process owns the run folder (``run``, ``train``, ``merge`` hold it for their whole run)."""


class StorageError(RnnbenchError):
    """The operating system refused a file operation on the user's path (read-only, full disk, no permission):
    an environment problem the user fixes, not a bug. The message names the path and the fix."""

    def __init__(
        self, path: os.PathLike[str] | str, exc: OSError, doing: str = "write", hint: str = ""
    ) -> None:
        self.path = str(path)
        self.errno = exc.errno
        self.os_error, self.doing = exc, doing
        super().__init__(describe_os_error(self.path, exc, doing, hint))

    def with_hint(self, hint: str) -> StorageError:
        """The same error with what to do next appended (e.g. how to continue the run)."""
        return StorageError(self.path, self.os_error, self.doing, hint)


class DataWarning(UserWarning):
    """A results file was read with something left out (a torn last line from a kill or a full disk); the
    message names the file. The CLI prints it as one ``Warning: …`` line; ``report`` lists it in its
    warnings."""


_FIXES = {
    errno.ENOSPC: "no space left on the device; free some space or choose another location",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another location",
    errno.EROFS: "the file system is read-only; choose a writable location",
    errno.EACCES: "permission denied; choose a location you can write to or fix its permissions",
    errno.EPERM: "operation not permitted; choose a location you can write to or fix its permissions",
    errno.ENOENT: "no such file or folder; check the path",
    errno.ENOTDIR: "a part of the path is not a folder; check the path",
    errno.EISDIR: "it is a folder, not a file; give a file path",
    errno.EEXIST: "it already exists; choose another name",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) or close other programs",
    errno.EIO: "an I/O error on the device; check the disk",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter one",
}


def describe_os_error(path: str, exc: OSError, doing: str = "write", hint: str = "") -> str:
    """``cannot write results/x/summary.csv: no space left on the device; free some space or …`` — one line
    naming the path and a fix, with ``hint`` (e.g. how to continue) appended."""
    what = _FIXES.get(exc.errno or -1) or (exc.strerror or str(exc) or type(exc).__name__)
    line = f"cannot {doing} {path}: {what}"
    if hint:
        line += f"; {hint}"
    return line + ("" if line.endswith(".") else ".")
