"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", arXiv 2410.01201): ``scratch`` (the
sequential reference, a Python loop over time), ``scan`` (the parallel scan) and ``compiled`` (the scan under
``torch.compile``), all from one canonical weight set.

Both cells drop ``h_{t−1}`` from the gates, so one layer is the linear recurrence ``h_t = a_t ⊙ h_{t−1} + b_t``
whose coefficients come from one input projection ``W x_t + b``:

* minGRU, blocks ``[k_z, k_h]``: ``z = σ(k_z)``, ``a = 1 − z``, ``b = z ⊙ g(k_h)``;
* minLSTM, blocks ``[k_f, k_i, k_h]``: ``f, i = σ(k_f), σ(k_i)`` normalised to ``f/(f+i)``, ``i/(f+i)``;
  ``a = f/(f+i)``, ``b = i/(f+i) ⊙ g(k_h)``.

``g(v) = v + ½`` for ``v ≥ 0`` and ``σ(v)`` below (the paper's appendix B.3) keeps the candidate positive,
so the scan can run in log space; every implementation, the sequential one included, uses it, so all compute
the same function. The normalised gates are computed as ``σ(∓d)`` with ``d = softplus(−k_f) − softplus(−k_i) =
log(i/f)``, the same numbers as ``f/(f+i)`` without its 0/0 when both gates underflow.

The scan (:func:`linear_scan`) is a two-level (chunked) parallel scan. The sequence is cut into chunks of
:data:`SCAN_CHUNK` steps; within them, all chunks advance together in log space,
``β_t = logaddexp(β_{t−1} + log a_t, log b_t)`` (:func:`log_chunk_scan`); the chunks are then joined by a
parallel prefix scan of their affine maps in linear space (:func:`prefix_scan`: their decays are in [0, 1], and
the initial state, of any sign, enters there). Depth ``SCAN_CHUNK + log₂(T/SCAN_CHUNK)``, not T; the work is
linear in T. Why not the paper's form, Heinsen's (arXiv 2311.06281) ``A = cumsum(log a)``,
``h = exp(A + logcumsumexp(log b − A))``:

* precision — ``log b − A`` is rounded at the scale of ``|A|``, which grows with T: a relative error of about
  ``2·ε·|A|`` in ``h``, 1.4·10⁻⁴ in float32 at T = 4,096 with gates near ½ and 0.3% with saturated gates
  (``tests/test_minimal.py``); ``logaddexp`` of a state and one step never subtracts two large prefix sums,
  and stays within 10⁻⁶ there;
* speed — torch's CPU ``logcumsumexp`` is a serial loop of about 50 ns per element (torch 2.13, one thread;
  ``benchmarks/scan_forms.py`` times both forms).

Half precision inputs are scanned in float32 (log-space sums in bfloat16 would be wrong by whole units).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.core.spec import ModelConfig
from rnnbench.measure.models.loops import Step, _LoopNet, _raise_compile_limits
from rnnbench.measure.models.weights import input_weights

SCAN_CHUNK = 32
"""Steps per chunk: the scan's depth is ``SCAN_CHUNK + log₂(T/SCAN_CHUNK)`` sequential vectorised steps (39
at T = 4,096), each over ``1/SCAN_CHUNK`` of the data. On the 2-core Intel VM a training step's scan took 57,
59 and 81 ms at chunks of 32, 16 and 8 (T = 4,096, B = 8, H = 64) and 30, 34, 34 ms at T = 1,024, B = 16."""

MASKED_LOG = -1.0e4
"""``log b`` at a padded step (``b = 0``): finite, so ``logaddexp``'s gradient over all-padding stays 0 instead
of NaN (``exp(−inf − (−inf))``), and ``exp`` of it is exactly 0 in float32."""


# ---- the cell math ---------------------------------------------------------------------------------------
def g(v: torch.Tensor) -> torch.Tensor:
    """The paper's positive candidate map: ``v + ½`` for ``v ≥ 0``, ``σ(v)`` below (continuous at 0)."""
    return torch.where(v >= 0, F.relu(v) + 0.5, torch.sigmoid(v))


