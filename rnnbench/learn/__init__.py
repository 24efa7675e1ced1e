"""Training comparisons: the training spec, presets and size matching, the network, the training loop, the run
folder with resume, and the tasks with their chance baselines.

May import: ``core``, ``results``, ``measure`` (models, devices, environment capture). Never ``analyse``:
what the rows mean is decided there, once, for `rnnbench train` and `rnnbench report` alike.
"""
