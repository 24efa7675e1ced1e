"""Result files: the versioned schema with declared column types, run folders with append-and-flush writers,
and the one loader every reader uses.

May import: ``core`` (and pandas in the loader). The CSV files are the interface between measuring and
reporting.
"""
