"""Architectures × implementations. Import ``rnnbench.measure.models.build`` for builders (it imports torch);
``rnnbench.measure.models.catalog`` is metadata only."""
