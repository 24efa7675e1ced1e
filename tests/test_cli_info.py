"""``--version``, ``--help``, ``list``, ``env``, ``verify`` and the error contract of the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rnnbench


def test_version(cli) -> None:
    result = cli(["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"rnnbench {rnnbench.__version__}"


def test_help_lists_commands_and_exit_codes(cli) -> None:
    result = cli(["--help"])
    assert result.exit_code == 0
    for word in ("run", "list", "env", "verify", "Exit codes"):
        assert word in result.stdout


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "rnnbench", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "rnnbench" in out.stdout


def test_list_shows_architectures_implementations_and_devices(cli) -> None:
    result = cli(["list"])
    assert result.exit_code == 0, result.output
    for word in (
        "lstm",
        "gru",
        "rnn",
        "native",
        "aten",
        "cell",
        "scratch",
        "compiled",
        "numpy",
        "Devices usable here",
        "cpu",
    ):
        assert word in result.stdout
    assert "4·H·(I+H+2)" in result.stdout


def test_env_json_has_the_versions_and_hardware(cli) -> None:
    result = cli(["env", "--json"])
    assert result.exit_code == 0
    env = json.loads(result.stdout)
    for key in ("torch", "cuda", "cudnn", "onednn", "blas", "cpu_model", "usable_cores", "intra_op_threads",
                "inter_op_threads", "gpus", "python"):  # fmt: skip
        assert key in env
    table = cli(["env"])
    assert table.exit_code == 0 and "intra_op_threads" in table.stdout


def test_verify_agrees_on_small_shapes(cli) -> None:
    result = cli(["verify", "--arch", "gru", "lstm", "--impl", "cell", "scratch", "numpy", "--bidirectional",
                  "--length-spread", "0.5", "--hidden", "6", "--input-size", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.count(" ok ") >= 6 and "mismatch" not in result.stdout


def test_verify_reports_a_mismatch_with_exit_1(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnbench.measure.models.loops as loops

    real = loops.gru_step
    monkeypatch.setattr(loops, "gru_step", lambda gi, h, w, b: real(gi, h, w, b) * 1.01)  # a subtle bug
    result = cli(["verify", "--arch", "gru", "--impl", "scratch"])
    assert result.exit_code == 1
    assert "mismatch" in result.stdout and "disagree" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["verify", "--arch", "lstn"],
            "Error: Unknown architecture 'lstn'. Did you mean 'lstm'? Available: gru, lstm, mingru, minlstm, rnn",
        ),
        (["verify", "--impl", "natve"], "Did you mean 'native'"),
        (["verify", "--hidden", "0"], "hidden_size must be a positive integer, got 0"),
        (["verify", "--layers", "-1"], "num_layers must be a positive integer"),
        (["verify", "--dropout", "1.0"], "dropout must be in [0, 1), got 1.0"),
        (["verify", "--dropout", "-0.2"], "dropout must be in [0, 1)"),
        (["verify", "--device", "cuda:3"], "rnnbench list"),
    ],
)
def test_bad_input_one_clear_line(cli, args: list[str], message: str) -> None:
    result = cli(args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_internal_errors_exit_3_without_traceback(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import rnnbench.measure.env as env

    monkeypatch.setattr(env, "capture", lambda: 1 / 0)
    result = cli(["env"])
    assert result.exit_code == 3
    assert "internal error: ZeroDivisionError" in result.stderr and "Traceback" not in result.output
