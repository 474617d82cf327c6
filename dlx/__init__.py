"""dlx: a command-line runner for deep-learning experiments in PyTorch."""

__version__ = "0.1.0"
