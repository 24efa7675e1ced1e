"""A stand-in for a side's rnnbench, started as ``python tests/fake_worker.py MODE worker --serve`` (or ``…
MODE run …`` for process rounds): speaks the paired protocol without torch, misbehaving on request.

Modes: ``ok``; ``old`` (an rnnbench before the protocol: ``worker`` is an unknown command, exit 2); ``proto2``
(speaks protocol 2); ``die`` (``kill -9`` of itself at its 3rd block); ``hang`` (never answers its 3rd
block); ``failcase`` (blocks of case ``c1`` fail: a case failing on this side only); ``slow`` (every block
sleeps 50 ms, for interrupting). ``run --help`` answers like rnnbench; ``run … --output O --run-id R`` writes
a run folder (tests.runfolders) so a fallback to process rounds works.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = ("c0", "c1")


def entry(case: str) -> dict[str, object]:
    return {
        "key": f"{case}@1", "case_id": case, "threads": 1, "status": "ok", "message": "", "tokens_per_iter": 100,
        "iter_s": 0.001, "labels": {"arch": "lstm" if case == "c0" else "gru", "impl": "native", "mode": "inference",
                                    "device": "cpu", "dtype": "float32", "seq_len": 8, "batch_size": 2,
                                    "input_size": 8, "hidden_size": 8, "num_layers": 1},
    }  # fmt: skip


def serve(mode: str) -> int:
    if mode == "old":
        print("Usage: rnnbench [OPTIONS] COMMAND\nError: No such command 'worker'.", file=sys.stderr)
        return 2
    protocol = 2 if mode == "proto2" else 1
    blocks = 0
    rng = random.Random(os.getpid())
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "hello":
            reply: dict[str, object] = {
                "ok": True,
                "protocol": protocol,
                "rnnbench": "fake",
                "pid": os.getpid(),
            }
        elif op == "build":
            wanted = msg.get("cases")
            reply = {"ok": True, "cases": [entry(c) for c in CASES if wanted is None or f"{c}@1" in wanted],
                     "fingerprint_keys": {}}  # fmt: skip
        elif op == "block":
            blocks += 1
            if mode == "die" and blocks == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "hang" and blocks == 3:
                time.sleep(3600)
            if mode == "failcase" and msg["case"] == "c1@1":
                reply = {"ok": False, "error": "RuntimeError: head cannot run c1"}
            else:
                if mode == "slow":
                    time.sleep(0.05)
                iters = int(msg["iters"])
                per = 0.001 * (1 + float(msg.get("inject", 0))) * (1 + rng.gauss(0, 0.002))
                reply = {"ok": True, "seconds": per * iters, "iters": iters}
        elif op == "quit":
            print(json.dumps({"ok": True}), flush=True)
            return 0
        else:
            reply = {"ok": False, "error": "unknown op"}
        print(json.dumps(reply), flush=True)
    return 0


def run(args: list[str]) -> int:
    if args[-1] == "--help":
        print("Usage: rnnbench run")
        return 0
    from tests.runfolders import write_run

    out, run_id = Path(args[args.index("--output") + 1]), args[args.index("--run-id") + 1]
    random.seed(run_id)
    write_run(
        out,
        run_id,
        {"lstm": [1000 * (1 + random.gauss(0, 0.005))], "gru": [800 * (1 + random.gauss(0, 0.005))]},
    )
    return 0


if __name__ == "__main__":
    mode, command, *rest = sys.argv[1:]
    sys.exit(serve(mode) if command == "worker" else run(rest))
