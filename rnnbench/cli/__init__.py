"""The command line: a thin layer that parses, calls the library and renders. Nothing imports it."""

# Each import registers that module's commands on the app.
from rnnbench.cli import gate as gate
from rnnbench.cli import info as info
from rnnbench.cli import merge as merge
from rnnbench.cli import report as report
from rnnbench.cli import run as run
from rnnbench.cli import train as train
from rnnbench.cli import verify as verify
from rnnbench.cli.app import app, main

__all__ = ["app", "main"]

_ORDER = ("list", "env", "verify", "run", "train", "report", "compare", "ab", "calibrate", "history", "merge")
app.registered_commands.sort(
    key=lambda c: _ORDER.index(c.name) if c.name in _ORDER else len(_ORDER)  # help lists them in workflow order
)
