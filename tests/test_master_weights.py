"""Half-precision training steps through float32 master weights (issue 12, defect 6)."""

from __future__ import annotations

import pytest
import torch

from rnnbench.measure.master import MasterWeights


def _lstm(dtype: torch.dtype) -> torch.nn.LSTM:
    torch.manual_seed(0)
    return torch.nn.LSTM(4, 8).to(dtype)


def _loss(model: torch.nn.LSTM, dtype: torch.dtype) -> torch.Tensor:
    x = torch.randn(5, 3, 4, generator=torch.Generator().manual_seed(1)).to(dtype)
    out, _ = model(x)
    return out.float().square().mean()


def test_pure_half_adam_breaks_which_is_why_masters_exist() -> None:
    """The defect itself: Adam's eps is 0 in float16, so a parameter whose gradient is 0 gets 0/0 = NaN."""
    assert torch.tensor(1e-8, dtype=torch.float16).item() == 0.0
    p = torch.zeros(3, dtype=torch.float16, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-3)
    p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.isnan(p).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_master_weights_keep_half_training_finite(dtype: torch.dtype) -> None:
    model = _lstm(dtype)
    weights = MasterWeights(model.parameters(), lambda ps: torch.optim.Adam(ps, lr=1e-3))
    assert weights.mixed and all(m.dtype == torch.float32 for m in weights.masters)
    start = [p.detach().clone() for p in model.parameters()]
    for _ in range(5):
        weights.zero_grad()
        _loss(model, dtype).backward()
        weights.step()
    for p, m in zip(model.parameters(), weights.masters, strict=True):
        assert p.dtype == dtype and torch.isfinite(p).all() and torch.isfinite(m).all()
        assert torch.equal(p, m.to(dtype))  # the model computes with the masters, rounded
    assert any(not torch.equal(p, s) for p, s in zip(model.parameters(), start, strict=True))


def test_float32_parameters_step_directly() -> None:
    model = _lstm(torch.float32)
    weights = MasterWeights(model.parameters(), lambda ps: torch.optim.Adam(ps, lr=1e-3))
    assert not weights.mixed and weights.masters is weights.params
    weights.zero_grad()
    _loss(model, torch.float32).backward()
    weights.step()
    assert all(torch.isfinite(p).all() for p in model.parameters())
