"""Datasets -> a `DataBundle`: split, preprocessed, ready for the trainer (see `assemble`).

Importing the package loads nothing heavy: `dlx.data.schemas` is read to check a config
before torch loads. The names below load their module on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {"build": "assemble", "describe": "assemble", "split_indices": "splits", "bundle_from_raw": "assemble",
         "DataBundle": "bundle", "DiskSplit": "bundle", "RawData": "bundle", "Split": "bundle",
         "DataConfig": "schemas", "task_of": "assemble"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"dlx.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'dlx.data' has no attribute '{name}'")
