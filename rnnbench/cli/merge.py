"""``rnnbench merge``: shard folders → one run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from rnnbench.cli.app import MultiValueCommand, app, err_console, out_console


@app.command("merge", cls=MultiValueCommand)
def merge_command(
    sources: list[Path] = typer.Argument(..., help="Shard run folders, or folders that contain them."),
    output: Path = typer.Option(None, "--output", "-o", help="Where the merged run folder goes (results)."),
    run_id: str = typer.Option(None, "--run-id", help="Name of the merged folder (`merged-<timestamp>`)."),
) -> None:
    """Combine shard folders (`run --shard K/N`) into one run folder; rejects duplicate cases and schema
    mismatches. `report` and `compare` also read shard folders directly, without merging.

    **Examples:** `rnnbench merge shards/` · `rnnbench merge shard-1/ shard-2/ -o results --run-id nightly`
    """
    from rnnbench.measure.merge import merge_runs

    merged, warnings = merge_runs(list(sources), output or Path("results"), run_id)
    for warning in warnings:
        err_console().print(f"Warning: {warning}", markup=False)
    rows = len(merged.table("summary").read_rows())
    count = len(merged.read_metadata()["merged_from"])
    out_console().print(f"Merged {count} folders, {rows} rows: {merged.path}", markup=False)
