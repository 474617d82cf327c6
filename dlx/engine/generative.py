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

from dlx.engine.callbacks import Callback
from dlx.engine.parts import model_for, optimization
from dlx.engine.records import CheckpointMeta
from dlx.engine.tasks import OneModelTask, Task
from dlx.errors import ConfigError, DataError
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


class LossMonitor:
    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        # the default monitor, val_acc, means val_loss: a generative model has no accuracy
        return "val_loss" if requested == "val_acc" else requested


def not_exported(run) -> None:
    """`dlx export` writes a model of features in, scores out; a generative run has none of that."""
    raise ConfigError(f"run {run.run_id} is model={run.exp.model.name}, a generative model: dlx export writes "
                      "classifiers and regressors (features in, scores out); draw from it with dlx sample RUN")


@TASKS.register("autoencoder", kinds=LABELLED, by_model=True)
class AutoencoderTask(LossMonitor, OneModelTask):
    """Reconstruct x; a VAE adds the KL term of its Gaussian code."""

    def __init__(self, model, optimizer, schedule, *, beta: float, recon: str, batch_size: int):
        super().__init__(model, optimizer, schedule, batch_size=batch_size)
        self.beta, self.recon = beta, recon

    def exportable(self, run) -> None:
        not_exported(run)

    @classmethod
    def build(cls, exp, bundle, device) -> "AutoencoderTask":
        model = cls.build_model(exp, CheckpointMeta.of("", bundle), device)
        batch_size = exp.trainer.batch_size
        optimizer, schedule = optimization(exp, model, len(bundle.train), batch_size, bundle.classes)
        return cls(model, optimizer, schedule, beta=getattr(exp.model, "beta", 0.0), recon=exp.model.recon,
                   batch_size=batch_size)

    @classmethod
    def build_model(cls, exp, meta, device=None):
        return model_for(exp, meta.input_shape, 0, device, regularized=False)

    @classmethod
    def for_inference(cls, exp, meta, model) -> "AutoencoderTask":
        return cls(model, None, None, beta=getattr(exp.model, "beta", 0.0), recon=exp.model.recon, batch_size=0)

    def evaluate_run(self, run, overrides: list[str], split: str) -> dict:
        """recon_loss (and kl, elbo, loss) of the model's own objective on a split, in batches."""
        data = run.load_split(overrides, split)
        if len(data.y) == 0:
            raise DataError(f"the {data.name} split is empty: nothing to evaluate (try --split all)")
        if data.loader is not None:
            raise ConfigError("dlx eval of an autoencoder reads in-memory data only (not data=image_folder)")
        return {"run_id": run.run_id, "name": data.name, "checkpoint": run.checkpoint, "task": run.exp.model.name,
                "size": int(len(data.y)), "metrics": self.evaluate_tensors(run, data, batch=8192)}

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        raise ConfigError(f"run {run.path.name} is model={run.exp.model.name}, which predicts no labels; "
                          "use dlx eval RUN (recon_loss, kl, elbo), dlx sample RUN")

    def sample(self, n: int, generator):
        with torch.inference_mode():
            x = self.model.decode(torch.randn(n, self.model.latent, generator=generator))
            return torch.sigmoid(x) if self.recon == "bce" else x

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


