"""The vocabulary and the central value types every layer shares: names and their orders, ``Case``,
``Settings``, ``SweepSpec``, option parsing, the one shape label, progress events, small value helpers.

Stdlib only, no logic that measures or analyses: importing it costs nothing, so `--help` stays fast.
"""
