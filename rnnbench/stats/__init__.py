"""The statistics every layer rests on: a leaf (NumPy and SciPy; ruptures for change points), imported by
whoever needs it and importing nothing of rnnbench.

- ``intervals``: median, bootstrap, log-ratio t, t and Wilson intervals (each with its real coverage);
- ``ranks``: the exact Mann–Whitney test, its smallest p, rounds for α over a family, Holm's adjustment;
- ``restarts``: Yuen's trimmed t over per-restart medians of pair log-ratios (the paired gate's evidence);
- ``power``: how many rounds or restarts decide with a given power, the smallest detectable effect;
- ``changes``: change points in a series (PELT) and the test of each change.

Every function is deterministic given its inputs (bootstraps take a seed), so reports and gates are
reproducible, and ``benchmarks/coverage.py`` simulates every printed interval against a known truth. The
package's ``__init__`` imports nothing, so the timer can import ``intervals`` without SciPy.
"""
