"""Grid expansion, case identity and validation."""

from __future__ import annotations

import pytest

from rnnbench.core.spec import Case, ModelConfig, SweepSpec
from rnnbench.errors import ConfigError, UnknownNameError
from rnnbench.registry import Registry, suggest


def test_expansion_order_is_deterministic_with_architectures_innermost() -> None:
    spec = SweepSpec(arch=("lstm", "gru"), mode=("inference", "train"), seq_len=(8, 16), hidden_size=(4,))
    cases = spec.expand()
    assert len(cases) == 8
    assert cases == spec.expand()
    assert [c.arch for c in cases[:2]] == ["lstm", "gru"]
    assert cases[0].shape_key == cases[1].shape_key  # paired architectures are adjacent
    assert [(c.seq_len, c.mode) for c in cases[::2]] == [
        (8, "inference"),
        (8, "train"),
        (16, "inference"),
        (16, "train"),
    ]


def test_duplicate_values_give_each_case_once_and_input_defaults_to_hidden() -> None:
    cases = SweepSpec(arch=("gru", "gru"), hidden_size=(32,)).expand()
    assert len(cases) == 1 and cases[0].input_size == 32


def test_explicit_shapes_replace_the_product() -> None:
    cases = SweepSpec(arch=("lstm",), shapes=((512, 16, 25), (256, 64, 150))).expand()
    assert [(c.hidden_size, c.batch_size, c.seq_len) for c in cases] == [(512, 16, 25), (256, 64, 150)]


def test_case_id_is_stable_and_ignores_threads() -> None:
    a = Case("lstm", seq_len=10, threads=1)
    assert a.case_id == Case("lstm", seq_len=10, threads=2).case_id
    assert a.case_id != Case("gru", seq_len=10, threads=1).case_id
    assert a.case_id == "d053088ef979"  # pinned: a changed hash would break joins with earlier runs
    assert all(ch in "0123456789abcdef" for ch in a.case_id)


def test_case_id_pairs_across_gpu_indices() -> None:
    """The same case on cuda:1 and on cuda:0 (or plain cuda) is one case for ``compare``; the index stays in
    the device column (issue 12, defect 10). CPU and GPU cases stay apart, CPU ids are unchanged."""
    on = {d: Case("gru", device=d, seq_len=10).case_id for d in ("cuda", "cuda:0", "cuda:1", "cpu")}
    assert on["cuda"] == on["cuda:0"] == on["cuda:1"] != on["cpu"]
    assert Case("gru", device="cuda:1", seq_len=10).device == "cuda:1"
    assert Case("lstm", seq_len=10, device="cpu").case_id == "d053088ef979"


def test_spec_round_trips_through_json_form() -> None:
    spec = SweepSpec(arch=("gru",), seq_len=(3, 4), shapes=((1, 2, 3),), length_spread=(0.0, 0.5))
    assert SweepSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arch": "lstn"}, "Did you mean 'lstm'"),
        ({"arch": "lstm", "impl": "natve"}, "Did you mean 'native'"),
        ({"arch": "lstm", "hidden_size": 0}, "hidden_size must be a positive integer"),
        ({"arch": "lstm", "seq_len": -3}, "seq_len must be a positive integer"),
        ({"arch": "lstm", "length_spread": 1.0}, "length spread must be in"),
        ({"arch": "lstm", "mode": "training"}, "Unknown mode"),
    ],
)
def test_invalid_cases_fail_with_a_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Case(**kwargs)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_outside_unit_interval_is_rejected(dropout: float) -> None:
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        ModelConfig("gru", 4, 4, dropout=dropout)


def test_registry_suggests_and_lists() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("alpha", 1)
    reg.register("beta", 2)
    assert reg.get("alpha") == 1
    with pytest.raises(
        UnknownNameError, match="Unknown thing 'alpah'. Did you mean 'alpha'\\? Available: alpha, beta"
    ):
        reg.get("alpah")
    assert suggest("zzz", ["alpha"]) is None
    with pytest.raises(ValueError):
        reg.register("alpha", 3)


def test_sweep_spec_from_dict_rejects_unknown_keys() -> None:
    """A stored grid with keys this version does not know is refused, as TrainSpec.from_dict refuses them."""
    data = SweepSpec().to_dict()
    data["warp_drive"] = [1]
    with pytest.raises(ConfigError, match="unknown keys \\['warp_drive'\\]"):
        SweepSpec.from_dict(data)
