"""`data.scale_target`: regression trained on standardised targets, reported in the target's units.

A target such as diabetes' (mean ≈ 150, std ≈ 77) starts a fresh network at an MSE of
≈ 27,500, and the first epochs only lift the output to the mean. Standardising y on the
training rows (as scikit-learn's `TransformedTargetRegressor` with a `StandardScaler`
does) removes that. Two wrappers keep every reported number in the original units:

- `ScaledOutput` ends the model with `out * std + mean` (buffers, saved with the weights),
  so the model's predictions, `best.pt` and anything exported from it are in y's units;
- `ScaledLoss` gives the optimiser the gradient of the loss on standardised targets while
  its value — what train_/val_/test_loss report — is the loss in y's units.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-8


def fit(y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean and (population) std of the training targets, per target column; a constant target keeps std 1."""
    y = y.double()
    mean, std = y.mean(dim=0), y.std(dim=0, unbiased=False)
    std = torch.where(std > EPS, std, torch.ones_like(std))
    return {"mean": mean.float(), "std": std.float()}


class ScaledOutput(nn.Module):
    """`model(x) * std + mean`: the wrapped model predicts standardised y, this returns y's units."""

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("mean", mean.clone())  # () or (targets,)
        self.register_buffer("std", std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)  # (B, targets)
        return out.float() * self.std + self.mean  # float32 even under bf16 autocast: y ≈ 150 ± 0.5 in bf16


def scaled_loss(loss, mean: torch.Tensor, std: torch.Tensor, straight_through: bool = True):
    """`loss` reporting y's units; in training, its gradient is that of the standardised loss.

    `straight_through=False` (L-BFGS) returns the loss in y's units with its own gradient: a
    line search needs a value and a gradient of one function (for MSE they differ by the
    constant std², which L-BFGS's steps do not depend on).
    """
    from dlx.losses import Loss

    def fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        original = loss(out, y)
        if not (straight_through and torch.is_grad_enabled()):  # evaluation: only the value counts
            return original
        m, s = mean.to(out.device), std.to(out.device)
        target = (y - m) / s
        standard = loss((out.reshape(target.shape) - m) / s, target)
        return standard + (original - standard).detach()  # value: original; gradient: standard's

    return Loss(loss.name, fn, loss.num_outputs)


def wrap(model: nn.Module, loss, stats: dict, closure: bool = False):
    """(model, loss) for targets standardised with `stats` ({"mean", "std"} from `fit`)."""
    return ScaledOutput(model, stats["mean"], stats["std"]), scaled_loss(loss, stats["mean"], stats["std"],
                                                                         straight_through=not closure)
