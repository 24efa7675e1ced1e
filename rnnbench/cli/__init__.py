"""The command line: a thin layer that parses, calls the library and renders. Nothing imports it."""

from rnnbench.cli import info as info  # registers commands
from rnnbench.cli import verify as verify
from rnnbench.cli.app import app, main

__all__ = ["app", "main"]
