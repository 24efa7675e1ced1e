"""minGRU and minLSTM (issue 24): exact formulas, the scan equal to the sequential recurrence and to the NumPy
oracle (outputs, final states, gradients), the scan's precision at T = 4,096 with saturated gates, what each
implementation refuses, and the grid's (architecture, implementation) pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from rnnbench.core import flops
from rnnbench.core.spec import Case, ModelConfig, SweepSpec
from rnnbench.errors import ConfigError, UnsupportedError
from rnnbench.measure.models import minimal
from rnnbench.measure.models.build import build_model, unsupported_reason
from rnnbench.measure.models.numpy_ref import numpy_forward
from rnnbench.measure.models.weights import canonical_weights
from rnnbench.measure.runner import group_by_shape
from rnnbench.measure.verify import verify
from tests.device_standin import VirtualDevice

MIN = ("mingru", "minlstm")


# ---- formulas --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arch", "inp", "hidden", "layers", "bi", "bias"),
    list(itertools.product(MIN, (1, 7), (1, 5, 16), (1, 3), (False, True), (True, False))),
)
def test_param_count_equals_the_built_model(
    arch: str, inp: int, hidden: int, layers: int, bi: bool, bias: bool
) -> None:
    config = ModelConfig(arch, inp, hidden, layers, bias=bias, bidirectional=bi)
    for impl in ("scratch", "scan"):
        model = build_model(config, impl)
        assert flops.param_count(arch, inp, hidden, layers, bi, bias) == sum(
            p.numel() for p in model.parameters()
        )


def test_parameter_formulas_by_hand() -> None:
    # minGRU: 2 blocks (z, h~) of H·(I+1); minLSTM: 3 (f, i, h~). Against GRU's 3·H·(I+H+2) at I = H = 128.
    assert flops.param_count("mingru", 10, 20) == 2 * 20 * 11
    assert flops.param_count("minlstm", 10, 20) == 3 * 20 * 11
    assert flops.param_count("minlstm", 10, 20, bias=False) == 3 * 20 * 10
    assert flops.param_count("mingru", 128, 128) / flops.param_count("gru", 128, 128) == pytest.approx(
        2 * 129 / (3 * 258)
    )


@pytest.mark.parametrize("arch", MIN)
@pytest.mark.parametrize("impl", ["scratch", "scan"])
@pytest.mark.parametrize(("layers", "bi"), [(1, False), (2, True), (3, False)])
def test_forward_flops_equal_flop_counter(arch: str, impl: str, layers: int, bi: bool) -> None:
    inp, hidden, steps, batch = 6, 5, 7, 3
    model = build_model(ModelConfig(arch, inp, hidden, layers, bidirectional=bi), impl)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.randn(steps, batch, inp))
    assert counter.get_total_flops() == flops.forward_flops(arch, inp, hidden, layers, bi, steps * batch)


@pytest.mark.parametrize("arch", MIN)
@pytest.mark.parametrize("input_grad", [False, True])
def test_train_flops_equal_flop_counter(arch: str, input_grad: bool) -> None:
    inp, hidden, layers, steps, batch = 8, 16, 2, 4, 3
    model = build_model(ModelConfig(arch, inp, hidden, layers), "scan")
    x = torch.randn(steps, batch, inp, requires_grad=input_grad)
    counter = FlopCounterMode(display=False)
    with counter:
        out, _ = model(x)
        out.sum().backward()
    expected = flops.train_flops(
        arch, inp, hidden, layers, False, steps * batch, batch, input_requires_grad=input_grad
    )
    assert counter.get_total_flops() == expected


# ---- equivalence -----------------------------------------------------------------------------------------
def _run(model: torch.nn.Module, x: torch.Tensor, h0: torch.Tensor, lengths: torch.Tensor | None) -> dict:
    x = x.clone().requires_grad_(True)
    h = h0.clone().requires_grad_(True)
    out, h_n = model(x, h, lengths)
    (out.sum() + 3 * h_n.sum()).backward()
    grads = {name: p.grad for name, p in model.canonical_parameters().items()}
    return {"out": out, "h_n": h_n, "x": x.grad, "h0": h.grad, **grads}


@pytest.mark.parametrize("arch", MIN)
@pytest.mark.parametrize(("layers", "bi", "spread"), [(1, False, False), (2, True, True), (3, False, True)])
def test_scan_equals_the_sequential_recurrence_and_the_oracle(
    arch: str, layers: int, bi: bool, spread: bool
) -> None:
    """Outputs, final states and every gradient (weights, input, a *negative* initial state) of the scan equal
    the Python loop's; the loop's forward equals the paper's equations in float64 NumPy. T = 45 spans two
    chunks, and T = 45 is not a multiple of the chunk, so padding and the joining prefix scan are exercised."""
    config = ModelConfig(arch, 5, 7, layers, bidirectional=bi)
    weights = canonical_weights(config, 3)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(45, 4, 5, generator=gen)
    assert minimal.SCAN_CHUNK < 45 and 45 % minimal.SCAN_CHUNK
    h0 = -torch.rand(layers * config.directions, 4, 7, generator=gen)  # any sign: handled outside the logs
    lengths = torch.tensor([45, 30, 17, 1]) if spread else None
    seq = _run(build_model(config, "scratch", weights), x, h0, lengths)
    par = _run(build_model(config, "scan", weights), x, h0, lengths)
    assert seq.keys() == par.keys()
    for name in seq:
        scale = float(seq[name].detach().abs().max())
        assert float((par[name] - seq[name]).abs().max()) <= 2e-6 * max(scale, 1.0), name
    out, h_n, _ = numpy_forward(
        config,
        {k: v.numpy() for k, v in weights.items()},
        x.numpy(),
        h0.numpy(),
        lengths=None if lengths is None else lengths.numpy(),
    )
    np.testing.assert_allclose(seq["out"].detach().numpy(), out, atol=1e-6)
    np.testing.assert_allclose(seq["h_n"].detach().numpy(), h_n, atol=1e-6)
    if lengths is not None:  # padding is zero and the state is taken at each sequence's own end
        assert float(par["out"][lengths[-1] :, -1].abs().max()) == 0.0


def test_prefix_scans_equal_the_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    decay, value = torch.rand(37, 3, generator=gen), torch.randn(37, 3, generator=gen)
    state, expected = torch.zeros(3), []
    for d, v in zip(decay, value, strict=True):
        state = d * state + v
        expected.append(state)
    torch.testing.assert_close(minimal.prefix_scan(decay, value), torch.stack(expected))
    positive = value.abs() + 0.1
    chunks = lambda t: t.reshape(1, 37, 3, 1)  # noqa: E731  (one chunk of 37 steps, B = 3, H = 1)
    log_decay, log_state = minimal.log_chunk_scan(chunks(decay.log()), chunks(positive.log()))
    state, expected = torch.zeros(3), []
    for d, v in zip(decay, positive, strict=True):
        state = d * state + v
        expected.append(state)
    torch.testing.assert_close(log_state.exp().reshape(37, 3), torch.stack(expected))
    torch.testing.assert_close(log_decay.exp().reshape(37, 3), decay.cumprod(0))


def _heinsen(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """The paper's scan (Heinsen 2023) from a zero state, unchunked: ``exp(A + logcumsumexp(log b − A))``."""
    cum = log_a.cumsum(0)
    return torch.exp(cum + torch.logcumsumexp(log_b - cum, dim=0))


