"""`build` a model by name: the registry imports the family's module when it is first built.

Each family lives in its own file; every builder takes (cfg, input_shape, num_outputs). The
built-in families are declared in `dlx.models.schemas` (imported here, so the registry knows them).
"""

from __future__ import annotations

from dataclasses import fields, replace

import dlx.models.agent_schemas  # noqa: F401  (declares the agents)
import dlx.models.dqn_schema  # noqa: F401  (declares model=dqn)
import dlx.models.schemas  # noqa: F401  (declares every built-in family)
from dlx.errors import ConfigError
from dlx.registry import MODELS


def build(cfg, input_shape: tuple[int, ...], num_outputs: int, dropout=None, batchnorm=None, *, vocab: int = 0,
          per_step: bool = False):
    """Build `cfg.name`; a regularizer's dropout / batchnorm override the model's own. Token inputs
    (`vocab` > 0: ids from the data's vocabulary) and per-position outputs (`per_step`) go to models
    registered with `tokens=True` only (rnn, lstm, gru, transformer)."""
    names = {f.name for f in fields(cfg)}
    extra = {}
    meta = MODELS.get(cfg.name).meta
    if (vocab or per_step) and not meta.get("task"):  # seq2seq, lm: token models of their own task
        if not meta.get("tokens"):
            readers = ", ".join(n for n in MODELS.names() if MODELS.get(n).meta.get("tokens"))
            raise ConfigError(f"model={cfg.name} cannot read token sequences; use one of: {readers}")
        extra = {"vocab": vocab, "per_step": per_step}
    if dropout is not None and "dropout" in names:
        cfg = replace(cfg, dropout=dropout)
    if batchnorm is not None and "batchnorm" in names:
        cfg = replace(cfg, batchnorm=batchnorm)
    return MODELS.build(cfg.name, cfg, tuple(input_shape), num_outputs, **extra)


def vocab_of(preprocess: dict) -> int:
    """The input vocabulary's size when the data's inputs are token ids (dlx.data.sequences), else 0."""
    return len(preprocess.get("vocab") or ())


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
