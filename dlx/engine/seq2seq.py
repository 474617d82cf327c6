"""Sequence to sequence: a batch is (source, target) token ids padded with PAD=0.

Training feeds the decoder the true previous token (teacher forcing, with probability
`model.teacher_forcing`) and minimises cross-entropy over the target's real tokens (PAD is
masked out of the loss). Evaluation reports the same loss under full teacher forcing and
decodes freely (greedy, or beam search with `model.beam`): `acc` is the decoded token
accuracy over real target positions, `exact` the fraction of targets decoded exactly.
"""

from __future__ import annotations

import torch

from dlx.engine.callbacks import Callback
from dlx.engine.parts import model_for, optimization
from dlx.engine.records import CheckpointMeta
from dlx.engine.tasks import OneModelTask
from dlx.errors import ConfigError
from dlx.metrics import Accumulator
from dlx.registry import MODELS, TASKS

PAD = 0
EXAMPLES = 4  # validation examples whose attention is saved


class Seq2SeqMetrics(Accumulator):
    """Loss per batch, token accuracy and exact match, summed on the device."""

    STATE = ("loss_sum", "batches", "correct", "tokens", "exact", "seqs")

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.loss_sum, self.batches = 0.0, 0
        self.correct = self.tokens = self.exact = self.seqs = 0

    def update(self, predicted: torch.Tensor, target: torch.Tensor, loss: float) -> None:
        real = target != PAD
        hit = (predicted == target) & real
        self.loss_sum += loss
        self.batches += 1
        self.correct = self.correct + hit.sum()
        self.tokens = self.tokens + real.sum()
        self.exact = self.exact + (hit | ~real).all(dim=1).sum()
        self.seqs += target.shape[0]

    def compute(self) -> dict[str, float]:
        tokens = max(int(self.tokens), 1)
        return {"loss": self.loss_sum / max(self.batches, 1), "acc": int(self.correct) / tokens,
                "exact": int(self.exact) / max(self.seqs, 1), **self.term_means()}


def check_model(exp, kind: str, needs: str, hint: str) -> None:
    """The model must be one that trains on `kind` data (its registry meta task is `needs`)."""
    if MODELS.get(exp.model.name).meta.get("task") != needs:
        raise ConfigError(f"data={exp.data.name} is {kind} data, which model={exp.model.name} cannot train on; "
                          f"use {hint}")


class TokenTask(OneModelTask):
    """One token predicted per target position (seq2seq, tagging): cross-entropy that skips
    padding, token accuracy and exact match; `forward(batch)` says how the model is run."""

    per_step = False  # tagging: one output per input position
    reads_tokens = True

    def __init__(self, model, optimizer, schedule, *, smoothing: float, batch_size: int):
        super().__init__(model, optimizer, schedule, batch_size=batch_size,
                         loss=torch.nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=smoothing))

    @classmethod
    def build_model(cls, exp, meta, device=None):
        from dlx import models

        vocab = models.vocab_of(meta.preprocess) if cls.per_step else 0
        return model_for(exp, meta.input_shape, len(meta.classes), device, vocab=vocab, per_step=cls.per_step,
                         regularized=False)

    @classmethod
    def outputs_of(cls, exp, meta) -> int:
        return len(meta.classes)  # one output per token

    @classmethod
    def build_one(cls, exp, bundle, device, **extra) -> "TokenTask":
        """The task with its model (on `device`), optimizer and schedule (after model.init_from /
        model.freeze / optim.head_lr_mult)."""
        model = cls.build_model(exp, CheckpointMeta.of("", bundle), device)
        optimizer, schedule = optimization(exp, model, len(bundle.train), exp.trainer.batch_size, bundle.classes)
        return cls(model, optimizer, schedule, smoothing=exp.regularizer.label_smoothing,
                   batch_size=exp.trainer.batch_size, **extra)

    describable = True

    @classmethod
    def describe(cls, exp, bundle):
        """Built as training builds it (which refuses data it cannot train on), run on two training examples."""
        model = cls.build(exp, bundle, "cpu").model
        x, y = bundle.train.x[:2], bundle.train.y[:2]
        return model, ((x, y) if cls.takes_targets else (x,))

    takes_targets = False  # seq2seq: the model reads the source and the target
    stops_at_eos = False  # seq2seq: a decoded output ends at its <eos>; tagging: a tag per source position

    def metric_names(self) -> list[str]:
        return ["loss", "acc", "exact"]

    def train_metrics(self):
        return Seq2SeqMetrics()

    def eval_metrics(self, keep_scores: bool = True):
        return Seq2SeqMetrics()

    def loss_of(self, logits, target):
        return self.loss(logits.flatten(0, 1).float(), target.flatten())

    def record(self, metrics, out, target, value: float, training: bool) -> None:
        metrics.update(out.detach().argmax(dim=2), target, value)

    def decode(self, src: torch.Tensor, steps: int) -> torch.Tensor:
        """Predicted token ids (B, steps) for sources `src`."""
        raise NotImplementedError

    def predict_rows(self, run, source, overrides: list[str], split, proba: bool):
        return run.sequence_rows(self, source, overrides, split)