@pytest.mark.parametrize("arch", MIN)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_the_scan_is_precise_at_t4096_with_saturated_gates(arch: str, scale: float) -> None:
    """Gate pre-activations of N(0, 1) and of N(0, 30²) (σ saturated in float32) over T = 4,096: the scan, its
    output and its gradients stay finite, and it stays within 2·10⁻⁶ (max-relative) of the float64 recurrence;
    the paper's cumsum/logcumsumexp form loses 30-100× more there — the reason rnnbench does not use it."""
    hidden, steps = 4, 4096
    gen = torch.Generator().manual_seed(0)
    blocks = flops.gates(arch)
    p = torch.randn(steps, 2, blocks * hidden, generator=gen) * scale
    p[..., -hidden:] = torch.randn(steps, 2, hidden, generator=gen)  # the candidate stays O(1)
    h0 = torch.zeros(2, hidden)
    p.requires_grad_(True)
    out, final = minimal.scan_direction(arch, p, h0, None, reverse=False)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(final).all()
    assert p.grad is not None and torch.isfinite(p.grad).all()

    h = np.zeros((2, hidden))
    expected = np.empty((steps, 2, hidden))
    p64 = p.detach().double().numpy()
    g = lambda v: np.where(v >= 0, v + 0.5, 1 / (1 + np.exp(-np.minimum(v, 0))))  # noqa: E731
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in range(steps):
        if arch == "mingru":
            z = sig(p64[t, :, :hidden])
            h = (1 - z) * h + z * g(p64[t, :, hidden:])
        else:
            f, i = sig(p64[t, :, :hidden]), sig(p64[t, :, hidden : 2 * hidden])
            h = (f * h + i * g(p64[t, :, 2 * hidden :])) / (f + i)
        expected[t] = h
    top = np.abs(expected).max()
    ours = np.abs(out.detach().double().numpy() - expected).max() / top
    theirs = (
        np.abs(_heinsen(*minimal.scan_coefficients(arch, p.detach())).double().numpy() - expected).max() / top
    )
    assert ours <= 2e-6
    assert theirs > 30 * max(ours, 1e-7)


@pytest.mark.parametrize("arch", MIN)
def test_half_precision_is_scanned_in_float32(arch: str) -> None:
    config = ModelConfig(arch, 8, 8, 2)
    checks = verify(config, ["scan", "numpy"], dtype="bfloat16", seq_len=40)
    assert [(c.impl, c.reference, c.status) for c in checks] == [
        ("scan", "scratch", "ok"),
        ("numpy", "scratch", "ok"),
    ]


