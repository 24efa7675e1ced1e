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


@dataclass(frozen=True)
class GateSettings:
    """How strict the gate is. Defaults: 5% minimum effect, α = 0.01, 95% bootstrap interval."""

    min_effect: float = 0.05
    alpha: float = 0.01
    level: float = 0.95
    n_boot: int = 2000
    seed: int = 0
    allow_diff: tuple[str, ...] = ()
    strict: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.min_effect < 1:
            raise ConfigError(f"--min-effect must lie in (0, 1) (e.g. 0.05 or 5%), got {self.min_effect}.")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"--alpha must lie in (0, 0.5), got {self.alpha}.")
        if not 0.5 <= self.level < 1:
            raise ConfigError(f"--level must lie in [0.5, 1), got {self.level}.")
        if self.n_boot < 100:
            raise ConfigError(f"--n-boot must be ≥ 100, got {self.n_boot}.")
        unknown = [k for k in self.allow_diff if k not in HARD_KEYS]
        if unknown:
            from rnnbench.registry import check_choice

            for key in unknown:
                check_choice("fingerprint key", key, HARD_KEYS)

    @property
    def min_rounds(self) -> int:
        """Rounds per side below which no verdict is decisive (the exact test cannot reach α)."""
        from rnnbench.analyse.stats import min_rounds_for_alpha  # NumPy: only when a gate really runs

        return min_rounds_for_alpha(self.alpha)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": METRIC,
            "min_effect": self.min_effect,
            "alpha": self.alpha,
            "level": self.level,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "allow_diff": list(self.allow_diff),
            "strict": self.strict,
            "min_rounds": self.min_rounds,
        }
