"""dlx: a command-line runner for deep-learning experiments in PyTorch.

Plugins register their components with the public decorators:

    from dlx import register_model, register_dataset, register_loss, register_optimizer, register_scheduler
"""

from dlx.registry import (register_dataset, register_loss, register_model, register_optimizer,  # noqa: F401
                          register_scheduler)

__version__ = "0.1.0"
