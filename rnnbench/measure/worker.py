"""``python -m rnnbench.measure.worker FOLDER ROUND [POOL_PART]``: one round in a fresh process (the
replication unit).

Its only output is one ``ProgressEvent`` JSON object per line on stdout, which the parent relays to its own
callback (``sweep._relay``) — an entry point, not the library. It derives its cases from the folder's metadata,
since a fresh process has nothing else.
"""

from __future__ import annotations

import dataclasses
import sys

from rnnbench.core.progress import ProgressEvent
from rnnbench.measure.sweep import run_round_here
from rnnbench.results.folder import RunFolder


def _emit(event: ProgressEvent) -> None:
    """Send ``event`` to the parent, without the summary row of a ``done`` event: the parent reads rows from
    the folder, and a row per line would only slow the pipe."""
    slim = dataclasses.replace(event, values={k: v for k, v in event.values.items() if k != "row"})
    print(slim.to_json(), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m rnnbench.measure.worker RUN_FOLDER ROUND [POOL_PART]", file=sys.stderr)
        return 2
    folder = RunFolder.open_existing(args[0])
    run_round_here(folder, int(args[1]), _emit, int(args[2]) if len(args) == 3 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
