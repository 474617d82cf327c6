"""Optimizers and learning-rate schedules, registered by name."""