def log_g(v: torch.Tensor) -> torch.Tensor:
    """``log g(v)`` without forming ``g``: ``log(v + ½)`` and ``−softplus(−v)`` (finite gradients both ways)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def mingru_step(p: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One minGRU step from its projection ``p = [k_z, k_h]``: ``(1 − z) ⊙ h + z ⊙ g(k_h)``."""
    k_z, k_h = p.chunk(2, dim=-1)
    z = torch.sigmoid(k_z)
    return (1 - z) * h + z * g(k_h)


def minlstm_step(p: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """One minLSTM step from ``p = [k_f, k_i, k_h]``: ``f/(f+i) ⊙ h + i/(f+i) ⊙ g(k_h)``."""
    k_f, k_i, k_h = p.chunk(3, dim=-1)
    d = F.softplus(-k_f) - F.softplus(-k_i)  # log(i / f)
    return torch.sigmoid(-d) * h + torch.sigmoid(d) * g(k_h)


STEPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mingru": mingru_step,
    "minlstm": minlstm_step,
}


def scan_coefficients(arch: str, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log a, log b)`` of ``h_t = a_t ⊙ h_{t−1} + b_t`` from the projections ``p`` (any leading shape)."""
    if arch == "mingru":
        k_z, k_h = p.chunk(2, dim=-1)
        return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)
    k_f, k_i, k_h = p.chunk(3, dim=-1)
    d = F.softplus(-k_f) - F.softplus(-k_i)
    return -F.softplus(d), -F.softplus(-d) + log_g(k_h)


# ---- the scan --------------------------------------------------------------------------------------------
def prefix_scan(decay: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Inclusive scan of the affine maps ``x ↦ decay_k ⊙ x + value_k`` along dim 0 (Hillis–Steele: log₂ n
    vectorised steps): returns each prefix's ``value``, the state after element k from a zero start."""
    n = decay.shape[0]
    step = 1
    while step < n:
        value = torch.cat([value[:step], value[step:] + decay[step:] * value[:-step]])
        decay = torch.cat([decay[:step], decay[step:] * decay[:-step]])
        step *= 2
    return value


