"""From what the user asked for — a preset, a TOML sweep file, command-line axes — to a ``SweepSpec`` and
``Settings``. Precedence: preset < sweep file < command line. Stdlib only (``--dry-run`` needs no torch).

Every value is parsed by the same functions whether it came from the command line or the file, so errors
read the same: they name the option, the bad value and the allowed values.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnbench.core.parsing import parse_ints, split_values
from rnnbench.core.spec import Settings, SweepSpec
from rnnbench.core.vocab import ARCHS, DTYPES, IMPLS, MODES, WORKLOADS
from rnnbench.errors import ConfigError
from rnnbench.measure.presets import RUN_PRESETS
from rnnbench.registry import check_choice, unknown_name_message


def _choices(kind: str, allowed: Sequence[str]) -> Callable[[str, str], Any]:
    return lambda option, raw: check_choice(kind, raw, tuple(allowed))


def _int(minimum: int) -> Callable[[str, str], Any]:
    return lambda option, raw: parse_ints(option, [raw], minimum)[0]


def _device(option: str, raw: str) -> str:
    from rnnbench.measure.devices import parse_device

    kind, index = parse_device(raw)
    return kind if index is None else f"{kind}:{index}"


def _directions(option: str, raw: str) -> bool:
    if raw in ("1", "uni", "unidirectional"):
        return False
    if raw in ("2", "bi", "bidirectional"):
        return True
    raise ConfigError(f"{option} takes 1 (unidirectional) or 2 (bidirectional), got '{raw}'.")


def _lengths(option: str, raw: str) -> float:
    if raw.lower() in ("fixed", "0"):
        return 0.0
    text = raw.lower().removeprefix("variable:").removeprefix("var:")
    try:
        spread = float(text)
    except ValueError:
        spread = -1.0
    if not 0.0 < spread < 1.0:
        raise ConfigError(
            f"{option} takes 'fixed' or a spread s in (0, 1) (e.g. 0.5: lengths uniform in [0.5·T, T], "
            f"packed), got '{raw}'."
        )
    return spread


@dataclass(frozen=True)
class Axis:
    field: str
    parse: Callable[[str, str], Any]
    help: str


AXES: dict[str, Axis] = {
    "arch": Axis("arch", _choices("architecture", ARCHS), ", ".join(ARCHS)),
    "impl": Axis("impl", _choices("implementation", IMPLS), ", ".join(IMPLS)),
    "mode": Axis("mode", _choices("mode", MODES), "inference, forward, backward, train, ddp-train"),
    "device": Axis("device", _device, "cpu, cuda, cuda:N, auto"),
    "dtype": Axis("dtype", _choices("dtype", DTYPES), "float32, bfloat16, float16"),
    "seq_len": Axis("seq_len", _int(1), "time steps T"),
    "batch": Axis("batch_size", _int(1), "batch size B"),
    "hidden": Axis("hidden_size", _int(1), "hidden size H"),
    "input_size": Axis("input_size", _int(1), "input features I (default: H)"),
    "layers": Axis("num_layers", _int(1), "stacked layers L"),
    "directions": Axis("bidirectional", _directions, "1 or 2"),
    "lengths": Axis("length_spread", _lengths, "fixed, or a spread in (0,1) → variable lengths, packed"),
    "threads": Axis("threads", _int(0), "intra-op threads (0: torch's default, as in train)"),
    "workload": Axis("workload", _choices("workload", WORKLOADS), "layer, classifier"),
}

SETTINGS: dict[str, str] = {
    "budget": "budget_s",
    "target_precision": "target_rel_ci",
    "warmup": "warmup_max_s",
    "min_block": "min_block_s",
    "busy_threshold": "busy_threshold",
    "max_samples": "max_samples",
    "tf32": "tf32",
}

OTHER_CONFIG_KEYS = ("preset", "rounds", "output", "seed")


def parse_axis(name: str, values: Sequence[Any]) -> tuple[Any, ...]:
    axis = AXES[name]
    option = "--" + name.replace("_", "-")
    parsed: list[Any] = []
    for raw in split_values(values):
        value = axis.parse(option, raw)
        if value not in parsed:
            parsed.append(value)
    return tuple(parsed)


def read_config(path: Path) -> dict[str, Any]:
    """A TOML sweep file: top-level keys are the option names (``arch = ["lstm", "gru"]``, ``seq_len = [64,
    128]``, ``preset = "quick"``, ``budget = 2.0`` …). Unknown keys are errors with a suggestion."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"sweep file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"sweep file {path} is not valid TOML: {exc}.") from None
    known = (*AXES, *SETTINGS, *OTHER_CONFIG_KEYS)
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}: {unknown_name_message('key', key, known)}")
    return data


