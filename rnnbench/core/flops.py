"""Exact parameter counts and GEMM FLOP counts for PyTorch's LSTM, GRU and RNN, and for minGRU and minLSTM.

Conventions (docs/architectures.md, "Formulas"): PyTorch keeps two bias vectors per gate block (``b_ih`` and
``b_hh``); layers after the first see ``I = D·H`` inputs; FLOPs count the matrix products only (multiply and add
= 2 FLOPs), as ``torch.utils.flop_counter.FlopCounterMode`` does on the ATen path, and leave out pointwise gate
math (sigmoids, tanh, products), which is O(G·H·B·T) against the GEMMs' O(G·H·(I+H)·B·T).

minGRU and minLSTM (Feng et al. 2024) have no recurrent weight: one input projection ``W x + b`` of G blocks
(minGRU z, h̃: G = 2; minLSTM f, i, h̃: G = 3) with *one* bias vector per block, so ``G·H·(I+1)`` parameters
and ``2·G·H·I`` FLOPs per token. Their scan (logaddexp, exp: O(H·B·T)) is pointwise work and is
not counted — a GFLOP/s figure for them understates the time their scan takes, which is the point to measure.
"""

from __future__ import annotations

GATES: dict[str, int] = {"lstm": 4, "gru": 3, "rnn": 1, "mingru": 2, "minlstm": 3}
"""Gate blocks per architecture: the G in every formula (LSTM i,f,g,o; GRU r,z,n; RNN one; minGRU z,h̃;
minLSTM f,i,h̃)."""

RECURRENT_WEIGHT: dict[str, bool] = {"lstm": True, "gru": True, "rnn": True, "mingru": False, "minlstm": False}
"""Whether the gates read ``h_{t−1}`` through ``W_hh`` (and carry PyTorch's second bias ``b_hh``)."""


def gates(arch: str) -> int:
    """Number of gate blocks G for ``arch``; raises ``KeyError`` for unknown names."""
    return GATES[arch]


def layer_input_size(input_size: int, hidden_size: int, layer: int, bidirectional: bool) -> int:
    """Input width of layer ``layer`` (0-based): ``input_size`` first, ``D·H`` after."""
    directions = 2 if bidirectional else 1
    return input_size if layer == 0 else directions * hidden_size


def params_per_layer_direction(arch: str, input_size: int, hidden_size: int, bias: bool = True) -> int:
    """``G·H·(I+H+2)`` with bias (two bias vectors), ``G·H·(I+H)`` without; minGRU/minLSTM ``G·H·(I+1)`` and
    ``G·H·I``."""
    g = gates(arch)
    if not RECURRENT_WEIGHT[arch]:
        return g * hidden_size * (input_size + (1 if bias else 0))
    return g * hidden_size * (input_size + hidden_size + (2 if bias else 0))


def param_count(
    arch: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
) -> int:
    """Total parameters of ``torch.nn.{LSTM,GRU,RNN}`` with these arguments."""
    directions = 2 if bidirectional else 1
    return sum(
        directions
        * params_per_layer_direction(
            arch, layer_input_size(input_size, hidden_size, layer, bidirectional), hidden_size, bias
        )
        for layer in range(num_layers)
    )


def executed_tokens(batch: int, seq_len: int, real_tokens: int, packed: bool) -> int:
    """Time steps the kernels actually compute for one batch: the real tokens when the implementation packs
    the batch (``native``, ``aten``: ``pack_padded_sequence`` skips the padding), ``B·T`` when it runs every
    step and masks the padding out (``cell``, ``scratch``, ``compiled``, ``numpy``).

    GFLOP/s must count executed work, or a masked loop's rate would look lower than what its GEMMs reach;
    tokens/s keeps counting real tokens, the work a user wants done.
    """
    return real_tokens if packed else batch * seq_len


def forward_flops(
    arch: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    tokens: int,
) -> int:
    """Forward GEMM FLOPs: ``Σ_layers D · 2·G·H·(I_l+H)·tokens`` (minGRU/minLSTM: ``D · 2·G·H·I_l·tokens``).

    ``tokens`` is the number of time steps computed (:func:`executed_tokens`): ``B·T`` for a padded or masked
    batch; for a packed batch the sum of the lengths, because only real time steps are computed.
    """
    g = gates(arch)
    directions = 2 if bidirectional else 1
    recurrent = hidden_size if RECURRENT_WEIGHT[arch] else 0
    total = 0
    for layer in range(num_layers):
        i_l = layer_input_size(input_size, hidden_size, layer, bidirectional)
        total += directions * 2 * g * hidden_size * (i_l + recurrent) * tokens
    return total


def backward_flops(
    arch: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    tokens: int,
    batch: int,
    input_requires_grad: bool = False,
    state_requires_grad: bool = False,
) -> int:
    """Backward GEMM FLOPs, counted as autograd on the ATen path performs them.

    Per layer and direction: weight gradients ``2·G·H·(I_l+H)·tokens``; the gradient flowing back through
    ``W_hh`` at every step except the first, whose predecessor is the initial state (unless that state requires
    a gradient): ``2·G·H·H·(tokens − B)``; and the input gradient ``2·G·H·I_l·tokens`` for every layer after
    the first, and for the first only when its input requires a gradient. With no gradient for the input or
    the initial state, one layer's forward+backward is ``2·G·H·(2I+3H)·B·T − 2·G·H²·B``, the reference's
    ``2·G·H·(2I+3H)·B·T`` up to the first step. minGRU/minLSTM have no ``W_hh``: weight gradients
    ``2·G·H·I_l·tokens`` and the input gradient as above; the gradient through the scan is pointwise.
    """
    g = gates(arch)
    directions = 2 if bidirectional else 1
    recurrent = hidden_size if RECURRENT_WEIGHT[arch] else 0
    recurrent_steps = tokens if state_requires_grad else tokens - batch
    total = 0
    for layer in range(num_layers):
        i_l = layer_input_size(input_size, hidden_size, layer, bidirectional)
        weight_grads = 2 * g * hidden_size * (i_l + recurrent) * tokens
        data_grads = 2 * g * hidden_size * recurrent * recurrent_steps
        if layer > 0 or input_requires_grad:
            data_grads += 2 * g * hidden_size * i_l * tokens
        total += directions * (weight_grads + data_grads)
    return total


def train_flops(
    arch: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    tokens: int,
    batch: int,
    input_requires_grad: bool = False,
    state_requires_grad: bool = False,
) -> int:
    """Forward plus backward GEMM FLOPs of one training step (the optimizer's O(params) work not counted)."""
    args = (arch, input_size, hidden_size, num_layers, bidirectional, tokens)
    return forward_flops(*args) + backward_flops(
        *args, batch, input_requires_grad=input_requires_grad, state_requires_grad=state_requires_grad
    )
