"""Moved: the trainer's schema lives in `dlx.config.trainer` (below the engine). This name stays
for the modules that still import it (dlx/engine/trainer.py)."""

from dlx.config.trainer import DEVICES, PRECISIONS, WATCH, TrainerConfig  # noqa: F401
