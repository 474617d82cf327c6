"""Pictures of generative runs (matplotlib, written to a file): sample grids, 2-D sample
scatters over the data, latent scatters coloured by label."""

from __future__ import annotations

import math
from pathlib import Path


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_samples(samples, output: Path, data=None, title: str = "") -> Path:
    """Images (n, C, H, W) as a grid; 2-D points as a scatter (over `data` when given);
    `.csv`: the samples' numbers, one row each."""
    import numpy as np

    output = Path(output)
    x = _array(samples)
    if output.suffix == ".csv":
        np.savetxt(output, x.reshape(len(x), -1), delimiter=",", fmt="%.6g")
        return output
    if not drawable(x.shape):
        from dlx.errors import ConfigError

        raise ConfigError(f"samples of shape {tuple(x.shape[1:])} have no picture (images or 2-D points do); "
                          "write them with -o samples.csv")
    write_picture(output, x, data, title)
    return output


def drawable(shape) -> bool:
    return len(shape) == 4 or (len(shape) == 2 and shape[1] == 2)


def write_picture(file, samples, data=None, title: str = "", fmt: str | None = None) -> None:
    """The grid or scatter of `samples` into `file` (a path or a binary file object)."""
    import numpy as np

    plt = _figure()
    x = _array(samples)
    if x.ndim == 4:
        fig = _grid(plt, x)
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        if data is not None:
            d = _array(data)
            ax.scatter(d[:, 0], d[:, 1], s=6, c="lightgray", label="data")
        ax.scatter(x[:, 0], x[:, 1], s=6, c="tab:red", label="samples")
        ax.legend(loc="upper right")
    if title:
        fig.suptitle(title)
    fig.savefig(file, dpi=100, format=fmt)
    plt.close(fig)


def _array(values):
    import numpy as np

    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)


def _grid(plt, x):
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


def save_latent(codes, labels, classes, output: Path, title: str = "") -> Path:
    """A 2-D code per test sample, coloured by its label."""
    plt = _figure()
    z, y = codes.cpu().numpy(), labels.cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(z[:, 0], z[:, 1], c=y, s=8, cmap="tab10")
    if classes and len(classes) <= 20:
        handles = points.legend_elements()[0]
        ax.legend(handles, [classes[i] for i in sorted(set(y.tolist()))], fontsize=7, loc="best")
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    if title:
        ax.set_title(title)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return Path(output)
