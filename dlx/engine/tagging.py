"""Tagging: one label per position of a token sequence (many-to-many, issue 16: data=running_max).

A batch is (tokens, tags), both (B, T) and padded with PAD=0; the model (rnn, lstm, gru or
transformer, built with `per_step`) gives logits (B, T, classes) and the loss is the
cross-entropy over real positions (PAD tags are masked out). `acc` is the per-position
accuracy, `exact` the fraction of sequences tagged without a mistake (dlx.engine.seq2seq's
metrics).
"""

from __future__ import annotations

from dlx.engine.seq2seq import TokenTask, build_optimization
from dlx.errors import ConfigError
from dlx.registry import TASKS


@TASKS.register("tagging", kinds=("tagging",))
class TaggingTask(TokenTask):
    @classmethod
    def build(cls, exp, bundle, device) -> "TaggingTask":
        from dlx import models

        if getattr(exp.model, "causal", False):
            raise ConfigError(f"model.causal=true makes a language model, but data={exp.data.name} is tagging data; "
                              "drop model.causal")
        vocab = models.vocab_of(bundle.preprocess)
        model = models.build(exp.model, bundle.input_shape, len(bundle.classes), vocab=vocab, per_step=True).to(device)
        optimizer, schedule = build_optimization(exp, model, len(bundle.train))
        return cls(model, optimizer, schedule, smoothing=exp.regularizer.label_smoothing,
                   batch_size=exp.trainer.batch_size)

    def train_logits(self, batch):
        x, tags = batch
        return self.model(x), tags  # (B, T, classes)

    def eval_step(self, trainer, batch, metrics) -> None:
        x, tags = batch
        with trainer.autocast():
            logits = self.model(x)
            loss = self._loss(logits, tags)
        metrics.update(logits.argmax(dim=2), tags, loss.item())
