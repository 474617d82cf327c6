"""`dlx eval` / `dlx predict` for runs over token sequences (issue 16): seq2seq and tagging
(`dlx eval` of these and of a language model is the Task's own: dlx.engine.tasks.Task.evaluate_run).

The split is rebuilt from config.yaml (the same seeded strings; data overrides choose others).
`dlx eval` reports the training loop's own metrics, computed by the run's task: loss, token
accuracy `acc` and sequence exact match `exact`; a seq2seq run decodes freely (greedy, or beam
search with its `model.beam`) as its evaluation did in training. `dlx predict` writes one row
per sequence: `source`, `target` and `prediction` as symbols separated by spaces (a decoded
prediction stops before its `<eos>`; a tagging run tags the source's positions), so a row is an
exact match exactly when prediction equals target. INPUT is a text file of sources, one per
line, symbols separated by whitespace; it gives `source` and `prediction` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from dlx.errors import ConfigError, DataError

BATCH = 1024  # sequences per forward pass
PAD, EOS = 0, 2  # dlx.data.sequences' ids


def sequence_chunks(restored, task, source: Optional[str], overrides: list[str], split: Optional[str]) -> Iterator:
    """`dlx predict` of a seq2seq or tagging run (`task`, its restored Task): a split, or INPUT, a text file."""
    if source is None:
        return split_chunks(restored, task, overrides, split or "test")
    if overrides or split:
        raise ConfigError("give either an INPUT file or data overrides with --split, not both")
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"input not found: {path}; give a text file, one sequence per line, or --split test")
    return file_chunks(restored, task, path)


def predicted(task, x, steps: int):
    """Token ids (N, steps): decoded targets (seq2seq) or the tags of x's positions (tagging)."""
    import torch

    parts = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], BATCH):
            parts.append(task.decode(x[i:i + BATCH], steps))
    return torch.cat(parts) if parts else x.new_zeros(0, steps)


def words(rows, vocab: list[str], stop_at_eos: bool, lengths=None) -> list[str]:
    """Each row of ids as symbols joined by spaces: to its first <eos> (decoded outputs and targets),
    to `lengths` (tags of a source's positions), or without its padding (sources)."""
    out = []
    for i, row in enumerate(rows.tolist()):
        if lengths is not None:
            row = row[: int(lengths[i])]
        elif stop_at_eos:
            row = row[: row.index(EOS)] if EOS in row else row
        else:
            row = [t for t in row if t != PAD]
        out.append(" ".join(vocab[t] for t in row))
    return out


def split_chunks(restored, task, overrides: list[str], split: str) -> Iterator:
    import pandas as pd

    from dlx.use.inputs import load_split

    data = load_split(restored, overrides, split)
    vocab, eos = restored.classes, task.stops_at_eos
    lengths = None if eos else (data.x != PAD).sum(dim=1)
    pred = predicted(task, data.x, data.y.shape[1])
    yield pd.DataFrame({"source": words(data.x, _source_vocab(restored), False),
                        "target": words(data.y, vocab, eos, lengths), "prediction": words(pred, vocab, eos, lengths)})


def _source_vocab(restored) -> list[str]:
    return list(restored.preprocess.get("vocab") or restored.classes)


def file_chunks(restored, task, path: Path) -> Iterator:
    """INPUT: one source per line, symbols separated by whitespace."""
    import pandas as pd
    import torch

    vocab, longest = _source_vocab(restored), int(restored.meta.input_shape[0])
    index = {s: i for i, s in enumerate(vocab) if i > EOS}  # the symbols; <pad>, <sos>, <eos> are not input
    try:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; give one sequence per line, symbols separated by spaces") from None
    lines = [(n, s) for n, s in enumerate(lines, 1) if s]
    if not lines:
        raise DataError(f"{path} has no sequences; give one per line, symbols separated by spaces")
    x = torch.zeros(len(lines), longest, dtype=torch.long)
    for row, (n, symbols) in enumerate(lines):
        if len(symbols) > longest:
            raise DataError(f"{path} line {n} has {len(symbols)} symbols; run {restored.path.name} reads at most "
                            f"{longest}")
        unknown = [s for s in symbols if s not in index]
        if unknown:
            raise DataError(f"{path} line {n}: {unknown[0]!r} is not one of the run's symbols "
                            f"({' '.join(list(index)[:12])})")
        x[row, : len(symbols)] = torch.tensor([index[s] for s in symbols])
    vocab_out, eos = restored.classes, task.stops_at_eos
    lengths = None if eos else (x != PAD).sum(dim=1)
    pred = predicted(task, x, longest + 1 if eos else longest)
    yield pd.DataFrame({"source": words(x, vocab, False), "prediction": words(pred, vocab_out, eos, lengths)})
