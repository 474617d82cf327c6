"""A text file as next-token prediction windows (issue 16): `data=text data.path=corpus.txt`.

Tokens are characters (`data.level=char`) or whitespace-separated words (`word`). The text
is split in order — the first part trains, the next validates, the last tests — so no
window of one part overlaps another's. The vocabulary is built on the training part alone;
a symbol it lacks becomes `<unk>` (id 0). A window is `data.context` tokens and its target
the same window shifted by one; windows start every `data.stride` tokens (0: every
`context`, no overlap). With `data.folds` (`dlx cv`) the folds chain forward over the text
before the test part (scikit-learn's TimeSeriesSplit), the vocabulary that of each fold's
training part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from dlx.data import splits
from dlx.data.bundle import DataBundle, Split
from dlx.data.dataset_schemas import TextConfig  # noqa: F401  (declared there)
from dlx.errors import DataError

UNK = "<unk>"
LEVELS = ("char", "word")


def read_text(path: Optional[str]) -> str:
    """The file's text, or a DataError that says what is wrong with it."""
    if not path:
        raise DataError("data=text needs data.path=FILE (a UTF-8 text file)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"data.path={path}: no such file")
    raw = file.read_bytes()
    if not raw.strip():
        raise DataError(f"data.path={path} is empty; give a text file with some text in it")
    if b"\x00" in raw:
        raise DataError(f"data.path={path} is binary, not text; give a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"data.path={path} is not UTF-8 text (byte {e.start}); convert it to UTF-8") from None


def tokenize(text: str, level: str) -> list[str]:
    return list(text) if level == "char" else text.split()


def encode(tokens: list[str], vocab: list[str]) -> np.ndarray:
    index = {s: i for i, s in enumerate(vocab)}
    return np.array([index.get(t, 0) for t in tokens], dtype=np.int64)


def windows(ids: np.ndarray, context: int, stride: int, part: str, cfg: TextConfig, offset: int = 0) -> Split:
    """(x, y) windows of `ids`: y is x shifted one token on; `index` is each window's first token in
    the whole text (`ids` starts at token `offset`)."""
    if len(ids) == 0 and part == "validation":  # data.val_fraction=0 (a CV refit): no validation
        empty = torch.zeros(0, context, dtype=torch.long)
        return Split(empty, empty.clone(), np.zeros(0, dtype=np.int64))
    if len(ids) < context + 1:
        raise DataError(f"data.context={context} needs {context + 1} tokens, but the {part} part has "
                        f"{len(ids)}; lower data.context or use a longer text")
    starts = np.arange(0, len(ids) - context, stride)
    take = starts[:, None] + np.arange(context + 1)[None, :]
    seq = torch.as_tensor(ids[take])
    return Split(seq[:, :-1].contiguous(), seq[:, 1:].contiguous(), starts + offset)


def load_text(cfg: TextConfig) -> DataBundle:
    tokens = tokenize(read_text(cfg.path), cfg.level)
    cut_val, end_val, cut_test = splits.ordered_parts(len(tokens), cfg)  # data.folds: forward chaining
    vocab = [UNK, *sorted(set(tokens[:cut_val]))]
    ids = encode(tokens, vocab)
    stride = cfg.stride or cfg.context
    train = windows(ids[:cut_val], cfg.context, stride, "training", cfg)
    if cfg.limit:
        train = Split(train.x[: cfg.limit], train.y[: cfg.limit], train.index[: cfg.limit])
    val = windows(ids[cut_val:end_val], cfg.context, cfg.context, "validation", cfg, cut_val)
    test = windows(ids[cut_test:], cfg.context, cfg.context, "test", cfg, cut_test)
    counts = np.bincount(ids[:cut_val], minlength=len(vocab))
    return DataBundle(train, val, test, (cfg.context,), "language", vocab,
                      preprocess={"mode": "none", "level": cfg.level, "unigram": counts.tolist()})