def build_plan(
    preset: str | None = None,
    config: dict[str, Any] | None = None,
    axes: dict[str, Sequence[Any] | None] | None = None,
    settings: dict[str, float | None] | None = None,
    seed: int | None = None,
) -> tuple[SweepSpec, Settings]:
    """Merge preset < config < command line into a validated spec and settings."""
    config = dict(config or {})
    chosen = RUN_PRESETS.get(preset or str(config.get("preset", "quick")))
    spec, sett = chosen.spec, chosen.settings
    merged_axes: dict[str, Sequence[Any]] = {}
    for source in (config, axes or {}):
        for name, values in source.items():
            if name in AXES and values:
                merged_axes[name] = values if isinstance(values, list | tuple) else [values]
    changes: dict[str, Any] = {
        AXES[name].field: parse_axis(name, values) for name, values in merged_axes.items()
    }
    if any(name in merged_axes for name in ("seq_len", "batch", "hidden")) and spec.shapes:
        # explicit shape axes replace a preset's explicit shape list; unspecified axes fall back to defaults
        base = SweepSpec()
        for fld in ("seq_len", "batch_size", "hidden_size"):
            changes.setdefault(fld, getattr(base, fld))
        changes["shapes"] = ()
    if seed is not None or "seed" in config:
        changes["seed"] = int(seed if seed is not None else config["seed"])
    spec = dataclasses.replace(spec, **changes)
    setting_changes: dict[str, Any] = {}
    for source in (config, settings or {}):
        for name, value in source.items():
            if name in SETTINGS and value is not None:
                setting_changes[SETTINGS[name]] = type(getattr(sett, SETTINGS[name]))(value)
    sett = dataclasses.replace(sett, **setting_changes)
    return spec, sett


# ---- size and duration, before anything runs ---------------------------------------------------------------
CASE_OVERHEAD_S = 0.5
"""Per case, besides warm-up and timing: building the model and inputs, the profiled iteration (backend and
memory), the cold first iteration."""
ROUND_OVERHEAD_S = 8.0
"""Per round: a worker process importing torch, and the calibration GEMMs of each device and dtype."""
CONFIRM_ABOVE_S = 1800.0
"""``run`` asks before starting a run estimated to take longer than this (on a terminal only; ``--yes``
skips the question, and it is never asked without one — CI, a pipe, no stdin)."""


def estimate_seconds(
    n_cases: int, settings: Settings, rounds: int = 1, parallel: int = 1, workers: bool = False
) -> float:
    """An estimate of a run's wall time for budget-bound cases: each case its warm-up limit and its timing
    budget (adaptive stopping often ends sooner), plus fixed overheads per case and per round; ``parallel``
    devices of a pool share the cases. Not an upper bound: a case whose single iteration is longer than
    budget / min samples still runs its minimum samples (seen: 2 min estimated, 15 min taken, for train mode at
    T=100, B=64, H=256 with --budget 1), and ``compiled`` adds compile time; the CLI says so beside it.
    Deliberately simple: it is shown before a run so a huge grid is noticed."""
    per_case = settings.warmup_max_s + settings.budget_s + CASE_OVERHEAD_S
    per_round = ROUND_OVERHEAD_S + (2.0 if workers else 0.0)
    return rounds * (n_cases * per_case / max(1, parallel) + per_round)


def grid_axes(spec: SweepSpec) -> list[tuple[str, list[Any]]]:
    """The values of each axis the grid spans (from the spec, not its cases, so a 100k-case grid costs
    nothing here), in the option order; explicit shape lists appear as one ``shapes`` entry."""
    axes: list[tuple[str, list[Any]]] = [
        ("arch", list(spec.arch)), ("impl", list(spec.impl)), ("mode", list(spec.mode)),
        ("device", list(spec.device)), ("dtype", list(spec.dtype)),
    ]  # fmt: skip
    if spec.shapes:
        axes.append(("shapes (H, B, T)", [tuple(s) for s in dict.fromkeys(spec.shapes)]))
    else:
        axes += [("seq_len", list(spec.seq_len)), ("batch", list(spec.batch_size)),
                 ("hidden", list(spec.hidden_size))]  # fmt: skip
    axes += [
        ("input_size", list(spec.input_size) or ["= hidden"]), ("layers", list(spec.num_layers)),
        ("directions", [2 if b else 1 for b in spec.bidirectional]),
        ("lengths", [s or "fixed" for s in spec.length_spread]), ("workload", list(spec.workload)),
        ("threads", [t or "default" for t in spec.threads]),
    ]  # fmt: skip
    return axes
