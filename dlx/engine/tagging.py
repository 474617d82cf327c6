"""Tagging: one label per position of a token sequence (many-to-many, issue 16: data=running_max).

A batch is (tokens, tags), both (B, T) and padded with PAD=0; the model (rnn, lstm, gru or
transformer, built with `per_step`) gives logits (B, T, classes) and the loss is the
cross-entropy over real positions (PAD tags are masked out). `acc` is the per-position
accuracy, `exact` the fraction of sequences tagged without a mistake (dlx.engine.seq2seq's
metrics).
"""

from __future__ import annotations

from dlx.engine.seq2seq import TokenTask
from dlx.errors import ConfigError
from dlx.registry import TASKS


@TASKS.register("tagging", kinds=("tagging",))
class TaggingTask(TokenTask):
    per_step = True

    @classmethod
    def build(cls, exp, bundle, device) -> "TaggingTask":
        if getattr(exp.model, "causal", False):
            raise ConfigError(f"model.causal=true makes a language model, but data={exp.data.name} is tagging data; "
                              "drop model.causal")
        return cls.build_one(exp, bundle, device)

    @classmethod
    def for_inference(cls, exp, meta, model) -> "TaggingTask":
        return cls(model, None, None, smoothing=exp.regularizer.label_smoothing, batch_size=0)

    def decode(self, src, steps: int):
        return self.model(src).argmax(dim=2)  # a tag per position (B, T, classes)
