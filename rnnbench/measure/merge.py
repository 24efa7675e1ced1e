"""Combine shard folders (from ``run --shard K/N`` on many machines, or a CI matrix) into one run folder.

Rows are copied unchanged except ``run_id``, which becomes the merged folder's. Refused, with the folder and
the fix named: a folder that is not a run, a schema version or header this rnnbench does not write, a line
that is not a row, and the same case measured twice (same ``case_id``, ``threads`` and ``round`` in two
folders). A torn last line in a source (a killed shard) is left out with a warning naming the file, and so
are sample rows of a case without a summary row (a shard killed between the two writes), as ``--resume``
would drop them.

The sources are only read — never repaired, truncated or locked, so read-only shard folders merge. The merged
folder is owned by this process while it is written (a second ``merge`` to the same ``--run-id`` is refused)
and removed again if writing it fails (a full or read-only disk): it is either complete or absent.
"""

from __future__ import annotations

import warnings as _warnings
from pathlib import Path
from typing import Any

from rnnbench.core.values import now_iso
from rnnbench.errors import DataWarning, SchemaError
from rnnbench.results.folder import RunFolder, check_run_id, new_run_id, refuse_existing, remove_tree
from rnnbench.results.schema import SCHEMA_VERSION


def find_run_folders(paths: list[Path]) -> list[RunFolder]:
    """Run folders given directly or found below the given folders (by their ``metadata.json``)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            raise SchemaError(f"{path}: not a folder; pass run folders or a folder that contains them.")
        if (path / "metadata.json").exists():
            found.append(path)
        else:
            found.extend(sorted(p.parent for p in path.rglob("metadata.json")))
    if not found:
        raise SchemaError(f"no run folders (with metadata.json) under {', '.join(map(str, paths))}.")
    return [RunFolder(p) for p in dict.fromkeys(found)]


def merge_runs(sources: list[Path], output: Path, run_id: str | None = None) -> tuple[RunFolder, list[str]]:
    """Write ``output/<run-id>/`` holding every row of ``sources``; returns it and any warnings."""
    folders = find_run_folders(sources)
    warnings: list[str] = []
    metas: list[dict[str, Any]] = []
    for folder in folders:
        meta = folder.read_metadata()
        if meta.get("kind") != "run":
            raise SchemaError(f"{folder.path}: kind={meta.get('kind')!r}; only 'rnnbench run' folders merge.")
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise SchemaError(
                f"{folder.path}: schema_version {meta.get('schema_version')!r} in metadata.json, but this "
                f"rnnbench writes {SCHEMA_VERSION}; merge with the rnnbench release that wrote it."
            )
        metas.append(meta)
    if run_id is not None:
        check_run_id(run_id)
    owner: dict[tuple[str, str, str], Path] = {}
    tables: dict[str, list[dict[str, str]]] = {"summary": [], "samples": []}
    for folder in folders:
        with _warnings.catch_warnings(record=True) as caught:  # torn last lines: left out, said once
            _warnings.simplefilter("always", DataWarning)
            summary = folder.table("summary")  # a header mismatch raises SchemaError naming the file
            rows = summary.read_rows()
            samples = folder.table("samples").read_rows()
        warnings += [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
        for row in rows:
            key = (row["case_id"], row["threads"], row["round"])
            if key in owner:
                raise SchemaError(
                    f"case {row['case_id']} ({row['arch']}/{row['impl']} {row['mode']} T={row['seq_len']} "
                    f"H={row['hidden_size']}, threads {row['threads']}, round {row['round']}) is in both "
                    f"{owner[key]} and {folder.path}; merge each shard once (two shards with the same K?)."
                )
            owner[key] = folder.path
        tables["summary"] += rows
        done = {(r["case_id"], r["threads"], r["round"]) for r in rows}
        tables["samples"] += [r for r in samples if (r["case_id"], r["threads"], r["round"]) in done]
    specs = {repr(m.get("spec")) for m in metas}
    if len(specs) > 1:
        warnings.append("the folders were planned from different grids; check that they belong together")
    shards = sorted({tuple(m["shard"]) for m in metas if m.get("shard")})
    if shards:
        n = shards[0][1]
        missing = sorted(set(range(1, n + 1)) - {k for k, _ in shards})
        if missing:
            warnings.append(f"shards {', '.join(map(str, missing))} of {n} are missing: the grid is incomplete")
    run_id = run_id or f"merged-{new_run_id()}"
    refuse_existing(Path(output) / run_id)
    first = metas[0]
    status = "complete" if all(m.get("status") == "complete" for m in metas) else "partial"
    merged = RunFolder.create(
        Path(output),
        {
            "kind": "run",
            "command": first.get("command"),
            "started_at": min(str(m.get("started_at", "")) for m in metas),
            "status": "running",
            "env": first.get("env"),
            "fingerprint_keys": {k: v for m in metas for k, v in (m.get("fingerprint_keys") or {}).items()},
            "fingerprint": {k: v for m in metas for k, v in (m.get("fingerprint") or {}).items()},
            "spec": first.get("spec"),
            "settings": first.get("settings"),
            "rounds": max(int(m.get("rounds", 1)) for m in metas),
            "calibration": {k: v for m in metas for k, v in (m.get("calibration") or {}).items()},
            "merged_from": [
                {"run_id": m.get("run_id"), "path": str(f.path), "shard": m.get("shard")}
                for m, f in zip(metas, folders, strict=True)
            ],
        },
        run_id=run_id,
    )
    try:
        for name, rows in tables.items():
            merged.table(name).append([{**r, "run_id": run_id} for r in rows])
        merged.update_metadata(status=status, finished_at=now_iso())
    except BaseException:
        merged.release()
        remove_tree(merged.path)  # half a merged folder is worse than none
        raise
    merged.release()
    return merged, warnings
