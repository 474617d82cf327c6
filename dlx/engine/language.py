"""Language modelling: a batch is (x, y) token windows, y = x shifted by one token.

The loss is the mean next-token cross-entropy (nats); `ppl` = exp(loss) is the perplexity
and `bpc` = loss / ln 2 the bits per token (per character at data.level=char). The default
monitor val_acc (next-token accuracy) is kept; val_loss / val_ppl are the usual choices.
"""

from __future__ import annotations

import math

import torch

from dlx.engine.seq2seq import build_optimization
from dlx.engine.tasks import Task
from dlx.errors import ConfigError
from dlx.metrics import Accumulator
from dlx.registry import MODELS, TASKS

LANGUAGE_MODELS = "model=lm (model.arch=transformer or lstm) or model=transformer model.causal=true"


def is_language_model(model_cfg) -> bool:
    """model=lm, or a model built causal (model=transformer model.causal=true)."""
    return MODELS.get(model_cfg.name).meta.get("task") == "language" or bool(getattr(model_cfg, "causal", False))


class LanguageMetrics(Accumulator):
    STATE = ("nll", "tokens", "correct")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.nll, self.tokens, self.correct = 0.0, 0, 0

    def update(self, logits: torch.Tensor, y: torch.Tensor, loss: float) -> None:
        self.nll += loss * y.numel()  # the loss is a mean over this batch's tokens
        self.tokens += y.numel()
        self.correct = self.correct + (logits.argmax(dim=-1) == y).sum()

    def compute(self) -> dict[str, float]:
        loss = self.nll / max(self.tokens, 1)
        return {"loss": loss, "acc": int(self.correct) / max(self.tokens, 1), "ppl": math.exp(min(loss, 700)),
                "bpc": loss / math.log(2), **self.term_means()}


@TASKS.register("language", kinds=("language",))
class LanguageTask(Task):
    def __init__(self, model, optimizer, schedule, *, smoothing: float, batch_size: int):
        self.model, self.optimizer = model, optimizer
        self.optimizers, self.schedules = {"model": optimizer}, {"model": schedule}
        self.loss = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
        self.batch_size = batch_size

    @classmethod
    def build(cls, exp, bundle, device) -> "LanguageTask":
        from dlx import models

        if not is_language_model(exp.model):
            raise ConfigError(f"data={exp.data.name} is language data, which model={exp.model.name} cannot train on; "
                              f"use {LANGUAGE_MODELS}")
        model = models.build(exp.model, bundle.input_shape, len(bundle.classes)).to(device)
        optimizer, schedule = build_optimization(exp, model, len(bundle.train))
        return cls(model, optimizer, schedule, smoothing=exp.regularizer.label_smoothing,
                   batch_size=exp.trainer.batch_size)

    def metric_names(self) -> list[str]:
        return ["loss", "acc", "ppl", "bpc"]

    def train_metrics(self):
        return LanguageMetrics()

    def eval_metrics(self, keep_scores: bool = True):
        return LanguageMetrics()

    def train_step(self, trainer, batch, metrics) -> float:
        x, y = batch
        with trainer.autocast():
            logits = self.model(x)
            loss = self.loss(logits.flatten(0, 1).float(), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        trainer.backward_and_step(loss)
        value = loss.item()
        metrics.update(logits.detach(), y, value)
        return value

    def eval_step(self, trainer, batch, metrics) -> None:
        x, y = batch
        with trainer.autocast():
            logits = self.model(x)
            loss = self.loss(logits.flatten(0, 1).float(), y.flatten())
        metrics.update(logits, y, loss.item())
