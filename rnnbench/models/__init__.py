"""Architectures × implementations. Import ``rnnbench.models.build`` for builders (it imports torch);
``rnnbench.models.catalog`` is metadata only."""
