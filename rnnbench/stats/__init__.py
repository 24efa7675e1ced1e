"""The statistics every layer rests on: a leaf (NumPy and SciPy; ruptures for change points), imported by
whoever needs it and importing nothing of rnnbench.

- ``intervals``: median, bootstrap, log-ratio t, t and Wilson intervals (each with its real coverage);
- ``ranks``: the exact Mann–Whitney test, its smallest p, rounds for α over a family, Holm's adjustment;
- ``restarts``: pairs → one trimmed-mean estimate per restart (the paired gate's unit of evidence);
- ``sequential``: the anytime-valid t confidence sequence over restarts (look after every restart);
- ``allocation``: block length and pairs per restart from the measured noise and costs;
- ``power``: how many rounds or restarts decide with a given power, the smallest detectable effect;
- ``changes``: change points in a series (PELT) and the test of each change.

Every function is deterministic given its inputs (bootstraps take a seed), so reports and gates are
reproducible, and ``benchmarks/coverage.py`` simulates every printed interval against a known truth. The
package's ``__init__`` imports nothing, so the timer can import ``intervals`` without SciPy.
"""
