"""The regression gate: whether head is slower than base, per case, with false alarms controlled per run.

Values only — no processes, no printing. ``settings`` (NumPy-free: the CLI reads its defaults when it
declares its options), ``verdict`` (the one rule: Holm over the family, then :func:`~rnnbench.gate.verdict.
classify`), ``evidence`` (what process rounds and paired restarts bring to it), ``results`` (case and
comparison models, exit codes), ``cases`` (descriptors, names, thread matching, status verdicts),
``fingerprint`` (may these sides be compared), ``rounds`` (``compare``: folders → comparison),
``calibration`` (A/A figures) and ``history`` (change points over past runs). Measuring both sides is the
``ab`` package's affair.

May import: ``core``, ``results``, ``stats``. Never torch.
"""
