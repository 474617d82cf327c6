"""Pictures a run writes into its own folder while it trains (a GAN's samples/epoch-NNNN.png):
a grid of images or a scatter of 2-D points, drawn with matplotlib (imported when drawn).

They live with the store, which alone writes outputs/, so the engine's callbacks save them
without importing the report layer; `dlx sample -o` (report/samples.py) draws with the same code.
"""

from __future__ import annotations

import math


def figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt



def drawable(shape) -> bool:
    return len(shape) == 4 or (len(shape) == 2 and shape[1] == 2)



def write_picture(file, samples, data=None, title: str = "", fmt: str | None = None) -> None:
    """The grid or scatter of `samples` into `file` (a path or a binary file object)."""
    import numpy as np

    plt = figure()
    x = as_array(samples)
    if x.ndim == 4:
        fig = grid(plt, x)
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        if data is not None:
            d = as_array(data)
            ax.scatter(d[:, 0], d[:, 1], s=6, c="lightgray", label="data")
        ax.scatter(x[:, 0], x[:, 1], s=6, c="tab:red", label="samples")
        ax.legend(loc="upper right")
    if title:
        fig.suptitle(title)
    fig.savefig(file, dpi=100, format=fmt)
    plt.close(fig)



def as_array(values):
    import numpy as np

    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)



def grid(plt, x):
    n = len(x)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            img = x[i].transpose(1, 2, 0)
            ax.imshow(img[..., 0] if img.shape[2] == 1 else (img / 255 if img.max() > 1 else img).clip(0, 1), cmap="gray")
    return fig
