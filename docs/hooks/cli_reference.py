"""mkdocs hook: the CLI reference, generated from the Typer app when the site is built.

A page holding the marker ``<!-- cli-reference -->`` gets, in its place, what ``rnnbench --help`` and
``rnnbench <command> --help`` print (Typer's own CliRunner at 78 columns, the width of the page's code blocks;
no colour), one section per visible command in the app's order — so the reference cannot drift from ``--help``.

Why not mkdocs-typer2 (tried, 0.4.1): its native engine fails on Typer 0.29 (``'TyperOption' object has no
attribute 'type'``) and its legacy engine parses Typer's Markdown as XML, which the ``<path>``/``<run-id>``
placeholders in rnnbench's help break.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-reference -->"
ENV = {"COLUMNS": "78", "NO_COLOR": "1", "TERM": "dumb", "RNNBENCH_DEBUG": ""}


def _help(args: list[str]) -> str:
    from typer.testing import CliRunner

    from rnnbench.cli import app

    result = CliRunner(env=ENV).invoke(app, [*args, "--help"], prog_name="rnnbench")
    if result.exit_code != 0:
        raise RuntimeError(f"rnnbench {' '.join(args)} --help exited {result.exit_code}: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def reference() -> str:
    import typer

    from rnnbench.cli import app

    group: Any = typer.main.get_command(app)
    parts = ["## rnnbench", "", "```text", _help([]), "```", ""]
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        if command is None or getattr(command, "hidden", False):
            continue
        parts += [f"## rnnbench {name}", "", "```text", _help([name]), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
