"""Power: how many replication units (process rounds, worker restarts) would decide a case, and the smallest
effect a budget detects.

Both gates decide an effect beyond ±m only when a one-sided test reaches its level *and* the interval rule
holds; their probabilities are computed separately and combined by the Fréchet lower bound
:func:`both` (P(A and B) ≥ P(A) + P(B) − 1). "No change" needs the whole interval inside ±m, the same bound
over its two ends. Process rounds model the exact rank test and a median's standard error
(:func:`rounds_needed`); paired restarts the anytime-valid confidence sequence of
:mod:`rnnbench.stats.sequential` (:func:`sequence_power`, :func:`restarts_needed`, :func:`detectable_effect`).
One search, :func:`first_reaching`, turns either curve into a count.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

from rnnbench.stats.intervals import MIN_BOOTSTRAP_ROUNDS
from rnnbench.stats.ranks import min_rounds_for_alpha, smallest_exact_p, u_counts
from rnnbench.stats.sequential import critical_t


def both(p_a: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """Fréchet's lower bound on P(A and B) from P(A) and P(B): max(0, P(A) + P(B) − 1). What both power
    models use where a decision needs two things at once (a test and an interval rule, or both ends of an
    interval inside the band) that are not independent."""
    return np.maximum(0.0, np.asarray(p_a, dtype=float) + np.asarray(p_b, dtype=float) - 1)


def first_reaching(ns: np.ndarray, power: np.ndarray, target: float) -> int | None:
    """The first count of ``ns`` whose ``power`` reaches ``target``; ``None`` when none does."""
    ok = np.flatnonzero(np.asarray(power) >= target)
    return int(ns[ok[0]]) if len(ok) else None


# ---- process rounds: the exact rank test and a median's standard error -------------------------------------
_MEDIAN_SE = math.sqrt(math.pi / 2)
"""Standard error of a normal sample's median in units of σ/√n: the spread model behind :func:`rounds_needed`
(a percentile-bootstrap interval of the median ratio is ≈ z·this·σ·√(2/n) wide on the log scale, simulated
within ±6% for 5–30 rounds per side)."""

_EXACT_CRITICAL_UP_TO = 40
"""Rounds per side up to which :func:`_rank_power` uses the exact null table (beyond, a normal one)."""


@lru_cache(maxsize=1024)
def _exact_critical_u(n: int, level: float) -> int:
    """Largest u with P(U ≤ u) ≤ ``level`` for n + n untied rounds under no difference; −1 if none."""
    total, cumulative, u = math.comb(2 * n, n), 0, -1
    for count in u_counts(n, n):
        if (cumulative + count) / total > level:
            break
        cumulative += count
        u += 1
    return u


def _critical_u(ns: np.ndarray, level: float) -> np.ndarray:
    """:func:`_exact_critical_u` for each n of ``ns``: exact up to :data:`_EXACT_CRITICAL_UP_TO` rounds, the
    normal approximation (with continuity correction) beyond, where the two agree."""
    n = np.asarray(ns, dtype=float)
    sd0 = np.sqrt(n * n * (2 * n + 1) / 12)
    out = np.floor(n * n / 2 - NormalDist().inv_cdf(1 - level) * sd0 - 0.5)
    for i, k in enumerate(ns):
        if k > _EXACT_CRITICAL_UP_TO:
            break
        out[i] = _exact_critical_u(int(k), level)
    return out


def _rank_power(shift: float, ns: np.ndarray, level: float) -> np.ndarray:
    """Approximate probability that the exact one-sided rank test with n + n rounds (each of ``ns``) reaches
    ``level`` when one side's values are shifted by ``shift`` standard deviations (normal noise).

    The critical value is exact (discreteness included: 6 + 6 rounds can never reach 0.000625); U under the
    shift is taken as normal with Lehmann's mean and variance, ``p = P(X > Y) = Φ(−|shift|/√2)`` and
    ``P(X > Y, X > Y') = Φ₂(h, h; ½)`` from Owen's T. Simulated within ±0.07 of the exact test's power.
    """
    from scipy.special import ndtr, owens_t

    n = np.asarray(ns, dtype=float)
    critical = _critical_u(ns, level)
    h = -abs(shift) / math.sqrt(2)
    p = float(ndtr(h))
    p2 = p - 2 * float(owens_t(h, 1 / math.sqrt(3)))
    var = n * n * (p * (1 - p) + 2 * (n - 1) * (p2 - p * p))
    with np.errstate(divide="ignore", invalid="ignore"):
        power = ndtr((critical + 0.5 - n * n * p) / np.sqrt(var))
    power = np.where(var > 0, power, (n * n * p <= critical).astype(float))
    return np.where(critical < 0, 0.0, power)


def _decision_power(
    log_effect: float, log_spread: float, ns: np.ndarray, min_effect: float, alpha: float, level: float
) -> np.ndarray:
    """:func:`decision_power` for each round count in ``ns`` (an array)."""
    from scipy.special import ndtr

    n = np.asarray(ns, dtype=float)
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    slow, fast = math.log(1 - min_effect), math.log(1 + min_effect)
    outside = log_effect < slow or log_effect > fast
    if log_spread <= 0:  # no noise: an effect is decided once the exact test can reach alpha, no change at once
        if not outside:
            return np.ones_like(n)
        return np.array([1.0 if smallest_exact_p(int(k), int(k)) <= alpha else 0.0 for k in ns])
    se = _MEDIAN_SE * log_spread * np.sqrt(2 / n)
    if outside:
        d = abs(log_effect)
        beyond = abs(log_effect - (slow if log_effect < 0 else fast))
        interval_rule = ndtr(np.minimum(d / se - z, beyond / se))  # estimate + z·se < 0, and beyond m
        test = _rank_power(log_effect / log_spread, ns, alpha)
        return both(test, interval_rule)
    return both(ndtr((fast - log_effect) / se - z), ndtr((log_effect - slow) / se - z))


def decision_power(
    log_effect: float,
    log_spread: float,
    n: int,
    min_effect: float,
    alpha: float,
    level: float = 0.95,
) -> float:
    """Approximate probability that n rounds per side decide a case whose log throughput ratio is
    ``log_effect`` with round-to-round spread (SD of log throughput) ``log_spread``, at rank-test level
    ``alpha`` (already divided by the family size) and a ``level`` interval.

    Outside ±``min_effect`` the decision is a regression (improvement): the exact one-sided rank test must
    reach ``alpha`` *and* the interval must exclude 1 with the estimate beyond the min effect; the result is
    the Fréchet lower bound ``P(test) + P(interval rule) − 1`` of both holding, because the two are computed
    separately. Inside, the decision is ``no_change``: the whole interval inside ±min effect. The estimate of
    the log ratio is modelled as normal with standard error ``√(π/2)·spread·√(2/n)`` (that of a median).
    """
    return float(_decision_power(log_effect, log_spread, np.array([n]), min_effect, alpha, level)[0])


def log_spread_from_interval(low: float, high: float, n_per_side: int, level: float = 0.95) -> float:
    """Round-to-round spread (SD of log throughput) implied by a ``level`` ratio interval ``[low, high]`` over
    ``n_per_side`` rounds per side: ``(h / z) / (√(π/2)·√(2/n))`` with ``h`` the interval's half-width on the
    log scale — inverting the median's standard error that :func:`decision_power` models.

    Why from the interval rather than a MAD: simulated with 5–8 normal rounds per side it is unbiased (mean
    0.98–1.07 σ) and nearly as efficient as a pooled SD, where 1.4826·MAD reads 12–17% low — and too low a
    spread suggests too few rounds. It is also robust to the odd slow round, as the interval is."""
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    half = (math.log(high) - math.log(low)) / 2
    return half / z / (_MEDIAN_SE * math.sqrt(2 / n_per_side))


def rounds_needed(
    estimate: float,
    low: float,
    high: float,
    n_per_side: int,
    min_effect: float,
    alpha: float,
    *,
    family: int = 1,
    level: float = 0.95,
    power: float = 0.8,
    limit: int = 1000,
) -> int | None:
    """Rounds per side that would decide an inconclusive case with probability ≥ ``power`` (80% by default),
    if the true ratio were ``estimate`` and the round-to-round spread what the interval shows.

    The model is on the log scale: effect ``log(estimate)``, spread per round from the interval
    (:func:`log_spread_from_interval`). Then the smallest n with :func:`decision_power` ≥ ``power`` at the
    corrected level ``alpha / family`` — the exact one-sided rank test *and* the interval rule must both
    decide, so a bigger family needs more rounds. Never fewer than one more than now, than
    :data:`MIN_BOOTSTRAP_ROUNDS`, nor (for an effect) than the exact test needs to reach ``alpha / family``.
    ``None`` when no affordable number (≤ ``limit``) would do — the effect then sits on the min-effect
    boundary, or is too small against the noise.
    """
    corrected = alpha / family
    floor = max(MIN_BOOTSTRAP_ROUNDS, n_per_side + 1)
    values = (estimate, low, high)
    if n_per_side < 2 or not all(math.isfinite(v) and v > 0 for v in values) or high < low:
        return max(floor, min_rounds_for_alpha(alpha, family))
    effect = math.log(estimate)
    slow, fast = math.log(1 - min_effect), math.log(1 + min_effect)
    if effect in (slow, fast):
        return None
    outside = effect < slow or effect > fast
    if outside:
        floor = max(floor, min_rounds_for_alpha(alpha, family))
    if floor > limit:
        return None
    spread = log_spread_from_interval(low, high, n_per_side, level)
    ns = np.arange(floor, limit + 1)
    return first_reaching(ns, _decision_power(effect, spread, ns, min_effect, corrected, level), power)


# ---- paired restarts: the anytime-valid t confidence sequence ----------------------------------------------
def _critical(ns: np.ndarray, alpha: float) -> np.ndarray:
    return np.array([critical_t(int(n), alpha) for n in ns], dtype=float)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    from scipy import stats as sps

    return np.asarray(sps.norm.cdf(z), dtype=float)


def sequence_power(
    effect: float, sd: float, ns: np.ndarray, min_effect: float, alpha_case: float, level: float = 0.95
) -> np.ndarray:
    """P(the sequential rule has decided a case by restart n), for a true log effect ``effect`` and restart
    spread ``sd``, judged at look n alone (earlier looks only add: a lower bound).

    Beyond ±m: the estimate beyond m *and* the sequence at ``alpha_case`` (the Holm level the case needs) and
    at ``level`` (the printed interval) wholly on the estimate's side of 0 (:func:`both`). Inside: the
    ``level`` sequence wholly inside ±m — the same bound over its two ends."""
    m_lo, m_hi = math.log(1 - min_effect), math.log(1 + min_effect)
    se = sd / np.sqrt(ns)
    if effect < m_lo or effect > m_hi:
        beyond = m_lo if effect < 0 else m_hi
        # the anytime test at alpha_case and the level-sequence wholly on one side of 0: the stricter counts
        crit = np.maximum(_critical(ns, alpha_case), _critical(ns, 1 - level))
        test = _normal_cdf(abs(effect) / se - crit)
        return both(test, _normal_cdf(abs(effect - beyond) / se))
    crit = _critical(ns, 1 - level)
    return both(_normal_cdf((effect - m_lo) / se - crit), _normal_cdf((m_hi - effect) / se - crit))


def restarts_needed(
    mean: float,
    sd: float,
    restarts: int,
    min_effect: float,
    alpha_case: float,
    *,
    level: float = 0.95,
    power: float = 0.8,
    limit: int = 400,
) -> int | None:
    """Restarts that would decide an inconclusive case with probability ≥ ``power``, if the true effect were
    the estimate ``mean`` and the restart spread ``sd`` what was seen (never fewer than one more than now).
    ``None`` when no affordable number does (an effect on the boundary ±m)."""
    start = max(2, restarts + 1)
    if restarts < 2 or not (math.isfinite(sd) and sd > 0 and math.isfinite(mean)):
        return max(start, 4)
    if mean in (math.log(1 - min_effect), math.log(1 + min_effect)):
        return None
    ns = np.arange(start, limit + 1)
    return first_reaching(ns, sequence_power(mean, sd, ns, min_effect, alpha_case, level), power)


def detectable_effect(
    sd: float,
    restarts: int,
    min_effect: float,
    alpha_case: float,
    power: float = 0.9,
    confirm_restarts: int = 0,
    alpha_confirm: float | None = None,
) -> float:
    """The smallest slowdown (a fraction of throughput) that ``ab``'s own rule — min effect included — flags
    with probability ≥ ``power`` by ``restarts`` restarts of spread ``sd``, and, with ``confirm_restarts``,
    confirms on fresh ones at ``alpha_confirm`` (independent: the powers multiply). Never below the min
    effect; NaN without a usable spread or when no slowdown under 100% would do."""
    if restarts < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan

    def total(drop: float) -> float:
        effect = math.log(1 - drop)
        p = float(sequence_power(effect, sd, np.array([restarts]), min_effect, alpha_case)[0])
        if confirm_restarts >= 2:
            a2 = alpha_confirm if alpha_confirm is not None else alpha_case
            p *= float(sequence_power(effect, sd, np.array([confirm_restarts]), min_effect, a2)[0])
        return p

    lo, hi = min_effect, 0.999
    if total(hi) < power:
        return math.nan
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) < power else (lo, mid)
    return hi
