"""One option vocabulary across commands, hidden old spellings, one-line usage errors, help without type
noise and with examples, and shell completion (script generation and the name callbacks)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rnnbench.cli.app import OPTION_ALIASES, rewrite_aliases

COMMANDS = ("list", "env", "verify", "run", "train", "report", "merge")


def _opts(command: str) -> dict[str, set[str]]:
    """Every option of ``command``: its long name → all its names (hidden ones included)."""
    from typer.main import get_command

    from rnnbench.cli import app

    group: Any = get_command(app)
    cmd = group.commands[command]
    options = [p for p in cmd.params if p.param_type_name == "option"]
    return {next(o for o in p.opts if o.startswith("--")): {*p.opts, *p.secondary_opts} for p in options}


@pytest.mark.parametrize(
    ("option", "short", "commands"),
    [
        ("--arch", "-a", ("run", "verify", "train")),
        ("--impl", "-i", ("run", "verify", "train")),
        ("--device", "-d", ("run", "verify", "train")),
        ("--seq-len", "-T", ("run", "verify", "train")),
        ("--preset", "-p", ("run", "train")),
        ("--output", "-o", ("run", "train", "report", "merge")),
        ("--quiet", "-q", ("run", "train", "verify", "report")),
        ("--dry-run", None, ("run", "train")),
        ("--lengths", None, ("run", "verify")),
        ("--dtype", None, ("run", "verify", "train")),
    ],
)
def test_one_vocabulary(option: str, short: str | None, commands: tuple[str, ...]) -> None:
    for command in commands:
        opts = _opts(command)
        assert option in opts, f"{command} lacks {option}"
        if short:
            assert short in opts[option], f"{command} {option} lacks {short}"
    # a short flag means one thing everywhere
    meaning: dict[str, str] = {}
    for command in COMMANDS:
        for long, names in _opts(command).items():
            for name in names:
                if not name.startswith("--"):
                    assert meaning.setdefault(name, long) == long, f"{name} means {long} in {command}"


def test_old_spellings_are_hidden_aliases() -> None:
    assert rewrite_aliases(["--arm", "gru", "--out=x", "--seed"], {"--arm": "--arch", "--out": "--output"}) == [
        "--arch",
        "gru",
        "--output=x",
        "--seed",
    ]
    assert rewrite_aliases(["--arm", "x", "--", "--arm"], {"--arm": "--arch"}) == ["--arch", "x", "--", "--arm"]
    for command, aliases in OPTION_ALIASES.items():
        opts = _opts(command)
        for old, new in aliases.items():
            assert new in opts and old not in {n for names in opts.values() for n in names}


def test_help_has_no_type_noise_defaults_and_examples(cli) -> None:
    for command in COMMANDS:
        result = cli([command, "--help"])
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.stdout and "<list[str]>" not in result.stdout, command
        assert "Examples" in result.stdout, f"{command} --help has no examples"
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", cli(["run", "--help"]).stdout).split())
    assert "<value …>" in text
    assert "Default: quick 0.6 s, scan 0.3 s, otherwise 3 s" in text  # --budget
    assert "Default: quick 0.5 s, scan 0.3 s, otherwise 2 s" in text  # --warmup
    assert (
        "Default: 0.15" in text and "otherwise 0.15" not in text
    )  # --busy-threshold: the same in every preset


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--arhc", "x"], "Error: No such option: --arhc"),
        (["run", "--budget"], "Error: Option '--budget' requires an argument"),
        (["nope"], "Error: No such command 'nope'"),
        (["verify", "--hidden", "x"], "Error: Invalid value for '--hidden'"),
    ],
)
def test_usage_errors_are_one_line(cli, args: list[str], message: str) -> None:
    result = cli(args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "╭" not in result.stderr
    assert "--help" in result.stderr


def test_train_accepts_arch_and_the_old_arm(cli, tmp_path) -> None:
    for flag in ("--arch", "-a", "--arm"):
        result = cli(["train", "-t", "adding", flag, "lstm-fb1", "gru", "--steps", "5", "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "lstm-fb1" in result.stdout and "gru" in result.stdout
    assert not any(tmp_path.iterdir())


def test_train_dry_run_lists_the_plan_and_creates_nothing(cli, tmp_path) -> None:
    plan = "train -t adding copy -a lstm gru --seeds 4 --lr 1e-3 3e-3 --steps 7 --dry-run -o"
    result = cli([*plan.split(), str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Plan: 32 training runs" in result.stdout  # 2 tasks × 2 arms × 4 seeds × 2 rates
    assert "0–3" in result.stdout and "up to 7 steps" in result.stdout
    assert not any(tmp_path.iterdir())


def test_run_short_flags_and_length_spread_alias(cli) -> None:
    result = cli("run -a gru -i cell -m inference -d cpu -T 8 --length-spread 0.5 --dry-run")
    assert result.exit_code == 0, result.output
    assert "cell" in result.stdout and "spread 0.5" in result.stdout


def test_verify_lengths_and_quiet(cli) -> None:
    result = cli("verify -a gru -i cell -T 6 --lengths 0.5 --quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 of 1 checks agree with the reference (cpu, float32)."
    old = cli("verify -a gru -i cell -T 6 --length-spread 0.5 -q")
    assert old.exit_code == 0 and old.stdout == result.stdout
    bad = cli("verify --lengths 2")
    assert bad.exit_code == 2 and "--lengths takes 'fixed' or a spread" in bad.stderr


# ---- completion ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(cli, shell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Typer detects the parent shell (shellingham); CI runs under `sh`, which it does not support, so the test
    # names the shell explicitly through Typer's own switch for that (read when the command is built).
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    result = cli(["--show-completion", shell])
    assert result.exit_code == 0, result.output
    assert "_RNNBENCH_COMPLETE" in result.stdout and "rnnbench" in result.stdout


def test_install_completion_is_offered(cli) -> None:
    result = cli(["--help"])
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


def test_completion_callbacks() -> None:
    import importlib

    from rnnbench.cli.report import complete_format

    app_mod: Any = importlib.import_module("rnnbench.cli.app")

    assert app_mod.complete_arch("") == ["lstm", "gru", "rnn", "mingru", "minlstm"]
    assert app_mod.complete_arch("g") == ["gru"]
    assert app_mod.complete_arch("lstm,g") == ["lstm,gru"]  # the last item of a comma list
    assert app_mod.complete_arm("lstm") == ["lstm", "lstm-fb1"]
    assert app_mod.complete_impl("sc") == ["scratch", "scan"]
    assert app_mod.complete_mode("in") == ["inference"]
    assert app_mod.complete_dtype("b") == ["bfloat16"]
    assert app_mod.complete_run_preset("") == ["quick", "full", "fastrnns", "deepbench", "scan"]
    assert app_mod.complete_train_preset("f") == ["full"]
    assert app_mod.complete_task("se") == ["selective-copy", "series"]
    devices = app_mod.complete_device("")
    assert devices[:3] == ["cpu", "auto", "cuda"] and all(re.fullmatch(r"cuda:\d+", d) for d in devices[3:])
    assert complete_format("p") == ["png"]


def test_completion_names_match_the_registries() -> None:
    from rnnbench.cli.app import TASK_NAMES, TRAIN_PRESET_NAMES
    from rnnbench.learn.presets import TRAIN_PRESETS
    from rnnbench.learn.tasks import TASKS

    assert set(TASK_NAMES) == set(TASKS.names())
    assert TRAIN_PRESETS.names() == TRAIN_PRESET_NAMES


def test_shell_completes_names_through_the_app(cli) -> None:
    env = {"_RNNBENCH_COMPLETE": "complete_bash", "COMP_WORDS": "rnnbench run --arch g", "COMP_CWORD": "3"}
    result = cli(["run", "--arch", "g"], env=env)
    assert "gru" in result.stdout.split()
    env = {"_RNNBENCH_COMPLETE": "complete_bash", "COMP_WORDS": "rnnbench train --task co", "COMP_CWORD": "3"}
    assert cli([], env=env).stdout.split() == ["copy"]
