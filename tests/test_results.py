"""Result files: appends survive kills, loaders reject what they cannot read with a precise message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnbench.errors import SchemaError
from rnnbench.results.folder import RunFolder
from rnnbench.results.loader import load, load_results, load_table
from rnnbench.results.schema import COLUMN_TYPES, SCHEMA_VERSION, SUMMARY_COLUMNS, TABLES
from rnnbench.results.tables import CsvAppender


def test_appender_writes_header_once_and_repairs_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    CsvAppender(path, ("schema_version", "a", "b")).append([{"a": 1, "b": 2.5}])
    with path.open("a") as fh:
        fh.write(f"{SCHEMA_VERSION},3,")  # a kill mid-write
    app = CsvAppender(path, ("schema_version", "a", "b"))
    app.append([{"a": 4, "b": None}])
    rows = app.read_rows()
    assert [r["a"] for r in rows] == ["1", "4"]
    assert rows[1]["b"] == ""
    assert path.read_text().count("schema_version") == 1


def test_appender_refuses_a_different_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(SchemaError, match="header does not match"):
        CsvAppender(path, ("schema_version", "a"))


def test_run_folder_metadata_round_trip(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, {"kind": "run"}, run_id="r1")
    folder.update_metadata(status="complete")
    again = RunFolder.open_existing(tmp_path / "r1")
    assert again.read_metadata()["status"] == "complete"
    assert again.run_id == "r1"
    with pytest.raises(SchemaError, match="no metadata.json"):
        RunFolder.open_existing(tmp_path)


def _summary(path: Path, **overrides: object) -> Path:
    row = {c: "" for c in SUMMARY_COLUMNS}
    row.update(schema_version=SCHEMA_VERSION, run_id="r", case_id="c", round=0, arch="lstm", seq_len=8,
               batch_size=2, hidden_size=4, num_layers=1, threads=1, status="ok", median_s=0.1)  # fmt: skip
    row.update({k: str(v) for k, v in overrides.items()})
    path.write_text(",".join(row) + "\n" + ",".join(str(v) for v in row.values()) + "\n")
    return path


def test_loader_reads_a_valid_table(tmp_path: Path) -> None:
    frame = load_table(_summary(tmp_path / "summary.csv"), "summary")
    assert frame["seq_len"].iloc[0] == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("a,b\n1,2\n", "missing column 'schema_version'"),
        ("schema_version,run_id\n1,r\n", "missing column 'case_id'"),
        ("schema_version,run_id\n99,r\n", "is \\[99\\], but this rnnbench reads versions 1, 2"),
    ],
)
def test_loader_errors_name_file_column_and_fix(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "summary.csv"
    path.write_text(content)
    with pytest.raises(SchemaError, match=message):
        load_table(path, "summary")


def test_non_numeric_value_is_located(tmp_path: Path) -> None:
    path = _summary(tmp_path / "summary.csv", seq_len="long")
    with pytest.raises(SchemaError, match="column 'seq_len' has a non-numeric value 'long' on line 2"):
        load_table(path, "summary")


def test_folder_without_results(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no summary.csv found"):
        load_results([tmp_path], "summary")
    with pytest.raises(SchemaError, match="no such file"):
        load_results([tmp_path / "nope"], "summary")


def test_identifier_columns_load_as_strings(tmp_path: Path) -> None:
    # all digits, leading zeros, exponent: pandas would read each as a number and lose the identifier
    path = _summary(tmp_path / "summary.csv", run_id="20261201", case_id="000123456789", fingerprint="1e5")
    frame = load_table(path, "summary")
    assert frame["run_id"].tolist() == ["20261201"]
    assert frame["case_id"].tolist() == ["000123456789"]
    assert frame["fingerprint"].tolist() == ["1e5"]


def test_declared_column_types(tmp_path: Path) -> None:
    frame = load_table(_summary(tmp_path / "summary.csv", busy="TRUE", batch_first="false"), "summary")
    assert frame["seq_len"].dtype == np.int64 and frame["input_size"].dtype == np.float64  # blank: NaN
    assert frame["median_s"].dtype == np.float64 and frame["n_samples"].dtype == np.float64
    assert frame["busy"].tolist() == [True] and frame["batch_first"].tolist() == [False]
    assert frame["bidirectional"].tolist() == [False]  # blank is false
    assert frame["message"].tolist() == [""] and frame["status"].tolist() == ["ok"]  # blank text is ""
    for table, types in COLUMN_TYPES.items():
        assert set(types) <= set(TABLES[table]), table  # every declared column exists in its table


def test_load_returns_frames_and_run_metadata(tmp_path: Path) -> None:
    folder = RunFolder.create(
        tmp_path, {"kind": "run", "started_at": "2026-01-01", "fingerprint": {"cpu": "abc"}}, run_id="r1"
    )
    _summary(folder.path / "summary.csv")
    (tmp_path / "loose").mkdir()
    _summary(tmp_path / "loose" / "summary.csv")
    results = load([tmp_path])
    assert results.files["summary"] == [tmp_path / "loose" / "summary.csv", folder.path / "summary.csv"]
    assert len(results.frames["summary"]) == 2 and results.folders == [tmp_path / "loose", folder.path]
    info = results.run_of(folder.path / "summary.csv")
    assert info is not None and info.run_id == "r1" and info.fingerprint == {"cpu": "abc"}
    assert info.fingerprint_keys is None  # not recorded
    assert results.run_of(tmp_path / "loose" / "summary.csv") is None  # no metadata.json
    with pytest.raises(SchemaError, match="no curves.csv found .*'rnnbench train'"):
        load([tmp_path], ("curves",))


def test_version_1_files_are_read_with_the_added_columns_blank(tmp_path: Path) -> None:
    """Schema 2 added ``math`` (summary) and ``compute_dtype`` (train_summary): a version 1 file still loads,
    those columns blank ("not recorded"), and a version 2 file without them is refused."""
    from rnnbench.results.loader import load_table
    from rnnbench.results.schema import ADDED_IN, SUMMARY_COLUMNS

    v1_columns = [c for c in SUMMARY_COLUMNS if c not in ADDED_IN[2]["summary"]]
    row = {c: "" for c in v1_columns} | {"schema_version": "1", "run_id": "r", "case_id": "0123", "arch": "gru"}
    path = tmp_path / "summary.csv"
    path.write_text(",".join(v1_columns) + "\n" + ",".join(row[c] for c in v1_columns) + "\n")
    frame = load_table(path, "summary")
    assert list(frame["math"]) == [""] and list(frame["case_id"]) == ["0123"]
    path.write_text(path.read_text().replace("\n1,", "\n2,", 1))
    with pytest.raises(SchemaError, match="missing column 'math'"):
        load_table(path, "summary")
