"""What the numbers say: statistics, speed aggregation and GRU/LSTM pairing, training aggregation, the textbook
claims, the regression gate, A/B runs and history. Values only — no display strings, no printing.

May import: ``core``, ``results``. Never torch: ``report`` and ``compare`` run on machines without the GPU
stack.
"""
