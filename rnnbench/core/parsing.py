"""Parsing of user-given values shared by the commands and the sweep planner: lists (space, repeated flag or
comma), whole numbers and numbers with a rule, and names with "did you mean". Errors name the option."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from rnnbench.errors import ConfigError
from rnnbench.registry import check_choice

T = TypeVar("T")


def split_values(values: Sequence[str] | None) -> list[str]:
    """``["64,128", "256"]`` → ``["64", "128", "256"]``; order kept, duplicates dropped."""
    out: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def parse_ints(option: str, values: Sequence[str] | None, minimum: int = 1) -> list[int]:
    """Whole numbers ≥ ``minimum``; the error names the option and the bad value."""
    out = []
    for raw in split_values(values):
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{option} takes whole numbers, got '{raw}'.") from None
        if value < minimum:
            raise ConfigError(f"{option} must be ≥ {minimum}, got {value}.")
        out.append(value)
    return out


def parse_floats(
    option: str, values: Sequence[str] | None, check: Callable[[float], bool], rule: str
) -> list[float]:
    out = []
    for raw in split_values(values):
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{option} takes numbers, got '{raw}'.") from None
        if not check(value):
            raise ConfigError(f"{option} must be {rule}, got {raw}.")
        out.append(value)
    return out


def parse_choices(kind: str, values: Sequence[str] | None, choices: Sequence[str]) -> list[str]:
    """Names checked against ``choices`` with "did you mean"."""
    return [check_choice(kind, v, tuple(choices)) for v in split_values(values)]
