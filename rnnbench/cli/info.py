"""``rnnbench list`` and ``rnnbench env``: what can run here, and on what."""

from __future__ import annotations

import json
import sys
import textwrap

import typer
from rich.table import Table

from rnnbench.cli.app import MultiValueCommand, app, is_terminal, out_console
from rnnbench.core.flops import GATES, RECURRENT_WEIGHT

ARCH_NAMES: dict[str, str] = {
    "lstm": "LSTM (i,f,g,o)",
    "gru": "GRU (r,z,n; reset after)",
    "rnn": "RNN (tanh)",
    "mingru": "minGRU (z,h~ read x_t only)",
    "minlstm": "minLSTM (f,i,h~ read x_t only; f+i=1)",
}

PIPED_WIDTH = 100
"""Piped or in a CI log, ``list`` words each implementation in lines of at most this many characters."""


@app.command("list", cls=MultiValueCommand)
def list_command() -> None:
    """List architectures, implementations (what each supports, and whether it can run here) and the
    devices usable on this machine.

    **Examples:** `rnnbench list` · `rnnbench list | grep compiled`
    """
    from rnnbench.measure.devices import available_devices, cuda_unavailable_reason
    from rnnbench.measure.models.build import unsupported_reason
    from rnnbench.measure.models.catalog import IMPLEMENTATIONS

    console = out_console()
    arch_table = Table(
        title="Architectures",
        title_justify="left",
        caption="minGRU, minLSTM: Feng et al. 2024, 'Were RNNs All We Needed?' (arXiv 2410.01201); a linear "
        "recurrence, so the scan implementation trains them without a loop over time",
        caption_justify="left",
    )
    for col in ("name", "gates G", "parameters per layer & direction", "forward GEMM FLOPs"):
        arch_table.add_column(col)
    arch_lines = []  # piped: one line per architecture
    for arch, g in GATES.items():
        params, work = (
            (f"{g}·H·(I+H+2)", f"2·{g}·H·(I_l+H)·B·T")
            if RECURRENT_WEIGHT[arch]
            else (f"{g}·H·(I+1)", f"2·{g}·H·I_l·B·T")
        )
        arch_table.add_row(f"{arch} — {ARCH_NAMES[arch]}", str(g), params, work)
        arch_lines.append(f"{arch}: {ARCH_NAMES[arch]}; G={g}; params {params}; fwd GEMM FLOPs {work}")
    if is_terminal(sys.stdout):
        console.print(arch_table)
    else:
        console.print("\n".join(["Architectures", *arch_lines]), markup=False)
        for line in textwrap.wrap(str(arch_table.caption), PIPED_WIDTH):
            console.print(line, markup=False)

    devices = available_devices()
    impl_table = Table(title="Implementations", title_justify="left")
    for col in ("name", "what it is", "architectures", "modes", "dtypes", "variable length", "here"):
        impl_table.add_column(col, overflow="fold")
    blocks: list[str] = []  # piped: one block per implementation, its first line the name (for grep)
    for name, impl in IMPLEMENTATIONS.items():
        status = []
        for dev in ("cpu", "cuda"):
            reason = None
            if dev == "cuda" and dev in impl.device_types and not any(d.startswith("cuda") for d in devices):
                reason = "no CUDA here"  # first: without a GPU the build checks' answer is beside the point
            mode, dtype = impl.modes[0], impl.dtypes[0]
            reason = reason or unsupported_reason(name, mode=mode, device_type=dev, dtype=dtype)
            status.append(f"{dev}: {'yes' if reason is None else 'no (' + reason + ')'}")
        impl_table.add_row(
            name,
            impl.summary,
            ", ".join(impl.archs),
            ", ".join(impl.modes),
            ", ".join(impl.dtypes),
            impl.variable_length,
            "\n".join(status),
        )
        blocks.append(
            "\n".join(
                [
                    *textwrap.wrap(f"{name}: {impl.summary}", PIPED_WIDTH, subsequent_indent="    "),
                    *textwrap.wrap(
                        f"architectures: {', '.join(impl.archs)} · modes: {', '.join(impl.modes)} · dtypes: "
                        f"{', '.join(impl.dtypes)} · variable length: {impl.variable_length}",
                        PIPED_WIDTH,
                        initial_indent="  ",
                        subsequent_indent="    ",
                    ),
                    *textwrap.wrap(
                        f"here: {'; '.join(status)}", PIPED_WIDTH, initial_indent="  ", subsequent_indent="    "
                    ),
                ]
            )
        )
    if is_terminal(sys.stdout):
        console.print(impl_table)
    else:  # a table as wide as its longest summary and reason was 317 columns; blocks keep every word
        console.print("Implementations", markup=False)
        console.print("\n".join(blocks), markup=False)
    console.print(f"Devices usable here: {', '.join(devices)}", markup=False)
    reason = cuda_unavailable_reason()
    if reason:
        console.print(f"CUDA: not usable ({reason}).", markup=False)


@app.command("env", cls=MultiValueCommand)
def env_command(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table."),
) -> None:
    """Show the environment results depend on: torch, CUDA, cuDNN, oneDNN and BLAS versions, CPU model and
    usable cores, intra/inter-op threads, GPUs and their memory, Python.

    **Examples:** `rnnbench env` · `rnnbench env --json > env.json`
    """
    from rnnbench.measure.env import capture

    env = capture()
    if as_json:
        typer.echo(json.dumps(env, indent=2, sort_keys=True, default=str))
        return
    table = Table(title="Environment", title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in env.items():
        if key == "gpus":
            text = (
                "; ".join(
                    f"{g['index']}: {g['name']} ({g['memory_bytes'] / 2**30:.1f} GiB, sm {g['capability']})"
                    for g in value
                )
                or "none"
            )
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            text = "—" if value is None else str(value)
        table.add_row(key, text)
    out_console().print(table)
