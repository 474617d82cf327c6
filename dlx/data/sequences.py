"""Synthetic sequence tasks, generated from `data.seed` (no files).

- `adding`: the adding problem. Each step has two features, a value in [0, 1) and a marker;
  two steps are marked and the target is the sum of their values (regression; always
  predicting the mean gives MSE ≈ 0.167).
- `parity`: is the number of ones in a bit string odd (binary; `data.length` steps of 1 feature).
- `majority` (many-to-one over tokens): which symbol occurs most often in a variable-length
  string (ties: the smallest); `running_max` (many-to-many, kind `tagging`): each position is
  tagged with the largest symbol so far. rnn, lstm, gru and transformer embed the token ids.
- `copy`, `reverse`, `sort`: sequence to sequence over `data.vocab` symbols, lengths drawn
  in [`data.min_length`, `data.max_length`]. Sources and targets are padded with PAD=0 to the
  longest; a target ends with EOS. The split is a seeded permutation of the generated pairs
  (with `data.folds`, `dlx cv`: seeded k-fold over the pairs outside the test part).
"""

from __future__ import annotations


import numpy as np
import torch

from dlx.data import splits
from dlx.data.bundle import DataBundle, RawData, Split
from dlx.data.dataset_schemas import Seq2SeqDataConfig, SequenceConfig  # noqa: F401  (declared there)
from dlx.errors import DataError

PAD, SOS, EOS = 0, 1, 2  # token ids; symbols are 3 .. vocab+2
SPECIALS = ["<pad>", "<sos>", "<eos>"]


def load_adding(cfg: SequenceConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    n, t = cfg.n_samples, cfg.length
    values = rng.uniform(0, 1, size=(n, t))
    marks = np.zeros((n, t))
    first = rng.integers(0, t // 2, size=n)  # one mark in each half, as in Hochreiter & Schmidhuber
    second = rng.integers(t // 2, t, size=n)
    marks[np.arange(n), first] = 1
    marks[np.arange(n), second] = 1
    x = np.stack([values, marks], axis=2).astype(np.float32)
    y = (values * marks).sum(axis=1).astype(np.float32)
    return RawData(x, y, "regression")


def load_parity(cfg: SequenceConfig) -> RawData:
    rng = np.random.default_rng(cfg.seed)
    bits = rng.integers(0, 2, size=(cfg.n_samples, cfg.length))
    return RawData(bits[:, :, None].astype(np.float32), (bits.sum(axis=1) % 2).astype(np.int64), "binary",
                   ["even", "odd"])


def _pairs(cfg: Seq2SeqDataConfig, transform) -> tuple[torch.Tensor, torch.Tensor]:
    """(sources, targets) padded with PAD; each target is transform(source) then EOS."""
    rng = np.random.default_rng(cfg.seed)
    n, longest = cfg.n_samples, cfg.max_length
    lengths = rng.integers(cfg.min_length, cfg.max_length + 1, size=n)
    symbols = rng.integers(0, cfg.vocab, size=(n, longest)) + len(SPECIALS)
    present = np.arange(longest)[None, :] < lengths[:, None]
    src = np.where(present, symbols, PAD)
    out = transform(symbols, present, lengths)  # the transformed symbols, left-aligned
    tgt = np.full((n, longest + 1), PAD)
    tgt[:, :longest] = np.where(present, out, PAD)
    tgt[np.arange(n), lengths] = EOS
    return torch.as_tensor(src, dtype=torch.long), torch.as_tensor(tgt, dtype=torch.long)


def _copy(symbols, present, lengths):
    return symbols


def _reverse(symbols, present, lengths):
    longest = symbols.shape[1]
    # position i of the output reads position len-1-i of the input (clipped where padded)
    idx = np.clip(lengths[:, None] - 1 - np.arange(longest)[None, :], 0, longest - 1)
    return np.take_along_axis(symbols, idx, axis=1)


def _sort(symbols, present, lengths):
    big = np.iinfo(np.int64).max
    return np.sort(np.where(present, symbols, big), axis=1)  # padding sorts last


def seq2seq_bundle(src: torch.Tensor, tgt: torch.Tensor, cfg: DataConfig, vocab: list[str], kind: str = "seq2seq",
                   classes: list[str] | None = None) -> DataBundle:
    """Split pairs by a seeded permutation into test and the rest, the rest into validation and
    train — or, with `data.folds`, by fold `data.fold` of a seeded k-fold. `vocab` is the sources'
    vocabulary (preprocess["vocab"]: the inputs are token ids, models embed them); `classes` the
    targets' (the vocabulary itself unless given)."""
    n = len(src)
    order = np.random.default_rng(cfg.seed).permutation(n)
    n_test, n_val = int(round(cfg.test_fraction * n)), int(round(cfg.val_fraction * n))
    test_i, dev = order[:n_test], order[n_test:]
    if cfg.folds:
        train, val = splits.kfold(np.zeros(len(dev)), "regression", cfg.folds, cfg.fold, cfg.seed, cfg.repeat)
        train_i, val_i = dev[train], dev[val]
    else:
        val_i, train_i = dev[:n_val], dev[n_val:]
    if len(train_i) == 0:
        raise DataError(f"{n} pairs are too few to split; raise data.n_samples")
    if cfg.limit:
        train_i = train_i[: cfg.limit]

    def part(i):
        return Split(src[i], tgt[i], i)

    return DataBundle(part(train_i), part(val_i), part(test_i), (src.shape[1],), kind,
                      vocab if classes is None else classes, preprocess={"mode": "none", "vocab": vocab})


def _loader(transform):
    def load(cfg: Seq2SeqDataConfig) -> DataBundle:
        src, tgt = _pairs(cfg, transform)
        vocab = SPECIALS + [str(i) for i in range(cfg.vocab)]
        return seq2seq_bundle(src, tgt, cfg, vocab)

    return load


load_copy, load_reverse, load_sort = _loader(_copy), _loader(_reverse), _loader(_sort)


def _strings(cfg: Seq2SeqDataConfig) -> tuple[np.ndarray, np.ndarray]:
    """(symbol ids (N, max_length) padded with PAD, present (N, max_length)): seeded strings."""
    src, _ = _pairs(cfg, _copy)
    src = src.numpy()
    return src, src != PAD


def load_majority(cfg: Seq2SeqDataConfig) -> DataBundle:
    src, present = _strings(cfg)
    counts = np.stack([((src == s + len(SPECIALS)) & present).sum(axis=1) for s in range(cfg.vocab)], axis=1)
    label = counts.argmax(axis=1)  # the first of the most frequent: ties go to the smallest symbol
    symbols = [str(i) for i in range(cfg.vocab)]
    return seq2seq_bundle(torch.as_tensor(src), torch.as_tensor(label), cfg, SPECIALS + symbols, "multiclass", symbols)


def load_running_max(cfg: Seq2SeqDataConfig) -> DataBundle:
    src, present = _strings(cfg)
    tags = np.where(present, np.maximum.accumulate(src, axis=1), PAD)  # padding is tagged PAD: no loss there
    vocab = SPECIALS + [str(i) for i in range(cfg.vocab)]
    return seq2seq_bundle(torch.as_tensor(src), torch.as_tensor(tags), cfg, vocab, "tagging")
