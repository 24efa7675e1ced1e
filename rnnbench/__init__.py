"""rnnbench: LSTM vs GRU vs RNN speed, memory and learning, measured so the numbers can be trusted."""

__version__ = "0.1.0"
