"""Transfer learning: start from a trained network, freeze part of it, give the head its own rate.

    dlx train model.init_from=RUN model.freeze=backbone optim.head_lr_mult=10 data=...

`init_from` loads every tensor whose name and shape match (a run's best.pt, a dlx checkpoint,
or a torchvision ResNet state dict saved as `.pth`) and leaves the rest as initialised: with
another number of classes the output layer does not match and stays new. `freeze` stops
gradients to the named parameters; they are left out of the optimizer (no state, no weight
decay) and stay bit-identical. The *head* is the output layer (the model's last Linear:
resnet's `head.2` = torchvision's `fc`); the *backbone* is everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from dlx.errors import require


@dataclass
class TransferKeys:
    """Keys every model schema shares (a mixin: `class MLPConfig(TransferKeys)`)."""

    init_from: Optional[str] = None  # a run (id, prefix, `last`, folder) or a .pt / .pth file
    freeze: Any = None  # null | backbone | [prefixes of parameter names]

    def __post_init__(self):
        ok = self.freeze is None or self.freeze == "backbone" or (
            isinstance(self.freeze, list) and all(isinstance(p, str) and p for p in self.freeze))
        require(ok, "freeze", f"must be null, backbone or a list of parameter-name prefixes, got {self.freeze!r}")


# the run path's transfer (init_from, freeze, head groups) lives in the engine, below this layer
from dlx.engine.transfer import (  # noqa: E402,F401  (re-exported)
    TORCHVISION_RESNET, freeze, head_names, init_from, keep_frozen_norms_still, load_weights, param_groups, prepare,
    rename_torchvision, source_path)
