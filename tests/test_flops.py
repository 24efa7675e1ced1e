"""The formulas are exact: parameters equal torch.nn's count; forward FLOPs equal FlopCounterMode on ATen."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnnbench.core import flops
from rnnbench.core.spec import ModelConfig
from rnnbench.measure.models.native import vendor_libraries_off
from rnnbench.measure.models.weights import reference_module

SIZES = list(
    itertools.product(("lstm", "gru", "rnn"), (1, 7, 32), (1, 5, 16), (1, 2, 3), (False, True), (True, False))
)


@pytest.mark.parametrize(("arch", "inp", "hidden", "layers", "bi", "bias"), SIZES)
def test_param_count_equals_torch(arch: str, inp: int, hidden: int, layers: int, bi: bool, bias: bool) -> None:
    module = reference_module(ModelConfig(arch, inp, hidden, layers, bias=bias, bidirectional=bi))
    assert flops.param_count(arch, inp, hidden, layers, bi, bias) == sum(p.numel() for p in module.parameters())


def test_textbook_ratio_gru_has_three_quarters_of_lstm_parameters() -> None:
    # "GRU has a third fewer parameters" is wrong: it has exactly a quarter fewer at equal sizes.
    for inp, hidden in [(10, 20), (512, 512), (3, 1000)]:
        assert 4 * flops.param_count("gru", inp, hidden) == 3 * flops.param_count("lstm", inp, hidden)
    assert flops.params_per_layer_direction("lstm", 2, 3) == 4 * 3 * (2 + 3 + 2)


@pytest.mark.parametrize(
    ("arch", "inp", "hidden", "layers", "bi", "steps", "batch"),
    [
        (a, i, h, n, bi, t, b)
        for a in ("lstm", "gru", "rnn")
        for (i, h, n, bi, t, b) in [(8, 16, 1, False, 5, 3), (4, 6, 2, True, 3, 2), (16, 8, 3, False, 4, 1)]
    ],
)
def test_forward_flops_equal_flop_counter_on_aten(
    arch: str, inp: int, hidden: int, layers: int, bi: bool, steps: int, batch: int
) -> None:
    module = reference_module(ModelConfig(arch, inp, hidden, layers, bidirectional=bi))
    x = torch.randn(steps, batch, inp)
    counter = FlopCounterMode(display=False)
    with vendor_libraries_off(), torch.no_grad(), counter:
        module(x)
    expected = flops.forward_flops(arch, inp, hidden, layers, bi, tokens=steps * batch)
    assert counter.get_total_flops() == expected


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("input_grad", [False, True])
def test_train_flops_equal_flop_counter_on_aten(arch: str, input_grad: bool) -> None:
    inp, hidden, layers, steps, batch = 8, 16, 2, 4, 3
    module = reference_module(ModelConfig(arch, inp, hidden, layers))
    x = torch.randn(steps, batch, inp, requires_grad=input_grad)
    counter = FlopCounterMode(display=False)
    with vendor_libraries_off(), counter:
        out, _ = module(x)
        out.sum().backward()
    expected = flops.train_flops(
        arch, inp, hidden, layers, False, steps * batch, batch, input_requires_grad=input_grad
    )
    assert counter.get_total_flops() == expected


def test_reference_closed_form_for_first_layer() -> None:
    # fwd+bwd of one layer whose input needs no gradient = 2·G·H·(2I+3H)·B·T (README, "Formulas"), when the
    # initial state's gradient is also counted; autograd skips it for a constant initial state.
    g, i, h, batch, steps = 4, 10, 20, 3, 10
    tokens = batch * steps
    closed = 2 * g * h * (2 * i + 3 * h) * tokens
    assert flops.train_flops("lstm", i, h, 1, False, tokens, batch, state_requires_grad=True) == closed
    assert flops.train_flops("lstm", i, h, 1, False, tokens, batch) == closed - 2 * g * h * h * batch


@pytest.mark.parametrize("impl", ["native", "aten", "cell", "scratch"])
def test_flop_count_follows_the_steps_each_implementation_computes(impl: str) -> None:
    """Variable lengths: packing (native, aten) computes the real tokens only, masking (cell, scratch) all
    B·T steps — FlopCounterMode agrees, so GFLOP/s counts executed work while tokens/s counts real tokens."""
    from rnnbench.measure.models.build import build_model
    from rnnbench.measure.models.catalog import IMPLEMENTATIONS

    batch, steps = 4, 6
    lengths = torch.tensor([6, 3, 4, 6])  # 19 real tokens of 24
    model = build_model(ModelConfig("gru", 8, 16, 1), impl, seed=0, device_type="cpu")
    counter = FlopCounterMode(display=False)
    with vendor_libraries_off(), torch.no_grad(), counter:
        model(torch.randn(steps, batch, 8), None, lengths)
    packed = IMPLEMENTATIONS.get(impl).variable_length == "packed sequence"
    assert packed == (impl in ("native", "aten"))
    executed = flops.executed_tokens(batch, steps, int(lengths.sum()), packed)
    assert executed == (19 if packed else 24)
    assert counter.get_total_flops() == flops.forward_flops("gru", 8, 16, 1, False, executed)
    assert counter.get_total_flops() == 2 * 3 * 16 * (8 + 16) * executed  # by hand: 2·G·H·(I+H) per step
