"""What a report's numbers say: speed aggregation and GRU/LSTM pairing, training aggregation and the textbook
claims, and the report that gathers them. Values only — no display strings, no printing. (The regression gate
is the ``gate`` package; the statistics every layer uses are ``stats``.)

May import: ``core``, ``results``, ``stats``. Never torch: ``report`` runs on machines without the GPU stack.
"""
