"""``python -m rnnbench.measure.worker FOLDER ROUND``: one round in a fresh process (the replication unit).

Its only output is one JSON object per line on stdout (progress events) — an entry point, not the library.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rnnbench.measure.sweep import run_round_here
from rnnbench.results.folder import RunFolder


def _emit(event: dict[str, Any]) -> None:
    slim = {k: v for k, v in event.items() if k != "row"}
    print(json.dumps(slim, default=str), flush=True)


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
