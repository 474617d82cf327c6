"""`dlx plot RUN --attention`: the alignment heat map of a seq2seq run (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

from dlx.errors import ConfigError


def read_attention(root, ref: str) -> tuple[str, list[dict]]:
    from dlx.store import runs

    record = runs.find_record(root, ref)
    path = Path(record.path) / "attention" / "examples.json"
    if not path.is_file():
        raise ConfigError(f"run {record.id} saved no attention weights (attention/examples.json); --attention "
                          "needs a finished run of model=seq2seq with model.attention other than none")
    return record.id, json.loads(path.read_text(encoding="utf-8"))["examples"]


def attention_figure(examples: list[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(examples), figsize=(4 * len(examples), 4), squeeze=False)
    for ax, ex in zip(axes[0], examples):
        ax.imshow(ex["weights"], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(ex["source"])), ex["source"], fontsize=7)
        ax.set_yticks(range(len(ex["output"])), ex["output"], fontsize=7)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
    fig.tight_layout()
    return fig


def plot_attention(root, ref: str, output) -> Path:
    _, examples = read_attention(root, ref)
    path = Path(output)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: folder {path.parent} does not exist")
    fig = attention_figure(examples)
    try:
        fig.savefig(path, dpi=120)
    except ValueError as e:
        raise ConfigError(f"cannot write {path}: {e}") from None
    return path
