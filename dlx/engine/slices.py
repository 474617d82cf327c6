"""The loss of a trained network along random directions around its best weights (issue 19).

Directions are filter-normalised as in Li et al., "Visualizing the Loss Landscape of Neural
Nets" (2018): a Gaussian direction is drawn for every weight tensor and each of its filters
(a row along dimension 0: a neuron's weights, a convolution's kernel) is rescaled to the norm
of the same filter of the weights, so that a step of 1 means the same relative change in every
layer whatever its scale. Biases and other 1-D parameters (batch-norm scales) stay put, as the
paper does. The loss is the run's data loss (no penalty) on its training split, in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlx import config, data, models
from dlx.errors import ConfigError
from dlx.store.checkpoint import load_checkpoint


@dataclass
class SliceResult:
    run_id: str
    dims: int  # 1 or 2
    alphas: list[float]  # the coordinate along the first direction
    betas: list[float]  # along the second (2-D only; [0.0] for a 1-D slice)
    losses: list[list[float]]  # losses[j][i] at (alphas[i], betas[j])
    loss_name: str

    def csv(self) -> str:
        lines = ["alpha,beta,loss"]
        for j, b in enumerate(self.betas):
            lines += [f"{a!r},{b!r},{self.losses[j][i]!r}" for i, a in enumerate(self.alphas)]
        return "\n".join(lines) + "\n"


def best_checkpoint(run_path: Path) -> Path:
    """checkpoints/best.pt of a network run, or a ConfigError that says why there is none."""
    path = Path(run_path) / "checkpoints" / "best.pt"
    if (path.parent / "estimator.pt").is_file():  # model=logistic, knn, ...: fitted, not stepped
        raise ConfigError(f"run {Path(run_path).name} is a fitted scikit-learn estimator (model=knn, logistic, "
                          "svm, tree, ...): it has no weights for --slice to perturb; --slice takes a network "
                          "trained step by step (model=mlp, cnn, resnet, lstm, transformer, ...)")
    if path.is_file():
        return path
    raise ConfigError(f"run {Path(run_path).name} has no best checkpoint (checkpoints/best.pt: trained with "
                      "trainer.checkpoint=false, or stopped before its first validation); --slice needs a network's best weights")


def filter_normalised(params: dict, generator):
    """A random direction shaped like `params`, each filter scaled to its weights' filter norm."""
    import torch

    direction = {}
    for name, w in params.items():
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        if w.dim() <= 1:
            d.zero_()  # biases, batch-norm scales: not moved
        else:
            w_norm = w.reshape(w.shape[0], -1).norm(dim=1)  # (filters,)
            d_norm = d.reshape(d.shape[0], -1).norm(dim=1)
            d *= (w_norm / d_norm.clamp_min(1e-10)).reshape(-1, *([1] * (w.dim() - 1)))
        direction[name] = d
    return direction


def loss_slice(run_path: Path, dims: int, points: int, span: float, seed: int) -> SliceResult:
    """Losses on a `points` (x `points`) grid over [-span, span] along `dims` random directions."""
    import torch
    from omegaconf import OmegaConf

    from dlx.data.loaders import split_batches  # torch
    from dlx.losses import build_loss  # omegaconf

    checkpoint = best_checkpoint(run_path)
    exp = config.validate(OmegaConf.load(Path(run_path) / "config.yaml"))
    if isinstance(exp.trainer.num_threads, int) and exp.trainer.num_threads:
        torch.set_num_threads(exp.trainer.num_threads)
    bundle = data.build(exp.data)
    reg = exp.regularizer
    loss = build_loss(exp.loss, bundle.kind, bundle.num_classes, bundle.num_targets, reg.label_smoothing)
    model = models.build(exp.model, bundle.input_shape, loss.num_outputs, reg.dropout, reg.batchnorm,
                         vocab=models.vocab_of(bundle.preprocess))  # token inputs (data=majority): embedded
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    model.eval()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(seed)
    first = filter_normalised(params, generator)
    second = filter_normalised(params, generator) if dims == 2 else None
    grid = torch.linspace(-span, span, points).tolist()
    betas = grid if dims == 2 else [0.0]
    batches = split_batches(bundle.train, exp.trainer.eval_batch_size, torch.device("cpu"))
    losses = []
    with torch.no_grad():
        for b in betas:
            row = []
            for a in grid:
                for name, p in model.named_parameters():
                    moved = params[name] + a * first[name]
                    p.copy_(moved + b * second[name] if second is not None else moved)
                row.append(mean_loss(model, loss, batches))
            losses.append(row)
    return SliceResult(Path(run_path).name, dims, grid, betas, losses, loss.name)


def mean_loss(model, loss, batches) -> float:
    """The loss averaged over samples (the last batch may be smaller)."""
    total, count = 0.0, 0
    for xb, yb in batches:
        total += float(loss(model(xb), yb)) * len(yb)
        count += len(yb)
    return total / max(count, 1)
