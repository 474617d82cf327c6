"""Generative tasks, chosen by the model (`task=` in its registry entry): labels are ignored.

`autoencoder` (model=autoencoder | vae): one optimizer; the loss is the reconstruction
(summed over features, averaged over samples) plus, for a VAE, beta × KL(q(z|x) || N(0, I)).
Metrics per epoch: loss, recon_loss, and for a VAE kl and elbo = -(recon_loss + kl) (a
Gaussian decoder's ELBO up to a constant with model.recon=mse; exact with bce). Evaluation
decodes the mean code (no sampling), so validation figures do not depend on the RNG.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlx.engine.tasks import Task
from dlx.metrics import Accumulator
from dlx.registry import TASKS

LABELLED = ("multiclass", "binary", "regression")


class Means(Accumulator):
    """Sample-weighted means of named values, accumulated as tensors (no sync per batch)."""

    STATE = ("sums", "n")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.sums: dict[str, torch.Tensor | float] = {}
        self.n = 0

    def update(self, values: dict, n: int) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value.detach() * n if torch.is_tensor(value) \
                else self.sums.get(name, 0.0) + float(value) * n
        self.n += n

    def compute(self) -> dict[str, float]:
        return {name: float(total) / max(self.n, 1) for name, total in self.sums.items()} | self.term_means()


def one_optimizer(exp, model, steps_per_epoch: int, classes=None):
    """The optimizer and schedule of `model` (after model.init_from / model.freeze)."""
    from dlx.optim.optimizers import build_optimizer, build_schedule
    from dlx.use import transfer

    params, model.transfer_note = transfer.prepare(exp, model, classes)
    optimizer = build_optimizer(exp.optim, params, exp.regularizer.decoupled_weight_decay)
    schedule = build_schedule(exp.scheduler, optimizer, epochs=exp.trainer.epochs, steps_per_epoch=steps_per_epoch,
                              mode=exp.trainer.mode)
    return optimizer, schedule


class LossMonitor:
    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        # the default monitor, val_acc, means val_loss: a generative model has no accuracy
        return "val_loss" if requested == "val_acc" else requested


@TASKS.register("autoencoder", kinds=LABELLED, by_model=True)
class AutoencoderTask(LossMonitor, Task):
    """Reconstruct x; a VAE adds the KL term of its Gaussian code."""

    def __init__(self, model, optimizer, schedule, *, beta: float, recon: str, batch_size: int):
        self.model, self.beta, self.recon, self.batch_size = model, beta, recon, batch_size
        self.optimizers, self.schedules = {"model": optimizer}, {"model": schedule}
        self.optimizer = optimizer

    @classmethod
    def build(cls, exp, bundle, device) -> "AutoencoderTask":
        from dlx import models

        model = models.build(exp.model, bundle.input_shape, 0).to(device)
        batch_size = exp.trainer.batch_size
        optimizer, schedule = one_optimizer(exp, model, max(1, -(-len(bundle.train) // batch_size)), bundle.classes)
        return cls(model, optimizer, schedule, beta=getattr(exp.model, "beta", 0.0), recon=exp.model.recon,
                   batch_size=batch_size)

    def metric_names(self) -> list[str]:
        return ["loss", "recon_loss", "kl", "elbo"] if self.model.variational else ["loss", "recon_loss"]

    def train_metrics(self):
        return Means()

    def eval_metrics(self, keep_scores: bool = True):
        return Means()

    def losses(self, x) -> tuple[torch.Tensor, dict]:
        out, mu, logvar = self.model(x)
        per = F.mse_loss if self.recon == "mse" else F.binary_cross_entropy_with_logits
        recon = per(out, x, reduction="sum") / x.shape[0]
        if logvar is None:
            return recon, {"loss": recon, "recon_loss": recon}
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / x.shape[0]
        loss = recon + self.beta * kl
        return loss, {"loss": loss, "recon_loss": recon, "kl": kl, "elbo": -(recon + kl)}

    def train_step(self, trainer, batch, metrics) -> float:
        x = batch[0]
        with trainer.autocast():
            loss, values = self.losses(x)
        self.optimizer.zero_grad(set_to_none=True)
        trainer.backward_and_step(loss)
        metrics.update(values, x.shape[0])
        return loss.item()

    def eval_step(self, trainer, batch, metrics) -> None:
        x = batch[0]
        with trainer.autocast():
            _, values = self.losses(x)
        metrics.update(values, x.shape[0])
