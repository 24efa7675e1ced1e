"""The paired A/B's worker protocol, written once for both ends: the worker (``measure.serve``) and the
coordinator (``ab.coordinator``). Stdlib only, so the coordinator's side never imports torch.

One JSON object per line each way, one reply per request (version :data:`PROTOCOL_VERSION`)::

    → {"op": "hello", "protocol": 1}
    ← {"ok": true, "protocol": 1, "rnnbench": "0.1.0", "pid": 4242}
    → {"op": "build", "args": ["--preset", "quick", "--threads", "1"], "cases": null | ["<key>", …]}
    ← {"ok": true, "cases": [{"key", "case_id", "threads", "status", "message", "labels", "tokens_per_iter",
                              "iter_s"}, …], "fingerprint_keys": {"<device>@<threads>": {…}}}
    → {"op": "block", "case": "<key>", "iters": 40, "inject": 0.0}
    ← {"ok": true, "seconds": 0.0812, "iters": 40}
    → {"op": "quit"}
    ← {"ok": true}

A failed request answers ``{"ok": false, "error": "…"}``; a request with another protocol version is refused
with the worker's own version, so a coordinator never mixes protocols (an older rnnbench without the protocol
fails the first hello, and ``ab --method auto`` falls back to process rounds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PROTOCOL_VERSION = 1
"""The version both ends speak; the hello exchange decides across rnnbench versions."""


def worker_key(case_id: str, threads: int | None) -> str:
    """A case as one worker built it: ``<case_id>@<threads>``."""
    return f"{case_id}@{threads}"


def fingerprint_slot(device: str, threads: int | None) -> str:
    """Where ``build``'s reply files a device's fingerprint keys: ``<device>@<threads>``."""
    return f"{device}@{threads}"


def pair_id(base_key: str | None, head_key: str | None) -> str:
    """One compared case across the two workers: ``<base key>|<head key>``."""
    return f"{base_key}|{head_key}"


def split_pair_id(pid: str) -> tuple[str, str]:
    """The two worker keys of a :func:`pair_id`."""
    base, _, head = pid.partition("|")
    return base, head


def hello() -> dict[str, Any]:
    return {"op": "hello", "protocol": PROTOCOL_VERSION}


def build(args: Sequence[str], cases: Sequence[str] | None = None) -> dict[str, Any]:
    """Build and warm ``run``'s grid (its options as ``args``), or only the listed worker keys."""
    return {"op": "build", "args": list(args), "cases": None if cases is None else list(cases)}


def block(case: str, iters: int, inject: float = 0.0) -> dict[str, Any]:
    """Time ``iters`` iterations of one case, each slowed by ``inject`` × its own time (0: none)."""
    return {"op": "block", "case": case, "iters": iters, "inject": inject}


QUIT: dict[str, Any] = {"op": "quit"}
