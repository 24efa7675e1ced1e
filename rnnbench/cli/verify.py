"""``rnnbench verify``: prove the implementations agree on your shapes before you time them."""

from __future__ import annotations

import typer
from rich.table import Table

from rnnbench.cli.app import (
    MultiValueCommand,
    app,
    complete_arch,
    complete_device,
    complete_dtype,
    complete_impl,
    out_console,
)
from rnnbench.core.parsing import parse_choices
from rnnbench.core.spec import ModelConfig
from rnnbench.core.vocab import ARCHS, DTYPES, IMPLS
from rnnbench.errors import ConfigError, RnnbenchError


class VerificationFailedError(RnnbenchError):
    exit_code = 1


def parse_spread(text: str) -> float:
    """``--lengths``: ``fixed`` (or 0) → 0.0; a spread s in (0, 1) → s. Anything else is a usage error."""
    value = text.strip().lower()
    if value in ("fixed", "0", "0.0"):
        return 0.0
    try:
        spread = float(value)
    except ValueError:
        spread = -1.0
    if not 0 < spread < 1:
        raise ConfigError(f"--lengths takes 'fixed' or a spread s in (0, 1), got '{text}'.")
    return spread


@app.command("verify", cls=MultiValueCommand)
def verify_command(
    arch: list[str] = typer.Option(
        list(ARCHS), "--arch", "-a", help=f"Architectures: {', '.join(ARCHS)}.", autocompletion=complete_arch
    ),
    impl: list[str] = typer.Option(
        ["aten", "cell", "scratch", "scan", "numpy"],
        "--impl",
        "-i",
        help="Implementations compared with the reference (native for lstm/gru/rnn, the sequential scratch "
        "for mingru/minlstm): aten, cell, scratch, scan, compiled, numpy. Each is checked on the "
        "architectures it computes.",
        autocompletion=complete_impl,
    ),
    input_size: int = typer.Option(16, "--input-size", help="Input features I."),
    hidden: int = typer.Option(32, "--hidden", help="Hidden size H."),
    layers: int = typer.Option(2, "--layers", help="Stacked layers."),
    bidirectional: bool = typer.Option(False, "--bidirectional", help="Two directions per layer."),
    batch_first: bool = typer.Option(False, "--batch-first", help="Inputs shaped (B, T, I)."),
    dropout: float = typer.Option(
        0.0, "--dropout", help="Dropout between layers, in [0, 1); > 0 compares eval mode."
    ),
    bias: bool = typer.Option(True, "--bias/--no-bias", help="Bias vectors on or off."),
    device: str = typer.Option(
        "cpu", "--device", "-d", help="cpu, cuda, cuda:N or auto.", autocompletion=complete_device
    ),
    dtype: str = typer.Option(
        "float32", "--dtype", help="float32, bfloat16 or float16.", autocompletion=complete_dtype
    ),
    seq_len: int = typer.Option(12, "--seq-len", "-T", help="Time steps T."),
    batch: int = typer.Option(4, "--batch", "-b", help="Batch size B."),
    lengths: str = typer.Option(
        "fixed",
        "--lengths",
        help="'fixed', or a spread s in (0, 1): lengths drawn from [(1-s)·T, T], packed/masked (as in run). "
        "Old spelling --length-spread is still accepted.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for weights and inputs."),
    tf32: bool = typer.Option(
        False,
        "--tf32",
        help="Let float32 matmuls and cuDNN use TF32 on NVIDIA GPUs (both, or neither: the default is IEEE "
        "float32 everywhere); the tolerance follows (1e-2 instead of 2e-5).",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="Print one line (how many agree) instead of the table; mismatches still fail.",
    ),
) -> None:
    """Check every implementation against torch.nn (minGRU/minLSTM: against their sequential recurrence):
    outputs, final states, gradients (input, every weight).

    Exits 1 when any implementation disagrees beyond the dtype's tolerance.

    **Examples:** `rnnbench verify` · `rnnbench verify -a lstm gru --bidirectional` ·
    `rnnbench verify -d cuda --dtype bfloat16 -T 64 --lengths 0.5`
    """
    from rnnbench.measure.devices import resolve_device
    from rnnbench.measure.verify import verify

    archs = parse_choices("architecture", arch, ARCHS)
    impls = parse_choices("implementation", impl, IMPLS)
    dtype = parse_choices("dtype", [dtype], DTYPES)[0]
    resolved = resolve_device(device)
    policy = " · TF32 allowed" if tf32 and dtype == "float32" and resolved.startswith("cuda") else ""
    table = Table(title=f"Equivalence with the reference ({resolved}, {dtype}{policy})", title_justify="left")
    for col in (
        "arch",
        "impl",
        "vs",
        "status",
        "output rel err",
        "state rel err",
        "grad rel err",
        "tolerance",
        "note",
    ):
        table.add_column(col)
    failures = 0
    for name in archs:
        config = ModelConfig(name, input_size, hidden, layers, bias, batch_first, dropout, bidirectional)
        for check in verify(
            config,
            impls,
            device=resolved,
            dtype=dtype,
            seq_len=seq_len,
            batch=batch,
            length_spread=parse_spread(lengths),
            seed=seed,
            tf32=tf32,
        ):
            failures += check.status == "mismatch"
            grad = "n/a" if check.grad_err is None else f"{check.grad_err:.1e}"
            table.add_row(
                check.arch, check.impl, check.reference, check.status, f"{check.output_err:.1e}",
                f"{check.state_err:.1e}",
                grad, f"{check.tolerance:.0e}", check.message,
            )  # fmt: skip
    if quiet:
        checked = len(table.rows)
        out_console().print(
            f"{checked - failures} of {checked} checks agree with the reference ({resolved}, {dtype}{policy}).",
            markup=False,
        )
    else:
        out_console().print(table)
    if failures:
        raise VerificationFailedError(
            f"{failures} implementation(s) disagree with the reference; see the table above."
        )
