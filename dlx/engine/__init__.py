"""The engine: the training loop, its callbacks, the one run path, resume and signals."""
