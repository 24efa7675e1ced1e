"""The NumPy oracle: a float64 forward pass written independently of torch's autograd and kernels.

It shares only the weight *values* with the torch implementations, so agreement with it is evidence that the
gate equations (PyTorch's conventions) are right, not that two code paths share a bug.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from rnnbench.core.spec import ModelConfig
from rnnbench.measure.models.base import RecurrentNet, State

Array = np.ndarray


def _sigmoid(v: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-v))


def _g(v: Array) -> Array:
    """minGRU/minLSTM's candidate map: ``v + ½`` for ``v ≥ 0``, ``σ(v)`` below."""
    return np.where(v >= 0, v + 0.5, _sigmoid(np.minimum(v, 0.0)))


def _linear(x: Array, w: Array, b: Array | None) -> Array:
    out = x @ w.T
    return out if b is None else out + b


def _key(kind: str, layer: int, reverse: bool) -> str:
    return f"{kind}_l{layer}{'_reverse' if reverse else ''}"


def numpy_forward(
    config: ModelConfig,
    weights: Mapping[str, Array],
    x: Array,
    h0: Array | None = None,
    c0: Array | None = None,
    lengths: Array | None = None,
) -> tuple[Array, Array, Array | None]:
    """Returns ``(output, h_n, c_n)`` (``c_n`` is ``None`` except for LSTM), all float64. minGRU and minLSTM
    follow the paper's sequential equations as written (``f/(f+i)``, not the torch code's stable form).

    ``x``: ``(T, B, I)`` (``(B, T, I)`` if ``config.batch_first``). Past ``lengths[b]`` the output is zero and
    the state frozen; the reverse direction starts at each sequence's last real step.
    """
    x = np.asarray(x, dtype=np.float64)
    if config.batch_first:
        x = x.transpose(1, 0, 2)
    steps, batch = x.shape[0], x.shape[1]
    n_states = config.num_layers * config.directions
    hidden = config.hidden_size
    h_init = np.zeros((n_states, batch, hidden)) if h0 is None else np.asarray(h0, np.float64)
    c_init = np.zeros((n_states, batch, hidden)) if c0 is None else np.asarray(c0, np.float64)
    lens = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    h_final = np.zeros((n_states, batch, hidden))
    c_final = np.zeros((n_states, batch, hidden))
    layer_input = x
    for layer in range(config.num_layers):
        outs = []
        for d in range(config.directions):
            reverse = d == 1
            idx = layer * config.directions + d
            w_ih, w_hh = w[_key("weight_ih", layer, reverse)], w.get(_key("weight_hh", layer, reverse))
            b_ih = w.get(_key("bias_ih", layer, reverse)) if config.bias else None
            b_hh = w.get(_key("bias_hh", layer, reverse)) if config.bias else None
            h, c = h_init[idx].copy(), c_init[idx].copy()
            out = np.zeros((steps, batch, hidden))
            order = range(steps - 1, -1, -1) if reverse else range(steps)
            for t in order:
                active = (t < lens)[:, None]
                gi = _linear(layer_input[t], w_ih, b_ih)
                if config.arch == "mingru":  # the paper's sequential form, literally
                    k_z, k_h = np.split(gi, 2, axis=1)
                    z = _sigmoid(k_z)
                    h = np.where(active, (1 - z) * h + z * _g(k_h), h)
                    out[t] = np.where(active, h, 0.0)
                    continue
                if config.arch == "minlstm":
                    k_f, k_i, k_h = np.split(gi, 3, axis=1)
                    f, i = _sigmoid(k_f), _sigmoid(k_i)
                    h = np.where(active, (f * h + i * _g(k_h)) / (f + i), h)
                    out[t] = np.where(active, h, 0.0)
                    continue
                assert w_hh is not None
                gh = _linear(h, w_hh, b_hh)
                if config.arch == "lstm":
                    i, f, g, o = np.split(gi + gh, 4, axis=1)
                    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
                    h_new = _sigmoid(o) * np.tanh(c_new)
                    c = np.where(active, c_new, c)
                elif config.arch == "gru":
                    i_r, i_z, i_n = np.split(gi, 3, axis=1)
                    h_r, h_z, h_n = np.split(gh, 3, axis=1)
                    r, z = _sigmoid(i_r + h_r), _sigmoid(i_z + h_z)
                    n = np.tanh(i_n + r * h_n)
                    h_new = (1 - z) * n + z * h
                else:
                    h_new = np.tanh(gi + gh)
                h = np.where(active, h_new, h)
                out[t] = np.where(active, h, 0.0)
            outs.append(out)
            h_final[idx], c_final[idx] = h, c
        layer_input = np.concatenate(outs, axis=2)
    output = layer_input.transpose(1, 0, 2) if config.batch_first else layer_input
    return output, h_final, (c_final if config.arch == "lstm" else None)


class NumpyNet(RecurrentNet):
    """The oracle behind the common interface (inference only: no autograd through NumPy)."""

    impl = "numpy"
    backend = "numpy"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config)
        self._weights = {k: v.detach().cpu().double().numpy() for k, v in weights.items()}

    def forward(
        self,
        x: torch.Tensor,
        hx: State | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        h0 = c0 = None
        if hx is not None:
            h0, c0 = (hx[0], hx[1]) if isinstance(hx, tuple) else (hx, None)
        out, h_n, c_n = numpy_forward(
            self.config,
            self._weights,
            x.detach().cpu().double().numpy(),
            None if h0 is None else h0.detach().cpu().double().numpy(),
            None if c0 is None else c0.detach().cpu().double().numpy(),
            None if lengths is None else lengths.cpu().numpy(),
        )
        dtype = x.dtype

        def _t(a: Array) -> torch.Tensor:
            return torch.from_numpy(a).to(dtype)

        if c_n is not None:
            return _t(out), (_t(h_n), _t(c_n))
        return _t(out), _t(h_n)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return {}
