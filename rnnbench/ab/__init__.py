"""The A/B orchestration: measuring base and head in one job, in processes this package starts.

``sides`` (the command that runs each side's rnnbench, launching, preflight), ``rounds`` (fresh ``run``
processes in ABBA order), ``channel`` (one persistent worker over pipes), ``coordinator`` (the paired mode:
alternating blocks, restarts, ``pairs.csv``), ``paired`` (a paired measurement → the gate's comparison),
``flows`` (``ab``: paired or rounds, confirmation, one fallback) and ``calibrate`` (A/A, injected power).
The statistics and verdicts are the ``gate`` package's; this one measures.

The only package outside ``measure`` that starts processes. May import: ``core``, ``results``, ``stats``,
``gate``, and ``measure`` (lazily, for how a worker reads its grid options). Never torch itself.
"""
