"""The canonical weight set: a ``torch.nn`` module's parameters, in PyTorch's names and gate order.

LSTM rows are gates i, f, g, o; GRU rows r, z, n with the reset gate applied *after* the recurrent product
(``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``). Every implementation is loaded from this one dict, so two
implementations given the same seed compute the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnbench.core.flops import gates
from rnnbench.core.spec import ModelConfig
from rnnbench.core.vocab import MINIMAL_ARCHS

_MODULES: dict[str, type[nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def param_name(kind: str, layer: int, reverse: bool) -> str:
    """``weight_ih_l0``, ``bias_hh_l1_reverse`` …, exactly as ``torch.nn`` names them."""
    return f"{kind}_l{layer}{'_reverse' if reverse else ''}"


def reference_module(config: ModelConfig, seed: int = 0) -> nn.RNNBase:
    """A freshly initialised ``torch.nn`` module for ``config``; global RNG state is left untouched."""
    cls = _MODULES[config.arch]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kwargs: dict[str, object] = {
            "input_size": config.input_size,
            "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "bias": config.bias,
            "batch_first": config.batch_first,
            "dropout": config.dropout,
            "bidirectional": config.bidirectional,
        }
        if config.arch == "rnn":
            kwargs["nonlinearity"] = "tanh"
        return cls(**kwargs)  # type: ignore[arg-type]


def canonical_weights(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """Detached float32 copies of the reference module's parameters, keyed by ``torch.nn`` names (minGRU and
    minLSTM: :func:`minimal_weights`)."""
    if config.arch in MINIMAL_ARCHS:
        return minimal_weights(config, seed)
    module = reference_module(config, seed)
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def minimal_weights(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """minGRU/minLSTM: per layer and direction one ``nn.Linear(I_l, G·H)`` as the paper builds them (its default
    initialisation, U(±1/√I_l) for weight and bias), named ``weight_ih_l0``/``bias_ih_l0`` like ``torch.nn``'s
    input weights; rows are the blocks in order (minGRU z, h̃; minLSTM f, i, h̃). Global RNG state untouched."""
    weights: dict[str, torch.Tensor] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in range(config.num_layers):
            width = config.input_size if layer == 0 else config.directions * config.hidden_size
            for reverse in [False, True][: config.directions]:
                linear = nn.Linear(width, gates(config.arch) * config.hidden_size, bias=config.bias)
                weights[param_name("weight_ih", layer, reverse)] = linear.weight.detach().clone()
                if config.bias:
                    weights[param_name("bias_ih", layer, reverse)] = linear.bias.detach().clone()
    return weights


def input_weights(
    weights: dict[str, torch.Tensor], layer: int, reverse: bool, bias: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(W_ih, b_ih)`` of one layer and direction (the bias ``None`` when ``bias=False``)."""
    w_ih = weights[param_name("weight_ih", layer, reverse)]
    return w_ih, (weights[param_name("bias_ih", layer, reverse)] if bias else None)


def layer_weights(
    weights: dict[str, torch.Tensor], layer: int, reverse: bool, bias: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(W_ih, W_hh, b_ih, b_hh)`` of one layer and direction (biases ``None`` when ``bias=False``)."""
    w_ih = weights[param_name("weight_ih", layer, reverse)]
    w_hh = weights[param_name("weight_hh", layer, reverse)]
    if not bias:
        return w_ih, w_hh, None, None
    return (
        w_ih,
        w_hh,
        weights[param_name("bias_ih", layer, reverse)],
        weights[param_name("bias_hh", layer, reverse)],
    )
