"""``python -m rnnbench.measure.worker FOLDER ROUND [POOL_PART]``: one round in a fresh process (the
replication unit); ``python -m rnnbench.measure.worker --serve``: the paired A/B's persistent worker, which
answers the JSON-lines protocol of :mod:`rnnbench.measure.serve` until told to quit.

Its only output is one ``ProgressEvent`` JSON object per line on stdout, which the parent relays to its own
callback (``sweep._relay``) — an entry point, not the library. It derives its cases from the folder's metadata,
since a fresh process has nothing else. It writes into a folder its parent owns (the parent holds the folder's
lock for the whole run), so it does not take that lock itself; its appends are serialised with its siblings'.
A library error ends it with one ``Error: …`` line on stderr and the error's exit code, which the parent
repeats.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from rnnbench.core.progress import ProgressEvent
from rnnbench.errors import RnnbenchError
from rnnbench.measure.sweep import PARENT_ENV, run_round_here
from rnnbench.results.folder import RunFolder


def _emit(event: ProgressEvent) -> None:
    """Send ``event`` to the parent, without the summary row of a ``done`` event: the parent reads rows from
    the folder, and a row per line would only slow the pipe."""
    slim = dataclasses.replace(event, values={k: v for k, v in event.values.items() if k != "row"})
    print(slim.to_json(), flush=True)


def _die_with_parent() -> None:
    """On Linux, ask the kernel to end this worker when the run that started it dies — even by ``kill -9`` —
    so no orphan keeps appending to a folder whose next owner (``--resume``) is already measuring the same
    cases. Elsewhere (and if the call is unavailable) the worker simply runs its round to the end."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # the parent died before the request took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if argv is None:
        _die_with_parent()
    if args == ["--serve"]:
        from rnnbench.measure.serve import serve_stdio

        return serve_stdio()
    if len(args) not in (2, 3):
        print(
            "usage: python -m rnnbench.measure.worker RUN_FOLDER ROUND [POOL_PART] | --serve", file=sys.stderr
        )
        return 2
    try:
        folder = RunFolder.open_existing(args[0])
        run_round_here(folder, int(args[1]), _emit, int(args[2]) if len(args) == 3 else None)
    except (
        RnnbenchError
    ) as exc:  # one line the parent repeats (a full disk, an unreadable row), not a traceback
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
