"""Every implementation computes what torch.nn computes — outputs, final states and gradients — and the
NumPy oracle agrees with torch's forward pass."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rnnbench.core.spec import ModelConfig
from rnnbench.errors import UnknownNameError, UnsupportedError
from rnnbench.measure.models.build import build_model, unsupported_reason
from rnnbench.measure.models.numpy_ref import numpy_forward
from rnnbench.measure.models.weights import canonical_weights

ARCHS = ("lstm", "gru", "rnn")
RTOL, ATOL = 1e-5, 1e-6
INPUT, HIDDEN, STEPS, BATCH = 5, 6, 7, 4
LENGTHS = torch.tensor([7, 3, 1, 5])


def _inputs(config: ModelConfig, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (BATCH, STEPS, INPUT) if config.batch_first else (STEPS, BATCH, INPUT)
    return torch.randn(shape, generator=gen)


def _initial_state(config: ModelConfig) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    shape = (config.num_layers * config.directions, BATCH, HIDDEN)
    h = torch.randn(shape, generator=gen)
    return (h, torch.randn(shape, generator=gen)) if config.arch == "lstm" else h


def _flat(state: torch.Tensor | tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


GRID = list(itertools.product(ARCHS, (1, 2), (False, True), (False, True), (False, True)))
GRID_IDS = [
    f"{a}-L{n}-{'bi' if bi else 'uni'}-{'bf' if bf else 'tf'}-{'var' if v else 'fix'}"
    for a, n, bi, bf, v in GRID
]


@pytest.mark.parametrize("impl", ["aten", "cell", "scratch"])
@pytest.mark.parametrize(("arch", "layers", "bidirectional", "batch_first", "variable"), GRID, ids=GRID_IDS)
def test_outputs_states_and_gradients_match_native(
    impl: str, arch: str, layers: int, bidirectional: bool, batch_first: bool, variable: bool
) -> None:
    config = ModelConfig(arch, INPUT, HIDDEN, layers, batch_first=batch_first, bidirectional=bidirectional)
    weights = canonical_weights(config, seed=3)
    ref, other = build_model(config, "native", weights), build_model(config, impl, weights)
    lengths = LENGTHS if variable else None
    hx = _initial_state(config)

    results = []
    for model in (ref, other):
        x = _inputs(config).requires_grad_(True)
        state = tuple(s.clone().requires_grad_(True) for s in _flat(hx))
        out, h_n = model(x, state if arch == "lstm" else state[0], lengths)
        # A loss touching outputs and every final state, with distinct weights so no error cancels.
        loss = (out * torch.linspace(0.5, 1.5, out.shape[-1])).sum() + sum(
            (s * (i + 2)).sum() for i, s in enumerate(_flat(h_n))
        )
        loss.backward()
        grads = {name: p.grad for name, p in model.canonical_parameters().items()}
        results.append((out.detach(), [s.detach() for s in _flat(h_n)], x.grad, [s.grad for s in state], grads))

    (out_a, states_a, gx_a, gh_a, gw_a), (out_b, states_b, gx_b, gh_b, gw_b) = results
    _close(out_b, out_a)
    for a, b in zip(states_a, states_b, strict=True):
        _close(b, a)
    _close(gx_b, gx_a)
    for a, b in zip(gh_a, gh_b, strict=True):
        _close(b, a)
    assert set(gw_b) == set(gw_a) == set(weights)
    for name in gw_a:
        _close(gw_b[name], gw_a[name])
    if variable:  # outputs past each sequence's end are exactly zero
        out_tm = out_b.transpose(0, 1) if batch_first else out_b
        for b, length in enumerate(LENGTHS.tolist()):
            assert torch.count_nonzero(out_tm[length:, b]) == 0


@pytest.mark.parametrize(("arch", "layers", "bidirectional", "batch_first", "variable"), GRID, ids=GRID_IDS)
def test_numpy_oracle_matches_torch_forward(
    arch: str, layers: int, bidirectional: bool, batch_first: bool, variable: bool
) -> None:
    config = ModelConfig(arch, INPUT, HIDDEN, layers, batch_first=batch_first, bidirectional=bidirectional)
    weights = canonical_weights(config, seed=5)
    lengths = LENGTHS if variable else None
    hx = _initial_state(config)
    with torch.no_grad():
        out, h_n = build_model(config, "native", weights)(_inputs(config), hx, lengths)
    states = _flat(hx)
    np_out, np_h, np_c = numpy_forward(
        config,
        {k: v.numpy() for k, v in weights.items()},
        _inputs(config).numpy(),
        states[0].numpy(),
        states[1].numpy() if arch == "lstm" else None,
        None if lengths is None else lengths.numpy(),
    )
    np.testing.assert_allclose(out.numpy(), np_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_flat(h_n)[0].numpy(), np_h, rtol=1e-5, atol=1e-6)
    if arch == "lstm":
        np.testing.assert_allclose(_flat(h_n)[1].numpy(), np_c, rtol=1e-5, atol=1e-6)
    # and through the common interface
    out2, _ = build_model(config, "numpy", weights)(_inputs(config), hx, lengths)
    _close(out2, out)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("impl", ["aten", "cell", "scratch", "numpy"])
def test_no_bias_and_zero_initial_state(arch: str, impl: str) -> None:
    config = ModelConfig(arch, INPUT, HIDDEN, 2, bias=False)
    weights = canonical_weights(config)
    assert not any(name.startswith("bias") for name in weights)
    x = _inputs(config)
    with torch.no_grad():
        ref_out, ref_h = build_model(config, "native", weights)(x)
        out, h = build_model(config, impl, weights)(x)
    _close(out, ref_out)
    for a, b in zip(_flat(ref_h), _flat(h), strict=True):
        _close(b, a)


@pytest.mark.parametrize("impl", ["native", "cell", "scratch"])
def test_dropout_between_layers(impl: str) -> None:
    config = ModelConfig("gru", INPUT, HIDDEN, 3, dropout=0.5)
    weights = canonical_weights(config)
    model = build_model(config, impl, weights)
    x = _inputs(config)
    model.eval()  # eval: dropout off, identical to the dropout-free module
    with torch.no_grad():
        plain, _ = build_model(ModelConfig("gru", INPUT, HIDDEN, 3), "native", weights)(x)
        _close(model(x)[0], plain)
    model.train()  # train: dropout on, stochastic and different from eval
    torch.manual_seed(0)
    a, _ = model(x)
    torch.manual_seed(1)
    b, _ = model(x)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("arch", ARCHS)
def test_compiled_matches_native(arch: str) -> None:
    reason = unsupported_reason("compiled", mode="train", device_type="cpu", dtype="float32")
    if reason:
        pytest.skip(reason)
    config = ModelConfig(arch, INPUT, HIDDEN, 2, bidirectional=True)
    weights = canonical_weights(config)
    ref, comp = build_model(config, "native", weights), build_model(config, "compiled", weights)
    x1, x2 = _inputs(config).requires_grad_(True), _inputs(config).requires_grad_(True)
    out1, _ = ref(x1, lengths=LENGTHS)
    out2, _ = comp(x2, lengths=LENGTHS)
    _close(out2, out1)
    out1.sum().backward()
    out2.sum().backward()
    _close(x2.grad, x1.grad)
    g1, g2 = ref.canonical_parameters(), comp.canonical_parameters()
    for name in g1:
        _close(g2[name].grad, g1[name].grad)


def test_canonical_weights_are_deterministic_and_leave_global_rng_alone() -> None:
    config = ModelConfig("lstm", 3, 4)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = canonical_weights(config, seed=7)
    after = torch.rand(1)
    b = canonical_weights(config, seed=7)
    assert torch.equal(before, after)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = canonical_weights(config, seed=8)
    assert not torch.equal(a["weight_ih_l0"], c["weight_ih_l0"])


def test_unsupported_combinations_say_why() -> None:
    assert "inference" in (unsupported_reason("numpy", mode="train", device_type="cpu", dtype="float32") or "")
    assert "cpu" in (unsupported_reason("numpy", mode="inference", device_type="cuda", dtype="float32") or "")
    assert unsupported_reason("native", mode="train", device_type="cpu", dtype="bfloat16") is None


def test_unknown_implementation_suggests() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'scratch'"):
        build_model(ModelConfig("lstm", 2, 2), "scrach")


def test_compiled_unavailable_is_an_error_not_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnbench.measure.models.build as build

    monkeypatch.setattr(build, "compiled_unavailable_reason", lambda device_type: "no compiler here")
    with pytest.raises(UnsupportedError, match="no compiler here"):
        build.build_model(ModelConfig("gru", 2, 2), "compiled")


def test_compiled_on_cuda_needs_triton_and_a_c_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Triton or a C compiler, compiled on CUDA is 'unsupported' with the reason before anything is
    built — not an error row per case from deep inside inductor (issue 12, defect 12)."""
    from rnnbench.measure.models import build, loops

    monkeypatch.setattr(loops, "_has_triton", lambda: False)
    reason = build.unsupported_reason("compiled", mode="inference", device_type="cuda", dtype="float32")
    assert reason is not None and "Triton" in reason
    monkeypatch.setattr(loops, "_has_triton", lambda: True)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(loops.shutil, "which", lambda name: None)
    reason = build.unsupported_reason("compiled", mode="train", device_type="cuda", dtype="bfloat16")
    assert reason is not None and "C compiler" in reason
    monkeypatch.setattr(loops.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert build.unsupported_reason("compiled", mode="train", device_type="cuda", dtype="float32") is None
    # the CPU check is unchanged by the CUDA one
    monkeypatch.setattr(loops, "_has_triton", lambda: False)
    assert build.unsupported_reason("compiled", mode="train", device_type="cpu", dtype="float32") is None


class _Raising(torch.nn.Module):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise RuntimeError(self.message)


def test_dtype_probe_asks_the_installed_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing dtype kernel becomes an 'unsupported' reason naming torch's own message; any other failure
    is left to the case (an error row), and float32 is never probed (issue 12, defect 3)."""
    from rnnbench.measure.models import build, probe

    probe.dtype_unsupported_reason.cache_clear()
    calls: list[str] = []

    def fake_build(config: ModelConfig, impl: str, *args: object, **kwargs: object) -> torch.nn.Module:
        calls.append(impl)
        if impl == "cell":
            return _Raising("\"_thnn_fused_gru_cell_cuda\" not implemented for 'BFloat16'")
        return _Raising("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(build, "build_model", fake_build)
    reason = probe.dtype_unsupported_reason("cell", "gru", "train", "cpu", "bfloat16")
    assert reason is not None and "bfloat16" in reason and "_thnn_fused_gru_cell_cuda" in reason
    assert (
        probe.dtype_unsupported_reason("scratch", "gru", "train", "cpu", "bfloat16") is None
    )  # a bug: not hidden
    assert probe.dtype_unsupported_reason("cell", "gru", "train", "cpu", "float32") is None
    assert calls == ["cell", "scratch"]  # float32 was not probed; a second identical question is cached
    assert probe.dtype_unsupported_reason("cell", "gru", "train", "cpu", "bfloat16") == reason
    assert calls == ["cell", "scratch"]
    probe.dtype_unsupported_reason.cache_clear()


def test_dtype_probe_passes_what_runs_here() -> None:
    from rnnbench.measure.models import probe

    probe.dtype_unsupported_reason.cache_clear()
    for impl in ("native", "aten", "cell", "scratch"):
        assert probe.dtype_unsupported_reason(impl, "lstm", "train", "cpu", "bfloat16") is None
    probe.dtype_unsupported_reason.cache_clear()


def test_loops_copy_lengths_to_the_device_once() -> None:
    """The masked loops copy the lengths once, not in every timed pass: a host→device copy synchronises the
    stream on CUDA (issue 12, defect 7). Counted on the CPU; an in-place change makes a new copy."""
    config = ModelConfig("lstm", INPUT, HIDDEN)
    lengths = LENGTHS.clone()
    for impl in ("cell", "scratch"):
        net = build_model(config, impl)
        x = _inputs(config)
        first, _ = net(x, None, lengths)
        net(x, None, lengths)
        net(x, None, lengths)
        assert net._lengths.copies == 1
        lengths[1] = 2  # modified in place: the cached copy would be stale
        second, _ = net(x, None, lengths)
        assert net._lengths.copies == 2
        assert not torch.equal(first, second)
        lengths[1] = int(LENGTHS[1])
