"""The one shape label (core.labels): every place that writes a shape spells it the same way."""

from __future__ import annotations

import pandas as pd

from rnnbench.analyse.speed import shape_labels
from rnnbench.core.labels import field_of_token, shape_label, shape_tokens
from rnnbench.core.spec import Case
from rnnbench.gate.cases import case_name


def test_defaults_are_left_out_and_the_rest_spelled_once() -> None:
    row = {"seq_len": 64, "batch_size": 16, "input_size": 128, "hidden_size": 256, "num_layers": 1,
           "bidirectional": False, "batch_first": False, "length_spread": 0.0, "workload": "layer", "threads": 0}  # fmt: skip
    assert shape_label(row) == "T=64 B=16 I=128 H=256"
    row.update(num_layers=2, bidirectional=True, batch_first=True, length_spread=0.5, workload="classifier",
               threads=4)  # fmt: skip
    assert shape_label(row) == "T=64 B=16 I=128 H=256 L=2 bidir batch-first spread=0.5 classifier threads=4"
    assert (
        shape_label(row, skip=("seq_len", "threads"))
        == "B=16 I=128 H=256 L=2 bidir batch-first spread=0.5 classifier"
    )
    assert [field_of_token(t) for t in shape_tokens(row)] == [
        "seq_len", "batch_size", "input_size", "hidden_size", "num_layers", "bidirectional", "batch_first",
        "length_spread", "workload", "threads",
    ]  # fmt: skip


def test_case_label_and_report_tables_use_the_same_spelling() -> None:
    case = Case(arch="gru", seq_len=32, batch_size=8, input_size=64, hidden_size=64, num_layers=2,
                bidirectional=True, threads=2)  # fmt: skip
    fields = {k: getattr(case, k) for k in ("seq_len", "batch_size", "input_size", "hidden_size", "num_layers",
                                            "bidirectional", "batch_first", "length_spread", "workload", "threads")}  # fmt: skip
    assert case.label() == f"gru/native inference cpu float32 {shape_label(fields)}"
    frame = pd.DataFrame([fields, {**fields, "num_layers": 1, "bidirectional": False}])
    assert list(shape_labels(frame)) == [shape_label(fields), "T=32 B=8 I=64 H=64 threads=2"]


def test_gate_case_name_is_the_stable_variant() -> None:
    """github-action-benchmark keys its series by these strings: every size field, L always, long flags."""
    labels = {"arch": "lstm", "impl": "native", "mode": "inference", "device": "cpu", "dtype": "float32",
              "seq_len": 32, "batch_size": 8, "input_size": 64, "hidden_size": 64, "num_layers": 1,
              "bidirectional": True, "batch_first": True, "length_spread": 0.0, "workload": "layer"}  # fmt: skip
    assert case_name(labels, 1) == (
        "lstm native inference cpu float32 T=32 B=8 I=64 H=64 L=1 bidirectional batch_first threads=1"
    )
    assert case_name({"arch": "gru", "seq_len": float("nan")}, None) == "gru ? ? ? ? T=? B=? I=? H=? L=?"