def mmd(a: torch.Tensor, b: torch.Tensor, scales=(0.2, 0.5, 1.0, 2.0, 5.0)) -> torch.Tensor:
    """Squared maximum mean discrepancy between samples `a` and `b` (flattened), with a sum of
    Gaussian kernels of bandwidths `scales` (biased estimator: 0 only when the samples agree)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    total = a.new_zeros(())
    for s in scales:
        k = lambda u, v: torch.exp(-torch.cdist(u, v).pow(2) / (2 * s * s)).mean()  # noqa: E731
        total = total + k(a, a) + k(b, b) - 2 * k(a, b)
    return total


@TASKS.register("gan", kinds=("multiclass", "binary"), by_model=True,
                why="; a GAN learns the distribution of the inputs and ignores labels, so on regression data "
                    "it would silently drop the target column — use data.features to choose the columns, or "
                    "data.task=multiclass")
class GanTask(LossMonitor, Task):
    """Alternating updates: `model.d_steps` discriminator steps (its own optimizer, lr model.d_lr), then one
    generator step (non-saturating loss). Evaluation: the same losses, mean D(real) / D(fake), and the
    MMD between as many generated samples as held-out ones (fixed noise, so epochs compare)."""

    def exportable(self, run) -> None:
        not_exported(run)

    def __init__(self, model, optimizers: dict, schedules: dict, *, d_steps: int, batch_size: int, every: int):
        self.model, self.optimizers, self.schedules = model, optimizers, schedules
        self.d_steps, self.batch_size, self.every = d_steps, batch_size, every
        self.reference = None  # held-out samples drawn under the pictures (set by the experiment's val split)

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        return "val_mmd" if requested == "val_acc" else requested

    @classmethod
    def build(cls, exp, bundle, device) -> "GanTask":
        model = cls.build_model(exp, CheckpointMeta.of("", bundle), device)
        batch_size, n = exp.trainer.batch_size, len(bundle.train)
        g_opt, g_schedule = optimization(exp, model.generator, n, batch_size)
        d_opt, d_schedule = optimization(exp, model.discriminator, n, batch_size, lr=exp.model.d_lr)
        task = cls(model, {"generator": g_opt, "discriminator": d_opt},
                   {"generator": g_schedule, "discriminator": d_schedule},
                   d_steps=exp.model.d_steps, batch_size=batch_size, every=exp.model.sample_every)
        task.reference = bundle.val.x[:1000] if len(bundle.val) else bundle.train.x[:1000]
        return task

    @classmethod
    def build_model(cls, exp, meta, device=None):
        return model_for(exp, meta.input_shape, 0, device, regularized=False)

    @classmethod
    def for_inference(cls, exp, meta, model) -> "GanTask":
        return cls(model, {}, {}, d_steps=exp.model.d_steps, batch_size=0, every=0)

    def evaluate_run(self, run, overrides: list[str], split: str) -> dict:
        raise ConfigError(f"run {run.path.name} is a GAN: nothing to score on a split (its val/test mmd are in "
                          "summary.json, `dlx show RUN`); draw from it with dlx sample RUN")

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        raise ConfigError(f"run {run.path.name} is model={run.exp.model.name}, which predicts no labels; "
                          "use dlx sample RUN")

    def sample(self, n: int, generator):
        with torch.inference_mode():
            return self.model.generate(n, generator)

    def metric_names(self) -> list[str]:
        return ["loss", "d_loss", "g_loss", "d_real", "d_fake", "mmd"]

    def train_metrics(self):
        return Means()

    def eval_metrics(self, keep_scores: bool = True):
        self.noise = torch.Generator().manual_seed(0)  # the same noise every evaluation
        return Means()

    def _losses(self, real, fake) -> tuple[torch.Tensor, dict]:
        bce = F.binary_cross_entropy_with_logits
        d_real, d_fake = self.model.discriminate(real), self.model.discriminate(fake)
        d_loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        return d_loss, {"d_loss": d_loss, "d_real": torch.sigmoid(d_real).mean(), "d_fake": torch.sigmoid(d_fake).mean()}

    def train_step(self, trainer, batch, metrics) -> float:
        real = batch[0]
        n, gan = real.shape[0], self.model
        d_opt, g_opt = self.optimizers["discriminator"], self.optimizers["generator"]
        for _ in range(self.d_steps):
            d_loss, values = self._losses(real, gan.generate(n).detach())
            d_opt.zero_grad(set_to_none=True)
            trainer.backward_and_step(d_loss, d_opt, gan.discriminator)
        d_fake = gan.discriminate(gan.generate(n))
        g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        g_opt.zero_grad(set_to_none=True)
        trainer.backward_and_step(g_loss, g_opt, gan.generator)
        loss = d_loss.detach() + g_loss.detach()
        metrics.update({**values, "g_loss": g_loss, "loss": loss}, n)
        return loss.item()

    def eval_step(self, trainer, batch, metrics) -> None:
        real = batch[0]
        fake = self.model.generate(real.shape[0], self.noise)
        d_loss, values = self._losses(real, fake)
        d_fake = self.model.discriminate(fake)
        g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        metrics.update({**values, "g_loss": g_loss, "loss": d_loss + g_loss, "mmd": mmd(fake, real)}, real.shape[0])

    def callbacks(self, run) -> list:
        return [SamplePictures(run, self.every, self.reference)] if self.every else []


class SamplePictures(Callback):
    """Every `every` epochs (and after the first): 500 samples from fixed noise, as a grid (images)
    or over held-out data (2-D points), saved as the run's samples/epoch-NNNN.png."""

    def __init__(self, run, every: int, reference):
        self.run, self.every, self.reference = run, every, reference

    def on_epoch_end(self, trainer, row: dict) -> None:
        from dlx.store.pictures import drawable, write_picture

        epoch = row["epoch"]
        if epoch != 1 and epoch % self.every:
            return
        gan = trainer.task.model
        was_training = gan.training
        gan.eval()
        with torch.inference_mode():
            samples = gan.generate(64 if len(gan.input_shape) == 3 else 500, torch.Generator().manual_seed(0)).cpu()
        gan.train(was_training)
        if not drawable(samples.shape):
            return
        data = self.reference.cpu() if samples.ndim == 2 else None
        title = f"epoch {epoch} · mmd {row.get('val_mmd', float('nan')):.4f}"
        self.run.save_sample(f"epoch-{epoch:04d}.png", lambda f: write_picture(f, samples, data, title, fmt="png"))
