"""Named sweeps. Each preset is a ``SweepSpec`` plus the ``Settings`` that fit its purpose.

- ``quick`` (default): LSTM and GRU on the CPU, inference and training, two lengths × two sizes — under a
  minute on 2 cores, enough to see the oneDNN/ATen asymmetry.
- ``full``: every architecture, the main implementations, all modes, lengths 32–512, sizes 128–1024; meant for
  a GPU or a long CPU run.
- ``fastrnns``: PyTorch's ``benchmarks/fastrnns`` default shape (T=100, B=64, I=512, H=512), for LSTM *and*
  GRU (fastrnns times LSTM only).
- ``deepbench``: DeepBench's LSTM and GRU training shapes (H, B, T), each run for both architectures
  (DeepBench uses different shapes per architecture, which makes its GRU and LSTM numbers incomparable).
- ``scan``: where does a parallel scan overtake the best LSTM/GRU here? minGRU and minLSTM (scan) beside LSTM
  and GRU (native: oneDNN/cuDNN where they have a kernel) over T = 16…4,096, train and inference, five rounds —
  the report's crossover table and figure (``analyse.crossover``). B=8, H=I=64 keep a T = 4,096 training step
  under half a second on a CPU (the GRU's ATen loop is the slowest): ≈ 6 min on 2 cores. ``aten`` is left out:
  on a CPU it is the GRU's native path already, and the LSTM's ATen loop took 4× oneDNN's time at T = 4,096 in
  a probe here (add ``--impl native aten scan`` to include it).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnbench.core.spec import Settings, SweepSpec
from rnnbench.registry import Registry


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    spec: SweepSpec
    settings: Settings
    rounds: int = 1
    """Rounds (fresh worker processes) when ``--rounds`` is not given: a preset made for verdicts needs ≥ 5."""


DEEPBENCH_LSTM_TRAINING: tuple[tuple[int, int, int], ...] = tuple(
    [(h, b, 25) for h in (512, 1024, 2048, 4096) for b in (16, 32, 64, 128)]
    + [(1536, b, 50) for b in (8, 16, 32)]
    + [(256, b, 150) for b in (16, 32, 64)]
)
DEEPBENCH_GRU_TRAINING: tuple[tuple[int, int, int], ...] = tuple(
    [(2816, 32, t) for t in (750, 375, 187)]
    + [(h, 32, t) for h in (2048, 1536, 2560) for t in (1500, 750, 375, 187)]
    + [(512, 32, 1), (1024, 32, 1500), (1024, 64, 1500)]
)
DEEPBENCH_TRAINING_SHAPES = DEEPBENCH_LSTM_TRAINING + DEEPBENCH_GRU_TRAINING
"""(hidden, batch, time steps) of DeepBench's LSTM and GRU training problems (``rnn_problems.h``,
``training_set``; its vanilla-RNN shapes are left out). rnnbench runs both architectures on every shape."""

RUN_PRESETS: Registry[Preset] = Registry("preset")
for _preset in (
    Preset(
        "quick",
        "lstm+gru, native, inference+train, cpu fp32, T∈{32,128}, H∈{64,256}, B=16 (≈1 min on 2 cores)",
        SweepSpec(
            arch=("lstm", "gru"),
            mode=("inference", "train"),
            device=("cpu",),
            seq_len=(32, 128),
            hidden_size=(64, 256),
            batch_size=(16,),
        ),
        Settings(budget_s=0.6, warmup_max_s=0.5, min_block_s=0.01, target_rel_ci=0.02),
    ),
    Preset(
        "full",
        "lstm+gru+rnn × native/aten/scratch × all modes, T∈{32,128,512}, H∈{128,256,512,1024}, B=32",
        SweepSpec(
            arch=("lstm", "gru", "rnn"),
            impl=("native", "aten", "scratch"),
            mode=("inference", "forward", "backward", "train"),
            seq_len=(32, 128, 512),
            hidden_size=(128, 256, 512, 1024),
            batch_size=(32,),
        ),
        Settings(),
    ),
    Preset(
        "fastrnns",
        "PyTorch fastrnns' shape: T=100, B=64, I=512, H=512; lstm+gru; forward, backward, train",
        SweepSpec(
            arch=("lstm", "gru"),
            mode=("forward", "backward", "train"),
            seq_len=(100,),
            batch_size=(64,),
            hidden_size=(512,),
            input_size=(512,),
        ),
        Settings(),
    ),
    Preset(
        "deepbench",
        "DeepBench's LSTM and GRU training shapes (H,B,T), both archs on every shape, train mode",
        SweepSpec(arch=("lstm", "gru"), mode=("train",), shapes=DEEPBENCH_TRAINING_SHAPES),
        Settings(),
    ),
    Preset(
        "scan",
        "crossover: lstm+gru (native) vs mingru+minlstm (scan), train+inference, T∈{16,64,256,1024,4096}, "
        "B=8, H=64, 5 rounds — where a parallel scan overtakes the best LSTM/GRU (≈6 min on 2 cores)",
        SweepSpec(
            arch=("lstm", "gru", "mingru", "minlstm"),
            impl=("native", "scan"),
            mode=("train", "inference"),
            seq_len=(16, 64, 256, 1024, 4096),
            batch_size=(8,),
            hidden_size=(64,),
        ),
        # Short budgets: precision comes from five rounds, not from long rounds. A T=4,096 training step takes
        # 0.1-0.5 s, so such a case runs its minimum (cold, one warm-up, three timed iterations) per round.
        Settings(budget_s=0.3, warmup_max_s=0.3, min_block_s=0.01, target_rel_ci=0.03),
        rounds=5,
    ),
):
    RUN_PRESETS.register(_preset.name, _preset)


def preset_rounds(name: str | None) -> int:
    """The rounds ``run`` uses without ``--rounds``: the preset's (``scan``: 5), else 1."""
    return RUN_PRESETS.get(name).rounds if name and name in RUN_PRESETS else 1
