"""How strict the regression gate is: ``GateSettings`` and the metric it gates on.

Its own module, free of NumPy, because the CLI reads these defaults when it *declares* its options: every
``rnnbench`` start (``--help`` included) imports this, and must stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnbench.errors import ConfigError
from rnnbench.results.schema import HARD_KEYS

METRIC = "tokens_per_s"
METRIC_UNIT = "tokens/s"

TEST = "exact one-sided Mann–Whitney U on round throughputs (conditional on ties)"
"""The rank test each case's regression (improvement) needs: one-sided, because exit 1 is about slowdowns."""

DEFAULT_ROUNDS = 8
"""Rounds per side of ``ab`` and ``calibrate`` by default. α is shared among the cases of a run (Holm), and an
exact one-sided test with n + n rounds reaches α/K only when 1/C(2n, n) ≤ α/K: at α = 0.01, 6 rounds serve
up to 9 cases, 7 up to 34, 8 up to 128 — so 8 (even, for ABBA) gates the quick preset's 16 cases, with room
for power."""

DEFAULT_CONFIRM_ROUNDS = 6
"""Confirmation rounds per side of ``ab``: its family is only the cases that regressed (6 rounds reach α over up
to 9 of them; ``run_ab`` raises the rounds for more)."""

CORRECTION = "holm"
"""How α is shared among the cases of one comparison: Holm's step-down procedure, so that α bounds the
probability that a run of ``compare`` on unchanged code reports *any* regression (family-wise, per run)."""


