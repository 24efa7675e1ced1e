"""Equivalence checks on the user's own shapes and device: every implementation against the architecture's
reference (:data:`REFERENCE_IMPL`: ``native`` for LSTM/GRU/RNN, the sequential ``scratch`` for minGRU/minLSTM)
and the NumPy oracle — outputs, final states and gradients. Run before timing so a fast implementation that
computes something else is caught."""

from __future__ import annotations

from dataclasses import dataclass

from rnnbench.core.spec import ModelConfig
from rnnbench.core.vocab import IMPL_ARCHS

REFERENCE_IMPL: dict[str, str] = {"mingru": "scratch", "minlstm": "scratch"}
"""What each architecture is checked against when it is not ``native`` (torch.nn has no minGRU/minLSTM: their
reference is the paper's sequential recurrence, a Python loop over time)."""


def reference_impl(arch: str) -> str:
    """``native`` for the torch.nn cells, the sequential ``scratch`` for minGRU/minLSTM."""
    return REFERENCE_IMPL.get(arch, "native")


@dataclass(frozen=True)
class Check:
    """One implementation compared with the reference: the worst relative error per quantity."""

    arch: str
    impl: str
    status: str  # ok | mismatch | unsupported
    output_err: float
    state_err: float
    grad_err: float | None
    tolerance: float
    message: str = ""
    reference: str = "native"
    """The implementation it was compared with (:func:`reference_impl`)."""


def _rel_err(a: object, b: object) -> float:
    import torch

    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
    scale = max(float(b64.abs().max()), 1e-12)
    return float((a64 - b64).abs().max()) / scale


def default_tolerance(dtype: str, tf32: bool = False, device_type: str = "cpu") -> float:
    """Relative tolerance by dtype and numeric policy: fp32 ≈ 1e-5; half precisions round at ~1e-3 per op
    (pytorch#175845); TF32 float32 on CUDA like float16 (``measure.numerics.verify_tolerance``)."""
    from rnnbench.measure.numerics import verify_tolerance

    return verify_tolerance(dtype, tf32, device_type)


def verify(
    config: ModelConfig,
    impls: list[str],
    *,
    device: str = "cpu",
    dtype: str = "float32",
    seq_len: int = 8,
    batch: int = 4,
    length_spread: float = 0.0,
    seed: int = 0,
    tf32: bool = False,
) -> list[Check]:
    """Compare each of ``impls`` that computes ``config.arch`` (``core.vocab.IMPL_ARCHS``; the reference
    itself excepted) with :func:`reference_impl` on one random batch; returns one ``Check`` per impl.

    The numeric policy (``tf32``) is set for every implementation alike before anything runs, and the
    tolerance follows it: a correct CUDA setup must not read as a mismatch because cuDNN alone used TF32.
    """
    import torch

    from rnnbench.measure.devices import device_type
    from rnnbench.measure.models.build import build_model, unsupported_reason
    from rnnbench.measure.models.probe import dtype_unsupported_reason
    from rnnbench.measure.models.weights import canonical_weights
    from rnnbench.measure.numerics import tf32_policy
    from rnnbench.measure.workloads import make_lengths

    with tf32_policy(tf32):
        torch_dtype = getattr(torch, dtype)
        weights = canonical_weights(config, seed)
        gen = torch.Generator().manual_seed(seed)
        shape = (
            (batch, seq_len, config.input_size) if config.batch_first else (seq_len, batch, config.input_size)
        )
        x_cpu = torch.randn(shape, generator=gen)
        lengths = make_lengths(seq_len, batch, length_spread, seed) if length_spread > 0 else None
        tol = default_tolerance(dtype, tf32, device_type(device))

        def run(impl: str) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor | None]]:
            on_device = "cpu" if impl == "numpy" else device
            model = build_model(config, impl, weights, device_type=device_type(on_device))
            model = model.to(device=on_device, dtype=torch_dtype if impl != "numpy" else torch.float32)
            x = x_cpu.to(on_device, torch_dtype if impl != "numpy" else torch.float32)
            if impl == "numpy":
                with torch.no_grad():
                    out, h_n = model(x, None, lengths)
                return out, list(h_n) if isinstance(h_n, tuple) else [h_n], {}
            if config.dropout > 0:  # dropout masks are random: compare the eval-mode forward pass only
                model.eval()
                with torch.no_grad():
                    out, h_n = model(x, None, lengths)
                return out, list(h_n) if isinstance(h_n, tuple) else [h_n], {}
            x.requires_grad_(True)
            out, h_n = model(x, None, lengths)
            states = list(h_n) if isinstance(h_n, tuple) else [h_n]
            loss = out.float().sum() + sum(s.float().sum() * (i + 2) for i, s in enumerate(states))
            loss.backward()
            grads = {name: p.grad for name, p in model.canonical_parameters().items()}
            grads["input"] = x.grad
            return out, states, grads

        reference = reference_impl(config.arch)
        ref_out, ref_states, ref_grads = run(reference)
        checks = []
        for impl in impls:
            if impl == reference or config.arch not in IMPL_ARCHS[impl]:
                continue
            reason = unsupported_reason(
                impl,
                mode="train" if impl != "numpy" else "inference",
                device_type=device_type(device),
                dtype=dtype,
                arch=config.arch,
            )
            if impl == "numpy":
                reason = None  # the oracle always runs on the CPU in float64
            else:
                reason = reason or dtype_unsupported_reason(impl, config.arch, "train", device, dtype)
            if reason:
                checks.append(Check(config.arch, impl, "unsupported", 0.0, 0.0, 0.0, tol, reason, reference))
                continue
            out, states, grads = run(impl)
            out_err = _rel_err(out.to(ref_out.device, ref_out.dtype), ref_out)
            state_err = max(
                _rel_err(s.to(r.device, r.dtype), r) for s, r in zip(states, ref_states, strict=True)
            )
            grad_err: float | None = None if impl == "numpy" or config.dropout > 0 else 0.0
            for name, g in grads.items():
                ref_g = ref_grads.get(name)
                if g is not None and ref_g is not None:
                    grad_err = max(grad_err or 0.0, _rel_err(g.to(ref_g.device), ref_g))
            worst = max(out_err, state_err, grad_err or 0.0)
            status = "ok" if worst <= tol else "mismatch"
            message = "" if status == "ok" else f"relative error {worst:.2e} exceeds {tol:.0e}"
            checks.append(
                Check(config.arch, impl, status, out_err, state_err, grad_err, tol, message, reference)
            )
        return checks
