"""A run's outputs as scores: what eval, predict and ensemble compare with the targets."""

from __future__ import annotations


def to_scores(out, task: str, preprocess: dict):
    """Logits -> probabilities (a single binary logit becomes two columns); regression -> values."""
    import torch

    out = out.to(torch.promote_types(out.dtype, torch.float32))  # float64 stays: a fitted estimator's
    if task == "regression":  # already in y's units: a data.scale_target model ends in out * std + mean
        return out
    if out.shape[1] == 1:  # bce / hinge: one logit for the positive class
        p = torch.sigmoid(out)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(out, dim=1)
