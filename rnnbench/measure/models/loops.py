"""Python time loops: ``cell`` (nn.*Cell per step), ``scratch`` (gates by hand, input GEMM hoisted) and
``compiled`` (scratch with its per-step cell compiled by ``torch.compile``).

All three share one driver (``_LoopNet``) for layers, directions, dropout, initial state and
variable-length masking, so they can differ only in how a single step is computed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from rnnbench.core.spec import ModelConfig
from rnnbench.measure.models.base import DeviceCopy, RecurrentNet, State, zero_state
from rnnbench.measure.models.weights import layer_weights, param_name

Step = tuple[torch.Tensor, ...]


# ---- the gate math, PyTorch's conventions ---------------------------------------------------------------
# Each step takes ``gi = W_ih x + b_ih``, the precomputed input projection of its time step, and adds the
# recurrent product in the order ATen's own cells do (``(W_hh h + b_hh) + gi``), so results agree with
# ``native`` to rounding of the GEMMs alone. Fusing further (folding ``b_hh`` into the projection, addcmul or
# lerp for the updates) measured no faster here and moved results by an ulp — enough to fail equivalence at
# 1e-6.
def lstm_step(
    gi: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step; gates i, f, g, o."""
    gates = F.linear(h, w_hh, b_hh) + gi
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    return h_new, c_new


def gru_step(gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None) -> torch.Tensor:
    """One GRU step, "reset after" form: ``n = tanh(gi_n + r ⊙ (W_hn h + b_hn))``; gates r, z, n;
    ``h' = (1 − z) ⊙ n + z ⊙ h`` written as ATen writes it, ``(h − n) ⊙ z + n``. The r and z gates share one
    add and one sigmoid over 2H columns (the same values as two)."""
    gh = F.linear(h, w_hh, b_hh)
    hidden = h.shape[-1]
    rz = torch.sigmoid(gh[..., : 2 * hidden] + gi[..., : 2 * hidden])
    r, z = rz.chunk(2, dim=-1)
    n = torch.tanh(gi[..., 2 * hidden :] + gh[..., 2 * hidden :] * r)
    return (h - n) * z + n


def rnn_step(gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None) -> torch.Tensor:
    """One Elman step with tanh."""
    return torch.tanh(F.linear(h, w_hh, b_hh) + gi)


class _LoopNet(RecurrentNet):
    """Layers × directions × time steps in Python; subclasses provide ``_project`` and ``_step``."""

    backend = "python"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self._lengths = DeviceCopy()

    def forward(
        self,
        x: torch.Tensor,
        hx: State | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        cfg = self.config
        if cfg.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if hx is None:
            hx = zero_state(cfg, batch, x)
        h0, c0 = (hx[0], hx[1]) if isinstance(hx, tuple) else (hx, None)
        mask = None
        if lengths is not None:
            positions = torch.arange(steps, device=x.device).unsqueeze(1)
            on_device = self._lengths.get(lengths, x.device)  # copied once, not per pass (no sync)
            mask = (positions < on_device.unsqueeze(0)).unsqueeze(2)  # (T, B, 1)
        final_h: list[torch.Tensor] = []
        final_c: list[torch.Tensor] = []
        layer_input = x
        for layer in range(cfg.num_layers):
            outputs = []
            for direction in range(cfg.directions):
                index = layer * cfg.directions + direction
                state: Step = (h0[index],) if c0 is None else (h0[index], c0[index])
                out, state = self._run_direction(layer, direction == 1, layer_input, state, mask)
                outputs.append(out)
                final_h.append(state[0])
                if c0 is not None:
                    final_c.append(state[1])
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if cfg.dropout > 0 and self.training and layer < cfg.num_layers - 1:
                layer_input = F.dropout(layer_input, p=cfg.dropout, training=True)
        output = layer_input.transpose(0, 1) if cfg.batch_first else layer_input
        h_n = torch.stack(final_h)
        if c0 is not None:
            return output, (h_n, torch.stack(final_c))
        return output, h_n

    def _run_direction(
        self,
        layer: int,
        reverse: bool,
        x: torch.Tensor,
        state: Step,
        mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, Step]:
        # unbind, not inputs[t]: indexing a tensor that needs grad makes each step's backward write a
        # full-size zero tensor (O(T²) memory traffic, 3–5× slower training); unbind's backward is one stack.
        inputs = self._project(layer, reverse, x).unbind(0)
        step = self._stepper(layer, reverse)
        masks = mask.unbind(0) if mask is not None else None
        steps = x.shape[0]
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        outputs: list[torch.Tensor] = [x] * steps  # placeholders, all overwritten
        for t in order:
            new = step(inputs[t], state)
            if masks is not None:
                # Past a sequence's end the state is carried unchanged and the output is zero: the reverse
                # direction therefore starts from h0 at each sequence's own last step, as packing does.
                m = masks[t]
                new = tuple(torch.where(m, n, s) for n, s in zip(new, state, strict=True))
                outputs[t] = torch.where(m, new[0], 0.0)
            else:
                outputs[t] = new[0]
            state = new
        return torch.stack(outputs), state

    def _project(self, layer: int, reverse: bool, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def _stepper(self, layer: int, reverse: bool) -> Callable[[torch.Tensor, Step], Step]:
        """One time step of ``layer``/direction as ``(input_t, state) -> state``, its weights looked up once
        per direction rather than once per step (a dict lookup per step is measurable at small shapes)."""
        raise NotImplementedError  # pragma: no cover


_CELLS: dict[str, Callable[..., nn.RNNCellBase]] = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}


class CellNet(_LoopNet):
    """``nn.LSTMCell`` / ``nn.GRUCell`` / ``nn.RNNCell`` called once per time step."""

    impl = "cell"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config)
        self.cells = nn.ModuleDict()
        for layer in range(config.num_layers):
            for reverse in [False, True][: config.directions]:
                w_ih, w_hh, b_ih, b_hh = layer_weights(weights, layer, reverse, config.bias)
                cell = _CELLS[config.arch](w_ih.shape[1], config.hidden_size, bias=config.bias)
                with torch.no_grad():
                    cell.weight_ih.copy_(w_ih)
                    cell.weight_hh.copy_(w_hh)
                    if b_ih is not None and b_hh is not None:
                        cell.bias_ih.copy_(b_ih)
                        cell.bias_hh.copy_(b_hh)
                self.cells[param_name("cell", layer, reverse)] = cell

    def _project(self, layer: int, reverse: bool, x: torch.Tensor) -> torch.Tensor:
        return x

    def _stepper(self, layer: int, reverse: bool) -> Callable[[torch.Tensor, Step], Step]:
        cell = self.cells[param_name("cell", layer, reverse)]
        if self.config.arch == "lstm":

            def lstm(inp: torch.Tensor, state: Step) -> Step:
                return cast(Step, cell(inp, (state[0], state[1])))

            return lstm
        return lambda inp, state: (cell(inp, state[0]),)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        params: dict[str, torch.Tensor] = {}
        for layer in range(self.config.num_layers):
            for reverse in [False, True][: self.config.directions]:
                cell = self.cells[param_name("cell", layer, reverse)]
                for kind, p in cell.named_parameters():
                    params[param_name(kind, layer, reverse)] = p
        return params


