"""A small name → object registry whose lookups fail with "did you mean" and the list of names."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from rnnbench.errors import UnknownNameError

T = TypeVar("T")


def suggest(name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """Return the closest name in ``choices`` to a mistyped ``name``, if any is close enough."""
    matches = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name_message(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> str:
    """``Unknown architecture 'lstn'. Did you mean 'lstm'? Available: gru, lstm, rnn``."""
    hint = suggest(name, choices)
    did_you_mean = f" Did you mean '{hint}'?" if hint else ""
    return f"Unknown {kind} '{name}'.{did_you_mean} Available: {', '.join(sorted(choices))}"


def check_choice(kind: str, name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``name`` (lower-cased) if it is one of ``choices``; raise ``UnknownNameError`` otherwise."""
    key = name.strip().lower()
    if key not in choices:
        raise UnknownNameError(unknown_name_message(kind, name, choices))
    return key


class Registry(Generic[T]):
    """Ordered mapping of names to objects, for architectures, implementations, tasks, presets."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        return self._items[check_choice(self.kind, name, self.names())]

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
