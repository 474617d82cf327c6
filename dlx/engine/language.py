"""Language modelling: a batch is (x, y) token windows, y = x shifted by one token.

The loss is the mean next-token cross-entropy (nats); `ppl` = exp(loss) is the perplexity
and `bpc` = loss / ln 2 the bits per token (per character at data.level=char). The default
monitor (trainer.monitor=auto) is val_loss, as val_ppl = exp(val_loss) ranks the same: next-token
accuracy on a small vocabulary settles early while the loss keeps falling.
"""

from __future__ import annotations

import math

import torch

from dlx.engine.parts import model_for, optimization
from dlx.engine.records import CheckpointMeta
from dlx.engine.tasks import OneModelTask
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
class LanguageTask(OneModelTask):
    reads_tokens = True
    def __init__(self, model, optimizer, schedule, *, smoothing: float, batch_size: int):
        super().__init__(model, optimizer, schedule, loss=torch.nn.CrossEntropyLoss(label_smoothing=smoothing),
                         batch_size=batch_size)

    @classmethod
    def build(cls, exp, bundle, device) -> "LanguageTask":
        if not is_language_model(exp.model):
            raise ConfigError(f"data={exp.data.name} is language data, which model={exp.model.name} cannot train on; "
                              f"use {LANGUAGE_MODELS}")
        model = cls.build_model(exp, CheckpointMeta.of("", bundle), device)
        # model.init_from / model.freeze / optim.head_lr_mult, as for every task
        optimizer, schedule = optimization(exp, model, len(bundle.train), exp.trainer.batch_size, bundle.classes)
        return cls(model, optimizer, schedule, smoothing=exp.regularizer.label_smoothing,
                   batch_size=exp.trainer.batch_size)

    describable = True

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        return "val_loss" if requested == "auto" else requested

    @classmethod
    def describe(cls, exp, bundle):
        return cls.build(exp, bundle, "cpu").model, (bundle.train.x[:2],)

    @classmethod
    def build_model(cls, exp, meta, device=None):
        return model_for(exp, meta.input_shape, len(meta.classes), device, regularized=False)

    @classmethod
    def outputs_of(cls, exp, meta) -> int:
        return len(meta.classes)  # one output per token

    @classmethod
    def for_inference(cls, exp, meta, model) -> "LanguageTask":
        return cls(model, None, None, smoothing=exp.regularizer.label_smoothing, batch_size=0)

    def metric_names(self) -> list[str]:
        return ["loss", "acc", "ppl", "bpc"]

    def train_metrics(self):
        return LanguageMetrics()

    def eval_metrics(self, keep_scores: bool = True):
        return LanguageMetrics()

    def loss_of(self, logits, y):
        return self.loss(logits.flatten(0, 1).float(), y.flatten())

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        raise ConfigError(f"run {run.path.name} is a language model: it predicts no labels; continue a prompt "
                          "with dlx generate RUN --prompt TEXT, or score it with dlx eval RUN")

    def next_logits(self, ids):
        """The logits of the token after each window of `ids` (B, T): (B, vocab)."""
        return self.model(ids)[:, -1]
