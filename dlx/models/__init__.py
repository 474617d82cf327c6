"""Model families, one file each; every builder takes (cfg, input_shape, num_outputs).

Importing the package loads nothing heavy: `dlx.models.schemas` declares every built-in family
(its schema, and its builder by `module:attr`), read to check a config before torch loads. `build`
imports the chosen family's module on first use (`dlx.models.families`).
"""

from __future__ import annotations

import importlib

_LAZY = {"build": "families", "count_parameters": "families", "vocab_of": "families"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"dlx.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dlx.models' has no attribute '{name}'")