@TASKS.register("seq2seq", kinds=("seq2seq",))
class Seq2SeqTask(TokenTask):
    takes_targets = stops_at_eos = True
    def __init__(self, model, optimizer, schedule, *, teacher_forcing: float, beam: int, smoothing: float,
                 batch_size: int):
        super().__init__(model, optimizer, schedule, smoothing=smoothing, batch_size=batch_size)
        self.teacher_forcing, self.beam = teacher_forcing, beam

    @classmethod
    def build(cls, exp, bundle, device) -> "Seq2SeqTask":
        check_model(exp, "sequence-to-sequence", "seq2seq", "model=seq2seq")
        task = cls.build_one(exp, bundle, device, teacher_forcing=exp.model.teacher_forcing, beam=exp.model.beam)
        if exp.model.beam > len(bundle.classes):
            raise ConfigError(f"model.beam={exp.model.beam} is more than the {len(bundle.classes)} tokens; lower it")
        # an alignment to save: recurrent cells with attention (a transformer's heads are not kept)
        saves = exp.model.attention != "none" and exp.model.cell != "transformer" and exp.trainer.checkpoint
        task.attention_split = bundle.val if saves else None
        task.vocab = bundle.classes
        return task

    def callbacks(self, run) -> list:
        """With attention: a few validation examples' weights saved at the end of the fit."""
        return [] if self.attention_split is None else [AttentionWriter(self.attention_split, self.vocab, run)]

    @classmethod
    def monitor_for(cls, requested: str, kind: str) -> str:
        return requested  # val_acc (token accuracy) by default; val_exact is the stricter one

    @classmethod
    def for_inference(cls, exp, meta, model) -> "Seq2SeqTask":
        return cls(model, None, None, teacher_forcing=1.0, beam=exp.model.beam,
                   smoothing=exp.regularizer.label_smoothing, batch_size=0)

    def forward(self, batch):
        src, tgt = batch
        return self.model(src, tgt, self.teacher_forcing), tgt

    def decode(self, src: torch.Tensor, steps: int) -> torch.Tensor:
        """Free-running predictions (B, steps): greedy, or beam search with model.beam > 1."""
        if self.beam > 1:
            from dlx.models.beam import beam_search

            return beam_search(self.model, src, steps, self.beam)
        return self.model.greedy(src, steps)[0]

    def eval_step(self, trainer, batch, metrics) -> None:
        src, tgt = batch
        with trainer.autocast():
            loss = self.loss_of(self.model(src, tgt), tgt)
            predicted = self.decode(src, tgt.shape[1])
        metrics.update(predicted, tgt, loss.item())


class AttentionWriter(Callback):
    """At the end of a fit (best weights restored), decode a few validation sources greedily and
    save each output step's attention over the source: the run's attention/examples.json."""

    def __init__(self, split, vocab: list[str], run_dir):
        self.split, self.vocab, self.run_dir = split, vocab, run_dir

    def on_fit_end(self, trainer, summary) -> None:
        if summary is None or len(self.split) == 0:
            return
        src, tgt = self.split.x[:EXAMPLES].to(trainer.device), self.split.y[:EXAMPLES]
        trainer.model.eval()
        with torch.inference_mode():
            out, weights = trainer.model.greedy(src, tgt.shape[1])
        self.run_dir.write_attention([self.example(s, o, t, w) for s, o, t, w in
                                      zip(src.cpu(), out.cpu(), tgt, weights.float().cpu())])

    def example(self, src, out, tgt, weights) -> dict:
        n_src = int((src != PAD).sum())
        stop = int((out == 2).nonzero()[0]) + 1 if (out == 2).any() else len(out)  # through EOS
        words = lambda ids: [self.vocab[int(i)] for i in ids if int(i) != PAD]  # noqa: E731
        return {"source": words(src[:n_src]), "output": words(out[:stop]), "target": words(tgt),
                "weights": weights[:stop, :n_src].tolist()}
