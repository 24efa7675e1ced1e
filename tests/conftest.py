"""Shared fixtures: a CliRunner with a fixed width and no colour, and the ``cuda`` marker's skip."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from typer.testing import CliRunner, Result

CLI_ENV = {"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb", "RNNBENCH_DEBUG": ""}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU (torch.cuda.is_available() is False here)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def restore_tf32() -> Iterator[None]:
    """Tests that change the process-wide TF32 flags (``measure.numerics``) leave them as they found them."""
    from rnnbench.measure import numerics

    with numerics.tf32_policy(False):  # sets, then restores the flags read on entry
        yield


class Cli:
    """Invoke the real Typer app in-process, as a user would type it."""

    def __init__(self) -> None:
        self.runner = CliRunner(env=CLI_ENV)

    def __call__(self, args: Sequence[str] | str, **kwargs: Any) -> Result:
        from rnnbench.cli import app

        if isinstance(args, str):
            args = args.split()
        return self.runner.invoke(app, list(args), **kwargs)


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def cli80() -> Cli:
    """The CLI as a CI log sees it: 80 columns, stdout and stderr not terminals (CliRunner's buffers)."""
    cli = Cli()
    cli.runner = CliRunner(env={**CLI_ENV, "COLUMNS": "80"})
    return cli


@pytest.fixture(scope="session")
def golden_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, dict[str, Any]]:
    """The golden results' report, written once per session with every file (Markdown, HTML, PNG, SVG, CSV)
    by the parallel figure writer: ``(report, folder, files)``. Drawing the nine figures is the costliest
    thing a report does; the tests that read them share one drawing."""
    from pathlib import Path

    from rnnbench.analyse.report import make_report
    from rnnbench.present.render import write_report

    report = make_report([Path(__file__).parent / "golden"])
    out = tmp_path_factory.mktemp("golden-report")
    return report, out, write_report(report, out, jobs=2)
