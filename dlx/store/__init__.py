"""The run store: the only code that writes and reads outputs/ (runs, checkpoints, queries)."""
