"""Supervised learning: classification (multiclass, binary) and regression, one model, one loss.

A batch is `(x, y)`; the step is forward, loss (+ the regulariser's penalty), backward,
optimizer step — or, for optimizers that re-evaluate the loss (L-BFGS), the same inside
a closure. Metrics are `dlx.metrics`' accumulators for the data's kind.
"""

from __future__ import annotations

from dlx.engine.parts import build_parts
from dlx.engine.tasks import OneModelTask
from dlx.errors import ConfigError
from dlx.metrics import accumulator, metric_names
from dlx.registry import TASKS


@TASKS.register("supervised", kinds=("multiclass", "binary", "regression"))
class SupervisedTask(OneModelTask):
    """One model trained on (x, y) with one loss and one optimizer."""

    def __init__(self, model, loss, optimizer, schedule, *, kind: str, num_outputs: int, penalty=None,
                 closure: bool = False, batch_size: int = 0):
        super().__init__(model, optimizer, schedule, loss=loss, batch_size=batch_size)
        self.penalty, self.kind, self.num_outputs = penalty, kind, num_outputs
        self.closure = closure  # L-BFGS re-evaluates the loss through a closure

    @classmethod
    def build(cls, exp, bundle, device) -> "SupervisedTask":
        if getattr(exp.model, "causal", False):  # issue 16: a causal transformer is a language model
            raise ConfigError(f"model.causal=true makes a language model, which trains on data=text, but "
                              f"data={exp.data.name} is {bundle.kind} data; drop model.causal")
        model, loss, optimizer, schedule, penalty, batch_size, meta = build_parts(exp, bundle, device)
        return cls(model, loss, optimizer, schedule, kind=bundle.kind, num_outputs=loss.num_outputs,
                   penalty=penalty, closure=bool(meta.get("closure")), batch_size=batch_size)

    describable = True

    @classmethod
    def describe(cls, exp, bundle):
        from dlx import models
        from dlx.engine.parts import model_for
        from dlx.losses import build_loss

        if models.vocab_of(bundle.preprocess) or getattr(exp.model, "causal", False):
            # token ids in (majority): built as training builds it, run on two training examples
            return cls.build(exp, bundle, "cpu").model, (bundle.train.x[:2],)
        reg = exp.regularizer
        loss = build_loss(exp.loss, bundle.kind, bundle.num_classes, bundle.num_targets, reg.label_smoothing)
        return model_for(exp, bundle.input_shape, loss.num_outputs), None

    @classmethod
    def for_inference(cls, exp, meta, model) -> "SupervisedTask":
        from dlx.losses import build_loss

        loss = build_loss(exp.loss, meta.kind, len(meta.classes), cls.outputs_of(exp, meta),
                          exp.regularizer.label_smoothing)
        return cls(model, loss, None, None, kind=meta.kind, num_outputs=cls.outputs_of(exp, meta))

    def evaluate_run(self, run, overrides: list[str], split: str) -> dict:
        return run.supervised_report(overrides, split)

    def split_scores(self, run, split: str = "test"):
        return run.supervised_scores(split)

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        return run.supervised_rows(source, overrides, split, proba)

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        if requested == "auto":  # regression data has no accuracy
            return "val_loss" if kind == "regression" else "val_acc"
        return requested

    def metric_names(self) -> list[str]:
        return metric_names(self.kind, self.num_outputs)

    def train_metrics(self):
        # top-5 is a validation/test figure; on the training batches it would only cost time
        return accumulator(self.kind, self.num_outputs, top5=False)

    def eval_metrics(self, keep_scores: bool = True):
        return accumulator(self.kind, self.num_outputs, keep_scores=keep_scores)

    def train_step(self, trainer, batch, metrics) -> float:
        if not self.closure:
            return super().train_step(trainer, batch, metrics)
        xb, yb = batch
        out, loss, pen = self._closure_step(trainer, xb, yb)
        value = loss.item()
        metrics.update(out, yb, value)
        if pen is not None:
            metrics.add_term("penalty", float(pen.detach()))
        return value

    def _closure_step(self, trainer, xb, yb):
        kept = {}

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            out = self.model(xb)
            loss = self.loss(out, yb)
            pen = self.penalty() if self.penalty is not None else None
            total = loss + pen if pen is not None else loss
            total.backward()
            trainer.clip_gradients(self.model)
            kept.update(out=out.detach(), loss=loss.detach(), pen=pen)
            return total

        self.optimizer.step(closure)
        return kept["out"], kept["loss"], kept["pen"]