@dataclass(frozen=True)
class GateSettings:
    """How strict the gate is. Defaults: 5% minimum effect, α = 0.01, 95% bootstrap interval, rounds needed
    sized for 80% power.

    ``alpha`` is the false-alarm probability of a whole run, not of one case: the probability that comparing
    unchanged code reports any regression, over all the cases compared (Holm-corrected, one-sided tests). It
    assumes exchangeable rounds — rounds measured side by side in one job (``ab``); folders from different
    jobs or machines add a between-job drift that no within-run test covers.
    """

    min_effect: float = 0.05
    alpha: float = 0.01
    level: float = 0.95
    n_boot: int = 2000
    seed: int = 0
    allow_diff: tuple[str, ...] = ()
    strict: bool = False
    power: float = 0.8
    """Probability with which the "~N rounds per side" an inconclusive case reports would decide it."""

    def __post_init__(self) -> None:
        if not 0 < self.min_effect < 1:
            raise ConfigError(f"--min-effect must lie in (0, 1) (e.g. 0.05 or 5%), got {self.min_effect}.")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"--alpha must lie in (0, 0.5), got {self.alpha}.")
        if not 0.5 <= self.level < 1:
            raise ConfigError(f"--level must lie in [0.5, 1), got {self.level}.")
        if not 0.5 <= self.power < 1:
            raise ConfigError(f"power must lie in [0.5, 1), got {self.power}.")
        if self.n_boot < 100:
            raise ConfigError(f"--n-boot must be ≥ 100, got {self.n_boot}.")
        unknown = [k for k in self.allow_diff if k not in HARD_KEYS]
        if unknown:
            from rnnbench.registry import check_choice

            for key in unknown:
                check_choice("fingerprint key", key, HARD_KEYS)

    @property
    def min_rounds(self) -> int:
        """Rounds per side below which no verdict is decisive, whatever the number of cases: the bootstrap
        interval needs 5, and one case's exact one-sided test must be able to reach α."""
        return self.min_rounds_for(1)

    def min_rounds_for(self, family: int) -> int:
        """Rounds per side an exact one-sided test needs to reach α / ``family``, Holm's level for the most
        significant of ``family`` cases (never below :attr:`min_rounds`' interval floor): 7 for 16 cases at
        α = 0.01."""
        from rnnbench.stats.intervals import MIN_BOOTSTRAP_ROUNDS  # NumPy: only when a gate runs
        from rnnbench.stats.ranks import min_rounds_for_alpha

        return max(MIN_BOOTSTRAP_ROUNDS, min_rounds_for_alpha(self.alpha, max(1, family)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": METRIC,
            "min_effect": self.min_effect,
            "alpha": self.alpha,
            "alpha_scope": "family-wise per run (any false regression among the cases compared)",
            "test": TEST,
            "correction": CORRECTION,
            "level": self.level,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "allow_diff": list(self.allow_diff),
            "strict": self.strict,
            "power": self.power,
            "min_rounds": self.min_rounds,
        }


METHODS: tuple[str, ...] = ("auto", "paired", "rounds")
"""How ``ab``/``calibrate`` measure: ``paired`` (persistent workers, alternating short blocks), ``rounds``
(fresh processes in ABBA order), ``auto`` (paired, falling back to rounds — and saying so — when a side's
rnnbench cannot serve the paired protocol)."""


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else a usage error that lists them ("did you mean")."""
    from rnnbench.registry import check_choice

    return check_choice("method", method, METHODS)


@dataclass(frozen=True)
class PairedSettings:
    """The paired mode's design and budget.

    The sequential gate (default) measures a pilot restart, chooses the block length and the pairs per case
    and restart from what it saw (unless ``block_s``/``pairs`` fix them), then restarts until every case is
    decided, ``max_restarts`` restarts have counted, or ``budget_s`` is spent — the confirmation of flagged
    cases included (``confirm_restarts`` at most; 0: trust the first stage). Both workers run on the same CPUs
    (``cpus``: ``auto`` picks as many as ``--threads`` asks, ``none`` leaves them unpinned)."""

    max_restarts: int = 200
    """A cap on the first stage's restarts; the budget usually ends it first (an A/A of the quick grid on the
    2-core Intel VM reached 40 restarts of ~4 s with half its 10 minutes left)."""
    pairs: int | None = None
    """Pairs per case and restart; ``None``: chosen from the pilot (4–64)."""
    block_s: float | None = None
    """Target length of one timed block (5–200 ms); ``None``: chosen from the pilot among
    :data:`BLOCK_CANDIDATES`."""
    confirm_restarts: int = 200
    budget_s: float = 600.0
    """Wall seconds for the whole measurement (pilot, first stage, confirmation)."""
    cpus: str = "auto"
    warm_iters: int = 1
    """Untimed iterations of the same case on the same side right before every timed block that follows the
    other side's (a switch; a side that opens a pair after closing the previous one runs warm). Both workers
    share the CPUs, so a block that follows the other side's starts with caches the other side filled: on
    the 2-core Intel VM, with one 21 ms iteration per block, the block that closed a pair ran 3.6–7.5%
    slower than the one that opened it (a pair noise of 13.5%). An untimed iteration takes that switch
    cost, so every timed block runs warm, as ``run``'s samples do. 0 turns it off."""
    timeout_s: float = 120.0
    """How long a worker may take to answer one block (or hello) before it counts as hung."""
    build_timeout_s: float = 900.0
    """How long building and warming the grid may take (torch import, every model, compiled ones)."""

    def __post_init__(self) -> None:
        if self.max_restarts < 2:
            raise ConfigError(
                f"--restarts must be ≥ 2 (the interval is over restarts), got {self.max_restarts}."
            )
        if self.confirm_restarts != 0 and self.confirm_restarts < MIN_CONFIRM_RESTARTS:
            raise ConfigError(
                f"--confirm-restarts must be 0 or ≥ {MIN_CONFIRM_RESTARTS} (with fewer restarts the "
                "confirmation's interval cannot exclude anything, so it could never confirm), got "
                f"{self.confirm_restarts}."
            )
        if self.pairs is not None and not 2 <= self.pairs <= 1000:
            raise ConfigError(f"--pairs must lie in [2, 1000] (or be auto), got {self.pairs}.")
        if self.pairs is not None and self.pairs % 2:
            raise ConfigError(
                f"--pairs must be even (each side opens half of the pairs, so that switching costs and drift "
                f"within a pair cancel), got {self.pairs}."
            )
        if self.block_s is not None and not 0.005 <= self.block_s <= 0.2:
            raise ConfigError(f"--block must lie in [0.005, 0.2] seconds (or be auto), got {self.block_s}.")
        if not self.budget_s > 0:
            raise ConfigError(f"--budget must be a positive duration such as 10m or 300s, got {self.budget_s}.")
        parse_cpus(self.cpus)
        if self.warm_iters < 0:
            raise ConfigError(f"warm iterations must be ≥ 0, got {self.warm_iters}.")
        if self.timeout_s <= 0 or self.build_timeout_s <= 0:
            raise ConfigError("worker timeouts must be positive.")

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_restarts": self.max_restarts,
            "pairs": self.pairs if self.pairs is not None else "auto",
            "block_s": self.block_s if self.block_s is not None else "auto",
            "confirm_restarts": self.confirm_restarts,
            "budget_s": self.budget_s,
            "cpus": self.cpus,
            "warm_iters": self.warm_iters,
            "timeout_s": self.timeout_s,
        }


MIN_CONFIRM_RESTARTS = 4
"""The fewest restarts whose 95% confidence sequence is finite (``stats.sequential.min_looks(0.05)``): a
confirmation allowed fewer could never confirm anything."""

BLOCK_CANDIDATES: tuple[float, ...] = (0.01, 0.025, 0.05)
"""Block lengths the pilot restart tries (cycled pair by pair) when ``--block`` is automatic."""


def parse_cpus(text: str) -> tuple[int, ...] | str:
    """``auto``, ``none`` or a list such as ``0`` / ``2,3`` / ``0-3`` (CPUs both workers are pinned to)."""
    value = text.strip().lower()
    if value in ("auto", "none"):
        return value
    cpus: set[int] = set()
    try:
        for part in value.split(","):
            lo, _, hi = part.partition("-")
            first, last = int(lo), int(hi or lo)
            if first < 0 or last < first:
                raise ValueError
            cpus.update(range(first, last + 1))
    except ValueError:
        raise ConfigError(
            f"--cpus takes auto, none or CPU numbers such as 0 or 2,3 or 0-3; got {text!r}."
        ) from None
    return tuple(sorted(cpus))