@pytest.mark.parametrize("arch", MIN)
def test_verify_checks_them_against_their_sequential_reference(arch: str) -> None:
    config = ModelConfig(arch, 6, 5, 2, bidirectional=True)
    checks = verify(config, ["aten", "cell", "scratch", "scan", "numpy"], seq_len=20, length_spread=0.5)
    assert [(c.impl, c.reference, c.status) for c in checks] == [
        ("scan", "scratch", "ok"),
        ("numpy", "scratch", "ok"),
    ]
    assert all(c.output_err <= 1e-5 and (c.grad_err or 0.0) <= 1e-5 for c in checks)


def test_verify_finds_a_scan_that_computes_something_else(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a scan that forgets the initial-state term is a mismatch."""
    real = minimal.linear_scan
    monkeypatch.setattr(
        minimal, "linear_scan", lambda a, b, h0, mask=None, chunk=16: real(a, b + 0.01, h0, mask, chunk)
    )
    checks = verify(ModelConfig("mingru", 4, 4), ["scan"], seq_len=10)
    assert checks[0].status == "mismatch"


def test_the_scan_keeps_to_one_device() -> None:
    """Under the GPU stand-in no op mixes host and device tensors (lengths, masks, padding, the chunks)."""
    config = ModelConfig("minlstm", 3, 4, 2, bidirectional=True)
    model = build_model(config, "scan")
    x = torch.randn(40, 3, 3)
    lengths = torch.tensor([40, 22, 5])
    mode = VirtualDevice()
    mode.place(x, *model.parameters())
    with mode:
        out, h_n = model(x, None, lengths)
        (out.sum() + h_n.sum()).backward()


# ---- what runs where -------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["native", "aten", "cell"])
def test_torch_nn_implementations_refuse_them_with_a_reason(impl: str) -> None:
    reason = unsupported_reason(impl, mode="train", device_type="cpu", dtype="float32", arch="mingru")
    assert reason is not None and "torch.nn ships no minGRU/minLSTM" in reason and "scan" in reason
    with pytest.raises(UnsupportedError, match="no mingru"):
        build_model(ModelConfig("mingru", 4, 4), impl)


def test_the_scan_refuses_lstm() -> None:
    reason = unsupported_reason("scan", mode="train", device_type="cpu", dtype="float32", arch="lstm")
    assert reason is not None and "not linear" in reason


def test_the_grid_pairs_each_architecture_with_what_computes_it() -> None:
    spec = SweepSpec(arch=("lstm", "gru", "mingru", "minlstm"))  # default --impl native scan
    assert [(c.arch, c.impl) for c in spec.expand()] == [
        ("lstm", "native"),
        ("gru", "native"),
        ("mingru", "scan"),
        ("minlstm", "scan"),
    ]
    assert ("lstm", "scan") in spec.skipped_pairs()
    assert [(c.arch, c.impl) for c in SweepSpec(arch=("lstm", "gru")).expand()] == [
        ("lstm", "native"),
        ("gru", "native"),
    ]
    with pytest.raises(ConfigError, match="computes mingru.*scratch, scan, compiled, numpy"):
        SweepSpec(arch=("lstm", "mingru"), impl=("native",)).expand()


def test_default_implementations_of_a_shape_are_timed_interleaved() -> None:
    cases = SweepSpec(
        arch=("lstm", "gru", "mingru"), impl=("native", "aten", "scan"), seq_len=(16, 64)
    ).expand()
    groups = [[(c.arch, c.impl) for c in g] for g in group_by_shape(cases)]
    assert groups[:2] == [
        [("lstm", "native"), ("gru", "native"), ("mingru", "scan")],
        [("lstm", "aten"), ("gru", "aten")],
    ]
    assert len(groups) == 4


def test_case_accepts_the_new_names() -> None:
    case = Case("minlstm", "scan", mode="train")
    assert case.model_config.arch == "minlstm"


def test_list_describes_them() -> None:
    from typer.testing import CliRunner

    from rnnbench.cli.app import app
    from rnnbench.measure.models.catalog import IMPLEMENTATIONS

    assert f"chunks of {minimal.SCAN_CHUNK} steps" in IMPLEMENTATIONS.get("scan").summary
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2·H·(I+1)" in text and "3·H·(I+1)" in text and "arXiv 2410.01201" in text and "G=2" in text
    assert "architectures: mingru, minlstm" in text


def test_scan_forms_benchmark_runs_dry(capsys: pytest.CaptureFixture[str]) -> None:
    """``benchmarks/scan_forms.py`` (the figures behind docs/measurements.md) must not drift: CI dry-runs it."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "scan_forms.py"
    spec = importlib.util.spec_from_file_location("scan_forms", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--dry-run"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 64 |")]
    assert len(lines) == 2
    ours, theirs = (float(cell) for cell in lines[1].split("|")[3:5])
    assert ours < 1e-6 < theirs  # saturated gates: the paper's form already loses precision at T = 64
