"""The one progress event: what long work (a sweep, a training comparison, an A/B) tells whoever shows it.

The library never prints; it calls an ``OnProgress`` callback with ``ProgressEvent`` values and the CLI turns
them into bars on a terminal or plain lines in a log. Events cross process boundaries (sweep workers send
them as JSON lines on stdout), so everything but ``subject`` is plain data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS: tuple[str, ...] = (
    "plan",  # the work ahead: ``total`` items, ``done`` of them already finished (resume)
    "start",  # one item begins; ``total`` = its own steps where it has any
    "step",  # progress inside an item: ``done`` of ``total`` steps, figures in ``values``
    "eval",  # an evaluation inside an item (training): figures in ``values``
    "done",  # one item finished with ``status``; the row written in ``values["row"]``
    "skip",  # an item found finished already (resume)
    "round_start",  # a round of a sweep begins: ``done`` = round index, ``total`` = cases
    "round_done",  # a round of a sweep ends
    "note",  # something a person should read (``message``), e.g. a job of an A/B finished
    "warning",  # something went wrong but the work goes on (``message``)
)


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened. ``label`` names the item in ``core.labels`` spelling; ``subject`` carries the
    in-process object (a ``Case``, a training ``Unit``) for callers that want it and is never serialised."""

    kind: str
    label: str = ""
    done: int = 0
    total: int = 0
    status: str = ""
    message: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    subject: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown progress event kind {self.kind!r}; known: {', '.join(KINDS)}")

    def to_json(self) -> str:
        """One line of JSON (what a worker process writes to its parent)."""
        data = {k: v for k, v in self.__dict__.items() if k != "subject"}
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, line: str) -> ProgressEvent:
        """Inverse of ``to_json``; unknown keys (a newer worker) are ignored rather than fatal."""
        data = json.loads(line)
        known = {
            k: data[k] for k in ("kind", "label", "done", "total", "status", "message", "values") if k in data
        }
        return cls(**known)


OnProgress = Callable[[ProgressEvent], None]


def ignore(_event: ProgressEvent) -> None:
    """The default callback: nobody is watching."""
