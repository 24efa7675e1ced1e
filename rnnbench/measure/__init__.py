"""The measuring half: models (one canonical weight set, six implementations), workloads, the timer, the
runner, sweeps with rounds in worker processes, shards, merge, DDP, environment and devices, machine load,
verification. The only layer (with ``learn``) that imports torch, and only lazily where a command may not
need it.

May import: ``core``, ``results``, ``stats`` (the statistics leaf) for per-case summaries.
"""
