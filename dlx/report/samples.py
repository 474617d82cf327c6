"""Pictures of generative runs (matplotlib, written to a file): sample grids, 2-D sample
scatters over the data, latent scatters coloured by label."""

from __future__ import annotations

from pathlib import Path

from dlx.store.pictures import as_array, drawable, figure, write_picture


def save_samples(samples, output: Path, data=None, title: str = "") -> Path:
    """Images (n, C, H, W) as a grid; 2-D points as a scatter (over `data` when given);
    `.csv`: the samples' numbers, one row each."""
    import numpy as np

    output = Path(output)
    x = as_array(samples)
    if output.suffix == ".csv":
        np.savetxt(output, x.reshape(len(x), -1), delimiter=",", fmt="%.6g")
        return output
    if not drawable(x.shape):
        from dlx.errors import ConfigError

        raise ConfigError(f"samples of shape {tuple(x.shape[1:])} have no picture (images or 2-D points do); "
                          "write them with -o samples.csv")
    write_picture(output, x, data, title)
    return output


def save_latent(codes, labels, classes, output: Path, title: str = "") -> Path:
    """A 2-D code per test sample, coloured by its label."""
    plt = figure()
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
