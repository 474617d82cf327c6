"""Hyper-parameter search on optuna: the search space, the driver, workers, the sweep folder."""
