"""Preset < sweep file < command line; every value validated the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnbench.errors import ConfigError
from rnnbench.measure.plan import build_plan, parse_axis, read_config
from rnnbench.measure.presets import RUN_PRESETS


def test_quick_preset_is_the_default() -> None:
    spec, settings = build_plan()
    assert spec == RUN_PRESETS.get("quick").spec
    assert settings == RUN_PRESETS.get("quick").settings
    assert {c.arch for c in spec.expand()} == {"lstm", "gru"}


def test_command_line_beats_file_beats_preset(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('preset = "fastrnns"\narch = ["rnn"]\nseq_len = [7, 9]\nbudget = 9.5\n')
    spec, settings = build_plan(None, read_config(path), {"seq_len": ["11,13"]}, {"budget": None})
    assert spec.arch == ("rnn",)
    assert spec.seq_len == (11, 13)
    assert spec.hidden_size == (512,)  # from the preset
    assert settings.budget_s == 9.5


def test_shape_axes_override_a_preset_shape_list() -> None:
    spec, _ = build_plan("deepbench", None, {"hidden": ["64"]})
    assert spec.shapes == ()
    assert {c.hidden_size for c in spec.expand()} == {64}


@pytest.mark.parametrize(
    ("axis", "values", "expected"),
    [
        ("seq_len", ["64", "128,256"], (64, 128, 256)),
        ("lengths", ["fixed", "0.5", "var:0.25"], (0.0, 0.5, 0.25)),
        ("directions", ["1", "2"], (False, True)),
        ("device", ["CPU", "cuda:1"], ("cpu", "cuda:1")),
        ("arch", ["GRU", "lstm,gru"], ("gru", "lstm")),
    ],
)
def test_axis_parsing(axis: str, values: list[str], expected: tuple) -> None:
    assert parse_axis(axis, values) == expected


@pytest.mark.parametrize(
    ("axis", "values", "message"),
    [
        ("seq_len", ["0"], "--seq-len must be ≥ 1"),
        ("batch", ["x"], "--batch takes whole numbers"),
        ("lengths", ["1.5"], "--lengths takes 'fixed' or a spread"),
        ("device", ["gpu"], "Unknown device 'gpu'"),
        ("mode", ["trian"], "Did you mean 'train'"),
        ("directions", ["3"], "--directions takes 1"),
    ],
)
def test_axis_errors(axis: str, values: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_axis(axis, values)


def test_config_file_errors_name_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("seq_lne = [1]\n")
    with pytest.raises(ConfigError, match="bad.toml: Unknown key 'seq_lne'. Did you mean 'seq_len'"):
        read_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("arch = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config(broken)
    with pytest.raises(ConfigError, match="does not exist"):
        read_config(tmp_path / "missing.toml")


def test_deepbench_preset_has_its_training_shapes_for_both_architectures() -> None:
    cases = RUN_PRESETS.get("deepbench").spec.expand()
    shapes = {(c.hidden_size, c.batch_size, c.seq_len) for c in cases}
    assert len(shapes) == 22 + 18  # DeepBench's LSTM and GRU training problems
    assert {(4096, 128, 25), (256, 64, 150), (2816, 32, 750), (1024, 64, 1500)} <= shapes
    assert {c.arch for c in cases} == {"lstm", "gru"} and len(cases) == 2 * len(shapes)