class ScratchNet(_LoopNet):
    """Gates written out with tensor ops. The input projection of all T steps is one GEMM per layer and
    direction (``(T·B, I) × (I, G·H)``); only the recurrent product stays inside the loop."""

    impl = "scratch"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config)
        self.weights = nn.ParameterDict(
            {name: nn.Parameter(value.detach().clone()) for name, value in weights.items()}
        )
        steps: dict[str, Callable[..., Any]] = {"lstm": lstm_step, "gru": gru_step, "rnn": rnn_step}
        self._step_fn: Callable[..., Any] = steps[config.arch]

    def _params(
        self, layer: int, reverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        return layer_weights(dict(self.weights.items()), layer, reverse, self.config.bias)

    def _project(self, layer: int, reverse: bool, x: torch.Tensor) -> torch.Tensor:
        w_ih, _, b_ih, _ = self._params(layer, reverse)
        return F.linear(x, w_ih, b_ih)

    def _stepper(self, layer: int, reverse: bool) -> Callable[[torch.Tensor, Step], Step]:
        _, w_hh, _, b_hh = self._params(layer, reverse)
        fn = self._step_fn
        if self.config.arch == "lstm":
            return lambda inp, state: cast(Step, fn(inp, state[0], state[1], w_hh, b_hh))
        return lambda inp, state: (fn(inp, state[0], w_hh, b_hh),)

    def canonical_parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.weights.items())


def _has_triton() -> bool:
    """Whether Triton (inductor's GPU code generator) imports here; torch's own check where it exists."""
    try:
        from torch.utils._triton import has_triton
    except ImportError:  # pragma: no cover - very old torch
        import importlib.util

        return importlib.util.find_spec("triton") is not None
    return bool(has_triton())


def compiled_unavailable_reason(device_type: str) -> str | None:
    """Why ``torch.compile`` cannot be used here, or ``None``. Checked before building, never silently.

    On the CPU inductor writes C++ and needs a C++ compiler; on CUDA it writes Triton kernels and needs the
    Triton package plus a C compiler (Triton builds a small launcher per kernel). Without them the first call
    fails deep inside compilation — so each case would become an ``error`` row instead of ``unsupported``."""
    try:
        import torch._dynamo as dynamo
    except Exception as exc:  # pragma: no cover - depends on the torch build
        return f"torch.compile is unavailable: {exc}"
    if not dynamo.is_dynamo_supported():
        return "torch.compile (dynamo) is not supported on this Python/platform"
    if device_type == "cpu" and not any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
        return "torch.compile on CPU needs a C++ compiler (g++/clang++), none found on PATH"
    if device_type == "cuda":
        if not _has_triton():
            return "torch.compile on CUDA needs Triton (pip install triton, matching this torch), not found"
        if not any(shutil.which(cc) for cc in ("gcc", "cc", "clang")) and not os.environ.get("CC"):
            return "torch.compile on CUDA needs a C compiler (gcc/clang or $CC) for Triton's launchers"
    return None


def _raise_compile_limits() -> None:
    """Many shapes in one sweep must recompile, not silently fall back to eager at dynamo's limit."""
    import torch._dynamo.config as cfg

    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, max(int(getattr(cfg, name)), 1024))
    if hasattr(cfg, "fail_on_recompile_limit_hit"):
        cfg.fail_on_recompile_limit_hit = True


class CompiledNet(ScratchNet):
    """``scratch`` whose per-step cell (recurrent GEMM + gate math) is compiled with ``torch.compile``.

    The time loop stays in Python: compiling the unrolled loop makes compile time grow with T (minutes at
    T=100 on two cores), while the per-step cell compiles once per shape and fuses the gate pointwise ops,
    which is what a compiler can add over ``scratch``. Compile time is reported separately
    (``compile_s``, the first call minus a warm call).
    """

    impl = "compiled"
    backend = "compiled"

    def __init__(self, config: ModelConfig, weights: dict[str, torch.Tensor]) -> None:
        super().__init__(config, weights)
        _raise_compile_limits()
        self._step_fn = cast(Callable[..., Any], torch.compile(self._step_fn, dynamic=False, fullgraph=True))
