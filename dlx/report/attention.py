"""`dlx plot RUN --attention`: the alignment heat map of a seq2seq run (issue 16)."""

from __future__ import annotations

from pathlib import Path


def attention_figure(examples: list[dict]):
    """One heat map per example: output tokens down, source tokens across, weights in [0, 1]."""
    from dlx.report.figures import new_figure

    fig = new_figure((4 * len(examples), 4))
    for i, ex in enumerate(examples):
        ax = fig.add_subplot(1, len(examples), i + 1)
        image = ax.imshow(ex["weights"], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        fig.colorbar(image, ax=ax, label="attention weight", shrink=0.8)
        ax.set_xticks(range(len(ex["source"])), ex["source"], fontsize=7)
        ax.set_yticks(range(len(ex["output"])), ex["output"], fontsize=7)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
    return fig


def plot_attention(root, ref: str, output) -> Path:
    from dlx.report.figures import check_output, save_figure
    from dlx.store.runs import read_attention

    check_output(output)  # a missing folder is refused before any reading
    _, examples = read_attention(Path(root), ref)
    return save_figure(attention_figure(examples), output)
