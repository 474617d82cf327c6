"""An installable dlx plugin: the focal loss (Lin et al., 2017), found through the entry point.

    pip install ./examples/plugins/package
    dlx train loss=focal loss.gamma=2
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from dlx import register_loss
from dlx.errors import require
from dlx.losses import Loss


@dataclass
class FocalConfig:
    gamma: float = 2.0  # 0 is plain cross-entropy; larger down-weights easy samples

    def __post_init__(self):
        require(self.gamma >= 0, "gamma", f"must be >= 0, got {self.gamma}")


@register_loss("focal", schema=FocalConfig, tasks=("multiclass",))
def build_focal(cfg: FocalConfig, num_classes: int, **_) -> Loss:
    def fn(out, y):  # mean over the batch of (1 − p_y)^γ · (−log p_y)
        log_p = F.log_softmax(out, dim=1).gather(1, y[:, None]).squeeze(1)
        return (-(1 - log_p.exp()) ** cfg.gamma * log_p).mean()

    return Loss("focal", fn, num_classes)