def log_chunk_scan(log_a: torch.Tensor, log_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Within each chunk (dim 1 of ``(chunks, C, B, H)``), the log-space running decay and the log state from a
    zero start: ``β_t = logaddexp(β_{t−1} + α_t, log b_t)`` — C vectorised steps over all chunks at once, the
    decay a ``cumsum``. ``unbind``/``stack``, not slicing: a slice's backward writes a full-size zero tensor
    per slice (an earlier Hillis–Steele version spent a fifth of its training step in ``fill_``)."""
    a_steps, b_steps = log_a.unbind(1), log_b.unbind(1)
    states = [b_steps[0]]
    for a_t, b_t in zip(a_steps[1:], b_steps[1:], strict=True):
        states.append(torch.logaddexp(states[-1] + a_t, b_t))
    return log_a.cumsum(dim=1), torch.stack(states, dim=1)


def linear_scan(
    log_a: torch.Tensor,
    log_b: torch.Tensor,
    h0: torch.Tensor,
    mask: torch.Tensor | None = None,
    chunk: int = SCAN_CHUNK,
) -> torch.Tensor:
    """All states of ``h_t = a_t ⊙ h_{t−1} + b_t`` (``(T, B, H)``, ``b > 0``) from ``h0`` (``(B, H)``, any
    sign), without a loop over time. ``mask`` (``(T, B, 1)`` bool) marks real steps; at the others ``a = 1``
    and ``b = 0``, so the state is carried unchanged.

    Within each chunk: :func:`log_chunk_scan` from a zero state (``local``) and the chunk's running decay;
    across chunks: :func:`prefix_scan` of each chunk's ``(decay, local end)``; each step's state is then
    ``local + decay ⊙ state entering its chunk``.
    """
    steps, batch, hidden = log_a.shape
    chunk = min(chunk, steps)
    if mask is not None:
        log_a = torch.where(mask, log_a, 0.0)
        log_b = torch.where(mask, log_b, MASKED_LOG)
    pad = (-steps) % chunk
    if pad:
        log_a = F.pad(log_a, (0, 0, 0, 0, 0, pad), value=0.0)
        log_b = F.pad(log_b, (0, 0, 0, 0, 0, pad), value=MASKED_LOG)
    n = (steps + pad) // chunk
    log_decay, log_local = log_chunk_scan(
        log_a.reshape(n, chunk, batch, hidden), log_b.reshape(n, chunk, batch, hidden)
    )
    local, decay = torch.exp(log_local), torch.exp(log_decay)
    ends = local[:, -1]
    ends = torch.cat([ends[:1] + decay[:1, -1] * h0, ends[1:]])
    after = prefix_scan(decay[:, -1], ends)
    entering = torch.cat([h0.unsqueeze(0), after[:-1]])
    states = local + decay * entering.unsqueeze(1)
    return states.reshape(n * chunk, batch, hidden)[:steps]


def scan_direction(
    arch: str, p: torch.Tensor, h0: torch.Tensor, mask: torch.Tensor | None, reverse: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer and direction: ``(outputs, final state)`` from the projections ``p`` (``(T, B, G·H)``).

    The reverse direction scans the flipped sequence; with a mask its padded steps then come first and carry
    ``h0`` to each sequence's own last step, as packing does. Half precision is scanned in float32 and
    returned in its own dtype."""
    dtype = p.dtype
    work = p.float() if dtype in (torch.float16, torch.bfloat16) else p
    log_a, log_b = scan_coefficients(arch, work)
    order = mask
    if reverse:
        log_a, log_b = log_a.flip(0), log_b.flip(0)
        order = None if mask is None else mask.flip(0)
    states = linear_scan(log_a, log_b, h0.to(work.dtype), order)
    final = states[-1]
    if reverse:
        states = states.flip(0)
    if mask is not None:
        states = torch.where(mask, states, 0.0)
    return states.to(dtype), final.to(dtype)


# ---- the implementations ---------------------------------------------------------------------------------
_HALF = (torch.float16, torch.bfloat16)


class MinScratchNet(_LoopNet):
    """The sequential reference: the projection of all steps in one GEMM, then a Python loop of
    :data:`STEPS` (``_LoopNet`` drives layers, directions, masking and dropout as for LSTM and GRU).

    In half precision the projection runs in the model's dtype and the recurrence in float32, for every
    minimal implementation alike (as autocast would run the scan's exp/log/cumsum): a bfloat16 state rounded
    at each of T steps would measure rounding, not the cell."""

    impl = "scratch"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config)
        self.weights = nn.ParameterDict(
            {name: nn.Parameter(value.detach().clone()) for name, value in weights.items()}
        )

    def _project(self, layer: int, reverse: bool, x: torch.Tensor) -> torch.Tensor:
        w, b = input_weights(dict(self.weights.items()), layer, reverse, self.config.bias)
        p = F.linear(x, w, b)
        return p.float() if p.dtype in _HALF else p

    def _run_direction(
        self,
        layer: int,
        reverse: bool,
        x: torch.Tensor,
        state: Step,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, Step]:
        if x.dtype not in _HALF:
            return super()._run_direction(layer, reverse, x, state, mask)
        out, final = super()._run_direction(layer, reverse, x, tuple(s.float() for s in state), mask)
        return out.to(x.dtype), tuple(s.to(x.dtype) for s in final)

    def _stepper(self, layer: int, reverse: bool) -> Callable[[torch.Tensor, Step], Step]:
        step = STEPS[self.config.arch]
        return lambda inp, state: (step(inp, state[0]),)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.weights.items())


class MinScanNet(MinScratchNet):
    """The parallel scan (:func:`scan_direction`): no Python loop over time."""

    impl = "scan"
    backend = "scan"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config, weights)
        self._scan: Callable[..., tuple[torch.Tensor, torch.Tensor]] = scan_direction

    def _run_direction(
        self,
        layer: int,
        reverse: bool,
        x: torch.Tensor,
        state: Step,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, Step]:
        p = self._project(layer, reverse, x)
        out, final = self._scan(self.config.arch, p, state[0].to(p.dtype), mask, reverse)
        return out.to(x.dtype), (final.to(x.dtype),)


class MinCompiledNet(MinScanNet):
    """The scan of one layer and direction compiled whole by ``torch.compile`` (one graph per shape: the scan
    has no loop over time, so compile time does not grow with T)."""

    impl = "compiled"
    backend = "compiled"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config, weights)
        _raise_compile_limits()
        self._scan = cast(
            Callable[..., tuple[torch.Tensor, torch.Tensor]],
            torch.compile(scan_direction, dynamic=False, fullgraph=True),
        )
